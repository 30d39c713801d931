"""The floor plan: gfetch's folders bottom-up, checked against their imports and the docs.

FLOORS is the one place the order lives: each floor is a folder of the
package (a layer) or modules at the package's root, with its modules
bottom-up. The README's "Layout" list and the ``gfetch/__init__.py`` diagram
are checked against it, and every module's imports (read with ast, not by
importing) against its place in it:

* every import, module-level (``TYPE_CHECKING`` ones included) or inside a
  function, names a module listed earlier, so the order is a true bottom-up
  order with no cycles, and no folder imports a folder above it;
* a folder's ``__init__.py`` docstring says which folders it may import
  ("May import ..."): exactly the folders its modules import, all below it;
* the folders that say they do not use requests or urllib3 import neither;
* a module docstring's "Imports ..." sentence names exactly the gfetch
  modules it imports (and no third-party package it does not import).
"""

from __future__ import annotations

import ast
import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "gfetch"

# (folder, or "" for the package's root; its modules bottom-up; what it is).
# A folder's own __init__.py (and __main__.py) come after its modules: it may re-export them.
FLOORS: list[tuple[str, tuple[str, ...], str]] = [
    (
        "core",
        ("errors", "resources", "timings", "hub", "greenlets", "sync", "threads"),
        "the event loop (`hub.py`), its primitives (`greenlets.py`, `sync.py`), calls in worker threads, "
        "gfetch's exceptions, file-descriptor limits, per-phase timings and trace events.",
    ),
    (
        "io",
        ("dns", "sockets", "tls", "tlscontext"),
        "cooperative I/O: sockets, name resolution in the thread pool, TLS and its contexts.",
    ),
    (
        "testing",
        ("raw", "server"),
        "the loopback servers of the demo, the examples and users' tests (`gfetch.testing`; not on the "
        "client they serve): `raw.py`'s scripted faults, standard library only, and `server.py`'s routes.",
    ),
    (
        "http11",
        (
            "framing",
            "slots",
            "parser",
            "parser_httptools",
            "httpparse",
            "rawresponse",
            "poolqueue",
            "connection",
            "pool",
        ),
        "the HTTP/1.1 engine: request and response heads and where a body ends (sans-IO), urllib3 "
        "responses, connections and gfetch's own pool.",
    ),
    (
        "integration",
        (
            "urls",
            "patched",
            "cookiejar",
            "urllib3_pools",
            "socks",
            "responses",
            "prepared",
            "adapter",
            "environment",
            "session",
            "defaultsession",
        ),
        "the requests integration: `gfetch.Session`, the adapter, the urllib3 path's pools, SOCKS, and "
        "what keeps plugins seeing the traffic.",
    ),
    (
        "fanout",
        ("progress", "requesterrors", "retry", "asyncrequest", "limits", "runner", "api", "crawler"),
        "the fan-out API: map, imap, imap_enumerated, crawl, with limits, rates, retries and deadlines.",
    ),
    (
        "",
        ("__init__", "otel"),
        "the package: `__init__.py` exports the public API; `otel.py` is the `gfetch[otel]` extra's "
        "OpenTelemetry spans (nothing imports it).",
    ),
    (
        "app",
        ("failures", "summary", "demo", "cli"),
        "the product: the command line and its demo (`failures.py` words the records' `error` and "
        "`error_kind`, `summary.py` sums a run up).",
    ),
    ("", ("__main__",), "`python -m gfetch`."),
]
# Third-party packages a folder never imports (its __init__ docstring says so).
NEVER_IMPORTS = {"core": {"requests", "urllib3"}, "io": {"requests"}, "testing": {"requests", "urllib3"}}
THIRD_PARTY = {"greenlet", "requests", "urllib3", "httptools", "socksio", "tqdm", "opentelemetry"}


def rel(folder: str, module: str) -> str:
    """A module's path inside the package: ``core/hub.py``, ``__init__.py``."""
    return f"{folder}/{module}.py" if folder else f"{module}.py"


ORDER: list[str] = []
FOLDER_OF: dict[str, str] = {}
for _folder, _modules, _ in FLOORS:
    _paths = [rel(_folder, module) for module in _modules]
    if _folder:  # its __init__.py, then its __main__.py if it has one
        _paths += [
            f"{_folder}/{name}"
            for name in ("__init__.py", "__main__.py")
            if (PACKAGE / _folder / name).exists()
        ]
    ORDER += _paths
    FOLDER_OF.update(dict.fromkeys(_paths, _folder))
FOLDERS = [folder for folder, _, _ in FLOORS if folder]


def package_files() -> list[str]:
    return sorted(path.relative_to(PACKAGE).as_posix() for path in PACKAGE.rglob("*.py"))


def parse(path: str) -> ast.Module:
    return ast.parse((PACKAGE / path).read_text(encoding="utf-8"))


def module_file(dotted: str) -> str | None:
    """The package file of ``gfetch.x.y`` (a module or a folder's __init__), or None."""
    parts = dotted.split(".")[1:]
    if parts and PACKAGE.joinpath(*parts).with_suffix(".py").is_file():
        return "/".join(parts) + ".py"
    if PACKAGE.joinpath(*parts, "__init__.py").is_file():
        return "/".join([*parts, "__init__.py"])
    return None


def gfetch_imports(tree: ast.Module) -> list[str]:
    """The package files an import in ``tree`` names, once each, in order."""
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            # ``from gfetch.http11 import parser`` names the submodule; ``from gfetch import map`` the package
            targets = [
                f"{node.module}.{alias.name}" if module_file(f"{node.module}.{alias.name}") else node.module
                for alias in node.names
            ]
        else:
            assert not (isinstance(node, ast.ImportFrom) and node.level), "use absolute imports"
            continue
        for target in targets:
            if target == "gfetch" or target.startswith("gfetch."):
                path = module_file(target)
                assert path is not None, f"import of {target}, which is no module of gfetch"
                found.append(path)
    return list(dict.fromkeys(found))


def third_party_imports(tree: ast.Module) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names & THIRD_PARTY


def test_every_module_is_on_the_plan_once():
    assert len(ORDER) == len(set(ORDER))
    assert sorted(ORDER) == package_files()


def test_every_folder_is_a_floor_of_its_own():
    folders = sorted(path.name for path in PACKAGE.iterdir() if path.is_dir() and path.name != "__pycache__")
    assert sorted(FOLDERS) == folders
    assert len(FOLDERS) == len(set(FOLDERS))


@pytest.mark.parametrize("path", package_files())
def test_imports_point_down(path):
    upward = [target for target in gfetch_imports(parse(path)) if ORDER.index(target) >= ORDER.index(path)]
    assert not upward, f"gfetch/{path} imports {upward}, listed at or above it in FLOORS"


def may_import_sentence(folder: str) -> set[str]:
    docstring = ast.get_docstring(parse(f"{folder}/__init__.py")) or ""
    match = re.search(r"\bMay import\b(.*?)(?:\.\s|\.$|;)", docstring, re.S)
    assert match, f"gfetch/{folder}/__init__.py's docstring must say what the folder may import"
    return set(re.findall(r"\bgfetch\.(\w+)", match.group(1)))


@pytest.mark.parametrize("folder", FOLDERS)
def test_folder_docstring_says_what_it_imports(folder):
    imported = {
        FOLDER_OF[target]
        for path in ORDER
        if FOLDER_OF[path] == folder
        for target in gfetch_imports(parse(path))
    } - {folder}
    below = set(FOLDERS[: FOLDERS.index(folder)])
    allowed = may_import_sentence(folder)
    assert allowed <= below, f"gfetch/{folder}/__init__.py allows folders above it: {sorted(allowed - below)}"
    # "" (the package root) is imported as ``gfetch``, the public API: only the top floor does.
    assert imported - {""} == allowed, f"gfetch/{folder}/ imports {sorted(imported)}, says {sorted(allowed)}"


@pytest.mark.parametrize("folder", sorted(NEVER_IMPORTS))
def test_lower_floors_do_not_use_requests(folder):
    for path in ORDER:
        if FOLDER_OF[path] == folder:
            used = third_party_imports(parse(path)) & NEVER_IMPORTS[folder]
            assert not used, f"gfetch/{path} imports {sorted(used)}"


def test_nothing_imports_the_otel_plugin():
    importers = [path for path in ORDER if "otel.py" in gfetch_imports(parse(path))]
    assert importers == []


def docstring_imports_sentence(docstring: str) -> str | None:
    match = re.search(r"\bImports\b(.*?)(?:\.\s|\.$|;)", docstring, re.S)
    return match.group(1) if match else None


@pytest.mark.parametrize("path", package_files())
def test_docstring_claims_match_the_code(path):
    tree = parse(path)
    sentence = docstring_imports_sentence(ast.get_docstring(tree) or "")
    if sentence is None:
        return
    named = {module_file(f"gfetch.{name}") for name in re.findall(r"\bgfetch\.([\w.]*\w)", sentence)}
    if "public API" in sentence:
        named.add("__init__.py")
    imported = set(gfetch_imports(tree))
    assert named == imported, (
        f"gfetch/{path}'s docstring names {sorted(map(str, named))}, imports {sorted(imported)}"
    )
    named_third_party = {name for name in THIRD_PARTY if re.search(rf"\b{name}\b", sentence)}
    # Third-party packages need not all be named, but those named must be imported.
    assert named_third_party <= third_party_imports(tree), f"gfetch/{path}: {sentence!r}"


def readme_layout_text() -> str:
    """The README's list as FLOORS says it; paste this when the plan changes."""
    lines = []
    for folder, modules, text in FLOORS:
        where = f"`gfetch/{folder}/`: " if folder else ""
        lines.append("- " + where + ", ".join(f"`{m}.py`" for m in modules) + ": " + text)
    return "\n".join(lines)


def test_readme_layout_text_is_generated_from_the_plan():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    expected = readme_layout_text()
    assert expected in text, f"README's Layout list must read, as FLOORS says:\n{expected}"


def test_package_diagram_names_every_folder_top_down():
    docstring = ast.get_docstring(parse("__init__.py")) or ""
    diagram = [line for line in docstring.split("Floors", 1)[1].splitlines() if line.startswith("    ")]
    named = [name for line in diagram for name in re.findall(r"^\s+(\w+)/", line)]
    assert named == FOLDERS[::-1], f"gfetch/__init__.py's diagram must list {FOLDERS[::-1]} top-down"


def folder_imports() -> dict[str, set[str]]:
    """Which floors each folder's modules import (the package's root as ``gfetch``)."""
    graph: dict[str, set[str]] = {folder: set() for folder in FOLDERS}
    for path in ORDER:
        folder = FOLDER_OF[path]
        if folder:
            targets = {FOLDER_OF[target] or "gfetch" for target in gfetch_imports(parse(path))}
            graph[folder] |= targets - {folder}
    return graph


def import_drawing() -> str:
    """The folders top-down, each with the folders it imports: the README's drawing."""
    graph = folder_imports()
    width = max(map(len, FOLDERS)) + 1
    order = ["gfetch", *FOLDERS[::-1]]
    lines = []
    for folder in FOLDERS[::-1]:
        arrows = ", ".join(sorted(graph[folder], key=order.index)) or "(nothing of gfetch)"
        lines.append(f"{folder + '/':<{width}} --> {arrows}")
    return "\n".join(lines)


def test_readme_draws_the_folders_imports():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    expected = import_drawing()
    assert f"```\n{expected}\n```" in text, f"README's drawing of the imports must read:\n{expected}"


def test_no_folder_imports_one_above_it():
    for folder, imported in folder_imports().items():
        above = set(FOLDERS[FOLDERS.index(folder) :]) - {folder}
        assert not imported & above, f"gfetch/{folder}/ imports {sorted(imported & above)}, above it"
