"""The main job, ``isingvae run``: data to a report in one command.

What it does is a :class:`RunPlan`: the built-in :data:`DEFAULT` (the ``demo`` preset),
another preset shipped as JSON in ``isingvae/run/presets/`` (:func:`preset`: ``quick``
= :data:`QUICK`, a smoke test; ``study``, a study-sized plan of about 39 minutes on 2
cores) or a plan file of the user's (:func:`read_plan`: JSON in the format of
``run.json``, keys left out taking the default's values).  Every value of a plan is
checked when it is made and its memory before the job writes anything
(:meth:`RunPlan.check`); :meth:`RunPlan.estimated_seconds` says how long it should take,
from the step times of a ``timings.json``.

For each lattice size of a :class:`RunPlan` it generates Monte Carlo data on a
temperature grid through T_c and trains the package's default VAE (the autoregressive
decoder, conditioned on temperature) as an ensemble of ``RunPlan.ensemble`` models with
different training seeds: the first (``work/runs/L16``) gives the held-out likelihood,
the configurations generated at every temperature and the thermodynamics; the latents of
all of them give the T_c estimates that use no labels, their spread entering every error
bar.  Separately it trains a VAE with a VIB phase head (the supervised T_c, where its
classifier crosses 1/2), evaluates the first VAE's held-out likelihood and the head's
held-out accuracy, and then analyses all sizes together.  The VAE and the head are
trained apart because a head trained jointly pulls the latents toward the label and
spoils the unsupervised estimates.  The output folder holds

- ``README.md``: first how many physics checks pass (and every WARN), then the headline
  numbers (held-out NLL against the exact entropy, every T_c estimate against Onsager's,
  the latent-magnetization correlation, the classifier's accuracy, the physics of
  generated configurations) with the figures embedded, and the scale of the job;
- ``checks.json``: every physics check of the generated configurations and the
  thermodynamics, with its value, reference, deviation, tolerance and verdict;
- ``report.json`` and the PNG figures of ``isingvae analyze``;
- ``thermo.json`` and ``thermo.png``: free energy, energy, specific heat and entropy of
  the smallest size by neural importance sampling with its VAE, against Kaufman
  (``isingvae thermo``);
- ``run.json``: the plan and the run version, written first (a folder that holds
  anything else, another plan, or a job of another run version, is refused unless
  ``--force``); it is a plan file itself, and a plan equal to the folder's, from
  whichever preset or file, is the same job;
- ``timings.json``: the machine (CPU model, cores, AVX-512) and the wall time of every
  step (``seconds`` in this call; ``seconds_to_make`` when the step did its work, kept
  from an earlier call for a reused step);
- ``work/``: the data files (``work/data/L16.h5``) and run directories
  (``work/runs/L16`` for the VAE, ``work/runs/L16-member2`` ... for the rest of its
  ensemble, ``work/runs/L16-vib`` for the head), usable with the
  other commands.

Every step is reused when its output is already complete (generation and training
resume after an interruption), so re-running the command finishes an interrupted job
and redoes only the analysis.  Same plan, same bits.

Its modules: :mod:`isingvae.run.plan` (the plan, its presets and files, its
cost and its seeds), :mod:`isingvae.run.steps`
(the job), :mod:`isingvae.run.report` (the folder's README).
"""

from isingvae.run.plan import DEFAULT, QUICK, RunPlan, preset, presets, read_plan
from isingvae.run.steps import machine, run

__all__ = ["DEFAULT", "QUICK", "RunPlan", "machine", "preset", "presets", "read_plan", "run"]
