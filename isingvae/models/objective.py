r"""The training objective every VAE of the package shares: KL schedule, free bits, noise.

Training minimizes, per configuration,

.. math:: -E_q[\log p(x \mid z)] + \beta(t)\, \mathrm{KL}_{fb},

where :math:`\beta(t)` is the target ``beta`` times a warm-up factor after :math:`t`
optimizer steps (linear over ``warmup_steps``, or cyclical: rising linearly over the
first half of each cycle of ``cycle_steps`` and held at 1 for the second half), and
:math:`\mathrm{KL}_{fb}` applies free bits (Kingma et al. 2016): with ``free_bits`` =
:math:`\lambda` nats per latent dimension, the batch-averaged KL of each dimension
counts as :math:`\max(\lambda, \mathrm{KL}_j)`, so the optimizer gains nothing from
pushing a dimension below :math:`\lambda` and stops collapsing it.  With a KL that is
not per dimension (Monte Carlo, or a flow) the floor applies to the total,
:math:`\max(\lambda d, \mathrm{KL})`.  The ELBO itself (:math:`\beta = 1`, no free bits)
is what the metrics report, per spin: ``neg_elbo``, ``recon``, ``kl``; ``loss`` is the
objective per configuration and ``beta`` the current weight.

Randomness is stateless: the noise of a step is a function of ``noise_seed``, the
stream (training or validation), the optimizer's step counter and the replica, each
folded into the key, so a run resumed from a checkpoint draws exactly the noise the
uninterrupted run would have drawn, and the replicas of a
:class:`tf.distribute.MirroredStrategy` draw independent noise.
"""

from __future__ import annotations

import keras
import tensorflow as tf

__all__ = ["TRAIN_NOISE", "VALIDATION_NOISE", "Objective"]

#: streams of posterior noise folded into a step's seed (see :meth:`Objective._step_seed`)
TRAIN_NOISE, VALIDATION_NOISE = 0, 1
_METRICS = ("loss", "neg_elbo", "recon", "kl", "beta")


class Objective:
    """Mixed into :class:`~isingvae.models.VAE`: the schedule, free bits, step seeds and
    metric trackers (module docstring).  Expects ``beta_target``, ``kl_schedule``,
    ``warmup_steps``, ``cycle_steps``, ``free_bits``, ``latent_dim``, ``noise_seed``
    and ``n_spins`` on the model."""

    def _init_trackers(self):
        self._trackers = {name: keras.metrics.Mean(name=name) for name in _METRICS}

    def beta_at(self, step):
        """KL weight after ``step`` optimizer steps (the warm-up schedule times beta)."""
        step = tf.cast(step, tf.float32)
        if self.kl_schedule == "linear" and self.warmup_steps > 0:
            ramp = tf.minimum(1.0, (step + 1.0) / float(self.warmup_steps))
        elif self.kl_schedule == "cyclical":
            phase = tf.math.floormod(step, float(self.cycle_steps)) / float(self.cycle_steps)
            ramp = tf.minimum(1.0, 2.0 * phase + 1.0 / self.cycle_steps)
        else:
            ramp = tf.constant(1.0)
        return self.beta_target * ramp

    def _objective(self, recon, kl, kl_dims, beta):
        if self.free_bits > 0:
            if kl_dims is not None:
                kl_fb = tf.reduce_sum(tf.maximum(tf.reduce_mean(kl_dims, axis=0),
                                                 self.free_bits))
            else:
                kl_fb = tf.maximum(tf.reduce_mean(kl), self.free_bits * self.latent_dim)
        else:
            kl_fb = tf.reduce_mean(kl)
        return tf.reduce_mean(recon) + beta * kl_fb

    def _step_seed(self, stream: int):
        """Stateless seed of one step's posterior noise: a function of ``noise_seed``, the
        stream (:data:`TRAIN_NOISE` or :data:`VALIDATION_NOISE`), the optimizer's step
        counter and the replica, each folded in as its own key (never added), so two
        seeds or two streams never share noise."""
        ctx = tf.distribute.get_replica_context()
        replica = ctx.replica_id_in_sync_group if ctx is not None else 0
        step = tf.cast(self.optimizer.iterations, tf.int64) if self.optimizer is not None \
            else tf.constant(0, tf.int64)
        fold = tf.random.experimental.stateless_fold_in
        root = tf.constant([self.noise_seed, 0], tf.int64)
        return fold(fold(fold(root, stream), step), replica)

    def _update_metrics(self, loss, recon, kl, beta):
        n = float(self.n_spins)
        values = {"loss": loss, "neg_elbo": (recon + kl) / n, "recon": recon / n,
                  "kl": kl / n, "beta": beta}
        for name, v in values.items():
            self._trackers[name].update_state(v)
        return {name: t.result() for name, t in self._trackers.items()}

    @property
    def metrics(self):
        return list(self._trackers.values())
