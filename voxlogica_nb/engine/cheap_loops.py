"""Loops whose body is cheap, evaluated in place.

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
"""
from __future__ import annotations

from ..primitives.registry import reporting

_CONSTANT = (float, int, bool, str)  # elements a task table keeps as constants (ints as floats)


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
        if (t.kind != "apply" or t.cost != "cheap" or t.params & ~bit or t.volatile
                or not t.prim.pure or t.prim.fingerprint is not None):
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
    return out, (len(steps) - sum(1 for s in steps if s[1] is None)) * len(items)
