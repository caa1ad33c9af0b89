from __future__ import annotations

import pytest

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
