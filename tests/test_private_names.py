"""The fence: every private name of requests, urllib3 and the stdlib that gfetch touches is listed
in docs/internals.md, with why and the test that guards it (rules in tests/_private_names.py)."""

from __future__ import annotations

import pathlib

import pytest
from _private_names import Entry, Use, find_uses, listed, missing_guards, package_uses, stale, unlisted

REPO = pathlib.Path(__file__).parent.parent
USES = package_uses(REPO / "gfetch")
ENTRIES = listed((REPO / "docs" / "internals.md").read_text(encoding="utf-8"))


def _found(source: str, **more: str) -> set[tuple[str, str | None]]:
    return {(use.name, use.owner) for use in find_uses({"gfetch/m.py": source, **more})}


def test_every_private_upstream_name_used_is_listed() -> None:
    missing = unlisted(USES, ENTRIES)
    assert not missing, "docs/internals.md (## Private names) does not list:\n" + "\n".join(map(str, missing))


def test_every_listed_name_is_still_used() -> None:
    gone = stale(USES, ENTRIES)
    assert not gone, f"docs/internals.md lists names gfetch no longer uses: {[e.qualified for e in gone]}"


def test_every_listed_guard_exists() -> None:
    assert not missing_guards(ENTRIES, REPO)


@pytest.mark.parametrize(
    "name, owner",
    [
        ("_dns_host", None),
        ("_pool_connections", "requests.adapters.HTTPAdapter"),
        ("_pool_maxsize", "requests.adapters.HTTPAdapter"),
        ("_pool_block", "requests.adapters.HTTPAdapter"),
        ("_accept", "socket.socket"),
        ("_init", "queue.LifoQueue"),
        ("_put", "queue.LifoQueue"),
        ("_get", "queue.LifoQueue"),
        ("_qsize", "queue.LifoQueue"),
        ("_method", "http.client.HTTPResponse"),
    ],
)
def test_the_issues_examples_are_found(name: str, owner: str | None) -> None:
    """The names issue 26 found missing from the list are found in the package today."""
    assert any(use.name == name and use.owner == owner for use in USES)


@pytest.mark.parametrize(
    "source, expected",
    [
        ("from urllib3.util.url import _new_private\n", ("_new_private", "urllib3.util.url")),
        ("from urllib3._private_module import Thing\n", ("_private_module", "urllib3")),
        ("import urllib3\nurllib3.util._new_private\n", ("_new_private", "urllib3.util")),
        ("import http.client as hc\nhc._LIMIT\n", ("_LIMIT", "http.client")),
        ("from requests import Session as S\nS._hook\n", ("_hook", "requests.Session")),
        ("def f(obj):\n    return obj._never_defined_by_gfetch\n", ("_never_defined_by_gfetch", None)),
        ("def f(obj):\n    return getattr(obj, '_never_defined', None)\n", ("_never_defined", None)),
        ("def f(retry):\n    retry.increment(_private_keyword=1)\n", ("_private_keyword", None)),
        (
            "import socket\nclass S(socket.socket):\n    def accept(self):\n        return self._accept()\n",
            ("_accept", "socket.socket"),
        ),
        (
            "import queue\nclass Q(queue.Queue):\n    def _init(self, n):\n        super()._init(n)\n",
            ("_init", "queue.Queue"),
        ),
        (
            "import requests\ndef f():\n    r = requests.Response()\n    r._content = b''\n",
            ("_content", "requests.models.Response"),
        ),
    ],
)
def test_the_checker_finds_a_new_use(source: str, expected: tuple[str, str | None]) -> None:
    """Fed a synthetic module (not the package), the checker reports the use."""
    assert expected in _found(source)


def test_a_new_use_fails_the_fence() -> None:
    new = find_uses({"gfetch/m.py": "import urllib3\nurllib3.util._new_private\n"})
    assert [str(use) for use in unlisted(new, ENTRIES)] == ["gfetch/m.py:2: urllib3.util._new_private"]
    accept = find_uses(
        {
            "gfetch/m.py": "import socket\nclass S(socket.socket):\n    def f(self):\n"
            "        return self._accept()\n"
        }
    )
    without_accept = [entry for entry in ENTRIES if entry.name != "_accept"]
    assert [str(use) for use in unlisted(accept, without_accept)] == ["gfetch/m.py:4: socket.socket._accept"]


def test_a_name_gfetch_defines_is_its_own_unless_the_object_is_upstreams() -> None:
    """``self._state`` of a plain class is gfetch's; the same name on a socket subclass that the
    socket has (``_closed``) is the socket's; a mixin counts with the upstream class it is mixed into."""
    own = (
        "class A:\n    def __init__(self):\n        self._state = 1\n"
        "    def f(self):\n        return self._state\n"
    )
    assert _found(own) == set()
    upstream = (
        "import socket\nclass S(socket.socket):\n    def f(self):\n        self._closed = True\n"
        "        self._mine = 1\n        return self._mine\n"
    )
    assert _found(upstream) == {("_closed", "socket.socket")}
    mixin = (
        "import urllib3.connection\nclass M:\n"
        "    def f(self):\n        return self._dns_host, self._own\n"
        "    def g(self):\n        self._own = 1\n"
        "class C(M, urllib3.connection.HTTPConnection):\n    pass\n"
    )
    assert ("_dns_host", "urllib3.connection.HTTPConnection") in _found(mixin)
    assert ("_own", "urllib3.connection.HTTPConnection") not in _found(mixin)


def test_an_import_for_the_type_checker_only_is_not_a_use() -> None:
    typing_only = (
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from requests.sessions import _Settings\n"
    )
    assert _found(typing_only) == set()
    assert _found("from requests.sessions import _Settings\n") == {("_Settings", "requests.sessions")}


def test_a_stale_entry_and_a_missing_guard_fail() -> None:
    entry = Entry("urllib3.util.url._gone", ("tests/test_seams.py::test_no_such_test",))
    assert stale(USES, [entry]) == [entry]
    assert missing_guards([entry], REPO) == [
        "urllib3.util.url._gone: tests/test_seams.py::test_no_such_test does not exist"
    ]
    listed_guard = Entry("urllib3.util.url._encode_target", ("tests/test_seams.py::test_seam_exists",))
    assert missing_guards([listed_guard], REPO) == []


def test_an_entry_covers_its_name_in_its_package_only() -> None:
    entry = Entry("urllib3.util.url._x", ())
    assert entry.covers(Use("_x", "urllib3.connection", "p", 1))
    assert entry.covers(Use("_x", None, "p", 1))
    assert not entry.covers(Use("_x", "requests.models.Response", "p", 1))
    assert not entry.covers(Use("_y", "urllib3.util.url", "p", 1))
