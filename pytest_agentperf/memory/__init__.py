"""Memory growth of a workload, measured in rounds (the ``memory_growth`` budget).

Build a :class:`MemoryTracker`; the load engine drives it through :class:`RoundSampler`
(``AgentPerf(memory=tracker)``), or drive it yourself with ``tracker.rounds(n)`` /
``tracker.track(fn, n=...)``. The method is described in :mod:`.tracker`.
"""

from __future__ import annotations

from pytest_agentperf.memory.diagnose import Diagnosis
from pytest_agentperf.memory.fit import SlopeFit, fit_slope, t_quantile
from pytest_agentperf.memory.rounds import Rounds
from pytest_agentperf.memory.tracker import MemoryTracker
from pytest_agentperf.protocols import RoundSampler

__all__ = [
    "Diagnosis",
    "MemoryTracker",
    "RoundSampler",
    "Rounds",
    "SlopeFit",
    "fit_slope",
    "t_quantile",
]
