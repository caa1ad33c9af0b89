"""One workload split into shares for several workers, and their outcomes put back together.

The split is the same whatever runs the shares (worker processes here; a cluster's actors
build on it). The run's tasks are numbered as in one process (warm-up first, then the
measured tasks); the warm-up's and the measured ones are each dealt in rounds of
``workers`` consecutive tasks: in round ``k`` each worker takes one, at a position rotated
by a pseudo-random offset of ``k`` (:func:`position`). So the shares are even (each runs
``n / workers`` measured tasks, rounded up or down); together they run exactly the
measured tasks of one process (the same payloads and count; with tasks that fail by
index, the same errors); and a workload that cycles with a period (a list of 8 prompts,
``f(i)`` by ``i % 8``) reaches every worker evenly, which plain striding (every
``workers``-th task) would not. Closed loop: the concurrency is split (100 over 3
workers: 34, 33, 33). Open loop: each worker runs an independent arrival stream at
``rate / workers``, which add up to the offered rate (constant streams start
``index / rate`` apart so that they interleave; Poisson streams are independent by their
seeds). Worker 0 keeps the run's seeds, the others get seeds derived from them
(:func:`derive_seed`), so ``processes=1`` replays the single-process run.
"""

from __future__ import annotations

import hashlib
import math
from array import array
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from pytest_agentperf.engine.merge import Pooled, merge_pooled
from pytest_agentperf.engine.plan import RunPlan
from pytest_agentperf.errors import LoadConfigError, WorkerError
from pytest_agentperf.result import PerfResult

__all__ = [
    "LOST_SHARES",
    "Dealt",
    "Naming",
    "Share",
    "ShareOutcome",
    "check_tasks",
    "check_workers",
    "combine",
    "derive_seed",
    "owned_below",
    "position",
    "split",
]

#: The key of ``PerfResult.extra`` that lists the shares a run lost (budgets fail on it).
LOST_SHARES = "lost_shares"


def derive_seed(seed: int, index: int) -> int:
    """Worker ``index``'s seed: ``seed`` itself for worker 0, else a 63-bit hash of both."""
    if index == 0:
        return seed
    digest = hashlib.blake2b(f"agentperf:{seed}:{index}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") >> 1


_MASK = (1 << 64) - 1


def position(round_: int, index: int, workers: int) -> int:
    """Which task of round ``round_`` worker ``index`` takes: ``index`` rotated by a
    pseudo-random offset of the round (a splitmix64 step), so every round is dealt whole."""
    if workers == 1:
        return 0
    z = (round_ * 0x9E3779B97F4A7C15 + 0x632BE59BD9B4E019) & _MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
    return (index + ((z ^ (z >> 31)) % workers)) % workers


def owned_below(limit: int, index: int, workers: int) -> int:
    """How many of the run's tasks ``0 .. limit - 1`` worker ``index`` takes."""
    rounds, rest = divmod(limit, workers)
    return rounds + (1 if rest and position(rounds, index, workers) < rest else 0)


@dataclass(frozen=True, slots=True)
class Dealt:
    """The payload of a worker's ``k``-th task, from ``source``: ``None`` (the payload is
    the run's task index), a factory ``f(i)`` or a sequence (indexed modulo its length, as
    one process cycles it).

    The warm-up's tasks ``0 .. warm - 1`` and the measured ones from ``warm`` on are dealt
    separately, each in rounds of ``workers`` (so that every worker gets its part of both):
    the worker's first ``warm_share`` tasks are its warm-up tasks, the next ones measured.
    """

    source: Callable[[int], Any] | Sequence[Any] | None
    index: int
    workers: int
    warm: int = 0  # the run's warm-up tasks
    warm_share: int = 0  # this worker's part of them

    def task_index(self, k: int) -> int:
        """The run's task index of this worker's ``k``-th task."""
        workers = self.workers
        if k < self.warm_share:
            return k * workers + position(k, self.index, workers)
        m = k - self.warm_share
        return self.warm + m * workers + position(m, self.index, workers)

    def __call__(self, k: int) -> Any:
        g = self.task_index(k)
        source = self.source
        if source is None:
            return g
        if isinstance(source, Sequence):
            return source[g % len(source)]
        return source(g)


@dataclass(frozen=True, slots=True)
class Naming:
    """How a run on several workers names them, in messages and in the result.

    ``spelled`` is how the run was asked for (``processes=2``, ``workers=4,
    backend='ray'``), ``label`` what one worker is called (``process``, ``Ray actor``),
    ``key`` the key of ``PerfResult.extra`` that holds the number of workers.
    """

    spelled: str
    label: str = "process"
    key: str = "processes"

    @classmethod
    def processes(cls, workers: int) -> Naming:
        return cls(f"processes={workers}")

    @property
    def noun(self) -> str:
        """What a worker is called in advice ("each process", "each worker")."""
        return "process" if self.key == "processes" else "worker"

    @property
    def nouns(self) -> str:
        return "processes" if self.key == "processes" else "workers"


@dataclass(frozen=True, slots=True)
class Share:
    """One worker's part of a run.

    ``plan`` is its measured phase (its ``n``, ``concurrency``, ``rate`` and arrival seed;
    no warm-up: ``warmup`` runs first, then the worker waits for the others), ``tasks``
    its payloads, ``mock_seed`` the seed of its mock and ``delay`` how long it waits after
    the common start (constant arrivals: the streams interleave).
    """

    index: int
    workers: int
    plan: RunPlan
    warmup: int | float
    tasks: Dealt
    mock_seed: int
    delay: float = 0.0


@dataclass(slots=True)
class ShareOutcome:
    """What one worker sent back: its result (and every task's latencies, for exact
    percentiles), its mock's statistics, its CPU time; or why it failed (``stage``:
    ``"setup"`` before the warm-up, ``"warmup"``, ``"run"``, ``"lost"`` for a worker that
    died, ``"cancelled"``)."""

    index: int
    pid: int = 0
    result: PerfResult | None = None
    latencies: bytes = b""  # array("d") of every kept task's latency (finish - intended)
    services: bytes = b""  # array("d"): finish - actual start
    ttfts: bytes = b""  # array("d"): first token - intended start, where marked
    mock_stats: Any = None
    cpu_seconds: float = 0.0  # the worker process's CPU time over its measured phase
    error: str = ""
    error_type: str = ""
    stage: str = ""
    traceback: str = ""
    done: int = 0  # tasks the worker had reported done (a lost worker: its last progress)
    node: str = ""  # where it ran, when that is another machine's business (a Ray node)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.result is not None and not self.error


def check_tasks(
    tasks: object, processes: int | Naming
) -> Callable[[int], Any] | Sequence[Any] | None:
    """``tasks`` as a worker can rebuild it: ``None``, a sequence or a picklable factory."""
    if tasks is None or isinstance(tasks, Sequence):
        return tasks
    if callable(tasks):
        return tasks
    naming = _naming(processes)
    raise LoadConfigError(
        f"run(tasks=..., {naming.spelled}) got {type(tasks).__qualname__}: an iterator "
        f"cannot be split between {naming.nouns}; pass a list of payloads or a module-level "
        "factory f(i) -> payload."
    )


def _naming(workers: int | Naming) -> Naming:
    return workers if isinstance(workers, Naming) else Naming.processes(workers)


def split(
    plan: RunPlan,
    tasks: Callable[[int], Any] | Sequence[Any] | None,
    workers: int,
    mock_seed: int,
    naming: Naming | None = None,
) -> list[Share]:
    """``plan`` split into ``workers`` shares (see the module docstring)."""
    _check_split(plan, workers, naming or Naming.processes(workers))
    warm = plan.warmup if isinstance(plan.warmup, int) else 0
    shares = []
    for i in range(workers):
        before = owned_below(warm, i, workers)
        n = None if plan.n is None else owned_below(plan.n, i, workers)
        share_plan = replace(
            plan,
            n=n,
            concurrency=_part(plan.concurrency, i, workers),
            rate=plan.rate / workers if plan.rate is not None else None,
            warmup=0,
            seed=derive_seed(plan.seed or 0, i),
        )
        warmup = before if isinstance(plan.warmup, int) else plan.warmup
        constant = plan.rate is not None and plan.arrival == "constant"
        shares.append(
            Share(
                index=i,
                workers=workers,
                plan=share_plan,
                warmup=warmup,
                tasks=Dealt(tasks, i, workers, warm, before),
                mock_seed=derive_seed(mock_seed, i),
                delay=i / plan.rate if constant and plan.rate else 0.0,
            )
        )
    return shares


def _part(total: int | None, index: int, workers: int) -> int | None:
    return None if total is None else len(range(index, total, workers))


def check_workers(workers: object, name: str = "processes") -> int:
    """``workers`` if it is an integer >= 1; else :class:`LoadConfigError`."""
    if not isinstance(workers, int) or isinstance(workers, bool) or workers < 1:
        raise LoadConfigError(f"run({name}={workers!r}): use an integer >= 1.")
    return workers


def _check_split(plan: RunPlan, workers: int, naming: Naming) -> None:
    where = f"run({naming.spelled})"
    check_workers(workers)
    noun = naming.noun
    if plan.concurrency is not None and plan.concurrency < workers:
        raise LoadConfigError(
            f"{where} with concurrency={plan.concurrency}: each {noun} needs at least one "
            f"concurrent task; use concurrency >= {workers} or fewer {naming.nouns}."
        )
    if plan.n is not None and plan.n < workers:
        raise LoadConfigError(
            f"{where} with n={plan.n}: each {noun} needs at least one task; use n >= "
            f"{workers} or fewer {naming.nouns}."
        )
    if plan.rate is not None and not math.isfinite(plan.rate):
        raise LoadConfigError(f"{where}: the rate must be finite.")


# -- putting the outcomes back together -----------------------------------------------------


def combine(
    plan: RunPlan,
    shares: Sequence[Share],
    outcomes: Sequence[ShareOutcome],
    factory: str,
    naming: Naming | None = None,
) -> PerfResult:
    """The merged result of the shares that produced one; the others listed as lost.

    A run with lost shares is partial: ``extra["lost_shares"]`` says which worker, at
    which stage, after how many tasks and why, the self-check repeats it, and the budgets
    fail on it. With no result at all, :class:`WorkerError` says what each worker hit.
    """
    naming = naming or Naming.processes(len(shares))
    by_index = {o.index: o for o in outcomes}
    good = [(s, by_index[s.index]) for s in shares if _ok(by_index.get(s.index))]
    bad = [(s, by_index.get(s.index)) for s in shares if not _ok(by_index.get(s.index))]
    if not good:
        raise WorkerError(_failure_text(factory, bad, naming))
    label = naming.label
    results = [_labelled(o.result, o.index, label) for _, o in good if o.result is not None]
    pooled = [Pooled(_floats(o.latencies), _floats(o.services), _floats(o.ttfts)) for _, o in good]
    labels = [f"{label} {o.index}" for _, o in good]
    merged = merge_pooled(results, pooled, plan.name, labels)
    lost = [_lost(share, outcome, naming) for share, outcome in bad]
    extra = {
        **merged.extra,
        naming.key: len(shares),
        "shares": [_summary(share, outcome) for share, outcome in good],
    }
    warnings = merged.selfcheck.warnings
    if lost:
        extra[LOST_SHARES] = lost
        warnings = (*warnings, *(entry["text"] for entry in lost))
    return replace(merged, extra=extra, selfcheck=replace(merged.selfcheck, warnings=warnings))


def _labelled(result: PerfResult, index: int, label: str) -> PerfResult:
    """``result`` with its self-check's findings and warnings prefixed by their worker."""
    check = result.selfcheck
    warnings = tuple(f"{label} {index}: {w}" for w in check.warnings)
    findings = tuple(f"{label} {index}: {f}" for f in check.findings)
    return replace(result, selfcheck=replace(check, warnings=warnings, findings=findings))


def _ok(outcome: ShareOutcome | None) -> bool:
    return outcome is not None and outcome.ok


def _floats(data: bytes) -> array[float]:
    values = array("d")
    values.frombytes(data)
    return values


def _summary(share: Share, outcome: ShareOutcome) -> dict[str, Any]:
    result = outcome.result
    assert result is not None
    memory = result.memory
    node = {"node": outcome.node} if outcome.node else {}
    return {
        "index": share.index,
        "pid": outcome.pid,
        **node,
        "concurrency": share.plan.concurrency,
        "rate": share.plan.rate,
        "completed": result.completed,
        "failed": result.failed,
        "throughput": result.throughput,
        "p50": result.latency.p50,
        "p99": result.latency.p99,
        "efficiency": result.efficiency,
        "cpu_seconds": outcome.cpu_seconds,
        "cpu_per_task": outcome.cpu_seconds / result.total if result.total else None,
        "mock_calls": getattr(outcome.mock_stats, "calls", None),
        "memory_per_task_bytes": memory.per_task_bytes if memory is not None else None,
        "memory_leak": memory.leak if memory is not None else None,
    }


_STAGES = {
    "setup": "failed before its warm-up",
    "warmup": "failed during its warm-up",
    "run": "failed during the measured phase",
    "cancelled": "was stopped before it finished",
    "": "sent no result",
}


def _lost(share: Share, outcome: ShareOutcome | None, naming: Naming) -> dict[str, Any]:
    outcome = outcome or ShareOutcome(index=share.index, error="no outcome", stage="")
    planned = share.plan.n
    what = _STAGES.get(outcome.stage, _STAGES[""])
    if outcome.stage == "run" and outcome.done:
        of = f" of its {planned:,}" if planned is not None else ""
        what += f" after about {outcome.done:,}{of} tasks"
    node = f" on {outcome.node}" if outcome.node else ""
    pid = f" (pid {outcome.pid}{node})" if outcome.pid else ""
    text = (
        f"{naming.label} {share.index} of {share.workers}{pid} {what}: {outcome.error}; this "
        f"result covers the other {naming.label}s only, and its budgets fail"
    )
    return {
        "index": share.index,
        "pid": outcome.pid,
        "node": outcome.node,
        "stage": outcome.stage,
        "error": outcome.error,
        "error_type": outcome.error_type,
        "tasks_planned": planned,
        "tasks_done": outcome.done,
        "text": text,
        "traceback": outcome.traceback[-4000:],
    }


def _failure_text(
    factory: str, bad: Sequence[tuple[Share, ShareOutcome | None]], naming: Naming
) -> str:
    lines = [f"agent_perf.run({factory}, {naming.spelled}): no worker produced a result."]
    for share, outcome in bad:
        lines.append(f"  {_lost(share, outcome, naming)['text'].split('; this')[0]}")
    first = next((o for _, o in bad if o is not None and o.traceback), None)
    if first is not None:
        lines.append(f"Traceback in {naming.label} {first.index}:")
        lines.append(first.traceback.rstrip())
    return "\n".join(lines)
