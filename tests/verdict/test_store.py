"""The baseline store's messages for files it cannot use."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pytest_agentperf.errors import BaselineError
from pytest_agentperf.verdict.store import BaselineStore, load_document
from tests.factories import document


@pytest.mark.parametrize("version", ["1", 1.5, True, 0, None])
def test_a_version_that_is_not_a_version_number_says_so(tmp_path: Path, version: object) -> None:
    path = tmp_path / "r.json"
    path.write_text(json.dumps({**document(), "version": version}))
    with pytest.raises(BaselineError) as info:
        load_document(path)
    assert str(info.value) == (
        f"{str(path)!r} has the format version {version!r}, which is not a version number (a "
        "whole number such as 1); it was not written by pytest-agentperf, or was edited."
    )


def test_a_store_of_only_unreadable_files_says_why_rather_than_none_saved(
    tmp_path: Path,
) -> None:
    store = BaselineStore(tmp_path)
    store.save("main", document())
    (tmp_path / "main.json").write_text('{"schema": "pytest-agentperf/baseline", "versi')
    with pytest.raises(BaselineError) as info:
        store.load(None)
    assert str(info.value) == (
        f"No readable baseline in {tmp_path}: {str(tmp_path / 'main.json')!r} is not valid "
        "JSON: Unterminated string starting at: line 1 column 41 (char 40). Save a new one with "
        "'pytest --agentperf --agentperf-save NAME'."
    )
    (tmp_path / "main.json").unlink()
    with pytest.raises(BaselineError, match=r"^No baseline saved in "):
        store.load(None)
