"""Content-hashed tasks and the hash-consing table that makes them unique.

Task id recipe (scheme ``voxlogica-task/1``)
--------------------------------------------
``id = sha256_hex("voxlogica-task/1\\n" + canonical_json(obj))`` where
``canonical_json`` is ``json.dumps(obj, sort_keys=True, separators=(",", ":"),
ensure_ascii=False)`` (floats in Python's shortest round-trip form, NaN and
infinities as ``NaN`` / ``Infinity``) and ``obj`` is:

* a constant: ``{"const": value, "type": "number" | "bool" | "string"}``,
  numbers as float64 (so ``1`` and ``1.0`` are one task);
* an application: ``{"op": qualified name, "v": primitive version,
  "args": [argument ids]}``, argument ids sorted for commutative primitives,
  plus ``"fp": fingerprint`` for primitives that read files (a digest of the
  file's content, or of a folder listing), computed at reduction time from
  the constant arguments;
* a loop: ``{"op": "for", "v": FOR_VERSION, "args": [sequence id],
  "body": body template id, "level": nesting level}``;
* a loop variable inside a body template: ``{"param": level, "type": type}``.

Ids never depend on names, comments, whitespace or source positions. The
values captured by a loop body are part of its template, hence of its id.
Changing this recipe requires a new scheme string.
"""
from __future__ import annotations

import hashlib
import json
from operator import attrgetter
from json.encoder import encode_basestring as _json_str

from .types import BOOL, NUM, STR, Type

SCHEME = "voxlogica-task/1"
FOR_VERSION = "1"
_PREFIX = (SCHEME + "\n").encode("utf-8")
_dumps = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode

CONST_TYPES = {bool: ("bool", BOOL), float: ("number", NUM), int: ("number", NUM), str: ("string", STR)}


def task_id(obj: dict) -> str:
    """The id of a task described by ``obj`` (see the module docstring)."""
    return hashlib.sha256(_PREFIX + _dumps(obj).encode("utf-8")).hexdigest()


def apply_id(op: str, version: str, ids) -> str:
    """``task_id({"op": op, "v": version, "args": ids})``, without building
    the dict: the canonical JSON written directly (keys in sorted order,
    strings escaped as the encoder escapes them), since most tasks are
    applications and this is where reduction spends its time. ``ids`` are
    task ids, hex digits that need no escaping."""
    tail = _TAILS.get((op, version))
    if tail is None:
        tail = _TAILS[(op, version)] = f'],"op":{_json_str(op)},"v":{_json_str(version)}}}'
    text = '{"args":["' + '","'.join(ids) + '"' + tail if ids else '{"args":[' + tail
    return _sha256(_PREFIX + text.encode("utf-8")).hexdigest()


_TAILS: dict = {}  # (op, version) -> the canonical JSON after the argument ids
_sha256 = hashlib.sha256
_id_of = attrgetter("id")


class Task:
    """A node of the task graph.

    ``kind`` is ``"const"``, ``"apply"``, ``"for"`` or ``"param"``.
    ``params`` is a bit mask of the loop levels the task depends on (non-zero
    only inside a loop body template). ``volatile`` tasks read files whose
    content could not be fingerprinted at reduction time; they and their
    dependents are never served from the store.
    """

    __slots__ = ("id", "kind", "prim", "args", "value", "type", "fn", "cost", "pos",
                 "params", "volatile", "body", "level", "fp")

    def __init__(self, id, kind, type, args=(), prim=None, value=None, fn=None, cost="cheap",
                 pos=None, params=0, volatile=False, body=None, level=-1, fp=None):
        self.id = id
        self.kind = kind
        self.type = type
        self.args = args
        self.prim = prim
        self.value = value
        self.fn = fn
        self.cost = cost
        self.pos = pos
        self.params = params
        self.volatile = volatile
        self.body = body
        self.level = level
        self.fp = fp

    @property
    def op(self) -> str:
        if self.kind == "apply":
            return self.prim.name
        return self.kind

    @property
    def version(self) -> str:
        return self.prim.version if self.prim is not None else FOR_VERSION

    def __repr__(self):
        return f"<task {self.op} {self.id[:10]} : {self.type}>"


class TaskTable:
    """Hash-consing: one :class:`Task` object per id."""

    def __init__(self):
        self.tasks: dict[str, Task] = {}
        self.index_prim = None  # the `index` primitive, set by the reducer
        self._applied: dict[tuple, Task] = {}  # (primitive, *arg ids) -> task
        self._numbers: dict = {}  # number (or the hex form of a zero) -> task
        self._consts: dict[tuple, Task] = {}  # (type name, value) -> task, for booleans and strings

    def __len__(self):
        return len(self.tasks)

    def get(self, task_id: str) -> Task | None:
        return self.tasks.get(task_id)

    def const(self, value, pos=None) -> Task:
        cls = type(value)
        if cls is float or cls is int:
            value = float(value)
            # Numbers are keyed by value, except zeros (0.0 == -0.0: kept apart
            # by their hex form, a string, which no number key equals).
            key = value if value else value.hex()
            t = self._numbers.get(key)
            if t is None:
                t = self._numbers[key] = self._const(value, "number", NUM, pos)
            return t
        tname, typ = CONST_TYPES[cls]
        key = (tname, value)
        t = self._consts.get(key)
        if t is None:
            t = self._consts[key] = self._const(value, tname, typ, pos)
        return t

    def _const(self, value, tname, typ, pos):
        tid = task_id({"const": value, "type": tname})
        t = self.tasks.get(tid)
        if t is None:
            t = self.tasks[tid] = Task(tid, "const", typ, value=value, pos=pos)
        return t

    def data(self, value, typ: Type, digest: str) -> Task:
        """A constant that JSON cannot hold (an image bound from Python),
        identified by a digest of its content: ``{"const": digest, "type": "data"}``."""
        tid = task_id({"const": digest, "type": "data"})
        t = self.tasks.get(tid)
        if t is None:
            t = self.tasks[tid] = Task(tid, "const", typ, value=value)
        return t

    def param(self, level: int, typ: Type) -> Task:
        tid = task_id({"param": level, "type": str(typ)})
        t = self.tasks.get(tid)
        if t is None:
            t = self.tasks[tid] = Task(tid, "param", typ, params=1 << level, level=level)
        return t

    def apply(self, prim, args, typ: Type, fn=None, cost="heavy", pos=None) -> Task:
        """The application of ``prim`` to ``args`` (already type-checked)."""
        ids = list(map(_id_of, args))
        if prim.commutative:
            ids.sort()
        key = (prim, *ids)
        if prim.fingerprint is None:  # skip hashing when this application was seen
            t = self._applied.get(key)
            if t is not None:
                return t
        volatile = False
        for a in args:  # (a loop: any() over a generator costs more, once per application)
            if a.volatile:
                volatile = True
                break
        fp = None
        if prim.fingerprint is not None and not any(a.params for a in args):
            # Non-constant arguments are passed as None; a fingerprint of None
            # means the file is known only at run time: never serve it stored.
            try:
                fp = prim.fingerprint(*[a.value if a.kind == "const" else None for a in args])
            except Exception:
                fp = None
            if fp is None:
                volatile = True
        if fp is None:
            tid = apply_id(prim.name, prim.version, ids)
        else:
            tid = task_id({"op": prim.name, "v": prim.version, "args": ids, "fp": fp})
        params = 0
        for a in args:
            params |= a.params
        # Made before looking the id up (one lookup instead of two: the id
        # is rarely known when the key above is not); positional arguments.
        t = self.tasks.setdefault(tid, Task(tid, "apply", typ, tuple(args), prim, None, fn, cost, pos, params,
                                            volatile, None, -1, fp))
        if fp is None and not volatile:
            self._applied[key] = t
        return t

    def for_(self, seq: Task, body: Task, level: int, pos=None) -> Task:
        from .types import seq as seq_type

        tid = task_id({"op": "for", "v": FOR_VERSION, "args": [seq.id], "body": body.id, "level": level})
        t = self.tasks.get(tid)
        if t is None:
            params = seq.params | (body.params & ~(1 << level))
            t = self.tasks[tid] = Task(tid, "for", seq_type(body.type), (seq,), cost="cheap", pos=pos,
                                       params=params, volatile=seq.volatile or body.volatile,
                                       body=body, level=level)
        return t

    def element(self, seq_task: Task, values: list, i: int) -> Task:
        """The task standing for element ``i`` of a computed sequence: a
        constant for numbers, booleans and strings, else ``index(seq, i)``."""
        v = values[i]
        if type(v) in CONST_TYPES:
            return self.const(v)
        from .types import value_type

        return self.apply(self.index_prim, (seq_task, self.const(float(i))), value_type(v),
                          cost="cheap", pos=seq_task.pos)

    def instantiate(self, template: Task, level: int, element: Task) -> Task:
        """The body ``template`` with loop variable ``level`` replaced by
        ``element``; parts that do not depend on the variable are shared.
        Works through the template with an explicit stack (templates may be
        nested far deeper than Python's recursion limit)."""
        bit = 1 << level
        if not template.params & bit:
            return template
        memo: dict[str, Task] = {}
        stack = [template]
        while stack:
            t = stack[-1]
            if t.id in memo:
                stack.pop()
                continue
            if t.kind == "param":
                memo[t.id] = element
                stack.pop()
                continue
            parts = (t.args[0], t.body) if t.kind == "for" else t.args
            todo = [a for a in parts if a.params & bit and a.id not in memo]
            if todo:
                stack.extend(todo)
                continue
            stack.pop()
            new = [memo[a.id] if a.params & bit else a for a in parts]
            if t.kind == "for":
                memo[t.id] = self.for_(new[0], new[1], t.level, t.pos)
            else:
                memo[t.id] = self.apply(t.prim, new, t.type, t.fn, t.cost, t.pos)
        return memo[template.id]
