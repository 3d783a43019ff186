"""Where a task's value comes from: the one reuse policy.

Planning, starting and the workers all ask :func:`reuse` and nothing else.
A task's value is, in this order of preference:

1. in **memory**: the engine's LRU of recent values;
2. **in flight**: another run in this process is computing it (share its future);
3. in the **store**: committed earlier, by this process or another;
4. **computed** here. If ``commit``, the computation is claimed across
   processes first (a process that finds the claim taken waits for the
   value instead) and the value is committed to the store and kept in the
   LRU; otherwise it is simply recomputed whenever a run needs it.

Only pure, non-volatile applications are reused. Heavy tasks and goals are
stored; light tasks are shared and kept in memory but recomputed rather
than stored (they cost less than a store round trip); cheap ones (scalar
arithmetic, ...) are always recomputed. What the engine measures can move
a heavy operator of the package's own below these lines, as it runs: see
:class:`~.worker.Costs`. ``no_cache`` uses no store and no
LRU; ``force`` recomputes the goals (and overwrites their stored values).
"""
from __future__ import annotations

from collections import namedtuple


class Reuse(namedtuple("Reuse", "memory inflight store commit goal", defaults=(False,))):
    """``memory``: may come from the LRU; ``inflight``: may share another
    run's future in this process; ``store``: may come from the store (at
    planning, and after a claim); ``commit``: once computed, claimed,
    committed and kept in the LRU; ``goal``: an effect's task, committed
    whatever its measured cost."""

    __slots__ = ()


NEVER = Reuse(False, False, False, False)


def _decide(lasting: bool, forced: bool, cached: bool, goal: bool) -> Reuse:
    return Reuse(memory=cached and not forced, inflight=not forced,
                 store=lasting and cached and not forced, commit=lasting and cached, goal=goal)


# every decision for a task worth looking up, by (lasting, forced, cached,
# goal): built once, since planning asks for each task of every run
_DECISIONS = {(lasting, forced, cached, goal): _decide(lasting, forced, cached, goal)
              for lasting in (False, True) for forced in (False, True) for cached in (False, True)
              for goal in (False, True)}


def reuse(task, goal: bool, opts) -> Reuse:
    """The reuse decision for ``task`` in a run with options ``opts``
    (``force``, ``no_cache``); ``goal``: the task is an effect's."""
    if task.kind != "apply" or not task.prim.pure or task.volatile:
        return NEVER
    cost = task.cost
    if cost == "cheap" and not goal:  # always recomputed
        return NEVER
    # heavy tasks and goals are worth a store entry; light ones only memory
    return _DECISIONS[(cost == "heavy" or goal, goal and opts.force, not opts.no_cache, goal)]
