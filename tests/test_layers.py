"""The layer table: gfetch's modules bottom-up, checked against their imports and the docs.

LAYERS is the one place the order lives. The README's "Layout" list and the
``gfetch/__init__.py`` diagram are checked against it, and every module's
imports (read with ast, not by importing) against its place in it:

* a module-level import (``TYPE_CHECKING`` ones included) must name a module
  listed earlier, so the order is a true bottom-up order with no cycles;
* an import inside a function may also name a module on the same line (a
  lazily loaded plug-in: http1 -> http1_httptools, transport -> socks);
* a module docstring's "Layer N" must be its line's number, and its
  "Imports ..." sentence must name exactly the gfetch modules it imports (and
  no third-party package it does not import).
"""

from __future__ import annotations

import ast
import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "gfetch"

# (layer number used in module docstrings, modules bottom-up, what the line is)
# "__init__" is the package itself: ``import gfetch`` means the public API.
LAYERS: list[tuple[int, tuple[str, ...], str]] = [
    (1, ("errors", "resources", "timings"),
        "gfetch's exceptions, file-descriptor limits, per-phase timings and trace events."),
    (1, ("hub",), "the event loop."),
    (1, ("greenlets", "sync"), "the primitives."),
    (2, ("threads", "dns", "tls", "sockets"),
        "cooperative I/O (`threads.py`: a blocking call in a worker thread, as the resolver makes)."),
    (2, ("testserver",),
        "the loopback server of the demo, examples and tests (not on the client it serves)."),
    (3, ("urls", "http1", "http1_httptools", "httpparse", "framing"),
        "URLs requests leaves as they are; HTTP/1.1 request and response heads, where a body ends; sans-IO."),
    (3, ("patched", "cookiejar"),
        "whether plugins patched what the fast paths skip; requests' cookie jar, made empty cheaply."),
    (3, ("rawresponse", "tlscontext", "poolqueue", "connection", "pool", "transport", "socks"),
        "urllib3 connections and pools, the adapter, SOCKS."),
    (3, ("environment", "session"), "`gfetch.Session`, a `requests.Session`."),
    (4, ("progress", "requesterrors", "retry", "defaultsession", "asyncrequest", "limits", "fanout", "api",
         "crawler", "__init__"),
        "the fan-out API; `__init__.py` exports the public API."),
    (4, ("otel",),
        "OpenTelemetry spans from the trace events (the `gfetch[otel]` extra; nothing imports it)."),
    (5, ("failures", "summary", "demo", "cli", "__main__"),
        "the command line (`failures.py` words the records' `error` and `error_kind`, "
        "`summary.py` sums a run up)."),
]

ORDER = [module for _, modules, _ in LAYERS for module in modules]
LINE = {module: index for index, (_, modules, _) in enumerate(LAYERS) for module in modules}
LAYER_NUMBER = {module: number for number, modules, _ in LAYERS for module in modules}
THIRD_PARTY = {"greenlet", "requests", "urllib3", "httptools", "socksio", "tqdm", "opentelemetry"}


def module_names() -> list[str]:
    return sorted(path.stem for path in PACKAGE.glob("*.py"))


def parse(module: str) -> ast.Module:
    return ast.parse((PACKAGE / f"{module}.py").read_text(encoding="utf-8"))


def gfetch_imports(tree: ast.Module) -> list[tuple[str, bool]]:
    """(gfetch module imported, whether the import is inside a function) for each import."""
    lazy_nodes = {
        id(node)
        for func in ast.walk(tree)
        if isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef))
        for node in ast.walk(func)
    }
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "gfetch":  # ``from gfetch import http1`` is the submodule
                targets = [
                    f"gfetch.{alias.name}" if (PACKAGE / f"{alias.name}.py").exists() else "gfetch"
                    for alias in node.names
                ]
            else:
                targets = [node.module]
        else:
            assert not (isinstance(node, ast.ImportFrom) and node.level), "use absolute imports"
            continue
        for target in targets:
            if target == "gfetch":
                found.append(("__init__", id(node) in lazy_nodes))
            elif target.startswith("gfetch."):
                found.append((target.split(".")[1], id(node) in lazy_nodes))
    return found


def third_party_imports(tree: ast.Module) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names & THIRD_PARTY


def test_every_module_is_in_the_table_once():
    assert len(ORDER) == len(set(ORDER))
    assert sorted(ORDER) == module_names()


@pytest.mark.parametrize("module", module_names())
def test_imports_point_down(module):
    if module not in LINE:
        pytest.fail(f"gfetch/{module}.py is not in LAYERS")
    upward = []
    for target, lazy in gfetch_imports(parse(module)):
        assert target in LINE, f"gfetch/{module}.py imports gfetch.{target}, which is not in LAYERS"
        if target == module and module == "__init__":
            continue
        below = ORDER.index(target) < ORDER.index(module)
        same_line_plugin = lazy and LINE[target] == LINE[module]
        if not (below or same_line_plugin):
            upward.append(target)
    assert not upward, f"gfetch/{module}.py imports {upward}, listed at or above it in LAYERS"


def docstring_imports_sentence(docstring: str) -> str | None:
    match = re.search(r"\bImports\b(.*?)(?:\.\s|\.$|;)", docstring, re.S)
    return match.group(1) if match else None


@pytest.mark.parametrize("module", module_names())
def test_docstring_claims_match_the_code(module):
    tree = parse(module)
    docstring = ast.get_docstring(tree) or ""
    layer = re.search(r"\bLayer (\d)\b", docstring)
    if layer:
        assert int(layer.group(1)) == LAYER_NUMBER[module], f"gfetch/{module}.py says {layer.group(0)}"
    sentence = docstring_imports_sentence(docstring)
    if sentence is None:
        return
    named = set(re.findall(r"\bgfetch\.(\w+)", sentence))
    if "public API" in sentence:
        named.add("__init__")
    imported = {target for target, _ in gfetch_imports(tree)}
    assert named == imported, (
        f"gfetch/{module}.py's docstring names {sorted(named)}, imports {sorted(imported)}")
    named_third_party = {name for name in THIRD_PARTY if re.search(rf"\b{name}\b", sentence)}
    # Third-party packages need not all be named, but those named must be imported.
    assert named_third_party <= third_party_imports(tree), f"gfetch/{module}.py: {sentence!r}"


def readme_layout_text() -> str:
    """The README's list as LAYERS says it; paste this when the table changes."""
    return "\n".join(
        "- " + ", ".join(f"`{m}.py`" for m in modules) + ": " + text for _, modules, text in LAYERS
    )


def test_readme_layout_text_is_generated_from_the_table():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    expected = readme_layout_text()
    assert expected in text, f"README's Layout list must read, as LAYERS says:\n{expected}"


def test_package_diagram_names_every_module_top_down():
    docstring = ast.get_docstring(parse("__init__")) or ""
    diagram = docstring.split("Layers", 1)[1]
    named = [name for name in re.findall(r"\b(\w+)\b", diagram) if name in LINE and name != "__init__"]
    first_mention = list(dict.fromkeys(named))
    assert sorted(first_mention) == sorted(m for m in ORDER if m != "__init__")
    lines = [LINE[m] for m in first_mention]
    assert lines == sorted(lines, reverse=True), (
        f"gfetch/__init__.py's diagram is not top-down: {first_mention}")
