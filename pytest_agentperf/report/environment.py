"""Where a run happened: Python, platform, CPUs, package versions, git commit, host."""

from __future__ import annotations

import os
import platform
import socket
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

__all__ = ["PACKAGES", "collect_environment", "git_commit", "package_versions", "usable_cpus"]

PACKAGES = (
    "pytest-agentperf",
    "pytest",
    "pytest-asyncio",
    "pytest-xdist",
    "httpx",
    "httpx2",
    "respx",
    "psutil",
    "openai",
    "anthropic",
)


def usable_cpus() -> int:
    """CPUs this process may run on (the affinity mask where the platform has one)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def package_versions(names: tuple[str, ...] = PACKAGES) -> dict[str, str]:
    """Installed versions of ``names``; packages that are not installed are left out."""
    versions: dict[str, str] = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def git_commit(root: Path | None = None) -> str | None:
    """The commit checked out at ``root``, or ``None`` outside a git work tree."""
    try:
        done = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    commit = done.stdout.strip()
    return commit if done.returncode == 0 and commit else None


def collect_environment(root: Path | None = None) -> dict[str, Any]:
    """The ``environment`` object of the results document."""
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "cpus": usable_cpus(),
        "packages": package_versions(),
        "git_commit": git_commit(root),
        "hostname": socket.gethostname(),
    }
