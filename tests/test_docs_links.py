"""Every relative link in README.md and docs/ reaches an existing file and heading.

Pure Python and fast, so a broken link fails the ordinary test run, not only the strict
``mkdocs build`` in CI. Links are read the way both renderers see them:

* README.md is read on GitHub (and PyPI): its anchors are GitHub's heading slugs.
* docs/*.md is read both on GitHub and in the mkdocs site, so an anchor into a docs page
  must exist under both slug rules (they differ on some punctuation), and a link from a
  docs page must stay inside docs/ (mkdocs cannot serve anything else).

Docs pages include sections of README.md with ``--8<-- "README.md:NAME"`` (pymdownx
snippets); the included text is checked as part of the page that includes it.
"""

from __future__ import annotations

import html
import os
import re
import unicodedata
from pathlib import Path
from typing import Literal

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
# Kept out of the site by mkdocs.yml's exclude_docs: a docs page may not link to it.
EXCLUDED_FROM_SITE: set[str] = set()

FENCE = re.compile(r"^(```|~~~)")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
INLINE_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE_DEF = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$")
CODE_SPAN = re.compile(r"(`+)(.+?)\1")
SNIPPET = re.compile(r"^\s*--8<--\s+\"([^\"]+)\"\s*$")
SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")


def _markdown_files() -> list[Path]:
    return [ROOT / "README.md", *sorted(DOCS.rglob("*.md"))]


def _section(path: Path, name: str) -> str:
    """The lines of ``path`` between its ``--8<-- [start:name]`` and ``[end:name]`` markers."""
    lines = path.read_text(encoding="utf-8").splitlines()
    starts = [i for i, line in enumerate(lines) if f"--8<-- [start:{name}]" in line]
    ends = [i for i, line in enumerate(lines) if f"--8<-- [end:{name}]" in line]
    if len(starts) != 1 or len(ends) != 1 or ends[0] < starts[0]:
        raise AssertionError(f"{path.name} has no single snippet section {name!r}")
    return "\n".join(lines[starts[0] + 1 : ends[0]])


def expand_snippets(text: str, where: Path) -> str:
    """Replace each ``--8<-- "FILE[:SECTION]"`` line (paths from the project root)."""
    out = []
    for line in text.splitlines():
        match = SNIPPET.match(line)
        if match is None:
            out.append(line)
            continue
        file, _, name = match.group(1).partition(":")
        source = ROOT / file
        assert source.is_file(), f"{where.name}: snippet file {file!r} does not exist"
        out.append(_section(source, name) if name else source.read_text(encoding="utf-8"))
    return "\n".join(out)


def _prose_lines(text: str) -> list[str]:
    """The lines outside fenced code blocks."""
    lines, fenced = [], False
    for line in text.splitlines():
        if FENCE.match(line.lstrip()):
            fenced = not fenced
        elif not fenced:
            lines.append(line)
    return lines


def _heading_text(raw: str) -> str:
    """A heading as rendered text: code spans, emphasis and link targets dropped."""
    text = CODE_SPAN.sub(lambda m: m.group(2).strip(), raw)
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
    return html.unescape(re.sub(r"(\*+|(?<!\w)_+|_+(?!\w))", "", text))


def github_slug(text: str) -> str:
    """GitHub's heading anchor: lowercase, punctuation dropped, each space a hyphen."""
    return re.sub(r"[^\w\- ]", "", text.lower()).replace(" ", "-")


def mkdocs_slug(text: str) -> str:
    """Python-Markdown's ``toc`` slugify (mkdocs' default): ASCII, runs of -/space one -."""
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    text = re.sub(r"[^\w\s-]", "", text).strip().lower()
    return re.sub(r"[-\s]+", "-", text)


def anchors(text: str, slug: Literal["github", "mkdocs"]) -> set[str]:
    """The heading anchors of a page under one slug rule, duplicates numbered as each does."""
    found: set[str] = set()
    for line in _prose_lines(text):
        match = HEADING.match(line)
        if match is None:
            continue
        base = (github_slug if slug == "github" else mkdocs_slug)(_heading_text(match[2]))
        anchor, n = base, 0
        while anchor in found:
            n += 1
            anchor = f"{base}-{n}" if slug == "github" else f"{base}_{n}"
        found.add(anchor)
    return found


def links(text: str) -> list[str]:
    """The link targets of a page's prose (inline links and reference definitions)."""
    targets = []
    for line in _prose_lines(text):
        prose = CODE_SPAN.sub("", line)
        targets += INLINE_LINK.findall(prose)
        ref = REFERENCE_DEF.match(prose)
        if ref is not None:
            targets.append(ref[1])
    return targets


def _problems(page: Path, raw: str | None = None) -> list[str]:
    """What is broken in ``page``'s links (``raw``: its text, when not read from disk)."""
    raw = page.read_text(encoding="utf-8") if raw is None else raw
    text = expand_snippets(raw, page) if page.is_relative_to(DOCS) else raw
    problems = []
    for target in links(text):
        if SCHEME.match(target) or target.startswith("//"):
            continue
        path_part, _, anchor = target.partition("#")
        dest = (page.parent / path_part).resolve() if path_part else page
        where = f"{page.relative_to(ROOT)}: link {target!r}"
        if not dest.is_file():
            problems.append(f"{where}: no file {os.path.relpath(dest, ROOT)}")
            continue
        in_docs = page.is_relative_to(DOCS)
        if in_docs and (not dest.is_relative_to(DOCS) or dest.name in EXCLUDED_FROM_SITE):
            problems.append(f"{where}: outside the mkdocs site (docs/, minus exclude_docs)")
        if anchor:
            problems += _anchor_problems(where, dest, anchor)
    return problems


def _anchor_problems(where: str, dest: Path, anchor: str) -> list[str]:
    raw = dest.read_text(encoding="utf-8")
    slugs = {"GitHub": anchors(raw, "github")}
    if dest.is_relative_to(DOCS):
        slugs["mkdocs"] = anchors(expand_snippets(raw, dest), "mkdocs")
    return [
        f"{where}: {dest.name} has no heading with the {renderer} anchor #{anchor}"
        for renderer, found in slugs.items()
        if anchor not in found
    ]


@pytest.mark.parametrize("page", _markdown_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(page: Path) -> None:
    assert _problems(page) == []


def test_every_docs_page_is_linked_from_the_readme() -> None:
    readme_targets = {t.partition("#")[0] for t in links((ROOT / "README.md").read_text())}
    pages = {f"docs/{p.name}" for p in DOCS.glob("*.md") if p.name not in EXCLUDED_FROM_SITE}
    assert pages - {"docs/quickstart.md"} <= readme_targets  # quickstart repeats the README


def test_the_checker_reports_broken_links() -> None:
    text = (
        "[a](plugin.md#no-such-heading) [b](missing.md) [c](../README.md) [d](CONTRACTS.md)\n"
        "[ok](#options) [ok](engine.md#efficiency) [ok](https://example.org/x.md)\n"
        "`[code](not-a-link.md)`\n```\n[fenced](not-a-link.md)\n```\n"
    )
    problems = _problems(DOCS / "plugin.md", text)
    # the anchor (under both rules), the missing file, two links outside the site
    assert len(problems) == 5, problems
    assert not any("not-a-link" in p or "#options" in p or "efficiency" in p for p in problems)
    readme = _problems(ROOT / "README.md", "[x](docs/plugin.md#options) [y](docs/plugin.md#nope)")
    assert readme == [
        "README.md: link 'docs/plugin.md#nope': plugin.md has no heading with the GitHub"
        " anchor #nope",
        "README.md: link 'docs/plugin.md#nope': plugin.md has no heading with the mkdocs"
        " anchor #nope",
    ]


@pytest.mark.parametrize(
    ("heading", "github", "mkdocs"),
    [
        (
            "The load engine: `agent_perf.run`, `sweep` and `async_benchmark`",
            "the-load-engine-agent_perfrun-sweep-and-async_benchmark",
            "the-load-engine-agent_perfrun-sweep-and-async_benchmark",
        ),
        (
            "`--agentperf-compare-fail` expressions",
            "--agentperf-compare-fail-expressions",
            "-agentperf-compare-fail-expressions",
        ),
        (
            "Closed loop, open loop and coordinated omission",
            "closed-loop-open-loop-and-coordinated-omission",
            "closed-loop-open-loop-and-coordinated-omission",
        ),
    ],
)
def test_slug_rules(heading: str, github: str, mkdocs: str) -> None:
    assert github_slug(_heading_text(heading)) == github
    assert mkdocs_slug(_heading_text(heading)) == mkdocs


@pytest.mark.parametrize("page", sorted(DOCS.glob("*.md")), ids=lambda p: p.name)
def test_mkdocs_anchors_match_python_markdown(page: Path) -> None:
    # The checker's mkdocs anchors are the ids Python-Markdown's toc (what mkdocs uses) gives.
    markdown = pytest.importorskip("markdown")
    text = expand_snippets(page.read_text(encoding="utf-8"), page)
    md = markdown.Markdown(extensions=["toc", "fenced_code", "tables"])
    md.convert(text)
    ids, stack = set(), list(md.toc_tokens)
    while stack:
        token = stack.pop()
        ids.add(token["id"])
        stack += token["children"]
    assert anchors(text, "mkdocs") == ids
