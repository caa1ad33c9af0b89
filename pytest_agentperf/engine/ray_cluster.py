"""The Ray cluster a ``backend="ray"`` run uses: found, checked, started, stopped.

Ray is an optional extra (``pip install 'pytest-agentperf[ray]'``): nothing here imports
it until a run asks for it, and asking without it is a :class:`LoadConfigError` that
names the install command.

Which cluster: a connection this process already has (a conftest's own ``ray.init``,
kept and never shut down here); else the address given (``--agentperf-ray-address``, its
ini key, or ``RAY_ADDRESS``): ``host:port`` of a cluster's head (GCS) or ``auto``; else a
local cluster started here with one CPU per core of the machine, kept for the session
and shut down at its end (:func:`shutdown`).

An address is checked before Ray sees it, because ``ray.init(address=...)`` has no
timeout: on an address where nothing listens it retries for about 14 minutes, and on an
open port that is not Ray it waits forever. So: a TCP connection first (a refused,
unroutable or unresolvable address fails in milliseconds), then a connection attempt in
a child interpreter with Ray's own retries bounded and a deadline of ours
(:data:`PROBE_TIMEOUT`), and only then ``ray.init`` here.
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Literal

from pytest_agentperf.errors import LoadConfigError, WorkerError

__all__ = [
    "INSTALL",
    "Cluster",
    "check_address",
    "connect",
    "current",
    "parse_address",
    "probe",
    "ray_installed",
    "require_ray",
    "reserve_cpus",
    "shutdown",
]

INSTALL = "pip install 'pytest-agentperf[ray]'"
#: How long the child interpreter gets to connect to a given address.
PROBE_TIMEOUT = 30.0
#: How long a run waits for the cluster's CPUs held by others (a previous run's actors
#: being released) before it says they are busy.
CPU_WAIT = 10.0
TCP_TIMEOUT = 3.0
NAMESPACE = "agentperf"
#: The local cluster's object store: results travel through it (a few MB per share at
#: most); Ray's default, 30% of RAM, maps gigabytes and warns where /dev/shm is small.
OBJECT_STORE_BYTES = 256 * 2**20
#: Ray's own retries on a connection, bounded (each attempt otherwise waits ~41 s, 20
#: times). Read by Ray's C++ core when ``ray`` is imported: set for the child only.
_BOUNDED_RETRIES = {
    "RAY_gcs_server_port_wait_time_s": "2",
    "RAY_py_gcs_connect_timeout_s": "3",
    "RAY_gcs_rpc_server_connect_timeout_s": "1",
}
_PROBE = """
import sys
import ray
ray.init(address=sys.argv[1], logging_level="ERROR", log_to_driver=False)
ray.shutdown()
"""


def ray_installed() -> bool:
    """Whether ``import ray`` would find Ray (without importing it)."""
    try:
        return importlib.util.find_spec("ray") is not None
    except (ImportError, ValueError):
        return False


def require_ray(what: str) -> ModuleType:
    """``ray``, imported; else a :class:`LoadConfigError` naming ``what`` and the install."""
    try:
        import ray
    except ImportError as exc:
        raise LoadConfigError(f"{what} needs Ray, which is not installed: {INSTALL}") from exc
    return ray


@dataclass(frozen=True, slots=True)
class Cluster:
    """The cluster this process is connected to, as the result reports it.

    ``kind``: ``"started"`` (a local cluster started here, stopped by :func:`shutdown`),
    ``"joined"`` (an address was given; :func:`shutdown` disconnects), ``"reused"`` (the
    process was connected before; left alone).
    """

    address: str  # its GCS address
    kind: Literal["started", "joined", "reused"]
    origin: str  # for messages: "started here", "given by --agentperf-ray-address", ...
    cpus: float
    nodes: int

    def describe(self) -> dict[str, Any]:
        return {"address": self.address, "kind": self.kind, "cpus": self.cpus, "nodes": self.nodes}


_state: dict[str, Any] = {"cluster": None, "asked": None}


def check_address(address: str, origin: str) -> tuple[str, int] | None:
    """``address`` parsed and reachable over TCP: ``(host, port)``; ``None`` for ``auto``.

    Raises :class:`LoadConfigError` naming ``origin`` for a malformed address, a Ray
    Client address (``ray://``), and one where nothing answers.
    """
    parsed = parse_address(address, origin)
    if parsed is None:
        return None
    try:
        socket.create_connection(parsed, timeout=TCP_TIMEOUT).close()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise LoadConfigError(
            f"{origin}={address!r}: no Ray cluster there, the connection failed ({reason}); "
            "is the head running ('ray start --head' prints its address) and the port open?"
        ) from exc
    return parsed


def parse_address(address: str, origin: str) -> tuple[str, int] | None:
    """``address`` as ``(host, port)``, ``None`` for ``auto``; else a :class:`LoadConfigError`."""
    text = address.strip()
    if text == "auto":
        return None
    if text.startswith("ray://"):
        raise LoadConfigError(
            f"{origin}={address!r}: Ray Client addresses (ray://) are not supported; run the "
            "tests on a node of the cluster (or submit them as a Ray job) and give the head's "
            "address as host:port (its GCS port, 6379 by default), or 'auto'."
        )
    host, sep, port_text = text.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise LoadConfigError(
            f"{origin}={address!r} is not a Ray cluster address; use host:port of its head "
            "(e.g. 10.0.0.5:6379, as 'ray start --head' prints it) or 'auto'."
        )
    return host, int(port_text)


def connect(address: str | None, origin: str) -> Cluster:
    """The cluster to run on, connecting or starting one (see the module docstring).

    Without ``address``, ``RAY_ADDRESS`` is the address when it is set (as for
    ``ray.init()``; ``ray job submit`` sets it for the tests it runs).
    """
    ray = require_ray("backend='ray'")
    if address is None and os.environ.get("RAY_ADDRESS"):
        address, origin = os.environ["RAY_ADDRESS"], "the environment variable RAY_ADDRESS"
    if address is not None:
        parse_address(address, origin)
    known: Cluster | None = _state["cluster"]
    if known is not None and ray.is_initialized():
        if known.kind != "reused" and address != _state["asked"]:
            if address is not None:
                check_address(address, origin)  # an unreachable address says so first
            raise LoadConfigError(
                f"{origin}={address!r}: this process already works with the Ray cluster at "
                f"{known.address} ({known.origin}), and one process works with one cluster."
            )
        return known
    if ray.is_initialized():
        cluster = _describe(ray, "reused", "connected before (ray.init() ran elsewhere)")
    elif address is not None:
        cluster = _join(ray, address, origin)
    else:
        cluster = _start(ray)
    _state["cluster"], _state["asked"] = cluster, address
    return cluster


def _join(ray: ModuleType, address: str, origin: str) -> Cluster:
    check_address(address, origin)
    probe(address, origin)
    ray.init(address=address, namespace=NAMESPACE, logging_level=logging.WARNING)
    return _describe(ray, "joined", f"given by {origin}")


def probe(address: str, origin: str) -> None:
    """Connect to ``address`` from a child interpreter, bounded; raise what it hit."""
    env = {**_BOUNDED_RETRIES, **os.environ}  # the user's own settings win
    try:
        done = subprocess.run(
            [sys.executable, "-c", _PROBE, address],
            env=env,
            capture_output=True,
            text=True,
            timeout=PROBE_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise LoadConfigError(
            f"{origin}={address!r}: something listens there, but no Ray cluster answered "
            f"within {PROBE_TIMEOUT:g}s; is it the head's GCS port (6379 by default)?"
        ) from None
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        errors = [line for line in lines if "Error" in line.split(":")[0]]
        last = (errors or lines or [f"exit code {done.returncode}"])[-1].strip()
        hint = (
            "the tests' Ray and Python versions must match the cluster's"
            if "version" in last.lower()
            else "is it the head's GCS port (6379 by default), and this machine a node of it?"
        )
        raise LoadConfigError(
            f"{origin}={address!r}: could not connect to a Ray cluster there: {last[:400]}; {hint}"
        )


def _start(ray: ModuleType) -> Cluster:
    """A local cluster with one CPU per core, quiet, its workers at normal priority."""
    # Ray >= 2.5x enables token auth on every local cluster and says so at WARNING.
    logging.getLogger("ray._private.authentication.authentication_token_setup").setLevel(
        logging.ERROR
    )
    ray.init(
        address="local",  # never join another cluster running on this machine by accident
        num_cpus=_usable_cpus(),
        namespace=NAMESPACE,
        include_dashboard=False,
        logging_level=logging.WARNING,
        object_store_memory=OBJECT_STORE_BYTES,
        # Ray starts workers at nice 15: on a shared machine they would lose every CPU
        # contest, and a load generator must not yield to what it measures against.
        _system_config={"worker_niceness": 0},
    )
    return _describe(ray, "started", "started here")


def _usable_cpus() -> int:
    """The CPUs this process may run on (a CI runner's affinity mask, not the host's)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):  # not on Linux
        return os.cpu_count() or 1


def _describe(
    ray: ModuleType, kind: Literal["started", "joined", "reused"], origin: str
) -> Cluster:
    address = ray.get_runtime_context().gcs_address
    cpus = float(ray.cluster_resources().get("CPU", 0.0))
    nodes = sum(1 for node in ray.nodes() if node.get("Alive"))
    return Cluster(address, kind, origin, cpus, nodes)


async def reserve_cpus(ray: ModuleType, cluster: Cluster, workers: int, spelled: str) -> None:
    """Check that the cluster has a CPU for each worker, free now or within
    :data:`CPU_WAIT`: an actor that cannot get its CPU would wait forever."""
    total = float(ray.cluster_resources().get("CPU", 0.0))
    if total < workers:
        raise LoadConfigError(
            f"run({spelled}): the Ray cluster at {cluster.address} ({cluster.origin}) has "
            f"{total:g} CPUs and each worker takes one, so it runs at most {int(total)} "
            "workers; use fewer, or add nodes."
        )
    deadline = time.monotonic() + CPU_WAIT
    free = float(ray.available_resources().get("CPU", 0.0))
    while free < workers and time.monotonic() < deadline:
        await asyncio.sleep(0.1)  # a previous run's actors are being released
        free = float(ray.available_resources().get("CPU", 0.0))
    if free < workers:
        raise WorkerError(
            f"run({spelled}): only {free:g} of the {total:g} CPUs of the Ray cluster at "
            f"{cluster.address} were free after {CPU_WAIT:g}s (other jobs hold the rest); "
            "each worker needs one."
        )


def current() -> Cluster | None:
    """The cluster :func:`connect` gave last (until :func:`shutdown`), if any."""
    cluster: Cluster | None = _state["cluster"]
    return cluster


def shutdown(keep: Cluster | None = None) -> None:
    """End this process's connection to Ray, stopping the cluster if it was started here.

    A connection made before (by the application or a conftest) is left alone, and so is
    ``keep``: a pytest session run inside another (``pytester``) passes the cluster the
    outer one already had, so that it ends only what it started itself.
    """
    cluster: Cluster | None = _state["cluster"]
    if cluster is None or cluster is keep:
        return
    _state["cluster"] = _state["asked"] = None
    if cluster.kind == "reused" or "ray" not in sys.modules:
        return
    import ray

    if ray.is_initialized():
        ray.shutdown()
