"""What a user expects of the package: license, changelog, metadata, typed fan-out results."""

from __future__ import annotations

import importlib.metadata
import re
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


def test_metadata_names_authors_and_no_unconfirmed_urls() -> None:
    metadata = importlib.metadata.metadata("gfetch")
    assert metadata.get("Author") or metadata.get("Author-email")
    # The project's public home is not confirmed yet: no URL rather than a placeholder. Once it
    # is, pyproject.toml gets Homepage, Source, Issues and Changelog, and this asks for all four.
    assert metadata.get_all("Project-URL") is None


def test_classifiers_say_what_is_tested() -> None:
    """The Python versions are tox.ini's, the license is the SPDX expression alone (PEP 639)."""
    classifiers = importlib.metadata.metadata("gfetch").get_all("Classifier") or []
    envlist = re.search(r"^envlist = (.+)$", (ROOT / "tox.ini").read_text(), re.M)
    assert envlist is not None
    tested = [f"3.{minor}" for minor in re.findall(r"\bpy3(\d+)\b", envlist.group(1))]
    assert tested, envlist.group(0)
    python = "Programming Language :: Python :: "
    assert [c.removeprefix(python) for c in classifiers if c.startswith(python + "3.")] == tested
    assert importlib.metadata.metadata("gfetch").get("Requires-Python") == f">={tested[0]}"
    for expected in (
        "Typing :: Typed",
        "Topic :: Internet :: WWW/HTTP",
        python + "3 :: Only",
        "Intended Audience :: Developers",
    ):
        assert expected in classifiers
    assert not [c for c in classifiers if c.startswith("License ::")]


def test_fanout_results_are_typed() -> None:
    for function in (gfetch.map, gfetch.imap, gfetch.imap_enumerated):
        returned = typing.get_type_hints(function)["return"]
        assert "Response" in repr(returned), returned
    (item,) = typing.get_args(typing.get_type_hints(gfetch.map)["return"])
    assert requests.Response in typing.get_args(item) and type(None) in typing.get_args(item)
