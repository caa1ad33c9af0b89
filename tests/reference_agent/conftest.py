"""Make ``import reference_agent`` find the real package, not this test folder.

With pytest's default "prepend" import mode the rootdir conftest puts ``tests/`` on
``sys.path``; this folder (no ``__init__.py``) then shadows the editable-installed
``reference_agent`` as a namespace package. Putting the project root on ``sys.path`` lets
the regular package win (a regular package beats a namespace portion wherever it is).
"""

from __future__ import annotations

import sys
from pathlib import Path

_ROOT = str(Path(__file__).resolve().parents[2])
if _ROOT not in sys.path:
    sys.path.append(_ROOT)
_loaded = sys.modules.get("reference_agent")
if _loaded is not None and getattr(_loaded, "__file__", None) is None:
    for _name in [
        n for n in sys.modules if n == "reference_agent" or n.startswith("reference_agent.")
    ]:
        del sys.modules[_name]
