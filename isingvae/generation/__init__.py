"""Generation of Monte Carlo datasets: plan, pilots, tasks, shards, assembly, resume.

How a dataset is made (``isingvae generate`` drives :func:`generate`):

1. **Plan** (:mod:`~isingvae.generation.plan`).  A :class:`GenerationPlan` fixes
   everything that determines the bits: lattice, temperatures, samples and (at least)
   chains per temperature, seed, algorithm; every random stream's seed derives from it.
2. **Pilot, per temperature** (:mod:`~isingvae.generation.tasks`).  64 chains measure
   the autocorrelation times by the package's one thermalization rule
   (:mod:`isingvae.mc.equilibration`: window of at least 50 tau, burn-in
   ``ceil(20 tau)``, thinning ``ceil(2 tau)`` sweeps, all stored in the file); with
   ``algorithm="auto"`` it keeps Metropolis or Wolff by the fixed cost of a
   decorrelated configuration (:mod:`isingvae.mc.choice`), so the choice, and the bits,
   never depend on the load of the machine.  From the result follow the temperature's
   chains and blocks (:func:`~isingvae.generation.plan.balance`): more chains where tau
   is long, so that no task costs much more than :data:`~isingvae.generation.plan.TASK_NS`.
3. **Tasks.**  Each ``(temperature, block of chains)`` is a task with its own seed, run
   by the chain driver (:mod:`isingvae.mc.chains`) in segments; after each segment its
   configurations and the sampler's full state go to a shard written atomically, so a
   killed run resumes with exactly the random numbers it would have used.  The driver
   hands jobs out longest first (:mod:`~isingvae.generation.schedule`): the pilots,
   nearest T_c first, then the costliest tasks whose pilot is done.
4. **Assembly** (:mod:`~isingvae.generation.driver`).  Shards are gathered, in a fixed
   order, into the output file, written atomically, from time to time while the run goes
   on (attribute ``complete = False``) and once at the end, its chunks compressed by as
   many threads as the run had.

Safety (:mod:`~isingvae.generation.driver`): one writer per output file (an exclusive
lock; a second is refused naming the first's process id), values and the plan's memory
checked before anything is written, the disk checked before the work, damaged resume
state discarded and recomputed, and a file called complete only when it holds every
row of its plan.

Tasks are independent, so they can run anywhere: in this process, on ``threads`` threads
(default: numba's thread count; each job runs its kernels serially), or on any executor
passed in (``executor=``: a :mod:`concurrent.futures` pool, a Dask client from
:func:`open_executor`), whose workers write their shards into the same directory.  The
file is bit-identical either way.

>>> import tempfile
>>> plan = GenerationPlan(L=8, temperatures=(3.0,), samples=8, chains=4, seed=1,
...                       algorithm="metropolis")
>>> result = generate(plan, tempfile.mkdtemp() + "/tiny.h5", progress=False)
>>> result.rows, result.pilots[0]["algorithm"]
(8, 'metropolis')
"""

from isingvae.generation.driver import GenerationResult, generate
from isingvae.generation.executors import open_executor
from isingvae.generation.plan import GenerationPlan, parse_temperatures

__all__ = ["GenerationPlan", "GenerationResult", "generate", "open_executor",
           "parse_temperatures"]
