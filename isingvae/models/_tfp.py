"""The package's one import of TensorFlow Probability.

TFP serves distributions and bijectors only; its Keras 2 objects (``tfp.layers``,
``tfb.AutoregressiveNetwork``) never enter a model, whose networks are Keras 3 layers
handed to the bijectors as callables.  The modules that need TFP import it from here,
inside the code that builds a flow or a posterior distribution, so that importing
:mod:`isingvae.models` does not pay for it.
"""

from __future__ import annotations

import tensorflow_probability as tfp

__all__ = ["ParameterProperties", "tfb", "tfd"]

#: ``tfp.distributions``
tfd = tfp.distributions
#: ``tfp.bijectors``
tfb = tfp.bijectors
#: how a bijector declares the event rank of each of its parameters
ParameterProperties = tfp.util.ParameterProperties
