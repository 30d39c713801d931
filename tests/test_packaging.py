"""What a user expects of the package: license, changelog, metadata, typed fan-out results."""

from __future__ import annotations

import importlib.metadata
import typing
from pathlib import Path

import requests

import gfetch

ROOT = Path(__file__).resolve().parent.parent


def test_license_file_matches_the_metadata() -> None:
    metadata = importlib.metadata.metadata("gfetch")
    assert metadata.get("License-Expression") == "MIT" or metadata.get("License") == "MIT"
    assert (ROOT / "LICENSE").read_text().startswith("MIT License\n")


def test_changelog_has_an_unreleased_section() -> None:
    assert "\n## Unreleased\n" in (ROOT / "CHANGELOG.md").read_text()


def test_metadata_names_authors_and_urls() -> None:
    metadata = importlib.metadata.metadata("gfetch")
    assert metadata.get("Author") or metadata.get("Author-email")
    labels = {url.split(",")[0].strip().lower() for url in metadata.get_all("Project-URL") or []}
    assert {"homepage", "source", "issues", "changelog"} <= labels


def test_fanout_results_are_typed() -> None:
    for function in (gfetch.map, gfetch.imap, gfetch.imap_enumerated):
        returned = typing.get_type_hints(function)["return"]
        assert "Response" in repr(returned), returned
    (item,) = typing.get_args(typing.get_type_hints(gfetch.map)["return"])
    assert requests.Response in typing.get_args(item) and type(None) in typing.get_args(item)
