"""Make ``import reference_agent`` find the real package, not ``tests/reference_agent``.

The rootdir conftest puts ``tests/`` on ``sys.path`` (prepend import mode), where the
``tests/reference_agent`` folder (no ``__init__.py``) would shadow the editable-installed
package as a namespace package; the project root on ``sys.path`` lets the regular one win.
"""

from __future__ import annotations

import sys
from pathlib import Path

_ROOT = str(Path(__file__).resolve().parents[2])
if _ROOT not in sys.path:
    sys.path.append(_ROOT)
