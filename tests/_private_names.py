"""The fence for private upstream names: which private names of requests, urllib3 and the stdlib
gfetch's source touches, and the list of them in docs/internals.md.

A private name is ``_x`` (not a dunder). Upstream is requests, urllib3, http (``http.client``,
``http.cookiejar``), email, ssl, socket and queue, and the C modules ``_socket`` and ``_ssl``
behind them. The checker reads source only (the AST), and imports an upstream class only to ask
whether it has a name. A use of ``_x`` is upstream's when one of these rules finds it:

1. Imports: ``from urllib3.util.url import _x``, or a private module in the path
   (``from urllib3._collections import ...``, ``import _socket``). Not those under
   ``if TYPE_CHECKING:``: they never run (a stub's private type, as requests' ``_Settings``,
   is the type checker's business, and CI's lint runs it).
2. Through a name the file's imports bind to upstream: ``http.client._MAXLINE``,
   ``HTTPConnection._new_conn`` (``HTTPConnection`` imported from urllib3), aliases resolved.
3. ``super()._x`` in a class with an upstream base.
4. On an object known to be upstream's: ``self``/``cls`` in a class whose family (gfetch classes
   joined by inheritance: a mixin is one family with the classes that mix it in) has an upstream
   base, or a local name annotated with, or assigned a call of (``C(...)``, ``C.__new__(C)``),
   such a class or an upstream one. There ``_x`` (read, written, or defined in the class body:
   an override) is upstream's when the upstream class has it (in its ``vars``, ``__slots__`` or
   as ``self._x`` in its source), or when it is read and the family never defines it.
5. On any other object, ``obj._x`` when gfetch defines ``_x`` nowhere: a private name gfetch
   never defines (as a def, class, parameter, assignment target, attribute store, ``__slots__``
   entry or ``setattr`` string) must be someone else's. Its owner is unknown.
6. A private keyword argument ``f(_x=...)``, unless ``f`` is a gfetch function with that parameter.

``getattr``/``hasattr``/``setattr``/``delattr`` with a string constant count as the attribute.
namedtuple's API (``_replace``, ``_asdict``, ...) is public and not counted.

What it cannot see: names upstream reads on gfetch's own duck-typed objects (``TLSSocket._io_refs``
for ``socket.makefile``), and reads through objects of unknown type of names gfetch also defines.

The list is the table under ``## Private names`` in docs/internals.md: a row is
``| `owner.module.Class._x` | why | `tests/test_f.py::test_g` ... |``. A use is listed when a row
has its name and, if the use's owner is known, the same top-level package (``_socket`` counts
as ``socket``).
"""

from __future__ import annotations

import ast
import functools
import importlib
import inspect
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

UPSTREAM = {"requests", "urllib3", "http", "email", "ssl", "socket", "queue", "_socket", "_ssl"}
_PACKAGE_OF = {"_socket": "socket", "_ssl": "ssl"}
_PUBLIC_ANYWAY = {"_replace", "_asdict", "_fields", "_field_defaults", "_make"}  # namedtuple's API
_ATTRIBUTE_FUNCTIONS = {"getattr", "hasattr", "setattr", "delattr"}


def is_private(name: str) -> bool:
    """Whether ``name`` is private and could be upstream's (``_gfetch...`` is gfetch's own)."""
    return (
        name.startswith("_")
        and not (name.startswith("__") and name.endswith("__"))
        and name not in _PUBLIC_ANYWAY
        and not name.startswith("_gfetch")
    )


def package_of(qualified: str) -> str:
    top = qualified.split(".")[0]
    return _PACKAGE_OF.get(top, top)


@dataclass(frozen=True)
class Use:
    """One touch of a private upstream name; ``owner`` is None when rule 5 cannot tell whose."""

    name: str
    owner: str | None
    path: str
    line: int

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.owner or '?'}.{self.name}"


@functools.cache
def defining_class(qualified: str, name: str) -> str | None:
    """The upstream class, ``qualified`` or one it derives from, that has ``name`` (in its ``vars``,
    its ``__slots__``, or as ``self.name`` in its source), as ``module.Class``; None if none has."""
    module_name, _, attribute = qualified.rpartition(".")
    try:
        cls = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError, ValueError):
        return None
    for klass in getattr(cls, "__mro__", ()):
        if package_of(klass.__module__) not in UPSTREAM:
            continue
        found = name in vars(klass) or name in getattr(klass, "__slots__", ())
        if not found:
            try:
                found = re.search(rf"\bself\.{re.escape(name)}\b", inspect.getsource(klass)) is not None
            except (OSError, TypeError):
                pass
        if found:
            return f"{klass.__module__}.{klass.__qualname__}"
    return None


def _aliases(tree: ast.Module) -> dict[str, str]:
    """Local name -> the upstream qualified name the file's imports bind it to."""
    bound: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if package_of(alias.name) in UPSTREAM:
                    if alias.asname:
                        bound[alias.asname] = alias.name
                    else:
                        top = alias.name.split(".")[0]
                        bound[top] = top
        elif (
            isinstance(node, ast.ImportFrom)
            and node.module
            and not node.level
            and package_of(node.module) in UPSTREAM
        ):
            for alias in node.names:
                bound[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return bound


def _qualify(node: ast.expr, aliases: Mapping[str, str]) -> str | None:
    if isinstance(node, ast.Name):
        return aliases.get(node.id)
    if isinstance(node, ast.Attribute):
        inner = _qualify(node.value, aliases)
        return f"{inner}.{node.attr}" if inner else None
    return None


def _attribute_string(node: ast.Call) -> tuple[ast.expr, str] | None:
    """``(obj, "_x")`` of ``getattr(obj, "_x", ...)`` and its kin."""
    if isinstance(node.func, ast.Name) and node.func.id in _ATTRIBUTE_FUNCTIONS and len(node.args) >= 2:
        name = node.args[1]
        if isinstance(name, ast.Constant) and isinstance(name.value, str):
            return node.args[0], name.value
    if isinstance(node.func, ast.Attribute) and node.func.attr == "__setattr__" and len(node.args) >= 2:
        name = node.args[1]
        if isinstance(name, ast.Constant) and isinstance(name.value, str):
            return node.args[0], name.value
    return None


def _is_self(node: ast.expr) -> bool:
    return isinstance(node, ast.Name) and node.id in {"self", "cls"}


def _defined_in(nodes: Iterable[ast.AST]) -> set[str]:
    """Every name these nodes define (rule 5's list)."""
    names: set[str] = set()
    for node in nodes:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif (
            isinstance(node, ast.Attribute)
            and isinstance(node.ctx, (ast.Store, ast.Del))
            and _is_self(node.value)
        ):
            names.add(node.attr)
        elif (
            isinstance(node, ast.Call)
            and (found := _attribute_string(node))
            and _is_self(found[0])
            and not (isinstance(node.func, ast.Name) and node.func.id in {"getattr", "hasattr"})
        ):
            names.add(found[1])
        elif isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "__slots__" for t in node.targets
        ):
            names.update(
                c.value
                for c in ast.walk(node.value)
                if isinstance(c, ast.Constant) and isinstance(c.value, str)
            )
    return names


@dataclass
class _Family:
    upstream: list[str]
    defines: set[str]


class _Classes:
    """gfetch's classes across the package, grouped into families with their upstream bases."""

    def __init__(self, trees: Mapping[str, ast.Module], aliases: Mapping[str, Mapping[str, str]]) -> None:
        nodes = {
            node.name: (path, node)
            for path, tree in trees.items()
            for node in ast.walk(tree)
            if isinstance(node, ast.ClassDef)
        }
        parent = {name: name for name in nodes}

        def root(name: str) -> str:
            while parent[name] != name:
                name = parent[name]
            return name

        upstream: dict[str, list[str]] = {name: [] for name in nodes}
        for name, (path, node) in nodes.items():
            for base in node.bases:
                if isinstance(base, ast.Subscript):
                    base = base.value
                qualified = _qualify(base, aliases[path])
                if qualified:
                    upstream[name].append(qualified)
                elif isinstance(base, (ast.Name, ast.Attribute)):
                    base_name = base.id if isinstance(base, ast.Name) else base.attr
                    if base_name in nodes:
                        parent[root(name)] = root(base_name)
        self._family_of: dict[str, _Family] = {}
        for name, (_, node) in nodes.items():
            family = self._family_of.setdefault(root(name), _Family([], set()))
            family.upstream.extend(q for q in upstream[name] if q not in family.upstream)
            family.defines |= _defined_in(ast.walk(node))
        self._root = {name: root(name) for name in nodes}

    def family(self, class_name: str) -> _Family | None:
        root = self._root.get(class_name)
        return self._family_of[root] if root else None


def _upstream_has(upstream: list[str], name: str) -> str | None:
    return next((found for cls in upstream if (found := defining_class(cls, name))), None)


def _owner(upstream: list[str], name: str) -> str:
    return _upstream_has(upstream, name) or upstream[0]


class _FileWalker(ast.NodeVisitor):
    """Rules 2-6 over one file (rule 1 is :func:`_imports`)."""

    def __init__(
        self,
        path: str,
        aliases: Mapping[str, str],
        classes: _Classes,
        defined: set[str],
        parameters: Mapping[str, set[str]],
    ) -> None:
        self.path, self.aliases, self.classes = path, aliases, classes
        self.defined, self.parameters = defined, parameters
        self.uses: list[Use] = []
        self._class: list[_Family | None] = [None]
        self._typed: list[dict[str, tuple[list[str], set[str]]]] = [{}]

    def _use(self, node: ast.AST, name: str, owner: str | None) -> None:
        self.uses.append(Use(name, owner, self.path, getattr(node, "lineno", 0)))

    def _kind(self, annotation: ast.expr | None) -> tuple[list[str], set[str]] | None:
        """The upstream classes (and names its family defines) of a class expression, if upstream."""
        while isinstance(annotation, ast.Subscript):
            annotation = annotation.value
        if isinstance(annotation, ast.BinOp):  # C | None
            return self._kind(annotation.left) or self._kind(annotation.right)
        if annotation is None:
            return None
        qualified = _qualify(annotation, self.aliases)
        if qualified:
            return [qualified], set()
        if (
            isinstance(annotation, ast.Name)
            and (family := self.classes.family(annotation.id))
            and family.upstream
        ):
            return family.upstream, family.defines
        return None

    def _receiver(self, node: ast.expr) -> tuple[list[str], set[str]] | None:
        if isinstance(node, ast.Name):
            family = self._class[-1]
            if _is_self(node) and family and family.upstream:
                return family.upstream, family.defines
            return self._typed[-1].get(node.id)
        return None

    def _attribute(self, node: ast.AST, value: ast.expr, name: str, store: bool) -> None:
        if not is_private(name):
            return
        qualified = _qualify(value, self.aliases)
        if qualified:  # rule 2
            self._use(node, name, qualified)
            return
        if isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and value.func.id == "super":
            family = self._class[-1]
            if family and family.upstream:  # rule 3
                self._use(node, name, _owner(family.upstream, name))
            return
        receiver = self._receiver(value)
        if receiver:  # rule 4
            upstream, defines = receiver
            if _upstream_has(upstream, name) or (not store and name not in defines):
                self._use(node, name, _owner(upstream, name))
        elif name not in self.defined:  # rule 5
            self._use(node, name, None)

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        family = self.classes.family(node.name)
        if family and family.upstream:  # rule 4: what the class body defines may override
            for item in node.body:
                targets = (
                    [item.name]
                    if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef))
                    else [
                        t.id
                        for t in getattr(item, "targets", [getattr(item, "target", None)])
                        if isinstance(t, ast.Name)
                    ]
                )
                for name in targets:
                    if is_private(name) and _upstream_has(family.upstream, name):
                        self._use(item, name, _owner(family.upstream, name))
        self._class.append(family)
        self.generic_visit(node)
        self._class.pop()

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        typed = dict(self._typed[-1])
        for arg in [*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs]:
            if (kind := self._kind(arg.annotation)) is not None:
                typed[arg.arg] = kind
        for inner in ast.walk(node):
            if isinstance(inner, ast.AnnAssign) and isinstance(inner.target, ast.Name):
                target, kind = inner.target, self._kind(inner.annotation)
            elif (
                isinstance(inner, ast.Assign)
                and len(inner.targets) == 1
                and isinstance(inner.targets[0], ast.Name)
                and isinstance(inner.value, ast.Call)
            ):
                func = inner.value.func
                if isinstance(func, ast.Attribute) and func.attr == "__new__":
                    func = func.value
                target, kind = inner.targets[0], self._kind(func)
            else:
                continue
            if kind is not None:
                typed[target.id] = kind
        self._typed.append(typed)
        self._class.append(self._class[-1])
        self.generic_visit(node)
        self._class.pop()
        self._typed.pop()

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_Attribute(self, node: ast.Attribute) -> None:
        self._attribute(node, node.value, node.attr, isinstance(node.ctx, (ast.Store, ast.Del)))
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        if found := _attribute_string(node):
            value, name = found
            reads = isinstance(node.func, ast.Name) and node.func.id in {"getattr", "hasattr"}
            self._attribute(node, value, name, store=not reads)
        callee = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", None)
        for keyword in node.keywords:  # rule 6
            own = self.parameters.get(callee or "", set())
            if keyword.arg and is_private(keyword.arg) and keyword.arg not in own:
                self._use(keyword, keyword.arg, _qualify(node.func, self.aliases))
        self.generic_visit(node)


def _type_checking_only(tree: ast.Module) -> set[int]:
    """The ids of the nodes under ``if TYPE_CHECKING:`` (or ``typing.TYPE_CHECKING``)."""
    ids: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and ast.unparse(node.test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING"):
            ids.update(id(inner) for statement in node.body for inner in ast.walk(statement))
    return ids


def _imports(path: str, tree: ast.Module) -> Iterator[Use]:
    """Rule 1."""
    unrun = _type_checking_only(tree)
    for node in ast.walk(tree):
        if id(node) in unrun:
            continue
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            modules = [node.module]
        else:
            continue
        for module in modules:
            if package_of(module) not in UPSTREAM:
                continue
            parts = module.split(".")
            for index, part in enumerate(parts):
                if is_private(part):
                    yield Use(part, ".".join(parts[:index]) or package_of(part), path, node.lineno)
            if isinstance(node, ast.ImportFrom):
                yield from (
                    Use(alias.name, module, path, node.lineno)
                    for alias in node.names
                    if is_private(alias.name)
                )


def find_uses(sources: Mapping[str, str]) -> list[Use]:
    """Every use of a private upstream name in ``sources`` (path -> text), one package together."""
    trees = {path: ast.parse(text, path) for path, text in sources.items()}
    aliases = {path: _aliases(tree) for path, tree in trees.items()}
    defined = _defined_in(node for tree in trees.values() for node in ast.walk(tree))
    parameters: dict[str, set[str]] = {}
    for tree in trees.values():
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                parameters.setdefault(node.name, set()).update(
                    a.arg for a in ast.walk(node.args) if isinstance(a, ast.arg)
                )
    classes = _Classes(trees, aliases)
    uses: list[Use] = []
    for path, tree in trees.items():
        uses.extend(_imports(path, tree))
        walker = _FileWalker(path, aliases[path], classes, defined, parameters)
        walker.visit(tree)
        uses.extend(walker.uses)
    return sorted(set(uses), key=lambda use: (use.path, use.line, use.name))


def package_uses(root: Path) -> list[Use]:
    """:func:`find_uses` over every module of the package at ``root`` (subpackages too)."""
    return find_uses(
        {
            path.relative_to(root.parent).as_posix(): path.read_text(encoding="utf-8")
            for path in sorted(root.rglob("*.py"))
        }
    )


@dataclass(frozen=True)
class Entry:
    """A row of the docs table: the qualified name and the tests that guard it."""

    qualified: str
    guards: tuple[str, ...]

    @property
    def name(self) -> str:
        return self.qualified.rpartition(".")[2]

    def covers(self, use: Use) -> bool:
        same_package = use.owner is None or package_of(use.owner) == package_of(self.qualified)
        return use.name == self.name and same_package


_ROW = re.compile(r"^\|\s*`([\w.]+)`\s*\|.*\|([^|]*)\|\s*$")
_GUARD = re.compile(r"`(tests/[\w/]+\.py)::(\w+)(?:\[[^\]]*\])?`")


def listed(doc: str, heading: str = "## Private names") -> list[Entry]:
    """The rows of the table under ``heading`` in ``doc``."""
    section = doc.partition(heading + "\n")[2].partition("\n## ")[0]
    return [
        Entry(match[1], tuple(f"{file}::{test}" for file, test in _GUARD.findall(match[2])))
        for line in section.splitlines()
        if (match := _ROW.match(line))
    ]


def unlisted(uses: Iterable[Use], entries: list[Entry]) -> list[Use]:
    return [use for use in uses if not any(entry.covers(use) for entry in entries)]


def stale(uses: list[Use], entries: Iterable[Entry]) -> list[Entry]:
    return [entry for entry in entries if not any(entry.covers(use) for use in uses)]


def missing_guards(entries: Iterable[Entry], repo: Path) -> list[str]:
    """The guards named in ``entries`` that are no test function in the named file."""
    found: dict[str, set[str]] = {}
    missing = []
    for entry in entries:
        if not entry.guards:
            missing.append(f"{entry.qualified}: no guarding test named")
        for guard in entry.guards:
            file, _, test = guard.partition("::")
            if file not in found:
                path = repo / file
                found[file] = (
                    {
                        node.name
                        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
                        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
                    }
                    if path.is_file()
                    else set()
                )
            if test not in found[file]:
                missing.append(f"{entry.qualified}: {guard} does not exist")
    return missing
