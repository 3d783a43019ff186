"""From syntax trees to the task graph, with every static check.

Functions expand like macros at their call sites with lexical scope;
expansion is memoised on (function, argument ids, loop depth, base image),
so exponential call trees over few distinct tasks reduce in time
proportional to the distinct tasks. The memo is dropped when the registry
changes (a primitive re-registered with a new body). Unknown names, wrong
arity and type mismatches are reported here, before anything runs.

Expressions are reduced with an explicit work stack (:meth:`Reducer.expr`),
not by recursion, so nesting depth is limited by memory only. Sequences
may nest at most ``MAX_SEQUENCE_NESTING`` deep (their values are nested
Python lists, which printing and storing walk recursively).

A static error does not end the check: the command is skipped, the name it
would bind is poisoned (later uses of it are skipped silently instead of
causing more errors) and the next command is checked. The program then
fails with one :class:`VoxLogicaError` listing up to ``MAX_ERRORS`` errors;
its failed definitions bind nothing.

The base image: each program's first ``load`` command loads its file alone
(its id depends only on the file's content) and becomes the base image;
later ``load`` commands of that program conform to it. A program without a
``load`` keeps the base of the previous one. ``load(path)`` as an expression
takes no base: it neither sets the base nor is checked against it.

The reducer does not know the registry's contents: it is handed one (any
object with ``lookup(name, opened)``, ``names(opened)``, ``has_namespace``
and ``library(name)``, the text of a built-in ImgQL library such as the
stdlib), so this layer imports nothing above it and reads no files of theirs.
"""
from __future__ import annotations

import gc
import os
from contextlib import contextmanager
from operator import attrgetter
from ..plain import Record
from pathlib import Path

from ..errors import MAX_ERRORS, VoxLogicaError
from . import types as T
from .parser import parse, parse_expression
from .syntax import (Bool, Call, For, Import, Let, LetIn, Load, Number, Pos, Print, Save,
                     String, walk_names)
from .tasks import Task, TaskTable

STDLIB = "stdlib"
MAX_SEQUENCE_NESTING = 100
_LONG_WALK = 8  # scope lookups that walk further than this are cached
_type_of = attrgetter("type")


class Function:
    """A user-defined function: parameters, body and the scope it closes over."""

    __slots__ = ("name", "params", "body", "scope", "uid", "pos")
    _next = 0

    def __init__(self, name, params, body, scope, pos):
        Function._next += 1
        self.name, self.params, self.body, self.scope, self.pos = name, params, body, scope, pos
        self.uid = Function._next


class Scope:
    """Local bindings over a parent scope; the root holds a dict of globals.

    A scope's ancestors do not change while it is in use, so a lookup that
    walks far up a deep chain (``let … in`` inside ``let … in`` …) is
    remembered in the scope it started from: chains of any depth resolve
    names in constant time on average."""

    __slots__ = ("vars", "parent", "cache")

    def __init__(self, vars: dict, parent: "Scope | None" = None):
        self.vars, self.parent = vars, parent
        self.cache = None

    def lookup(self, name):
        s, steps, v = self, 0, None
        while s is not None:
            v = s.vars.get(name)
            if v is not None:
                break
            c = s.cache
            if c is not None and name in c:
                v = c[name]
                break
            s = s.parent
            steps += 1
        if steps > _LONG_WALK:
            if self.cache is None:
                self.cache = {}
            self.cache[name] = v
        return v

    def names(self):
        out, s = set(), self
        while s is not None:
            out.update(s.vars)
            s = s.parent
        return out


class _Poisoned:
    """What a name is bound to, for the rest of its program, after its
    definition failed."""

    __slots__ = ("name", "program")

    def __init__(self, name, program):
        self.name, self.program = name, program


class _Skipped(Exception):
    """A command needs something whose definition failed earlier in the same
    program: it is skipped without an error of its own."""


_UNBOUND = object()
# work items of Reducer.expr
_EVAL, _APPLY, _EXPAND, _MEMO, _LET, _FOR, _FOR_DONE = range(7)


class Effect(Record):
    """A ``print`` or ``save`` of a program, in program order."""

    FIELDS = ("kind", "target", "task", "pos", "writer")

    def __init__(self, kind: str, target: str, task: Task, pos: Pos, writer=None):
        self.kind = kind  # "print" | "save"
        self.target = target  # label or path
        self.task = task
        self.pos = pos
        self.writer = writer  # save: the registry's ``save`` primitive that writes the file


class Reduced(Record):
    FIELDS = ("effects", "defined", "warnings")

    def __init__(self, effects=None, defined=None, warnings=None):
        self.effects: list[Effect] = effects or []
        self.defined: list[str] = defined or []
        self.warnings: list[str] = warnings or []  # rendered like errors


class Reducer:
    """Reduces programs into one growing task table (a session's)."""

    def __init__(self, registry, table: TaskTable | None = None, stdlib: bool = True):
        self.registry = registry
        self.table = table or TaskTable()
        self.globals: dict = {}
        self._root: Scope | None = None
        self.opened: tuple[str, ...] = ()
        self.base: Task | None = None
        self.imported: set[str] = set()
        self.memo: dict = {}
        self._resolved: dict = {}  # (primitive, *argument types) -> (result type, fn, cost)
        self._found: dict = {}  # name -> primitive (see primitive())
        self.sources: dict[str, str] = {}
        self.sites: list[Pos] = []  # user call sites while expanding library code
        self._site_nodes: list[Call] = []  # the calls written there
        self.library_sources: set[str] = set()
        self.warnings: list[str] = []  # collected while reducing, handed to the caller
        self.last_warnings: list[str] = []  # those of the last program or expression
        self.loaded_here = False  # the current program has set the base image
        self._program = 0  # counts programs and expressions reduced
        self._import_failed = False  # in the current program: unknown names are not reported
        self._generation = getattr(registry, "generation", 0)
        self.table.index_prim = registry.lookup("index")
        self._load = registry.lookup("load")
        self.check_names = True
        if stdlib:
            text = registry.library(STDLIB)
            if text is not None:
                # Trusted, and parts of it may need builtins not installed.
                self.check_names = False
                try:
                    self.import_text(STDLIB, STDLIB + ".imgql", text, None)
                finally:
                    self.check_names = True

    # -- programs ------------------------------------------------------------
    def reduce_program(self, text: str, source: str = "<program>") -> Reduced:
        """Reduce a program; raises one VoxLogicaError listing its errors."""
        with gc_paused(long_lived=True):
            return self._reduce_program(text, source)

    def _reduce_program(self, text: str, source: str) -> Reduced:
        self.sources[source] = text
        program = parse(text, source)
        self.check_registry()
        self.loaded_here = False
        self._program += 1
        self._import_failed = False
        out = Reduced()
        errors: list[VoxLogicaError] = []
        poisoned: dict = {}  # name -> its binding before this program poisoned it
        note = ""
        try:
            commands = program.commands
            for i, cmd in enumerate(commands):
                try:
                    self.command(cmd, out)
                    continue
                except VoxLogicaError as err:
                    errors.extend(err.errors)
                except _Skipped:
                    pass
                except RecursionError:  # a safety net: reduction does not recurse
                    errors.append(self.make_error("too deeply nested to check", cmd.pos))
                if isinstance(cmd, (Let, Load)):
                    poisoned.setdefault(cmd.name, self.globals.get(cmd.name, _UNBOUND))
                    self.globals[cmd.name] = _Poisoned(cmd.name, self._program)
                if len(errors) >= MAX_ERRORS and i + 1 < len(commands):
                    note = f"stopped at line {commands[i + 1].pos.line}: the rest was not checked"
                    break
        finally:
            for name, old in poisoned.items():  # a failed definition binds nothing
                b = self.globals.get(name)
                if isinstance(b, _Poisoned) and b.program == self._program:
                    if old is _UNBOUND:
                        del self.globals[name]
                    else:
                        self.globals[name] = old
            out.warnings, self.warnings = self.warnings, []
            self.last_warnings = out.warnings
        if errors:
            raise VoxLogicaError.combine(errors, note)
        return out

    def reduce_expression(self, text: str, source: str = "<expression>") -> Task:
        """The task of one expression; its warnings go to ``last_warnings``."""
        self.sources[source] = text
        node = parse_expression(text, source)
        self.check_registry()
        self._program += 1
        self._import_failed = False
        try:
            return self.expr(node, self.root(), 0)
        except RecursionError:  # a safety net: reduction does not recurse
            raise self.make_error("too deeply nested to check", node.pos) from None
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
            self._found.clear()

    def root(self) -> Scope:
        root = self._root
        if root is None or root.vars is not self.globals:  # (made once: a scope per command costs)
            root = self._root = Scope(self.globals)
        return root

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
            out.effects.append(Effect("save", cmd.path, self.expr(cmd.value, self.root(), 0), cmd.pos,
                                      self.registry.lookup("save")))
        elif isinstance(cmd, Import):
            try:
                self.import_(cmd.target, cmd.pos)
            except VoxLogicaError:
                self._import_failed = True  # what it would define is unknown: do not report it
                raise

    # -- imports -------------------------------------------------------------
    def import_(self, target: str, pos: Pos):
        name = target[:-6] if target.endswith(".imgql") else target
        if name in ("stdlib",):
            return
        is_file = target.endswith(".imgql") or "/" in target or os.sep in target
        if not is_file and self.registry.has_namespace(target):
            if target not in self.opened:
                self.opened = self.opened + (target,)
                self._found.clear()
            return
        candidates = [Path(target), Path(name + ".imgql")]
        for path in candidates:
            if path.is_file():
                self.import_file(path, pos)
                return
        builtin = Path(name).name
        text = self.registry.library(builtin)
        if text is not None:
            self.import_text(builtin, builtin + ".imgql", text, pos)
            return
        what = "file" if is_file else "file or namespace"
        looked = []
        for path in candidates:
            shown = _shown_path(path)
            if shown not in looked:
                looked.append(shown)
        self.error(f'cannot import "{target}": no such {what} (looked in {", ".join(looked)} '
                   f'and the standard library)', pos)

    def import_file(self, path: Path, pos: Pos | None):
        key = str(path.resolve())
        if key not in self.imported:
            self.import_text(key, path.name, path.read_text(encoding="utf-8"), pos)

    def import_text(self, key: str, source: str, text: str, pos: Pos | None):
        """Splice a library's ``let`` and ``import`` commands, once per
        ``key`` (a file's resolved path, a built-in library's name)."""
        if key in self.imported:
            return
        self.imported.add(key)
        self.sources[source] = text
        self.library_sources.add(source)
        program = parse(text, source)
        for cmd in program.commands:
            if not isinstance(cmd, (Let, Import)):
                self.error(f"a library file holds only `let` and `import` ({source})", pos or cmd.pos)
            self.command(cmd, Reduced())

    # -- expressions ---------------------------------------------------------
    def expr(self, node, scope: Scope, depth: int) -> Task:
        """The task of expression ``node`` in ``scope`` at loop depth ``depth``.

        Evaluates with an explicit stack: ``work`` holds what is left to do
        (the top is done next), ``values`` the tasks of finished
        sub-expressions, in order. ``(_EVAL, node, scope, depth)`` reduces
        a node; the other items finish a node once the values it needs are
        on ``values``."""
        work: list = []
        values: list[Task] = []
        sites = len(self.sites)
        if node.__class__ is Call:  # the commonest: arguments that need no work of their own
            self.call(node, scope, depth, work, values)
            if not work:
                return values[0]
        else:
            work.append((_EVAL, node, scope, depth))
        try:
            while work:
                item = work.pop()
                kind = item[0]
                if kind == _EVAL:
                    node, scope, depth = item[1], item[2], item[3]
                    cls = node.__class__
                    if cls is Call:
                        self.call(node, scope, depth, work, values)
                    elif cls is Number or cls is String or cls is Bool:
                        values.append(self.table.const(node.value, node.pos))
                    elif cls is LetIn:
                        if node.params is None:
                            work.append((_LET, node, scope, depth))
                            work.append((_EVAL, node.value, scope, depth))
                        else:
                            self.check_body(node.name, node.params, node.value, scope)
                            fn = Function(node.name, node.params, node.value, scope, node.pos)
                            work.append((_EVAL, node.body, Scope({node.name: fn}, scope), depth))
                    elif cls is For:
                        work.append((_FOR, node, scope, depth))
                        work.append((_EVAL, node.seq, scope, depth))
                    else:
                        raise TypeError(f"unknown syntax node {node!r}")
                elif kind == _APPLY:  # a primitive's arguments are on values
                    _, node, prim, n = item
                    args = values[len(values) - n:]
                    del values[len(values) - n:]
                    values.append(self.apply(prim, args, node.pos, node.name, node))
                elif kind == _EXPAND:  # a function's arguments are on values
                    _, fn, node, depth, n = item
                    args = values[len(values) - n:]
                    del values[len(values) - n:]
                    self.expand(fn, node, depth, args, work, values)
                elif kind == _MEMO:  # a function's body is done
                    self.memo[item[1]] = values[-1]
                    if item[2]:
                        self.sites.pop()
                        self._site_nodes.pop()
                elif kind == _LET:  # the value of `let name = value in body` is done
                    _, node, scope, depth = item
                    work.append((_EVAL, node.body, Scope({node.name: values.pop()}, scope), depth))
                elif kind == _FOR:  # the sequence of a loop is done
                    _, node, scope, depth = item
                    seq = values.pop()
                    if seq.type.name == "seq":
                        elem = seq.type.elem
                    elif seq.type == T.ANY:
                        elem = T.ANY
                    else:
                        self.error(f"`for` needs a sequence after `in`, got a {T.describe(seq.type)}",
                                   node.seq.pos)
                    param = self.table.param(depth, elem)
                    work.append((_FOR_DONE, node, seq, depth))
                    work.append((_EVAL, node.body, Scope({node.var: param}, scope), depth + 1))
                else:  # _FOR_DONE: the body of a loop is done
                    _, node, seq, depth = item
                    body = values.pop()
                    self.check_nesting(body.type, node.pos)
                    values.append(self.table.for_(seq, body, depth, self.where(node.pos)))
            return values.pop()
        finally:
            del self.sites[sites:]
            del self._site_nodes[sites:]

    def call(self, node: Call, scope: Scope, depth: int, work: list, values: list):
        """Start reducing a call: push the work that finishes it, then its
        arguments (or, when they are all literals or bound values, finish it
        at once)."""
        binding = scope.lookup(node.name)
        if isinstance(binding, Task):
            if node.args is not None:
                self.error(f"`{node.name}` is a value, not a function: it takes no arguments", node.pos)
            values.append(binding)
            return
        args = node.args or ()
        if isinstance(binding, Function):
            if len(args) != len(binding.params):
                s = "" if len(binding.params) == 1 else "s"
                self.error(f"`{binding.name}` takes {len(binding.params)} argument{s} "
                           f"({', '.join(binding.params)}), got {len(args)}", node.pos)
            ready = self.leaves(args, scope)
            if ready is not None:
                self.expand(binding, node, depth, ready, work, values)
                return
            work.append((_EXPAND, binding, node, depth, len(args)))
        elif isinstance(binding, _Poisoned):
            if binding.program == self._program:
                raise _Skipped
            self.error(f"`{node.name}` has no value: its definition failed", node.pos)
        else:
            prim = self.primitive(node.name)
            if prim is None:
                self.unknown(node, scope)
            ready = self.leaves(args, scope)
            if ready is not None:
                values.append(self.apply(prim, ready, node.pos, node.name, node))
                return
            work.append((_APPLY, node, prim, len(args)))
        for a in reversed(args):
            work.append((_EVAL, a, scope, depth))

    def primitive(self, name):
        """The primitive ``name`` names here (see ``Registry.lookup``), or
        None. Found ones are remembered until the registry changes
        (:meth:`check_registry`) or a namespace is opened."""
        prim = self._found.get(name)
        if prim is None:
            prim = self.registry.lookup(name, self.opened)
            if prim is not None:
                self._found[name] = prim
        return prim

    def leaves(self, args, scope: Scope) -> list[Task] | None:
        """The tasks of ``args`` if each is a literal or a name bound to a
        value (nothing to expand, nothing that can fail), else None."""
        out = []
        for a in args:
            cls = a.__class__
            if cls is Call:
                if a.args is not None:
                    return None
                t = scope.lookup(a.name)
                if not isinstance(t, Task):
                    return None
                out.append(t)
            elif cls is Number or cls is String or cls is Bool:
                out.append(self.table.const(a.value, a.pos))
            else:
                return None
        return out

    def expand(self, fn: Function, node: Call, depth: int, args: list[Task], work: list, values: list):
        """Expand a call of ``fn`` on ``args``: from the memo, or push its body."""
        key = (fn.uid, tuple(a.id for a in args), depth, self.base.id if self.base else None)
        done = self.memo.get(key)
        if done is not None:
            values.append(done)
            return
        user_site = not self.sites and node.pos.source not in self.library_sources
        if user_site:
            self.sites.append(node.pos)
            self._site_nodes.append(node)
        work.append((_MEMO, key, user_site))
        work.append((_EVAL, fn.body, Scope(dict(zip(fn.params, args)), fn.scope), depth))

    def check_nesting(self, body_type, pos: Pos):
        """A loop's value may nest sequences at most MAX_SEQUENCE_NESTING deep."""
        n, typ = 1, body_type
        while typ.name == "seq":
            n += 1
            typ = typ.elem
        if n > MAX_SEQUENCE_NESTING:
            self.error(f"sequences nested more than {MAX_SEQUENCE_NESTING} deep", pos)

    def apply(self, prim, args: list[Task], pos: Pos, written: str, node: Call | None = None) -> Task:
        key = (prim, *map(_type_of, args))
        resolved = self._resolved.get(key)
        if resolved is not None:
            result, fn, cost = resolved
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
            self.error(f"type error: `{written}` expects {expected}, got ({got})", pos,
                       self.grouping_hint(pos, node))
        fn, cost = self.overload(prim, arg_types)
        if given == n:  # calls that take the base image are resolved each time
            self._resolved[key] = (result, fn, cost)
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
        bound = set(params) | _binders(body)
        for call in walk_names(body):
            if call.name in bound or scope.lookup(call.name) is not None:
                continue
            if self.registry.lookup(call.name, self.opened) is None:
                try:
                    self.unknown(call, scope, extra=set(params))
                except _Skipped:
                    pass
                except VoxLogicaError as err:
                    err.message = f"warning: {err.message} in function `{name}` (an error if it is called)"
                    self.warnings.append(err.render())

    def unknown(self, node: Call, scope: Scope, extra=()):
        if self._import_failed:
            raise _Skipped
        names = scope.names() | set(extra) | set(self.registry.names(self.opened))
        import difflib  # (for a message only)

        close = difflib.get_close_matches(node.name, sorted(names), n=1)
        hint = f"did you mean `{close[0]}`?" if close else ""
        if "." in node.name and not node.name.startswith("."):
            ns = node.name.partition(".")[0]
            if not self.registry.has_namespace(ns):
                self.error(f"unknown namespace `{ns}` in `{node.name}`", node.pos, hint)
        self.error(f"unknown name `{node.name}`", node.pos, hint)

    def grouping_hint(self, pos: Pos, node: Call | None) -> str:
        """For an error in an unparenthesised operator chain: how it groups
        and, when the usual precedence would group it otherwise, how to write
        that. The chain is the one written where the error is reported."""
        if self.sites and pos.source != self.sites[0].source:
            node = self._site_nodes[0]
        chain = getattr(node, "chain", None)
        if chain is None:
            return ""
        if len(chain.parts) > 2 * 8 + 1 or len(chain.written()) > 120:  # over 8 operators, or long
            return "operators written one after another group to the right: parenthesise"
        grouped = chain.grouped()
        hint = f"`{chain.written()}` groups as `{grouped}`"
        usual = chain.conventional()
        if usual is not None and usual != grouped:
            hint += f"; write `{usual}`"
        return hint

    def where(self, pos: Pos) -> Pos:
        """Where to report a task: its own text if the user wrote it, else
        the user's call that expanded library code."""
        if self.sites and pos.source in self.library_sources:
            return self.sites[0]
        return pos

    def error(self, message, pos: Pos, hint=""):
        raise self.make_error(message, pos, hint)

    def make_error(self, message, pos: Pos, hint="") -> VoxLogicaError:
        if self.sites and pos.source != self.sites[0].source:
            message = f"{message} (in {pos})"
            pos = self.sites[0]
        text = self.sources.get(pos.source, "")
        lines = text.splitlines()
        line = lines[pos.line - 1] if 0 < pos.line <= len(lines) else ""
        return VoxLogicaError(message, pos.source, pos.line, pos.col, line, hint)


def _shown_path(path: Path) -> str:
    """A path as the user gave it, relative ones from the current folder."""
    text = path.as_posix()
    return text if path.is_absolute() or text.startswith("../") else "./" + text


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


@contextmanager
def gc_paused(long_lived=False):
    """Building a graph allocates objects that all stay alive: the cyclic
    collector's passes over them cost more than the building itself (40 %
    of a 100,000-line program), so it pauses meanwhile.

    ``long_lived``: what was built lives on (a session's task graph), so it
    joins the oldest generation at once, as a freeze and unfreeze moves it
    (both constant time), instead of being traversed by the first young
    collection after the pause (a tenth of the reduction of a large
    program). Not done while objects of the caller's are frozen."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            if long_lived and gc.get_freeze_count() == 0:
                gc.freeze()
                gc.unfreeze()
            gc.enable()
