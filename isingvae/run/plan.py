"""What ``isingvae run`` does (:class:`RunPlan`, with the built-in :data:`DEFAULT` and
:data:`QUICK`) and the seeds it derives from the plan's: each lattice size's Monte Carlo
data (:meth:`RunPlan.data_seed`) and each ensemble member's training
(:meth:`RunPlan.member_seed`), both streams of :mod:`isingvae.random`.

>>> DEFAULT.data_seed(24) != RunPlan(seed=9).data_seed(16)    # no seed + L arithmetic
True
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from isingvae import random
from isingvae.errors import InputError

__all__ = ["DEFAULT", "MAX_ENSEMBLE", "QUICK", "RUN_CHANGES", "RUN_RECORD", "RUN_VERSION",
           "RunPlan"]

#: the job's record, written first, so that a folder says whose it is: the plan and
#: :data:`RUN_VERSION`
RUN_RECORD = "run.json"
#: what makes the same plan give other bits; a work folder of another version is refused
#: unless ``--force`` (as ``generate`` refuses files of another generator version)
RUN_VERSION = 2
#: version -> what changed in it (for the refusal's message)
RUN_CHANGES = {
    2: "each size's Monte Carlo data is seeded from the 'run-data' random stream, no "
       "longer from seed + L",
}
#: models per size at most (``--ensemble``)
MAX_ENSEMBLE = 16


@dataclass(frozen=True)
class RunPlan:
    """What ``isingvae run`` does: sizes, temperature grid, samples, training and analysis."""

    sizes: tuple[int, ...] = (16, 24, 32)
    temperatures: tuple[float, ...] = tuple(np.round(np.linspace(1.8, 2.8, 21), 6))
    #: configurations per temperature and epochs: 200 and 3 (800 and 10 before the
    #: autoregressive decoder, 6 before the ensemble of two), for the 10-minute budget of
    #: the main job on a 2-core machine without AVX-512; one model conditioned on T
    #: shares them across the grid
    samples: int = 200
    chains: int = 32
    seed: int = 1
    epochs: int = 3
    #: TrainConfig settings of the VAE (beyond epochs and seed): the package's default,
    #: the autoregressive decoder conditioned on temperature, with batches of 64 (twice
    #: the updates of the default 128 for 13 % more time: with so few epochs, generated
    #: energies at L = 32 came 4 % from Kaufman's instead of 7 %)
    train: dict = field(default_factory=lambda: {"batch_size": 64})
    #: settings of the supervised run, on top of ``train``; None: no supervised run.  Few
    #: epochs: the crossing moved by less than its seed-to-seed scatter from 5 to 10; the
    #: factorised decoder: the head needs the encoder only, and it costs a third
    head: dict | None = field(default_factory=lambda: {"head": "vib-phase", "epochs": 3,
                                                       "decoder": "factorized"})
    iw_samples: int = 50
    #: generated configurations per size: 50 at each of the 21 temperatures
    analysis_samples: int = 1050
    bootstrap: int = 100
    #: draws per temperature of the neural importance sampling on the smallest size
    #: (``isingvae thermo``; 0: none)
    thermo_samples: int = 500
    #: VAEs trained per size on the same data (training seeds ``seed`` and then streams
    #: of :mod:`isingvae.random`): their spread enters every T_c error bar
    ensemble: int = 2

    def __post_init__(self):
        if isinstance(self.ensemble, bool) or not isinstance(self.ensemble, int) \
                or not 1 <= self.ensemble <= MAX_ENSEMBLE:
            raise InputError(f"--ensemble must be an integer from 1 to {MAX_ENSEMBLE}, got "
                             f"{self.ensemble!r}")

    def member_seed(self, k: int) -> int:
        """Training seed of ensemble member ``k`` (0: the plan's seed)."""
        return self.seed if k == 0 else random.int_seed(self.seed, "ensemble", k)

    def data_seed(self, L: int) -> int:
        """Seed of the Monte Carlo data of lattice size ``L`` (a :class:`GenerationPlan`'s
        63-bit seed): the ``run-data`` stream of the plan's seed, refined by ``L``, so
        that no two plan seeds share a size's data (``seed + L`` did: 1 + 24 = 9 + 16)."""
        return random.int_seed(self.seed, "run-data", L, bits=63)

    def to_json(self) -> dict:
        d = asdict(self)
        d["temperatures"] = [float(t) for t in self.temperatures]
        d["sizes"] = list(self.sizes)
        return d


#: the built-in default: L = 16, 24 and 32, 21 temperatures from 1.8 to 2.8 (step 0.05)
DEFAULT = RunPlan()
#: a smoke-test plan that runs in well under a minute (``isingvae run --quick``)
QUICK = RunPlan(sizes=(8, 12), temperatures=(1.6, 2.0, 2.2, 2.35, 2.6, 3.0), samples=128,
                chains=8, epochs=3,
                train={"filters": (4, 8), "units": (16,), "latent_dim": 4, "batch_size": 64},
                head={"head": "vib-phase", "decoder": "factorized", "epochs": 8},
                iw_samples=10, analysis_samples=120, bootstrap=20, thermo_samples=200,
                ensemble=2)
