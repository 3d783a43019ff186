"""The state of one run, and its transitions.

A run starts from its goals (the tasks of its ``print`` / ``save`` effects)
and walks the graph depth-first towards the arguments. Each task met is
*visited* once: the reuse policy (:mod:`.policy`) and the run's
:class:`Sources` say whether its value is already in memory (DONE at once),
being computed by another run (INFLIGHT), in the store (READY_LOAD) or to
be computed here (PENDING). A PENDING task is then *linked* to its
arguments: each argument is visited in turn, gains the task as a
dependent and a reference, and the task counts the arguments not yet DONE.
A task whose count is zero is *pushed*: to ``inline`` (run in the loop's
thread: cheap tasks, ``for`` loops, futures to share) or to the ``ready``
heap, ordered by the rank it was linked in, so the consumer of a value just
computed runs before unrelated work and a wide ``for`` streams.

When a value arrives the task *completes*: its dependents' counts go down
(those reaching zero are pushed), its arguments lose a reference, and a
value whose references reach zero is *dropped* unless an effect still
needs it (``pinned``: print and value effects; ``saves``: pending saves).
A failure *fails* the task and, transitively, every dependent in the run,
as "upstream failed" naming the root. A ``for`` task whose sequence is
known *expands*: one body instance per element joins the plan and the loop
waits for all of them (``gathers``).

Task states::

    PENDING     computed in this run, waiting for ``pending[id]`` arguments
    READY_LOAD  the store holds it: to be loaded
    INFLIGHT    another run of this process is computing it: share its future
    DONE        finished; the value is in ``values`` until dropped
    FAILED      ``failures[id]`` says why

A DONE task dropped and met again (a later ``for`` expansion needs it) is
visited afresh.

Nothing here uses threads, the store or the executor: the driver
(:mod:`.scheduler`) starts tasks and feeds their results back through
:meth:`RunState.complete` and :meth:`RunState.fail`, and unit tests can
drive the same transitions by hand.
"""
from __future__ import annotations

import heapq
from collections import deque

from .failures import Failure
from .memory import MISSING, SCALARS, VOXEL_BYTES, WORKING_SET, Holdings, voxels
from .policy import NEVER, reuse

PENDING, READY_LOAD, INFLIGHT, DONE, FAILED = range(5)
STATE_NAMES = ("PENDING", "READY_LOAD", "INFLIGHT", "DONE", "FAILED")



def loop_source(t):
    """The sequence a ``for`` task needs to expand. A loop over another
    loop's result (``for s in (for f in files do g(f)) do h(s)``) needs only
    the inner loop's sequence: its element i is the inner body on element
    i (``h(g(files[i]))``), so neither the inner loop's values nor the other
    elements are needed to expand it, nor to reuse what is stored."""
    seq = t.args[0]
    while seq.kind == "for":
        seq = seq.args[0]
    return seq


def loop_elements(table, t, values) -> list:
    """The element tasks of ``t``'s sequence, given ``values`` holding its
    :func:`loop_source`'s value."""
    chain = []
    seq = t.args[0]
    while seq.kind == "for":
        chain.append(seq)
        seq = seq.args[0]
    items = values[seq.id]
    elements = [table.element(seq, items, i) for i in range(len(items))]
    for inner in reversed(chain):
        elements = [table.instantiate(inner.body, inner.level, e) for e in elements]
    return elements


class Sources:
    """What a run may reuse, as its state sees it. The engine implements
    this for real runs (:class:`~.scheduler.Engine`); tests give fakes."""

    def recent(self, task_id):
        """The value kept in memory, or ``memory.MISSING``."""
        return MISSING

    def in_flight(self, task_id) -> bool:
        """Is another run of this process computing the task now?"""
        return False

    def stored(self, task_id) -> bool:
        """Does the run's store hold the task's value?"""
        return False


class RunState:
    """One run's bookkeeping. Fields (task ids as keys):

    ``state``       id → PENDING / READY_LOAD / INFLIGHT / DONE / FAILED
    ``values``      id → value, while something in the run still needs it
    ``pending``     id → arguments not DONE yet (PENDING tasks)
    ``dependents``  id → tasks of this run taking it as an argument
    ``refs``        id → consumers that have not read the value yet
    ``linked``      ids whose arguments were linked (they hold references;
                    a task loaded or shared holds none)
    ``rank``        id → order of linking (lower runs first)
    ``ready``       heap of ``(rank, n, task)`` for the executor
    ``inline``      tasks to start in the loop's thread
    ``todo``        tasks visited as PENDING, not linked yet
    ``gathers``     ``for`` id → its elements' body tasks once expanded
    ``failures``    id → :class:`~.scheduler.Failure`
    ``goals``       ids of the effects' tasks
    ``pinned``      goals whose values the outcome keeps (print, value)
    ``saves``       goal id → ``save`` effects still to run on it
    ``planned``     ``[to compute, found stored]`` met so far (plan events)
    ``memory``      :class:`~.memory.Holdings`: array bytes the values hold
    """

    def __init__(self, opts, sources: Sources, holdings: Holdings):
        self.opts = opts
        self.sources = sources
        self.memory = holdings
        self.state: dict = {}
        self.values: dict = {}
        self.pending: dict = {}
        self.dependents: dict = {}
        self.refs: dict = {}
        self.linked: set = set()
        self.rank: dict = {}
        self.next_rank = 0
        self.ready: list = []
        self.pushed = 0
        self.inline: deque = deque()
        self.todo: list = []
        self.gathers: dict = {}
        self.failures: dict = {}
        self.goals: set = set()
        self.pinned: set = set()
        self.saves: dict = {}
        self.planned = [0, 0]
        self.from_memory = 0  # tasks found in memory at planning
        # given by the run: (task, goal) -> the value of a cheap task computed
        # at once (see engine.in_place), or MISSING
        self.in_place = None

    # -- planning ------------------------------------------------------------
    def add_effects(self, effects) -> None:
        """Note what the effects keep: print/value pin their task, each save
        holds it until written."""
        for e in effects:
            tid = e.task.id
            if e.kind == "save":
                self.saves[tid] = self.saves.get(tid, 0) + 1
            else:
                self.pinned.add(tid)

    def plan(self, goal_tasks) -> None:
        for t in goal_tasks:  # one at a time, so earlier effects rank first
            self.goals.add(t.id)
            self.visit(t, goal=True)
            self.link()

    def visit(self, t, goal=False) -> None:
        """Classify a task the first time the run meets it."""
        tid = t.id
        s = self.state.get(tid)
        if s is not None:
            if s != DONE or tid in self.values:
                return
            del self.state[tid]  # dropped, and needed again: obtain it afresh
        if t.kind == "const":
            self.state[tid] = DONE
            self.values[tid] = t.value
            return
        if t.kind == "param":
            raise RuntimeError("a loop variable escaped its loop body")
        r = NEVER if t.cost == "cheap" and not goal else reuse(t, goal, self.opts)
        if r.memory:
            value = self.sources.recent(tid)
            if value is not MISSING:
                self.state[tid] = DONE
                self.keep(tid, value)
                self.from_memory += 1
                return
        if r.inflight and self.sources.in_flight(tid):
            self.state[tid] = INFLIGHT
            self.pending[tid] = 0
            self.push(t)
        elif r.store and self.sources.stored(tid):
            self.state[tid] = READY_LOAD
            self.pending[tid] = 0
            self.planned[1] += 1
            self.push(t)
        else:
            if t.cost == "cheap" and self.in_place is not None:
                value = self.in_place(t, goal)
                if value is not MISSING:
                    self.state[tid] = DONE
                    self.keep(tid, value)
                    return
            self.state[tid] = PENDING
            if t.cost != "cheap" and t.kind == "apply":
                self.planned[0] += 1
            self.todo.append(t)

    def link(self) -> None:
        """Link every task visited as PENDING to its arguments (depth-first:
        a task ranks before its arguments)."""
        while self.todo:
            t = self.todo.pop()
            self.linked.add(t.id)
            self.rank[t.id] = self.next_rank
            self.next_rank += 1
            n, upstream = 0, None
            for a in self.inputs(t):
                self.visit(a)
                self.dependents.setdefault(a.id, set()).add(t)
                self.refs[a.id] = self.refs.get(a.id, 0) + 1
                s = self.state[a.id]
                if s == FAILED:
                    upstream = self.failures[a.id]
                elif s != DONE:
                    n += 1
            self.pending[t.id] = n
            if upstream is not None:
                self.fail(t, None, root=upstream.root or upstream)
            elif n == 0:
                self.push(t)

    def inputs(self, t) -> list:
        """The distinct tasks ``t`` waits for: its arguments; for a loop its
        source sequence (:func:`loop_source`), once expanded its elements
        (element 0 linked first)."""
        if t.kind != "for":
            args = t.args
            if len(args) < 2:
                return args
            if len(args) == 2:  # tasks are hash-consed: one object per id
                return args if args[0] is not args[1] else args[:1]
        elif t.id in self.gathers:
            args = self.gathers[t.id][::-1]
        else:
            return [loop_source(t)]
        return list({a.id: a for a in args}.values())

    def expand(self, t, roots) -> None:
        """A ``for`` task's sequence is known: wait for its elements' bodies
        (``roots``) instead of the sequence."""
        seq = loop_source(t)
        # a sequence obtained again later must not count towards the elements
        self.dependents.get(seq.id, set()).discard(t)
        self.gathers[t.id] = roots
        self.todo.append(t)
        self.link()
        self.unref(seq.id)

    def again(self, t) -> None:
        """Obtain ``t`` afresh (its load failed, or the run it shared stopped)."""
        self.state.pop(t.id, None)
        self.visit(t, goal=t.id in self.goals)
        self.link()

    # -- ready tasks -----------------------------------------------------------
    def push(self, t) -> None:
        """``t`` can start: inline (loops, cheap tasks, futures to share) or
        on the ready heap."""
        s = self.state.get(t.id)
        if t.kind == "for" or s == INFLIGHT or (s == PENDING and t.cost == "cheap"):
            self.inline.append(t)
            return
        rank = self.rank.get(t.id)
        if rank is None:
            rank = self.rank[t.id] = self.next_rank
            self.next_rank += 1
        self.pushed += 1
        heapq.heappush(self.ready, (rank, self.pushed, t))

    def peek_ready(self, running):
        """The next task for the executor (not popped), or None; skips
        entries done, failed or started meanwhile."""
        ready = self.ready
        while ready:
            t = ready[0][2]
            if self.state.get(t.id) in (PENDING, READY_LOAD) and t.id not in running:
                return t
            heapq.heappop(ready)
        return None

    def pop_ready(self) -> None:
        """Take the task :meth:`peek_ready` returned off the heap."""
        heapq.heappop(self.ready)

    def estimate(self, t) -> int:
        """Bytes a pool task needs: its output (the size of its largest image
        argument, or of the largest image the run has held, in the result
        type's voxel type) plus a working set by cost class."""
        n = 0
        computing = self.state.get(t.id) == PENDING
        if computing:
            n = max((voxels(self.values.get(a.id)) for a in t.args), default=0)
        typ = t.type
        if n == 0 and (typ.is_image or typ.name == "seq"):
            n = self.memory.typical
        if typ.is_image:
            per_voxel = VOXEL_BYTES.get(typ.name, 4)
        elif typ.name in ("any", "seq") or typ.is_var:
            per_voxel = 4
        else:
            per_voxel = 0
        need = per_voxel * n
        if computing:
            need += WORKING_SET.get(t.cost, 0) * 4 * n
        return need

    # -- values ------------------------------------------------------------------
    def keep(self, tid, value) -> None:
        self.values[tid] = value
        if type(value) not in SCALARS:
            self.memory.hold(tid, value)

    def complete(self, t, value) -> None:
        """``t``'s value arrived: wake its dependents, release its arguments."""
        tid = t.id
        self.state[tid] = DONE
        self.keep(tid, value)
        self.release_args(t)
        state, pending = self.state, self.pending
        for d in self.dependents.get(tid, ()):
            if state.get(d.id) == PENDING:
                pending[d.id] -= 1
                if pending[d.id] == 0:
                    self.push(d)
        if self.refs.get(tid, 0) <= 0 and tid not in self.pinned and tid not in self.saves:
            self.drop(tid)  # nothing in this run reads it (e.g. shared with another run)

    def needed(self, tid) -> bool:
        return self.refs.get(tid, 0) > 0 or tid in self.pinned or tid in self.saves

    def unref(self, tid) -> None:
        self.refs[tid] = self.refs.get(tid, 0) - 1
        if not self.needed(tid):
            self.drop(tid)

    def release_args(self, t) -> None:
        if t.id not in self.linked:  # loaded or shared tasks hold no references
            return
        refs, pinned, saves = self.refs, self.pinned, self.saves
        for a in self.inputs(t):  # inlined unref: this runs for every task
            aid = a.id
            left = refs.get(aid, 0) - 1
            refs[aid] = left
            if left <= 0 and aid not in pinned and aid not in saves:
                self.drop(aid)

    def drop(self, tid) -> None:
        """Forget a value no consumer in this run needs any more."""
        self.values.pop(tid, None)
        if tid in self.memory.held:
            self.memory.release(tid)

    def saved(self, tid) -> None:
        """A ``save`` of ``tid`` is over: drop its value if nothing else needs it."""
        left = self.saves.get(tid, 0) - 1
        if left > 0:
            self.saves[tid] = left
            return
        self.saves.pop(tid, None)
        if not self.needed(tid):
            self.drop(tid)

    def fail(self, t, failure, root=None) -> list:
        """Fail ``t`` (with ``failure``, or upstream of ``root``) and every
        task depending on it; returns the root failures newly recorded."""
        roots = []
        stack = [(t, failure or Failure(t, "upstream failed", root=root))]
        while stack:
            task, f = stack.pop()
            if self.state.get(task.id) == FAILED:
                continue
            self.state[task.id] = FAILED
            self.failures[task.id] = f
            if f.root is None:
                roots.append((task, f))
            r = f.root or f
            for d in self.dependents.get(task.id, ()):
                if self.state.get(d.id) != FAILED:
                    stack.append((d, Failure(d, "upstream failed", root=r)))
        return roots
