"""The plan of a generated dataset: everything that determines its bits.

A :class:`GenerationPlan` fixes the lattice (``L``, ``J``, ``h``), the temperatures,
the samples and chains per temperature, the seed and the algorithm.  From it follow:

- the **chains and tasks of a temperature**, once its pilot has measured the
  autocorrelation time (:func:`balance`): at least ``chains``, more where a block of
  chains would cost more than :data:`TASK_NS`; each ``(temperature index t, block b)``
  is a task.  A Metropolis block holds up to 64 chains, the chains of one machine word
  of the multi-spin-coded kernel (:data:`BLOCK`); a Wolff block as many as fit the
  target.  The counts are recorded in the pilot's result and in the file;
- the **samples per chain**: ``samples // C_t``, the first ``samples % C_t`` chains one
  more, for the ``C_t`` chains of the temperature;
- the **seeds** of every random stream, :meth:`GenerationPlan.seed_for`, derived from
  the plan's seed through :class:`numpy.random.SeedSequence` with spawn key
  ``(GENERATOR_VERSION, *key)`` (pilots ``(1, t, algorithm)``, tasks ``(2, t, b)``),
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
>>> plan.block_samples(0, chains=4, block=64).tolist()
[3, 3, 2, 2]
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

import numpy as np

from isingvae import _validate as check
from isingvae.errors import InputError
from isingvae.mc import choice

#: most chains per task (one machine word of the multi-spin-coded kernel); the pilots'
#: chains
BLOCK = 64
#: bumped whenever a change here or in the samplers changes the bits of a generated file.
#: 3: pilots extend one run instead of starting again, Wolff's cost counts its flips,
#: chains and blocks per temperature balanced by :func:`balance`
GENERATOR_VERSION = 3
#: what one task should cost at most, in ns of one core at the fixed costs of
#: :data:`isingvae.mc.choice.COST_NS_PER_SPIN` (50 ms): far below the pilot of a
#: temperature near T_c, which every task of that temperature waits for, and far above
#: the overhead of a task (a process or thread hand-off, a shard written)
TASK_NS = 5e7
#: where chains are added for balance, each still gives at least this many records, so
#: that burn-in (20 tau) stays below 40 % of a chain's sweeps (20 tau + 2 tau x 16)
MIN_RECORDS = 16
#: most temperatures in one plan: each per-temperature attribute of the file is a
#: float64 array, and HDF5 refuses attributes over 64 kB (8192 values); a round number
#: below that
MAX_TEMPERATURES = 8000
#: bytes a stored configuration costs besides its L x L int8 spins: temperature, energy,
#: magnetization (float64), chain and sweep (int64)
ROW_OVERHEAD = 40

__all__ = ["BLOCK", "GENERATOR_VERSION", "MAX_TEMPERATURES", "MIN_RECORDS", "TASK_NS",
           "GenerationPlan", "balance", "describe_difference", "parse_temperatures",
           "task_cost_ns"]


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
        return max(rows * (L2 + ROW_OVERHEAD), self.task_bytes())

    def task_bytes(self) -> int:
        """Most bytes one task or pilot holds at once (:meth:`memory_bytes`, (b)); jobs
        that run side by side each hold this much."""
        return 4 * BLOCK * self.L * self.L + 2 * 16 * 2**20

    def shard_bytes(self, segment_spins: int) -> int:
        """Bytes of disk the shards of a whole run take (they all exist at the end, when
        the file is assembled from them), for shards of ``segment_spins`` spins, with
        the plan's chains per temperature in blocks of 64.

        Per shard of ``n`` steps of ``C`` chains (``numpy.savez``, uncompressed):
        spins, energy and magnetization, ``n x C x (L^2 + 16)`` bytes; the sweep
        column, ``8 n``; the sampler state, at most ``max(8, C) x L^2`` (Metropolis
        keeps 64 chains in one uint64 word per site, Wolff one int8 per spin and
        chain) plus ``256 L`` of random-number state; and about 4 kB of zip and
        ``.npy`` headers.  Plus 1 kB per temperature for pilot results and the plan.
        Where the pilots add chains or cut Wolff's into smaller blocks
        (:func:`balance`), the rows, which are most of it, stay the same and only the
        sampler states add up: an estimate, not a bound (a disk that fills up while a
        shard is written is a one-line error too, and the run resumes).
        """
        L2 = self.L * self.L
        total = 1024
        for b in range(-(-self.chains // BLOCK)):
            per_chain = self.block_samples(b, self.chains, BLOCK)
            n, steps = len(per_chain), int(per_chain.max())
            seg = max(1, segment_spins // (n * L2))
            shards = -(-steps // seg)
            total += (steps * n * (L2 + 16) + 8 * steps
                      + shards * (max(8, n) * L2 + 256 * self.L + 4096))
        return total * len(self.temperatures)

    # derived quantities -------------------------------------------------------------

    def max_chains(self) -> int:
        """The most chains :func:`balance` may give a temperature."""
        wanted = -(-self.samples // MIN_RECORDS)
        return min(self.samples, max(self.chains, BLOCK * -(-wanted // BLOCK)))

    @staticmethod
    def block_chains(block_index: int, chains: int, block: int) -> range:
        """Chain indices (within a temperature of ``chains`` chains in blocks of
        ``block``) of block ``block_index``."""
        return range(block_index * block, min(chains, (block_index + 1) * block))

    def block_samples(self, block_index: int, chains: int, block: int) -> np.ndarray:
        """Samples each chain of a block contributes, in chain order."""
        c = self.block_chains(block_index, chains, block)
        return self.samples_of_chain(np.arange(c.start, c.stop), chains)

    def samples_of_chain(self, c: np.ndarray | int, chains: int):
        """Samples chain ``c`` of ``chains`` contributes: the first ``samples % chains``
        give one more."""
        q, r = divmod(self.samples, chains)
        return q + (np.asarray(c) < r)

    def chain_id(self, t: int, c) -> np.ndarray:
        """File-wide chain id of chain ``c`` at temperature index ``t``: ``t * samples +
        c`` (a temperature has at most ``samples`` chains; ids do not depend on the
        other temperatures' chain counts)."""
        return t * self.samples + np.asarray(c, dtype=np.int64)

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


def task_cost_ns(plan: GenerationPlan, algorithm: str, burn_in: int, thin: int,
                 work: float, records: int, chains: int) -> float:
    """The fixed-cost estimate (ns of one core) of a task: ``chains`` chains of
    ``algorithm`` burnt in ``burn_in`` sweeps, then ``records`` records ``thin`` sweeps
    apart.  A Metropolis word costs as much for 1 chain as for 64; a Wolff sweep costs
    ``work`` flipped spins per spin (:func:`isingvae.mc.choice.sweep_work`) per chain."""
    units = BLOCK if algorithm == "metropolis" else chains * work
    sweeps = burn_in + thin * records
    return sweeps * plan.L * plan.L * units * choice.COST_NS_PER_SPIN[algorithm]


def balance(plan: GenerationPlan, algorithm: str, burn_in: int, thin: int,
            work: float = 1.0) -> tuple[int, int]:
    """Chains of a temperature and chains per task, from its pilot's result.

    Metropolis: blocks of up to 64 chains (:data:`BLOCK`, one machine word: 64 chains
    cost what 1 does).  Where a block of the plan's chains would cost more than
    :data:`TASK_NS` (:func:`task_cost_ns`), chains are added in whole words until a
    block costs no more, or until a chain would give fewer than :data:`MIN_RECORDS`
    records: more independent chains where tau is long, each burnt in and then
    thinned over fewer records.  Wolff: chains cost in proportion, so the plan's chains
    are kept and cut into blocks small enough for the target (at least one chain).

    >>> plan = GenerationPlan(L=32, temperatures=(2.27,), samples=4096, chains=64, seed=0)
    >>> balance(plan, "metropolis", burn_in=72, thin=8)   # far from T_c: as planned
    (64, 64)
    >>> balance(plan, "metropolis", burn_in=4079, thin=408)   # at T_c: 4 words
    (256, 64)
    >>> balance(plan, "wolff", burn_in=32, thin=4, work=2.3)   # Wolff: small blocks
    (64, 4)
    """
    n, chains = plan.samples, plan.chains

    def block_cost(c, size):
        records = -(-n // c)
        return task_cost_ns(plan, algorithm, burn_in, thin, work, records, min(size, c))

    if algorithm == "wolff":
        size = min(BLOCK, chains)
        while size > 1 and block_cost(chains, size) > TASK_NS:
            size -= 1
        return chains, size
    limit = plan.max_chains()
    while block_cost(chains, BLOCK) > TASK_NS and chains < limit:
        nxt = min(limit, BLOCK * (chains // BLOCK + 1))
        if -(-n // nxt) < MIN_RECORDS:
            break
        chains = nxt
    return chains, BLOCK


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
