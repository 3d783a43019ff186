"""Cheap work evaluated in place: loops whose body is cheap, and numbers
computed by cheap applications from numbers already known.

A ``for`` whose body, where it depends on the loop variable, is only cheap
applications (scalar arithmetic and the like: never stored, always
recomputed, see :mod:`.policy`) over elements that are numbers, booleans or
strings gives the same values whether each element's body becomes tasks or
not. Making the tasks (an id hashed per node, then scheduling each) costs
some 30 times what evaluating the nodes does, so such a body is evaluated
directly, element after element. Anything unusual (a primitive that fails
or reports something, an argument not known yet) gives up, and the loop is
expanded into tasks as usual: messages and failures are then exactly those
of the tasks.

Likewise a cheap application whose value is a number, boolean or string,
and whose arguments are such applications down to constants or values the
run already has (a chain ``x1 = x0 + 1``, ``x2 = x1 + 1``, … written as
text): :class:`Scalars` computes it during planning instead of linking,
ranking and scheduling each task, and remembers both what it computed and
what it could not (a task waiting for an image), so that each task is
looked at once.
"""
from __future__ import annotations

from ..language.types import BOOL, NUM, STR
from ..primitives.registry import reporting
from .memory import MISSING

_CONSTANT = (float, int, bool, str)  # elements a task table keeps as constants (ints as floats)
SCALAR_TYPES = (NUM, BOOL, STR)


def _cheap(t) -> bool:
    """A cheap application that only computes (no file, no effect)."""
    return (t.kind == "apply" and t.cost == "cheap" and not t.volatile and t.prim.pure
            and t.prim.fingerprint is None)


def body_plan(template, level: int):
    """The nodes of ``template`` that depend on loop variable ``level``,
    arguments before their users, or None if one of them is not a cheap
    application (or the variable itself)."""
    bit = 1 << level
    order, seen, stack = [], set(), [(template, False)]
    while stack:
        t, expanded = stack.pop()
        if expanded:
            order.append(t)
            continue
        if t.id in seen:
            continue
        seen.add(t.id)
        if t.kind == "param":
            if t.level != level:
                return None
            order.append(t)
            continue
        if not _cheap(t) or t.params & ~bit:
            return None
        stack.append((t, True))
        stack.extend((a, False) for a in t.args if a.params & bit and a.id not in seen)
    return order


def evaluate(t, values):
    """The value of ``for`` task ``t`` (its sequence's value in ``values``)
    computed in place, with the number of applications evaluated; None if
    the loop is not of this kind or something unusual happened."""
    seq = t.args[0]
    if seq.kind == "for" or seq.id not in values:
        return None
    items = values[seq.id]
    if not isinstance(items, list) or not all(type(v) in _CONSTANT for v in items):
        return None
    order = body_plan(t.body, t.level)
    if order is None:
        return None
    bit = 1 << t.level
    steps = []  # per node: (id, function or None, argument getters)
    for n in order:
        if n.kind == "param":
            steps.append((n.id, None, None))
            continue
        args = []
        for a in n.args:
            if a.params & bit:
                args.append((True, a.id))
            elif a.kind == "const":
                args.append((False, a.value))
            elif a.id in values:
                args.append((False, values[a.id]))
            else:
                return None  # computed elsewhere in the run, not yet
        steps.append((n.id, n, args))
    said: list = []
    out = []
    root = t.body.id
    try:
        with reporting(said.append):
            for item in items:
                x = float(item) if type(item) is int else item
                env = {}
                for tid, node, args in steps:
                    if node is None:
                        env[tid] = x
                        continue
                    vals = [env[v] if dep else v for dep, v in args]
                    env[tid] = (node.fn or node.prim.dispatch(vals))(*vals)
                out.append(env[root])
    except Exception:
        return None
    if said:
        return None
    return out, sum(1 for _, node, _ in steps if node is not None) * len(items)


def _in_place(t) -> bool:
    return _cheap(t) and t.type in SCALAR_TYPES


class Scalars:
    """The values of cheap scalar applications computed in place during a
    run's planning (see the module docstring). ``known``: the run's values
    of tasks already done."""

    def __init__(self, known: dict):
        self.known = known
        self.values: dict = {}  # task id -> value computed here
        self.blocked: set = set()  # ids of tasks that need the scheduler
        self.computed = 0

    def value(self, t):
        """``t``'s value, or MISSING (then ``t`` goes through the scheduler)."""
        if not _in_place(t) or t.id in self.blocked:
            return MISSING
        values, known = self.values, self.known
        if t.id in values:
            return values[t.id]
        stack = [t]
        said: list = []
        blocked = self.blocked
        with reporting(said.append):
            while stack:
                n = stack[-1]
                if n.id in values:
                    stack.pop()
                    continue
                args, todo = [], None
                for a in n.args:  # their values, or the first still to compute
                    if a.kind == "const":
                        args.append(a.value)
                        continue
                    aid = a.id
                    v = values.get(aid, MISSING)
                    if v is MISSING:
                        v = known.get(aid, MISSING)
                        if v is MISSING:
                            if aid in blocked or not _in_place(a):
                                return self._block(stack)
                            todo = a
                            break
                    args.append(v)
                if todo is not None:
                    stack.append(todo)
                    continue
                try:
                    value = (n.fn or n.prim.dispatch(args))(*args)
                except Exception:
                    return self._block(stack)  # the scheduler runs it and reports the failure
                if said:  # the scheduler runs it again and locates the message
                    return self._block(stack)
                values[n.id] = value
                self.computed += 1
                stack.pop()
        return values[t.id]

    def _block(self, stack):
        self.blocked.update(n.id for n in stack)
        return MISSING
