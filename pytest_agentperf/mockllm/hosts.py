"""Which hosts the mock answers, which it lets through, and the SDK environment it sets.

While a ``MockLLM`` is active (``start()``, ``async with``, the ``mock_llm`` fixture):

- requests to its **mocked hosts** are answered by the mock, whichever client library
  (httpx, httpx2) and transport sent them. By default: ``base_url``'s host, the OpenAI
  API (``https://api.openai.com/v1``) and the Anthropic API (``https://api.anthropic.com``);
- requests to **allowed hosts** go through to the network as usual (an explicit list, e.g.
  a real local service); the mock's own ``serve()`` URLs are always allowed;
- every other request is **blocked**: it fails at once with a connection error that names
  the host and says how to mock or allow it, and the mock counts it in
  ``stats().blocked``. Nothing leaves the process by accident.

Hosts are given as a provider name (``"openai"``, ``"azure"``...), a URL
(``"https://gateway.example.com/v1"``, ``"http://127.0.0.1:8000"``) or ``host[:port]``; a
leading ``*.`` matches any subdomain (``"*.openai.azure.com"``). Paths do not matter: a
mocked host is mocked whole.
"""

from __future__ import annotations

import difflib
import ipaddress
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit

from pytest_agentperf.errors import MockConfigError

__all__ = [
    "DEFAULT_ENV",
    "DEFAULT_HOSTS",
    "KNOWN_ENV",
    "PROVIDERS",
    "EnvPatch",
    "HostPattern",
    "HostSet",
    "parse_host",
    "parse_hosts",
    "resolve_env",
]

#: Provider names accepted in ``hosts=`` / ``allow=``, and the base URL each stands for.
PROVIDERS: Final[Mapping[str, str]] = {
    "openai": "https://api.openai.com/v1",
    "anthropic": "https://api.anthropic.com",
    "azure": "https://*.openai.azure.com",
    "openrouter": "https://openrouter.ai/api/v1",
    "groq": "https://api.groq.com/openai/v1",
    "mistral": "https://api.mistral.ai/v1",
    "deepseek": "https://api.deepseek.com/v1",
    "together": "https://api.together.xyz/v1",
    "fireworks": "https://api.fireworks.ai/inference/v1",
    "xai": "https://api.x.ai/v1",
    "gemini": "https://generativelanguage.googleapis.com/v1beta/openai",
}

#: What ``MockLLM(hosts=...)`` mocks when not told otherwise (plus ``base_url``'s host).
DEFAULT_HOSTS: Final = ("openai", "anthropic")

#: The environment the mock sets while active (unless already set). ``{base_url}`` is the
#: mock's base URL (``http://127.0.0.1:9/v1``), ``{root}`` the same without a final ``/v1``
#: (the Anthropic SDK adds ``/v1/messages`` itself).
DEFAULT_ENV: Final[Mapping[str, str]] = {
    "OPENAI_BASE_URL": "{base_url}",
    "OPENAI_API_BASE": "{base_url}",
    "OPENAI_API_KEY": "sk-mock-agentperf",
    "ANTHROPIC_BASE_URL": "{root}",
    "ANTHROPIC_API_KEY": "sk-ant-mock-agentperf",
}

#: Variables the SDKs and frameworks read: a name close to one of these but not equal is
#: taken for a typo (``OPENAI_BASEURL``) and rejected.
KNOWN_ENV: Final = (
    *DEFAULT_ENV,
    "ANTHROPIC_AUTH_TOKEN",
    "AZURE_OPENAI_ENDPOINT",
    "AZURE_OPENAI_API_KEY",
    "OPENAI_API_VERSION",
    "OPENAI_ORG_ID",
    "OPENAI_PROJECT_ID",
    "OPENROUTER_API_KEY",
    "GROQ_API_KEY",
    "MISTRAL_API_KEY",
    "DEEPSEEK_API_KEY",
    "TOGETHER_API_KEY",
    "FIREWORKS_API_KEY",
    "XAI_API_KEY",
    "GEMINI_API_KEY",
)
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")
_SPEC_HELP = (
    "a provider name ({providers}), a URL such as 'https://gateway.example.com/v1' or "
    "'http://127.0.0.1:8000', or 'host[:port]' (a leading '*.' matches any subdomain)"
)


@dataclass(frozen=True, slots=True)
class HostPattern:
    """One host: an exact name or ``*.suffix``, and a port (``None``: any port)."""

    host: str
    port: int | None
    spec: str

    @property
    def wildcard(self) -> bool:
        return self.host.startswith("*.")

    def matches(self, host: str, port: int | None) -> bool:
        """Whether a request to ``host:port`` falls under this pattern."""
        if self.port is not None and port != self.port:
            return False
        if self.wildcard:
            return host.endswith(self.host[1:])
        return host == self.host


class HostSet:
    """Patterns, matched in O(1) for exact names; wildcards are checked after."""

    __slots__ = ("_exact", "_wildcards", "patterns")

    def __init__(self, patterns: Iterable[HostPattern] = ()) -> None:
        self.patterns: tuple[HostPattern, ...] = ()
        self._exact: dict[str, tuple[HostPattern, ...]] = {}
        self._wildcards: tuple[HostPattern, ...] = ()
        self.extend(patterns)

    def extend(self, patterns: Iterable[HostPattern]) -> None:
        """Add patterns (kept in order, duplicates dropped)."""
        added = tuple(p for p in patterns if p not in self.patterns)
        self.patterns += added
        for pattern in added:
            if pattern.wildcard:
                self._wildcards += (pattern,)
            else:
                self._exact[pattern.host] = (*self._exact.get(pattern.host, ()), pattern)

    def remove(self, pattern: HostPattern) -> None:
        """Drop one pattern (a ``serve()`` URL when its server closes)."""
        self.patterns = tuple(p for p in self.patterns if p != pattern)
        self._exact = {}
        self._wildcards = ()
        patterns, self.patterns = self.patterns, ()
        self.extend(patterns)

    def match(self, host: str, port: int | None) -> bool:
        """Whether ``host:port`` is in the set (``port`` None: the scheme's default)."""
        exact = self._exact.get(host)
        if exact is not None:
            for pattern in exact:
                if pattern.port is None or pattern.port == port:
                    return True
        return any(p.matches(host, port) for p in self._wildcards)

    def __bool__(self) -> bool:
        return bool(self.patterns)

    def __repr__(self) -> str:
        return f"HostSet({[p.spec for p in self.patterns]!r})"


def _bad(field: str, value: object, why: str) -> MockConfigError:
    accepted = _SPEC_HELP.format(providers=", ".join(PROVIDERS))
    return MockConfigError(f"{field}={value!r} is not accepted: {why}. Use {accepted}.")


def _check_host(host: str, field: str, spec: str) -> str:
    host = host.lower().rstrip(".")
    if ":" in host:  # an IPv6 literal (urlsplit drops the brackets)
        try:
            return str(ipaddress.IPv6Address(host))
        except ValueError:
            raise _bad(field, spec, f"{host!r} is not an IPv6 address") from None
    name = host[2:] if host.startswith("*.") else host
    if not name or not all(_LABEL.fullmatch(label) for label in name.split(".")):
        raise _bad(field, spec, f"{host!r} is not a host name")
    return host


def _parse_url(spec: str, field: str, url: str | None = None) -> HostPattern:
    """The pattern of ``url`` (default ``spec``); errors quote ``spec``, what the user wrote."""
    url = spec if url is None else url
    parts = urlsplit(url.replace("://*.", "://wildcard--.", 1))
    if parts.scheme not in ("http", "https"):
        raise _bad(field, spec, f"the scheme {parts.scheme!r} is not http or https")
    if parts.query or parts.fragment or parts.username or parts.password:
        raise _bad(field, spec, "a host takes no query, fragment or credentials")
    try:
        port = parts.port
    except ValueError:
        raise _bad(field, spec, "its port is not a number from 1 to 65535") from None
    if port == 0:
        raise _bad(field, spec, "its port is not a number from 1 to 65535")
    if (parts.scheme, port) in (("http", 80), ("https", 443)):
        port = None  # as the clients normalise a URL's default port
    raw_host = (parts.hostname or "").replace("wildcard--.", "*.", 1)
    return HostPattern(_check_host(raw_host, field, spec), port, spec)


def parse_host(spec: object, field: str) -> HostPattern:
    """The pattern of one ``hosts``/``allow`` entry; ``field`` names it in errors."""
    if not isinstance(spec, str):
        raise _bad(field, spec, "it is not a string")
    text = spec.strip()
    if not text or any(c.isspace() for c in text):
        raise _bad(field, spec, "it is empty or contains spaces")
    if text.lower() in PROVIDERS:
        return _parse_url(spec, field, PROVIDERS[text.lower()])
    if "://" in text:
        return _parse_url(spec, field, text)
    if "/" in text:
        raise _bad(field, spec, "a path needs a scheme (http:// or https://)")
    pattern = _parse_url(spec, field, "http://" + text)
    host = pattern.host
    if pattern.port is None and "." not in host and ":" not in host and host != "localhost":
        raise _bad(field, spec, f"{text!r} is not a known provider")
    return pattern


def parse_hosts(specs: object, field: str) -> tuple[HostPattern, ...]:
    """Every pattern of a ``hosts``/``allow`` list (a single string is one entry)."""
    if isinstance(specs, str):
        specs = (specs,)
    if not isinstance(specs, Iterable):
        raise MockConfigError(f"{field}={specs!r} must be a list of hosts.")
    patterns: list[HostPattern] = []
    for index, spec in enumerate(specs):
        patterns.append(parse_host(spec, f"{field}[{index}]"))
    return tuple(patterns)


# -- environment ----------------------------------------------------------------------------


def _root(base_url: str) -> str:
    return base_url[: -len("/v1")] if base_url.endswith("/v1") else base_url


def _expand(name: str, value: str, base_url: str) -> str:
    values = {"base_url": base_url, "root": _root(base_url)}
    for placeholder in _PLACEHOLDER.findall(value):
        if placeholder not in values:
            raise MockConfigError(
                f"env[{name!r}]={value!r} uses {{{placeholder}}}; the placeholders are "
                "{base_url} (the mock's base URL) and {root} (the same without '/v1')."
            )
    return value.format(**values)


def _check_typo(name: str) -> None:
    if name in KNOWN_ENV:
        return
    close = difflib.get_close_matches(name, KNOWN_ENV, n=1, cutoff=0.85)
    if close:
        raise MockConfigError(
            f"env={{{name!r}: ...}}: {name} looks like a misspelt {close[0]}; the SDKs read "
            f"{', '.join(KNOWN_ENV)}."
        )


def resolve_env(env: object, base_url: str) -> dict[str, str]:
    """The variables to set: the defaults, changed by a mapping (``None`` drops one).

    ``True`` means the defaults, ``False`` or ``None`` nothing.
    """
    if env is True:
        wanted: dict[str, str] = dict(DEFAULT_ENV)
    elif env is False or env is None:
        wanted = {}
    elif isinstance(env, Mapping):
        wanted = dict(DEFAULT_ENV)
        for name, value in env.items():
            if not isinstance(name, str) or not _ENV_NAME.fullmatch(name):
                raise MockConfigError(
                    f"env={{{name!r}: ...}}: {name!r} is not an environment variable name "
                    "(letters, digits and '_', not starting with a digit)."
                )
            _check_typo(name)
            if value is None:
                if name not in DEFAULT_ENV:
                    raise MockConfigError(
                        f"env={{{name!r}: None}}: {name} is not one of the variables the mock "
                        f"sets ({', '.join(DEFAULT_ENV)}); None drops one of those, a string "
                        "sets any variable."
                    )
                del wanted[name]
            elif isinstance(value, str):
                wanted[name] = value
            else:
                raise MockConfigError(
                    f"env[{name!r}]={value!r} must be a string (or None to not set it)."
                )
    else:
        raise MockConfigError(
            f"env={env!r} is not accepted; use True (the defaults), False (set nothing) or a "
            "mapping of variable names to values (None drops a default)."
        )
    return {name: _expand(name, value, base_url) for name, value in wanted.items()}


class EnvPatch:
    """Sets variables that are not already set, and unsets at exit those still as it left them.

    A value the test (or its environment) set itself is never overridden, before or during
    the test.
    """

    __slots__ = ("_set", "wanted")

    def __init__(self, wanted: Mapping[str, str]) -> None:
        self.wanted = dict(wanted)
        self._set: dict[str, str] = {}

    def apply(self) -> None:
        environ = os.environ
        for name, value in self.wanted.items():
            if name not in environ and name not in self._set:
                environ[name] = value
                self._set[name] = value

    def restore(self) -> None:
        environ = os.environ
        for name, value in self._set.items():
            if environ.get(name) == value:
                del environ[name]
        self._set.clear()

    @property
    def applied(self) -> dict[str, str]:
        """The variables this patch set and has not restored yet."""
        return dict(self._set)
