"""From syntax trees to the task graph, with every static check.

Functions expand like macros at their call sites with lexical scope;
expansion is memoised on (function, argument ids, loop depth, base image),
so exponential call trees over few distinct tasks reduce in time
proportional to the distinct tasks. The memo is dropped when the registry
changes (a primitive re-registered with a new body). Unknown names, wrong
arity and type mismatches are reported here, before anything runs.

The base image: each program's first ``load`` command loads its file alone
(its id depends only on the file's content) and becomes the base image;
later ``load`` commands of that program conform to it. A program without a
``load`` keeps the base of the previous one. ``load(path)`` as an expression
takes no base: it neither sets the base nor is checked against it.

The reducer does not know the registry's contents: it is handed one (any
object with ``lookup(name, opened)``, ``names(opened)``, ``has_namespace``),
so this layer imports nothing above it.
"""
from __future__ import annotations

import difflib
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import VoxLogicaError
from . import types as T
from .parser import parse, parse_expression
from .syntax import (Bool, Call, For, Import, Let, LetIn, Load, Number, Pos, Print, Save,
                     String, walk_names)
from .tasks import Task, TaskTable

LIBRARY_DIR = Path(__file__).resolve().parent.parent / "primitives"
STDLIB = "stdlib.imgql"


class Function:
    """A user-defined function: parameters, body and the scope it closes over."""

    __slots__ = ("name", "params", "body", "scope", "uid", "pos")
    _next = 0

    def __init__(self, name, params, body, scope, pos):
        Function._next += 1
        self.name, self.params, self.body, self.scope, self.pos = name, params, body, scope, pos
        self.uid = Function._next


class Scope:
    """Local bindings over a parent scope; the root holds a dict of globals."""

    __slots__ = ("vars", "parent")

    def __init__(self, vars: dict, parent: "Scope | None" = None):
        self.vars, self.parent = vars, parent

    def lookup(self, name):
        s = self
        while s is not None:
            v = s.vars.get(name)
            if v is not None:
                return v
            s = s.parent
        return None

    def names(self):
        out, s = set(), self
        while s is not None:
            out.update(s.vars)
            s = s.parent
        return out


@dataclass
class Effect:
    """A ``print`` or ``save`` of a program, in program order."""

    kind: str  # "print" | "save"
    target: str  # label or path
    task: Task
    pos: Pos


@dataclass
class Reduced:
    effects: list[Effect] = field(default_factory=list)
    defined: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # rendered like errors


class Reducer:
    """Reduces programs into one growing task table (a session's)."""

    def __init__(self, registry, table: TaskTable | None = None, stdlib: bool = True):
        self.registry = registry
        self.table = table or TaskTable()
        self.globals: dict = {}
        self.opened: tuple[str, ...] = ()
        self.base: Task | None = None
        self.imported: set[str] = set()
        self.memo: dict = {}
        self._resolved: dict = {}  # (primitive, argument types) -> (result type, fn, cost)
        self.sources: dict[str, str] = {}
        self.sites: list[Pos] = []  # user call sites while expanding library code
        self.library_sources: set[str] = set()
        self.warnings: list[str] = []  # collected while reducing, handed to the caller
        self.last_warnings: list[str] = []  # those of the last program or expression
        self.loaded_here = False  # the current program has set the base image
        self._generation = getattr(registry, "generation", 0)
        self.table.index_prim = registry.lookup("index")
        self._load = registry.lookup("load")
        self.check_names = True
        if stdlib:
            path = LIBRARY_DIR / STDLIB
            if path.exists():
                # Trusted, and parts of it may need builtins not installed.
                self.check_names = False
                try:
                    self.import_file(path, None)
                finally:
                    self.check_names = True
            self.imported.add(STDLIB)

    # -- programs ------------------------------------------------------------
    def reduce_program(self, text: str, source: str = "<program>") -> Reduced:
        self.sources[source] = text
        program = parse(text, source)
        self.check_registry()
        self.loaded_here = False
        out = Reduced()
        try:
            with _deep_recursion():
                for cmd in program.commands:
                    self.command(cmd, out)
        finally:
            out.warnings, self.warnings = self.warnings, []
            self.last_warnings = out.warnings
        return out

    def reduce_expression(self, text: str, source: str = "<expression>") -> Task:
        """The task of one expression; its warnings go to ``last_warnings``."""
        self.sources[source] = text
        node = parse_expression(text, source)
        self.check_registry()
        try:
            with _deep_recursion():
                return self.expr(node, self.root(), 0)
        finally:
            self.last_warnings, self.warnings = self.warnings, []

    def check_registry(self):
        """Forget expansions and resolutions made with primitives that have
        since been replaced (their tasks would run the old code)."""
        generation = getattr(self.registry, "generation", 0)
        if generation != self._generation:
            self._generation = generation
            self.memo.clear()
            self._resolved.clear()

    def root(self) -> Scope:
        return Scope(self.globals)

    def command(self, cmd, out: Reduced):
        if isinstance(cmd, Let):
            if cmd.params is None:
                self.globals[cmd.name] = self.expr(cmd.value, self.root(), 0)
            else:
                if self.check_names:
                    self.check_body(cmd.name, cmd.params, cmd.value, Scope(dict(self.globals)))
                self.globals[cmd.name] = Function(cmd.name, cmd.params, cmd.value, Scope(dict(self.globals)), cmd.pos)
            out.defined.append(cmd.name)
        elif isinstance(cmd, Load):
            if self._load is None:
                self.error("`load` is not available (no image support installed)", cmd.pos)
            path = self.table.const(cmd.path, cmd.pos)
            args = [path, self.base] if self.loaded_here else [path]
            task = self.apply(self._load, args, cmd.pos, "load")
            if not self.loaded_here:  # the program's first load: the new base
                self.base = task
                self.loaded_here = True
            self.globals[cmd.name] = task
            out.defined.append(cmd.name)
        elif isinstance(cmd, Print):
            out.effects.append(Effect("print", cmd.label, self.expr(cmd.value, self.root(), 0), cmd.pos))
        elif isinstance(cmd, Save):
            out.effects.append(Effect("save", cmd.path, self.expr(cmd.value, self.root(), 0), cmd.pos))
        elif isinstance(cmd, Import):
            self.import_(cmd.target, cmd.pos)

    # -- imports -------------------------------------------------------------
    def import_(self, target: str, pos: Pos):
        name = target[:-6] if target.endswith(".imgql") else target
        if name in ("stdlib",):
            return
        is_file = target.endswith(".imgql") or "/" in target or os.sep in target
        if not is_file and self.registry.has_namespace(target):
            if target not in self.opened:
                self.opened = self.opened + (target,)
            return
        candidates = [Path(target), Path(name + ".imgql"), LIBRARY_DIR / (Path(name).name + ".imgql")]
        for path in candidates:
            if path.is_file():
                self.import_file(path, pos)
                return
        what = "file" if is_file else "file or namespace"
        self.error(f"cannot import {target!r}: no such {what}", pos)

    def import_file(self, path: Path, pos: Pos | None):
        key = str(path.resolve())
        if key in self.imported:
            return
        self.imported.add(key)
        text = path.read_text(encoding="utf-8")
        source = path.name
        self.sources[source] = text
        self.library_sources.add(source)
        program = parse(text, source)
        for cmd in program.commands:
            if not isinstance(cmd, (Let, Import)):
                self.error(f"a library file holds only `let` and `import` ({source})", pos or cmd.pos)
            self.command(cmd, Reduced())

    # -- expressions ---------------------------------------------------------
    def expr(self, node, scope: Scope, depth: int) -> Task:
        if isinstance(node, Call):
            return self.call(node, scope, depth)
        if isinstance(node, Number):
            return self.table.const(node.value, node.pos)
        if isinstance(node, String):
            return self.table.const(node.value, node.pos)
        if isinstance(node, Bool):
            return self.table.const(node.value, node.pos)
        if isinstance(node, LetIn):
            if node.params is None:
                value = self.expr(node.value, scope, depth)
            else:
                self.check_body(node.name, node.params, node.value, scope)
                value = Function(node.name, node.params, node.value, scope, node.pos)
            return self.expr(node.body, Scope({node.name: value}, scope), depth)
        if isinstance(node, For):
            return self.for_(node, scope, depth)
        raise TypeError(f"unknown syntax node {node!r}")

    def for_(self, node: For, scope: Scope, depth: int) -> Task:
        seq = self.expr(node.seq, scope, depth)
        if seq.type.name == "seq":
            elem = seq.type.elem
        elif seq.type == T.ANY:
            elem = T.ANY
        else:
            self.error(f"`for` needs a sequence after `in`, got a {T.describe(seq.type)}", node.seq.pos
                       if hasattr(node.seq, "pos") else node.pos)
        param = self.table.param(depth, elem)
        body = self.expr(node.body, Scope({node.var: param}, scope), depth + 1)
        return self.table.for_(seq, body, depth, self.where(node.pos))

    def call(self, node: Call, scope: Scope, depth: int) -> Task:
        binding = scope.lookup(node.name)
        if isinstance(binding, Task):
            if node.args is not None:
                self.error(f"`{node.name}` is a value, not a function: it takes no arguments", node.pos)
            return binding
        if isinstance(binding, Function):
            return self.expand(binding, node, scope, depth)
        prim = self.registry.lookup(node.name, self.opened)
        if prim is None:
            self.unknown(node, scope)
        args = [self.expr(a, scope, depth) for a in node.args or ()]
        return self.apply(prim, args, node.pos, node.name)

    def expand(self, fn: Function, node: Call, scope: Scope, depth: int) -> Task:
        nargs = len(node.args or ())
        if nargs != len(fn.params):
            s = "" if len(fn.params) == 1 else "s"
            self.error(f"`{fn.name}` takes {len(fn.params)} argument{s} ({', '.join(fn.params)}), got {nargs}",
                       node.pos)
        args = [self.expr(a, scope, depth) for a in node.args]
        key = (fn.uid, tuple(a.id for a in args), depth, self.base.id if self.base else None)
        done = self.memo.get(key)
        if done is not None:
            return done
        user_site = not self.sites and node.pos.source not in self.library_sources
        if user_site:
            self.sites.append(node.pos)
        try:
            result = self.expr(fn.body, Scope(dict(zip(fn.params, args)), fn.scope), depth)
        finally:
            if user_site:
                self.sites.pop()
        self.memo[key] = result
        return result

    def apply(self, prim, args: list[Task], pos: Pos, written: str) -> Task:
        key = (prim, tuple(a.type for a in args))
        resolved = self._resolved.get(key)
        if resolved is not None:
            result, fn, cost, with_base = resolved
            if with_base:
                args = args + [self.base]
            return self.table.apply(prim, args, result, fn, cost, self.where(pos))
        sigs = prim.signatures
        n = given = len(args)
        if prim.base and not any(len(s.params) == n for s in sigs) and any(len(s.params) == n + 1 for s in sigs):
            if self.base is None:
                self.error(f"`{written}` needs an image to take its size from: load one first "
                           f"or pass one as the last argument", pos)
            args = args + [self.base]
            n += 1
        if n not in {len(s.params) for s in sigs}:
            arities = sorted(prim.arities)
            want = " or ".join(str(a) for a in arities)
            s = "" if arities == [1] else "s"
            self.error(f"`{written}` takes {want} argument{s}, got {given}", pos)
        arg_types = tuple(a.type for a in args)
        result = T.resolve(sigs, arg_types)
        if result is None:
            got = ", ".join(T.describe(t) for t in arg_types)
            expected = "; ".join("(" + ", ".join(T.describe(p) for p in s.params) + ")"
                                 for s in sigs if len(s.params) == n)
            self.error(f"type error: `{written}` expects {expected}, got ({got})", pos)
        fn, cost = self.overload(prim, arg_types)
        if given == n:  # calls that take the base image are resolved each time
            self._resolved[key] = (result, fn, cost, False)
        return self.table.apply(prim, args, result, fn, cost, self.where(pos))

    @staticmethod
    def overload(prim, arg_types):
        """The statically chosen implementation, or (None, heavy) when only
        the run-time values can choose."""
        matches = []
        for o in prim.overloads:
            if len(o.signature.params) == len(arg_types):
                binding: dict = {}
                if all(T.accepts(p, a, binding) for p, a in zip(o.signature.params, arg_types)):
                    matches.append(o)
        if len(matches) == 1 or (matches and all(a not in (T.ANY, T.IMG) for a in arg_types)):
            return matches[0].fn, matches[0].cost
        if matches and all(m.fn is matches[0].fn for m in matches):
            return matches[0].fn, max((m.cost for m in matches), key=("cheap", "light", "heavy").index)
        return None, "heavy"

    # -- checks and messages ---------------------------------------------------
    def check_body(self, name, params, body, scope: Scope):
        """Warn about names a function body uses that are not bound where it
        is defined. Only a call makes it an error (VoxLogicA 1 accepts unused
        functions that could never be called)."""
        known = scope.names() | set(params)
        for call in _free_calls(body, known):
            if self.registry.lookup(call.name, self.opened) is None:
                try:
                    self.unknown(call, scope, extra=set(params))
                except VoxLogicaError as err:
                    err.message = f"warning: {err.message} in function `{name}` (an error if it is called)"
                    self.warnings.append(err.render())

    def unknown(self, node: Call, scope: Scope, extra=()):
        names = scope.names() | set(extra) | set(self.registry.names(self.opened))
        close = difflib.get_close_matches(node.name, sorted(names), n=1)
        hint = f"did you mean `{close[0]}`?" if close else ""
        if "." in node.name and not node.name.startswith("."):
            ns = node.name.partition(".")[0]
            if not self.registry.has_namespace(ns):
                self.error(f"unknown namespace `{ns}` in `{node.name}`", node.pos, hint)
        self.error(f"unknown name `{node.name}`", node.pos, hint)

    def where(self, pos: Pos) -> Pos:
        """Where to report a task: its own text if the user wrote it, else
        the user's call that expanded library code."""
        if self.sites and pos.source in self.library_sources:
            return self.sites[0]
        return pos

    def error(self, message, pos: Pos, hint=""):
        if self.sites and pos.source != self.sites[0].source:
            message = f"{message} (in {pos})"
            pos = self.sites[0]
        text = self.sources.get(pos.source, "")
        lines = text.splitlines()
        line = lines[pos.line - 1] if 0 < pos.line <= len(lines) else ""
        raise VoxLogicaError(message, pos.source, pos.line, pos.col, line, hint)


def _free_calls(body, known: set):
    """Calls in ``body`` to names not bound by ``known`` or by the body's own
    ``let … in`` / ``for`` binders (a conservative check)."""
    bound = set(known) | _binders(body)
    for node in walk_names(body):
        if isinstance(node, Call) and node.name not in bound:
            yield node


def _binders(body):
    stack, out = [body], set()
    while stack:
        n = stack.pop()
        if isinstance(n, LetIn):
            out.add(n.name)
            out.update(n.params or ())
            stack.extend((n.value, n.body))
        elif isinstance(n, For):
            out.add(n.var)
            stack.extend((n.seq, n.body))
        elif isinstance(n, Call) and n.args:
            stack.extend(n.args)
    return out


class _deep_recursion:
    """Long right-grouped chains and deep function nesting recurse deeply."""

    def __enter__(self):
        self.old = sys.getrecursionlimit()
        sys.setrecursionlimit(max(self.old, 20000))

    def __exit__(self, *exc):
        sys.setrecursionlimit(self.old)
