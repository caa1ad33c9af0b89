"""Hook specifications that conftests and plugins may implement."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from pytest_agentperf.report.records import TestRecord


@pytest.hookspec
def pytest_agentperf_recommendations(records: Sequence[TestRecord]) -> list[str] | None:
    """Recommendations to print under the agentperf summary, derived from the records.

    Each record has the test's ``nodeid``, ``outcome``, ``results`` (``PerfResult``) and the
    ``figures`` it noted with ``agent_perf.note()``. Return sentences that quote the
    measured figures, or ``None``/``[]`` to say nothing. The built-in rules
    (``pytest_agentperf.verdict.recommend``) run first.
    """
