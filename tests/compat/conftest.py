"""The compatibility matrix: one real stack per nox session (see noxfile.py).

Collected only when nox runs a stack (``AGENTPERF_COMPAT_STACK`` set): the stacks' pins
conflict, so each lives in its own environment, and the main test run never imports them.
"""

from __future__ import annotations

import os

if not os.environ.get("AGENTPERF_COMPAT_STACK"):
    collect_ignore_glob = ["test_*.py"]
