"""The plan of a generated dataset: everything that determines its bits.

A :class:`GenerationPlan` fixes the lattice (``L``, ``J``, ``h``), the temperatures,
the samples and chains per temperature, the seed and the algorithm.  From it follow:

- the **tasks**: each ``(temperature index t, block b of up to 64 chains)``, the chains
  of one machine word of the multi-spin-coded Metropolis kernel (:data:`BLOCK`);
- the **samples per chain**: ``samples // chains``, the first ``samples % chains``
  chains one more;
- the **seeds** of every random stream, :meth:`GenerationPlan.seed_for`, derived from
  the plan's seed through :class:`numpy.random.SeedSequence` with spawn key
  ``(GENERATOR_VERSION, *key)`` (pilots ``(1, t, algorithm, n)``, tasks ``(2, t, b)``),
  so that no two streams coincide and none depends on where a task runs;
- the **fingerprint**: canonical JSON of the plan and :data:`GENERATOR_VERSION`, stored
  in the file (attribute ``generation``) and in the unfinished run's ``plan.json``;
  equal fingerprints, equal bits.  It is checked on every resume;
- what it costs: :meth:`GenerationPlan.memory_bytes` (a plan that needs more than half
  of the machine's memory is refused when it is made, naming the limit) and
  :meth:`GenerationPlan.shard_bytes` (the disk its shards take, checked before a run).

At most :data:`MAX_TEMPERATURES` temperatures: the per-temperature attributes of the
file are arrays that HDF5 keeps in object headers of at most 64 kB.

>>> plan = GenerationPlan(L=8, temperatures=(2.0, 3.0), samples=10, chains=4, seed=1)
>>> plan.tasks(), plan.block_samples(0).tolist()
([(0, 0), (1, 0)], [3, 3, 2, 2])
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

import numpy as np

from isingvae import _validate as check
from isingvae.errors import InputError

#: chains per task (one machine word of the multi-spin-coded kernel)
BLOCK = 64
#: bumped whenever a change here or in the samplers changes the bits of a generated file
GENERATOR_VERSION = 2
#: most temperatures in one plan: each per-temperature attribute of the file is a
#: float64 array, and HDF5 refuses attributes over 64 kB (8192 values); a round number
#: below that
MAX_TEMPERATURES = 8000
#: bytes a stored configuration costs besides its L x L int8 spins: temperature, energy,
#: magnetization (float64), chain and sweep (int64)
ROW_OVERHEAD = 40

__all__ = ["BLOCK", "GENERATOR_VERSION", "MAX_TEMPERATURES", "GenerationPlan",
           "describe_difference", "parse_temperatures"]


@dataclass(frozen=True)
class GenerationPlan:
    """Everything that determines the bits of a generated file.

    Raises :class:`InputError` for values out of range (odd or small L, non-positive
    or non-finite temperatures, duplicate or more than :data:`MAX_TEMPERATURES`
    temperatures, counts below 1, a seed outside 0 .. 2^63 - 1) and for a plan larger
    than half of this machine's memory (:meth:`memory_bytes`).
    """

    L: int
    temperatures: tuple[float, ...]
    samples: int
    chains: int
    seed: int
    algorithm: str = "auto"
    J: float = 1.0
    h: float = 0.0

    def __post_init__(self):
        object.__setattr__(self, "L", check.lattice_size(self.L))
        temps = tuple(float(t) for t in check.temperatures(self.temperatures))
        if len(temps) > MAX_TEMPERATURES:
            raise InputError(f"at most {MAX_TEMPERATURES} temperatures fit in one file "
                             f"(HDF5 attributes hold at most 64 kB), got {len(temps)}")
        if len(set(temps)) != len(temps):
            dup = next(t for t in temps if temps.count(t) > 1)
            raise InputError(f"temperature {dup!r} is given twice")
        object.__setattr__(self, "temperatures", temps)
        for name in ("samples", "chains"):
            object.__setattr__(self, name, check.count(name, getattr(self, name)))
        if self.chains > self.samples:
            raise InputError(f"chains ({self.chains}) exceeds samples per temperature "
                             f"({self.samples}): every chain must give at least one sample")
        object.__setattr__(self, "seed", check.seed(self.seed))
        check.choice("algorithm", self.algorithm, ("metropolis", "wolff", "auto"))
        object.__setattr__(self, "J", check.real("J", self.J, positive=True))
        object.__setattr__(self, "h", check.real("h", self.h))
        if self.algorithm == "wolff" and self.h != 0:
            raise InputError(f"the Wolff algorithm needs h = 0, got h = {self.h!r}; "
                             "use --algorithm metropolis")
        check.fits_in_memory(f"L = {self.L} with {self.samples} samples at {len(temps)} "
                             f"temperature(s)", self.memory_bytes())

    # what it costs ------------------------------------------------------------------

    def memory_bytes(self) -> int:
        """Most bytes a run of this plan holds in memory at once (Python integers: no
        overflow, whatever the values).

        The larger of (a) the assembly of the file, which holds every configuration,
        ``rows x (L^2 + ROW_OVERHEAD)`` bytes, next to an HDF5 image of the file that
        is at most about as large again (so half the machine's memory is the limit of
        the plan, :func:`isingvae._validate.fits_in_memory`), and (b) one task or pilot:
        :data:`BLOCK` chains as int8 spins, about four copies of them (the state, the
        records of a segment, their stacked copy, the shard being written) plus the
        16 MB of spins a segment may hold, twice.
        """
        L2 = self.L * self.L
        rows = self.samples * len(self.temperatures)
        return max(rows * (L2 + ROW_OVERHEAD), 4 * BLOCK * L2 + 2 * 16 * 2**20)

    def shard_bytes(self, segment_spins: int) -> int:
        """Bytes of disk the shards of a whole run take (they all exist at the end,
        when the file is assembled from them), for shards of ``segment_spins`` spins.

        Per shard of ``n`` steps of ``C`` chains (``numpy.savez``, uncompressed):
        spins, energy and magnetization, ``n x C x (L^2 + 16)`` bytes; the sweep
        column, ``8 n``; the sampler state, at most ``max(8, C) x L^2`` (Metropolis
        keeps 64 chains in one uint64 word per site, Wolff one int8 per spin and
        chain) plus ``256 L`` of random-number state; and about 4 kB of zip and
        ``.npy`` headers.  Plus 1 kB per temperature for pilot results and the plan.
        """
        L2 = self.L * self.L
        per_temperature = 1024
        for b in range(self.blocks):
            per_chain = self.block_samples(b)
            chains, steps = len(per_chain), int(per_chain.max())
            seg = max(1, segment_spins // (chains * L2))
            shards = -(-steps // seg)
            per_temperature += (steps * chains * (L2 + 16) + 8 * steps
                                + shards * (max(8, chains) * L2 + 256 * self.L + 4096))
        return per_temperature * len(self.temperatures)

    # derived quantities -------------------------------------------------------------

    @property
    def blocks(self) -> int:
        """Tasks (blocks of up to 64 chains) per temperature."""
        return -(-self.chains // BLOCK)

    def block_chains(self, block: int) -> range:
        """Chain indices (within a temperature) of a block."""
        return range(block * BLOCK, min(self.chains, (block + 1) * BLOCK))

    def block_samples(self, block: int) -> np.ndarray:
        """Samples each chain of a block contributes, in chain order."""
        chains = self.block_chains(block)
        return self.samples_of_chain(np.arange(chains.start, chains.stop))

    def samples_of_chain(self, c: np.ndarray | int):
        """Samples chain ``c`` contributes: the first ``samples % chains`` give one more."""
        q, r = divmod(self.samples, self.chains)
        return q + (np.asarray(c) < r)

    def chain_id(self, t: int, c) -> np.ndarray:
        """File-wide chain id of chain ``c`` at temperature index ``t``."""
        return t * self.chains + np.asarray(c, dtype=np.int64)

    def seed_for(self, *key: int) -> int:
        """A 63-bit seed for a sub-stream, derived from the plan's seed and ``key``."""
        ss = np.random.SeedSequence(self.seed, spawn_key=(GENERATOR_VERSION, *key))
        return int(ss.generate_state(1, np.uint64)[0] >> np.uint64(1))

    def fingerprint(self) -> str:
        """Canonical JSON of the plan: equal fingerprints, equal bits."""
        d = asdict(self)
        d["temperatures"] = [repr(t) for t in self.temperatures]
        d["generator_version"] = GENERATOR_VERSION
        return json.dumps(d, sort_keys=True)

    def tasks(self) -> list[tuple[int, int]]:
        """Every ``(temperature index, block)``, in the order of the file's rows."""
        return [(t, b) for t in range(len(self.temperatures)) for b in range(self.blocks)]


def parse_temperatures(text: str | None = None, t_min=None, t_max=None, t_count=None):
    """Temperatures from a comma-separated list or from a uniform grid.

    >>> parse_temperatures("1.5,2.269, 3")
    (1.5, 2.269, 3.0)
    >>> parse_temperatures(t_min=2.0, t_max=2.5, t_count=3)
    (2.0, 2.25, 2.5)
    """
    grid = (t_min, t_max, t_count)
    if text is not None and any(g is not None for g in grid):
        raise InputError("give either --temperatures or --t-min/--t-max/--t-count, not both")
    if text is not None:
        out = []
        for item in text.split(","):
            item = item.strip()
            try:
                out.append(float(item))
            except ValueError:
                raise InputError(f"cannot read temperature {item!r} in --temperatures "
                                 f"{text!r} (expected numbers separated by commas)") from None
        return tuple(out)
    if all(g is None for g in grid):
        raise InputError("no temperatures: give --temperatures T1,T2,... or "
                         "--t-min, --t-max and --t-count")
    if any(g is None for g in grid):
        raise InputError("a temperature grid needs all of --t-min, --t-max and --t-count")
    # checked before numpy allocates anything for the grid
    t_count = check.count("--t-count", t_count, hi=MAX_TEMPERATURES)
    t_min = check.real("--t-min", t_min, positive=True)
    t_max = check.real("--t-max", t_max, positive=True)
    if t_count > 1 and not t_max > t_min:
        raise InputError(f"--t-max ({t_max}) must exceed --t-min ({t_min})")
    return tuple(float(t) for t in np.linspace(t_min, t_max, t_count))


def describe_difference(old: str | None, new: str) -> str:
    """What differs between two fingerprints, for an error message (at most 3 items)."""
    try:
        a, b = json.loads(old), json.loads(new)
    except (TypeError, ValueError):
        return "unknown settings"
    diffs = [f"{k}: {a.get(k)!r} -> {b[k]!r}" for k in b if a.get(k) != b[k]]
    return "; ".join(diffs[:3]) or "same settings"
