"""pytest entry point (``pytest11: agentperf``).

The module-level hooks only register options, markers and the fixtures, resolve the
settings once, and register :class:`~pytest_agentperf.plugin.session.AgentPerfSession` as
``"agentperf-session"``; the session object holds the state of the run.
"""

from __future__ import annotations

import functools

import pytest

from pytest_agentperf.engine import ray_cluster
from pytest_agentperf.plugin import fixtures
from pytest_agentperf.plugin.markers import MARKER_LINES
from pytest_agentperf.plugin.session import AgentPerfSession
from pytest_agentperf.plugin.settings import SETTINGS_KEY, add_options, load_settings

__all__ = ["AgentPerfSession"]

SESSION_NAME = "agentperf-session"
FIXTURES_NAME = "agentperf-fixtures"


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    from pytest_agentperf.plugin import hooks

    pluginmanager.add_hookspecs(hooks)


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser)


def pytest_configure(config: pytest.Config) -> None:
    for line in MARKER_LINES:
        config.addinivalue_line("markers", line)
    settings = load_settings(config)
    config.stash[SETTINGS_KEY] = settings
    # A Ray cluster a run of this session started or joined ends with it (one that was
    # there before, e.g. an outer pytest session's, stays).
    config.add_cleanup(functools.partial(ray_cluster.shutdown, keep=ray_cluster.current()))
    session = AgentPerfSession(config, settings)
    session.load_baseline()  # a missing baseline is a usage error before any test runs
    if not config.pluginmanager.has_plugin(FIXTURES_NAME):
        config.pluginmanager.register(fixtures, FIXTURES_NAME)
    config.pluginmanager.register(session, SESSION_NAME)


def pytest_unconfigure(config: pytest.Config) -> None:
    session = config.pluginmanager.get_plugin(SESSION_NAME)
    if session is not None:
        config.pluginmanager.unregister(session, SESSION_NAME)
