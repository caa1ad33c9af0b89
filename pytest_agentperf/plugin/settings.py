"""Options, ini keys and ``[tool.agentperf]``, resolved once into a frozen :class:`Settings`.

Every command-line option has an ini twin (``--agentperf-scale`` / ``agentperf_scale``),
readable from pytest.ini, tox.ini, setup.cfg or ``[tool.pytest.ini_options]``; the command
line wins. Suite-wide default budgets come from ``--agentperf-budget METRIC=LIMIT``, the
``agentperf_budgets`` ini lines and ``[tool.agentperf.budgets]`` in the rootdir's
pyproject.toml; markers beat all of them (see :func:`pytest_agentperf.verdict.budgets.resolve`).
"""

from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from pytest_agentperf.engine.ray_cluster import INSTALL, check_address, parse_address, ray_installed
from pytest_agentperf.engine.runner import BACKENDS, Backend
from pytest_agentperf.errors import (
    BaselineError,
    BudgetConfigError,
    CompareExprError,
    LoadConfigError,
    MockConfigError,
)
from pytest_agentperf.files import unwritable_reason
from pytest_agentperf.mockllm import DEFAULT_BASE_URL
from pytest_agentperf.mockllm.hosts import parse_host, parse_hosts, resolve_env
from pytest_agentperf.spend import Prices
from pytest_agentperf.verdict.budgets import Budget, Source, parse_budget
from pytest_agentperf.verdict.prices import check_cost_budgets, read_prices
from pytest_agentperf.verdict.store import baseline_store

__all__ = [
    "OPTIONS",
    "SETTINGS_KEY",
    "MockOptions",
    "Settings",
    "add_options",
    "load_settings",
    "parse_env_lines",
]

AGENTPERF_DESC = "run performance tests (marked agentperf or carrying a budget marker)"
JSON_DESC = "write the results document (JSON) to PATH, plus PATH.gab-{bigger,smaller}.json"
HTML_DESC = "write the HTML report to PATH"
SAVE_DESC = "save this run's results as the baseline NAME"
COMPARE_DESC = "compare with the baseline NAME (default: the latest saved)"
COMPARE_FAIL_DESC = "fail a test that regressed beyond EXPR, e.g. 'p95:10%,throughput:-5%'"
SCALE_DESC = "multiply task counts and durations by FACTOR (e.g. 0.25 for quick PR runs)"
SEED_DESC = "seed for the mock LLM and the workload generators (reproducible runs)"
BUDGET_DESC = "suite-wide default budget METRIC=LIMIT, e.g. 'p95=<=200ms' (repeatable)"
MOCK_HOST_DESC = (
    "a host the mock_llm fixture also answers for, beside OpenAI's and Anthropic's: a provider "
    "name (azure, openrouter...), a URL or host[:port] (repeatable)"
)
MOCK_ALLOW_DESC = (
    "a host mock_llm lets through to the network, e.g. a real local service: a URL or "
    "host[:port] (repeatable); any other unmocked host is blocked"
)
MOCK_ENV_DESC = (
    "an environment variable mock_llm sets for each test where unset, NAME=VALUE ({base_url} "
    "and {root} are the mock's URLs; NAME= stops a default from being set) (repeatable)"
)
MOCK_BASE_URL_DESC = "the mock_llm fixture's base URL (default http://127.0.0.1:9/v1)"
BACKEND_DESC = (
    "where agent_perf.run(..., workers=N) runs its N workers: 'processes' (on this machine, "
    "the default) or 'ray' (actors of a Ray cluster; pip install 'pytest-agentperf[ray]')"
)
RAY_ADDRESS_DESC = (
    "the Ray cluster of the 'ray' backend: its head's host:port, or 'auto' (default: "
    "RAY_ADDRESS if set, else a local cluster on this machine's CPUs for the session)"
)

# (flag, ini name, ini type, metavar, help); ini names are the dests.
OPTIONS: tuple[tuple[str, str, str, str | None, str], ...] = (
    ("--agentperf", "agentperf", "bool", None, AGENTPERF_DESC),
    ("--agentperf-json", "agentperf_json", "string", "PATH", JSON_DESC),
    ("--agentperf-html", "agentperf_html", "string", "PATH", HTML_DESC),
    ("--agentperf-save", "agentperf_save", "string", "NAME", SAVE_DESC),
    ("--agentperf-compare", "agentperf_compare", "string", "NAME", COMPARE_DESC),
    ("--agentperf-compare-fail", "agentperf_compare_fail", "string", "EXPR", COMPARE_FAIL_DESC),
    ("--agentperf-scale", "agentperf_scale", "string", "FACTOR", SCALE_DESC),
    ("--agentperf-seed", "agentperf_seed", "string", "N", SEED_DESC),
    ("--agentperf-budget", "agentperf_budgets", "linelist", "METRIC=LIMIT", BUDGET_DESC),
    ("--mock-llm-host", "mock_llm_hosts", "linelist", "HOST", MOCK_HOST_DESC),
    ("--mock-llm-allow", "mock_llm_allow", "linelist", "HOST", MOCK_ALLOW_DESC),
    ("--mock-llm-env", "mock_llm_env", "linelist", "NAME=VALUE", MOCK_ENV_DESC),
    ("--mock-llm-base-url", "mock_llm_base_url", "string", "URL", MOCK_BASE_URL_DESC),
    ("--agentperf-backend", "agentperf_backend", "string", "NAME", BACKEND_DESC),
    ("--agentperf-ray-address", "agentperf_ray_address", "string", "HOST:PORT", RAY_ADDRESS_DESC),
)
PYPROJECT_KEYS = ("budgets", "prices")
LATEST = "latest"
OUTPUTS = ("agentperf_json", "agentperf_html", "agentperf_save")
_METRIC_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def add_options(parser: pytest.Parser) -> None:
    """Register every option and its ini twin."""
    group = parser.getgroup("agentperf", "performance tests of async LLM agents")
    for flag, dest, ini_type, metavar, ini_help in OPTIONS:
        help_text = ini_help.replace("%", "%%")  # argparse formats help with %
        if ini_type == "bool":
            group.addoption(flag, action="store_true", default=None, dest=dest, help=help_text)
        elif ini_type == "linelist":
            group.addoption(flag, action="append", dest=dest, metavar=metavar, help=help_text)
        elif flag == "--agentperf-compare":
            group.addoption(flag, nargs="?", const=LATEST, dest=dest, metavar=metavar,
                            help=help_text)  # fmt: skip
        else:
            group.addoption(flag, dest=dest, metavar=metavar, help=help_text)
        default: Any = False if ini_type == "bool" else ([] if ini_type == "linelist" else None)
        parser.addini(dest, ini_help, type=ini_type, default=default)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class MockOptions:
    """How the ``mock_llm`` fixture builds its mock, before a test's ``mock_llm`` marker.

    ``hosts`` are mocked beside the defaults (OpenAI, Anthropic, ``base_url``); ``env``
    changes the default environment (``None``: do not set that variable).
    """

    hosts: tuple[str, ...] = ()
    allow: tuple[str, ...] = ()
    env: Mapping[str, str | None] = field(default_factory=dict)
    base_url: str | None = None


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the plugin reads from the command line, ini and pyproject."""

    enabled: bool = False
    json_path: Path | None = None
    html_path: Path | None = None
    save: str | None = None
    compare: str | None = None  # a baseline name, "latest", or None (no comparison)
    compare_fail: str | None = None
    scale: float = 1.0
    seed: int | None = None
    cli_budgets: Mapping[str, Budget] = field(default_factory=dict)
    ini_budgets: Mapping[str, Budget] = field(default_factory=dict)
    mock: MockOptions = field(default_factory=MockOptions)
    prices: Prices | None = None  # [tool.agentperf.prices]: what LLM calls cost
    backend: Backend = "processes"  # where run(..., workers=N) runs
    ray_address: str | None = None  # the Ray cluster's; None: RAY_ADDRESS, or a local one
    #: Where each output setting came from (``agentperf_json`` -> ``--agentperf-json`` or
    #: ``ini option 'agentperf_json'``), for messages about writing it.
    origins: Mapping[str, str] = field(default_factory=dict)

    @property
    def default_tiers(self) -> tuple[Mapping[str, Budget], ...]:
        return (self.cli_budgets, self.ini_budgets)

    def origin(self, dest: str) -> str:
        """The option or ini key that set ``dest`` (the option's flag when unknown)."""
        return self.origins.get(dest) or _flag(dest)


SETTINGS_KEY = pytest.StashKey[Settings]()


def _flag(dest: str) -> str:
    return next(o[0] for o in OPTIONS if o[1] == dest)


def _option(config: pytest.Config, dest: str) -> tuple[Any, str]:
    """The value of ``dest`` and where it came from (the flag or the ini key)."""
    value = config.getoption(dest)
    if value not in (None, []):
        return value, _flag(dest)
    origin = f"ini option {dest!r}"
    try:
        return config.getini(dest), origin
    except (ValueError, pytest.UsageError) as exc:  # a bool pytest cannot read ("maybe")
        raise pytest.UsageError(
            f"{origin}: {exc}; use true or false (also 1/0, yes/no, on/off)."
        ) from None


def _path(config: pytest.Config, dest: str) -> Path | None:
    value, origin = _option(config, dest)
    if not value:
        return None
    base = config.invocation_params.dir if origin.startswith("--") else config.rootpath
    return base / str(value)


def _text(config: pytest.Config, dest: str) -> str | None:
    value, _ = _option(config, dest)
    return str(value) if value else None


def _scale(config: pytest.Config) -> float:
    value, origin = _option(config, "agentperf_scale")
    if value in (None, ""):
        return 1.0
    try:
        factor = float(value)
    except ValueError:
        factor = math.nan
    if not math.isfinite(factor) or factor <= 0:
        raise pytest.UsageError(
            f"{origin}: {value!r} is not a scale factor; use a positive number such as 0.25 or 2."
        )
    return factor


def _compare_fail(config: pytest.Config) -> str | None:
    """The fail expression, checked now so that a bad one stops the run before any test."""
    value, origin = _option(config, "agentperf_compare_fail")
    if not value:
        return None
    from pytest_agentperf.verdict.baseline import parse_fail_expr

    try:
        parse_fail_expr(str(value), origin)
    except CompareExprError as exc:
        raise pytest.UsageError(str(exc)) from exc
    return str(value)


def _seed(config: pytest.Config) -> int | None:
    value, origin = _option(config, "agentperf_seed")
    if value in (None, ""):
        return None
    try:
        return int(value)
    except ValueError:
        raise pytest.UsageError(
            f"{origin}: {value!r} is not a seed; use a whole number such as 42."
        ) from None


def parse_assignments(lines: Sequence[str], origin: str, source: Source) -> dict[str, Budget]:
    """Parse ``METRIC=LIMIT`` lines (``p95=<=200ms``, ``throughput = 400/s``)."""
    budgets: dict[str, Budget] = {}
    for line in lines:
        metric, sep, value = line.partition("=")
        if not sep or not _METRIC_NAME.match(metric.strip()):
            raise BudgetConfigError(
                f"{origin}: {line!r} is not METRIC=LIMIT; "
                "use e.g. 'p95=<=200ms' or 'throughput=400/s'."
            )
        name = metric.strip()
        budgets[name] = parse_budget(name, value.strip(), f"{origin} ({name})", source)
    return budgets


def read_pyproject(path: Path) -> dict[str, Budget]:
    """The ``[tool.agentperf.budgets]`` of ``path``; unknown keys are rejected."""
    if not path.is_file():
        return {}
    with path.open("rb") as handle:
        try:
            data = tomllib.load(handle)
        except tomllib.TOMLDecodeError as exc:
            raise BudgetConfigError(f"{path}: not valid TOML: {exc}") from exc
    section: Any = data.get("tool", {}).get("agentperf", {})
    if not isinstance(section, dict):
        raise BudgetConfigError(
            f"{path}: [tool.agentperf] must be a table, not {_toml_kind(section)} "
            f"({section!r:.60}); write it as a table, e.g. '[tool.agentperf.budgets]' "
            "followed by lines METRIC = LIMIT such as 'p95 = \"<= 200ms\"'."
        )
    unknown = sorted(set(section) - set(PYPROJECT_KEYS))
    if unknown:
        raise BudgetConfigError(
            f"{path}: [tool.agentperf] has unknown key(s) {', '.join(map(repr, unknown))}; "
            f"accepted: {', '.join(PYPROJECT_KEYS)}."
        )
    table: Any = section.get("budgets", {})
    if not isinstance(table, dict):
        raise BudgetConfigError(
            f"{path}: [tool.agentperf] budgets must be a table of METRIC = LIMIT."
        )
    where = f"{path}: [tool.agentperf.budgets]"
    return {k: parse_budget(k, v, f"{where} {k}", "pyproject") for k, v in table.items()}


def _toml_kind(value: object) -> str:
    kinds = {bool: "a boolean", int: "an integer", float: "a float", str: "a string"}
    return "an array" if isinstance(value, list) else kinds.get(type(value), "a value")


def _file_budgets(config: pytest.Config) -> dict[str, Budget]:
    ini = parse_assignments(
        config.getini("agentperf_budgets"), "ini option 'agentperf_budgets'", "ini"
    )
    pyproject = read_pyproject(config.rootpath / "pyproject.toml")
    clash = sorted(set(ini) & set(pyproject))
    if clash:
        raise BudgetConfigError(
            f"default budget(s) {', '.join(clash)} set both in the ini option 'agentperf_budgets' "
            "and in [tool.agentperf.budgets]; keep one."
        )
    return {**pyproject, **ini}


def _budget_origin(item: Budget, key: str) -> str:
    """Where a default budget came from, for messages: the option, ini key or table."""
    origins = {
        "cli": "--agentperf-budget",
        "ini": "ini option 'agentperf_budgets'",
        "pyproject": "[tool.agentperf.budgets]",
    }
    return f"{origins.get(item.source, item.source)} ({key})"


def parse_env_lines(lines: Sequence[str], origin: str) -> dict[str, str | None]:
    """``NAME=VALUE`` lines as a mapping; ``NAME=`` (nothing after ``=``) is ``None``."""
    env: dict[str, str | None] = {}
    for line in lines:
        name, sep, value = line.partition("=")
        if not sep or not name.strip():
            raise MockConfigError(
                f"{origin}: {line!r} is not NAME=VALUE; use e.g. "
                "'OPENAI_BASE_URL={base_url}', or 'OPENAI_API_BASE=' to not set a default."
            )
        env[name.strip()] = value.strip() or None
    return env


def _mock_options(config: pytest.Config) -> MockOptions:
    """The ``mock_llm`` options, each checked now (a bad one stops the run before any test)."""
    hosts, hosts_origin = _option(config, "mock_llm_hosts")
    allow, allow_origin = _option(config, "mock_llm_allow")
    env_lines, env_origin = _option(config, "mock_llm_env")
    base_url, base_origin = _option(config, "mock_llm_base_url")
    try:
        parse_hosts(hosts or [], hosts_origin)
        parse_hosts(allow or [], allow_origin)
        env = parse_env_lines(env_lines or [], env_origin)
        resolve_env(env, DEFAULT_BASE_URL)
        if base_url and "://" not in str(base_url):
            raise MockConfigError(
                f"{base_origin}={base_url!r} is not accepted; use a URL such as "
                f"{DEFAULT_BASE_URL!r}."
            )
        if base_url:
            parse_host(str(base_url), base_origin)
    except MockConfigError as exc:
        raise pytest.UsageError(str(exc)) from exc
    url = str(base_url) if base_url else None
    return MockOptions(tuple(hosts or ()), tuple(allow or ()), env, url)


def _outputs(config: pytest.Config, enabled: bool) -> tuple[Path | None, Path | None, str | None]:
    """``--agentperf-json``, ``--agentperf-html`` and ``--agentperf-save``, checked now.

    A bad baseline name, a destination that cannot be written, or a save asked for on the
    command line of a run that measures nothing is a usage error before any test runs: a
    CI step that saves a baseline must not go green having saved nothing.
    """
    save, save_origin = _option(config, "agentperf_save")
    if save:
        try:
            baseline_store(config.rootpath).path(str(save))
        except BaselineError as exc:
            raise pytest.UsageError(f"{save_origin}: {exc}") from None
        if not enabled and save_origin.startswith("--"):
            raise pytest.UsageError(
                f"{save_origin} {save}: performance tests run only with --agentperf (or "
                "'agentperf = true' in the ini), so nothing would be saved; add --agentperf."
            )
    paths = _path(config, "agentperf_json"), _path(config, "agentperf_html")
    if enabled:
        named = [("agentperf_json", paths[0]), ("agentperf_html", paths[1])]
        wanted = [(dest, where, False) for dest, where in named if where is not None]
        if save:
            wanted.append(("agentperf_save", baseline_store(config.rootpath).root, True))
        for dest, where, folder in wanted:
            reason = unwritable_reason(where, folder=folder)
            if reason is not None:
                origin = _option(config, dest)[1]
                raise pytest.UsageError(f"{origin}: cannot write {where}: {reason}.")
    return paths[0], paths[1], str(save) if save else None


def _backend(config: pytest.Config) -> tuple[Backend, str | None]:
    """``--agentperf-backend`` and ``--agentperf-ray-address``, checked now: an unknown
    backend, Ray asked for but not installed, or a bad address stops the run before any
    test (an address only on the 'ray' backend: its TCP check takes milliseconds)."""
    value, origin = _option(config, "agentperf_backend")
    name = str(value).strip() if value else "processes"
    backend = next((b for b in BACKENDS if b == name), None)
    if backend is None:
        raise pytest.UsageError(
            f"{origin}: {value!r} is not a backend; use 'processes' (worker processes on this "
            "machine) or 'ray' (actors of a Ray cluster)."
        )
    if backend == "ray" and not ray_installed():
        raise pytest.UsageError(f"{origin} ray needs Ray, which is not installed: {INSTALL}")
    address, address_origin = _option(config, "agentperf_ray_address")
    if not address:
        return backend, None
    try:
        if backend == "ray":
            check_address(str(address), address_origin)
        else:
            parse_address(str(address), address_origin)
    except LoadConfigError as exc:
        raise pytest.UsageError(str(exc)) from exc
    return backend, str(address).strip()


def load_settings(config: pytest.Config) -> Settings:
    """Resolve the settings; raise ``pytest.UsageError`` naming the bad option and value."""
    try:
        cli = parse_assignments(
            config.getoption("agentperf_budgets") or [], "--agentperf-budget", "cli"
        )
        files = _file_budgets(config)
        prices = read_prices(config.rootpath / "pyproject.toml")
        defaults = [*cli.items(), *files.items()]
        check_cost_budgets(((_budget_origin(b, k), b) for k, b in defaults), prices)
    except BudgetConfigError as exc:
        raise pytest.UsageError(str(exc)) from exc
    enabled = bool(_option(config, "agentperf")[0])
    json_path, html_path, save = _outputs(config, enabled)
    backend, ray_address = _backend(config)
    return Settings(
        enabled=enabled,
        json_path=json_path,
        html_path=html_path,
        save=save,
        compare=_text(config, "agentperf_compare"),
        compare_fail=_compare_fail(config),
        scale=_scale(config),
        seed=_seed(config),
        cli_budgets=cli,
        ini_budgets=files,
        mock=_mock_options(config),
        prices=prices,
        backend=backend,
        ray_address=ray_address,
        origins={dest: _option(config, dest)[1] for dest in (*OUTPUTS, "agentperf_ray_address")},
    )
