"""Exceptions of pytest-agentperf: each says what was wrong, where, and what is accepted."""

from __future__ import annotations

__all__ = [
    "ABError",
    "AgentPerfError",
    "BaselineError",
    "BudgetConfigError",
    "CompareExprError",
    "LoadConfigError",
    "MemoryConfigError",
    "MockConfigError",
    "ResultError",
    "StateError",
    "TargetError",
    "UnitError",
    "WorkerError",
]


class AgentPerfError(Exception):
    """Base class of every error pytest-agentperf raises about what a user passed or did.

    Each subclass also derives from the matching builtin (``ValueError``, ``TypeError``,
    ``RuntimeError``), so ``except ValueError`` keeps working. Internal numeric helpers
    (``significance``, ``memory.fit``) raise plain ``ValueError`` for broken preconditions:
    those are bugs of the caller inside the package, not user errors.
    """


class UnitError(AgentPerfError, ValueError):
    """Raised when a value with units (a duration, size, rate or fraction) cannot be parsed."""


class BudgetConfigError(AgentPerfError, ValueError):
    """Raised when a budget (marker, ``budget()``, CLI option or pyproject key) is invalid.

    The plugin turns it into ``pytest.UsageError`` at collection time.
    """


class TargetError(AgentPerfError, TypeError):
    """Raised when ``agent_perf.run`` is given something it cannot drive."""


class LoadConfigError(AgentPerfError, ValueError):
    """Raised when ``agent_perf.run``/``sweep`` parameters are invalid or inconsistent."""


class ABError(AgentPerfError, ValueError):
    """Raised when ``agentperf ab`` cannot run: no git repository, a ``--base`` that names
    no commit, too few rounds for the test to ever call a change, a suite that does not
    collect at one of the revisions, or a run that wrote no results."""


class BaselineError(AgentPerfError):
    """Raised when a baseline or results file cannot be saved, found or read."""


class CompareExprError(AgentPerfError, ValueError):
    """Raised when a ``--agentperf-compare-fail`` / ``--fail`` expression is invalid."""


class MockConfigError(AgentPerfError, ValueError):
    """Raised when the mock LLM is configured with a value it does not accept.

    Latency models, faults, scripted replies, ``configure()`` and ``serve()`` arguments.
    """


class MemoryConfigError(AgentPerfError, ValueError):
    """Raised when a ``MemoryTracker`` or its ``rounds()``/``track()`` get invalid arguments."""


class ResultError(AgentPerfError, TypeError):
    """Raised when ``agent_perf.record()`` or ``agent_perf.note()`` get a value they cannot keep."""


class StateError(AgentPerfError, RuntimeError):
    """Raised when an object is used in a state that does not allow it.

    E.g. a ``memory_tracker.rounds()`` iterated twice, or ``async_benchmark`` used twice
    in one test.
    """


class WorkerError(AgentPerfError, RuntimeError):
    """Raised when ``agent_perf.run(..., processes=N)`` gets no result from any worker.

    Every worker process failed (its factory raised, it could not import the factory, or
    it died); the message names each worker and what happened to it. When only some
    workers fail, ``run()`` returns the others' merged result marked partial instead, and
    its budgets fail.
    """
