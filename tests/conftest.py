from __future__ import annotations

from collections.abc import Callable

import pytest

from pytest_agentperf.result import PerfResult
from tests.factories import make_result as _make_result

pytest_plugins = ["pytester"]

# Inner pytest runs get this ini unless a test writes its own; without a loop scope
# pytest-asyncio warns, and our filterwarnings=error would turn that into a failure.
PYTESTER_INI = """
[pytest]
asyncio_default_fixture_loop_scope = function
"""


@pytest.fixture
def pytester(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeini(PYTESTER_INI)
    return pytester


@pytest.fixture
def make_result() -> Callable[..., PerfResult]:
    """A factory of PerfResults with exact figures (``tests.factories.make_result``)."""
    return _make_result
