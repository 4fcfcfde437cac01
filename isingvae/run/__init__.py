"""The main job, ``isingvae run``: data to a report in one command.

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

- ``README.md``: the headline numbers (held-out NLL against the exact entropy, every
  T_c estimate against Onsager's, the latent-magnetization correlation, the classifier's
  accuracy, the physics of generated configurations) with the figures embedded;
- ``report.json`` and the PNG figures of ``isingvae analyze``;
- ``thermo.json`` and ``thermo.png``: free energy, energy, specific heat and entropy of
  the smallest size by neural importance sampling with its VAE, against Kaufman
  (``isingvae thermo``);
- ``run.json``: the plan and the run version, written first (a folder that holds
  anything else, another plan, or a job of another run version, is refused unless
  ``--force``);
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

Its modules: :mod:`isingvae.run.plan` (the plan and its seeds), :mod:`isingvae.run.steps`
(the job), :mod:`isingvae.run.report` (the folder's README).
"""

from isingvae.run.plan import DEFAULT, QUICK, RunPlan
from isingvae.run.steps import machine, run

__all__ = ["DEFAULT", "QUICK", "RunPlan", "machine", "run"]
