"""The engine: runs the tasks a program's goals need, each at most once.

One :class:`Engine` per process (see :func:`get_engine`) owns the worker
pool, an LRU of recent values, the store and the table of tasks in flight.
A call to :meth:`Engine.run` plans from the goals, stopping at values the
LRU or the store already hold, then runs a loop in the calling thread:

* cheap tasks (scalars, small sequences) run inline in that thread;
* light and heavy tasks go to the executor; one in-flight future per task
  id per process, registered atomically, so concurrent runs share the work;
  across processes the store's claims decide who computes and who waits;
* ``for`` tasks expand when their sequence is known: the body template is
  instantiated per element and the new tasks join the plan;
* effects (``print``, ``save``) run in program order as their inputs arrive;
* a failure fails its dependents as "upstream failed" naming the root task;
  other goals go on.

Memory. A run submits at most as many tasks as the executor has workers,
and a task only when its estimated output and working set fit the engine's
memory budget (see :mod:`.memory`; with nothing else running it starts
anyway, so a task larger than the budget runs alone). Ready tasks wait in a
priority queue ordered by planning rank: tasks are ranked depth-first from
the goals (effects in program order, loop elements in index order), and a
task ranks before its arguments, so the consumer of a value just computed
runs before unrelated work starts and a wide ``for`` streams through its
elements instead of materialising all of them. A value is dropped the
moment its last consumer in the run has it (a value a ``save`` needs, once
saved). The LRU keeps only the values worth keeping across runs: those of
heavy tasks and goals, and of these not the large ones a disk store can
hand back memory-mapped.

Warnings a primitive reports (:func:`~voxlogica_nb.primitives.registry.report`)
become lines located at the task's position, in ``Outcome.warnings`` and as
``warning`` events.

Only this thread publishes progress events; workers report through a queue.
"""
from __future__ import annotations

import heapq
import os
import queue
import threading
import time
import traceback
from collections import deque
from dataclasses import dataclass, field

from ..errors import PrimitiveError
from ..primitives import fingerprints
from ..primitives.registry import REGISTRY, reporting
from .events import Event
from .executors import ThreadExecutor
from .memory import LRU, VOXEL_BYTES, WORKING_SET, Account, buffers, default_budget, value_bytes, voxels
from .memory import MISSING as NOT_IN_MEMORY
from .claims import CancelEvent, WaitCancelled, on_set
from .store import MISSING, MemoryStore, NullStore

PENDING, READY_LOAD, INFLIGHT, DONE, FAILED = range(5)


class Failure:
    """A failed task: its own error, or "upstream failed" with the root."""

    __slots__ = ("task_id", "op", "message", "traceback", "pos", "root", "time", "version")

    def __init__(self, task, message, tb="", root=None):
        self.task_id = task.id
        self.op = task.op
        self.version = task.version
        self.message = message
        self.traceback = tb
        self.pos = task.pos
        self.root = root
        self.time = time.time()

    @property
    def where(self) -> str:
        return f"{self.pos.line}:{self.pos.col}" if self.pos else "?"

    @property
    def line(self):
        return self.pos.line if self.pos else 0

    @property
    def col(self):
        return self.pos.col if self.pos else 0

    @property
    def reason(self) -> str:
        """The message without a leading "op: " that would repeat the operator."""
        prefix = f"{self.op}: "
        return self.message[len(prefix):] if self.message.startswith(prefix) else self.message

    def __str__(self):
        place = str(self.pos) if self.pos else "?"
        if self.root is not None:
            r = self.root
            return f"{place}: upstream failed: `{r.op}` at {r.pos or '?'}: {r.reason}"
        return f"{place}: `{self.op}` failed: {self.reason}"

    def __repr__(self):
        return f"<Failure {self}>"

    def record(self) -> dict:
        return {"op": self.op, "version": self.version, "message": self.message,
                "traceback": self.traceback, "time": self.time,
                "position": str(self.pos) if self.pos else ""}


class _Waited(Exception):
    """Another process recorded a failure for the task we waited on."""


@dataclass
class Options:
    force: bool = False
    no_cache: bool = False
    timeout: float | None = None
    cancel: threading.Event = field(default_factory=CancelEvent)

    def __post_init__(self):
        if self.cancel is None:
            self.cancel = CancelEvent()


@dataclass
class Outcome:
    printed: list = field(default_factory=list)  # (label, value)
    saved: list = field(default_factory=list)  # paths
    failures: list = field(default_factory=list)  # root Failures, in order found
    effect_failures: list = field(default_factory=list)  # (Effect, Failure)
    values: dict = field(default_factory=dict)  # effect index -> value (print and value effects)
    stats: dict = field(default_factory=dict)
    dangling: list = field(default_factory=list)  # claims of dead processes reported to this run
    seconds: float = 0.0
    warnings: list = field(default_factory=list)  # "source:line:col: message" reported by primitives
    peak_bytes: int = 0  # most bytes of values the run held at once (array memory)


def _calling(fn, *args):
    """``fn(*args)`` collecting what it reports: ``(value, [messages])``."""
    said: list = []
    with reporting(said.append):
        return fn(*args), said


_SCALARS = frozenset((float, int, bool, str, type(None)))


def _where(pos) -> str:
    return str(pos) if pos else "<program>"


def _message(exc: BaseException) -> str:
    """One line saying what went wrong (the traceback is kept apart)."""
    if isinstance(exc, (PrimitiveError, _Waited)):
        return str(exc)
    text = str(exc).strip()
    itk = text.rfind("ITK ERROR:")
    if itk >= 0:  # SimpleITK: "… ITK ERROR: SomeFilter(0x…): what went wrong"
        detail = text[itk:].splitlines()[0].split("): ", 1)[-1]
        return f"SimpleITK: {detail.strip()}"
    if "\n" in text:
        text = text.splitlines()[0]
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class Engine:
    """Kernel-resident engine: pool, LRU, store, in-flight table."""

    def __init__(self, store=None, jobs: int | None = None, executor=None,
                 memory_bytes: int | None = None):
        self.store = store if store is not None else MemoryStore()
        self.jobs = jobs or os.cpu_count() or 1
        self._executor = executor
        # The memory budget (bytes): values held by runs, tasks running and
        # the LRU together; default $VOXLOGICA_MEMORY, else a share of RAM.
        self.memory_bytes = int(memory_bytes) if memory_bytes is not None else default_budget()
        self.memory = LRU(self.memory_bytes)
        self.account = Account()  # bytes held and reserved by the runs in progress
        self._inflight: dict = {}
        self._sharers: dict = {}  # task id -> runs waiting on another run's future
        self._lock = threading.RLock()  # done-callbacks may run while it is held
        # Claims left by dead processes (a crashed or restarted kernel) are
        # cleared once, when the engine starts, and reported once: to the
        # first run that has observers, or to take_dangling().
        claims = getattr(self.store, "claims", None)
        self.dangling = claims.sweep() if claims is not None else []
        root = getattr(self.store, "root", None)
        if root is not None:  # input digests, remembered beside the values
            fingerprints.use_folder(os.path.join(root, "fingerprints"))

    def take_dangling(self) -> list[dict]:
        """The owner records of dead processes' claims cleared when this
        engine started, if not reported yet; [] afterwards."""
        with self._lock:
            cleared, self.dangling = self.dangling, []
        return cleared

    def set_jobs(self, jobs: int) -> None:
        """Use ``jobs`` workers from now on; tasks already submitted finish
        on the previous pool."""
        with self._lock:
            if jobs == self.jobs:
                return
            self.jobs = jobs
            old, self._executor = self._executor, None
        if old is not None:
            old.shutdown(wait=False)

    @property
    def executor(self):
        if self._executor is None:
            self._executor = ThreadExecutor(self.jobs)
        return self._executor

    @property
    def slots(self) -> int:
        """How many tasks a run keeps submitted to the executor at once."""
        return getattr(self._executor, "slots", None) or self.jobs

    def keep(self, task_id, value) -> None:
        """Put a value in the LRU if it is worth keeping there: not a large
        value that the store hands back memory-mapped, which the LRU would
        pin in memory long after the run has dropped it."""
        threshold = getattr(self.store, "mmap_min_bytes", None)
        if (threshold is None or not getattr(self.store, "writable", True)
                or value_bytes(value) < threshold):
            self.memory.put(task_id, value)

    def run(self, effects, table, observers=(), **options) -> Outcome:
        """Run the effects' tasks (and only what they need). ``options``:
        ``force``, ``no_cache``, ``timeout`` (seconds to wait on another
        process), ``cancel`` (a threading.Event: setting it, from any thread,
        stops the run with KeyboardInterrupt)."""
        return _Run(self, effects, table, list(observers), Options(**options)).execute()

    def evaluate(self, task, table, observers=(), **options):
        """Compute one task and return its value (raises on failure)."""
        from ..language.reducer import Effect

        out = self.run([Effect("value", "", task, task.pos)], table, observers, **options)
        if out.effect_failures:
            raise TaskFailed(out.effect_failures[0][1])
        return out.values[0]

    # -- worker side (runs in executor threads) ----------------------------------
    def _compute(self, task, args, opts: Options, notify, goal=False):
        """Compute (or wait for, or load) one pool task. Returns (value, how).

        Stored tasks (heavy ones and goals) are claimed across processes;
        once computed, the value is handed to the scheduler (``notify``)
        before it is committed, so dependents start while the file is
        written; the claim is released after the commit."""
        store = NullStore() if opts.no_cache else self.store
        reusable = task.prim.pure and not task.volatile and not opts.no_cache
        storable = reusable and (task.cost == "heavy" or goal)
        claims = getattr(store, "claims", None) if storable else None
        claim = None
        if claims is not None:
            claim = claims.try_acquire(task.id, task.op)
            if claim is None:
                notify(("wait", task, None))
                started = time.time()
                claim = claims.acquire(task.id, task.op, timeout=opts.timeout, cancel=opts.cancel)
                value = store.get(task.id)
                if value is not MISSING:
                    claim.release()
                    self.keep(task.id, value)
                    return value, "waited"
                rec = store.failure(task.id)
                if rec is not None and rec.get("time", 0) >= started - 1:
                    claim.release()
                    raise _Waited(rec.get("message", "failed in another process"))
            elif not opts.force and store.contains(task.id):
                value = store.get(task.id)
                if value is not MISSING:
                    claim.release()
                    self.keep(task.id, value)
                    return value, "loaded"
        said: list = []
        try:
            t0 = time.perf_counter()
            fn = task.fn or task.prim.dispatch(args)
            try:
                with reporting(said.append):
                    value = fn(*args)
            except BaseException as exc:
                if said:
                    notify(("warn", task, said))
                if storable and not isinstance(exc, (KeyboardInterrupt, SystemExit)):
                    f = Failure(task, _message(exc), traceback.format_exc())
                    store.put_failure(task.id, f.record())
                raise
            seconds = time.perf_counter() - t0
            if said:
                notify(("warn", task, said))
            if storable:
                self.keep(task.id, value)  # before the commit, so a run needing it again finds it
                notify(("value", task, value))
                store.put(task.id, value, {"op": task.op, "version": task.version, "seconds": seconds})
            return value, "computed"
        finally:
            if claim is not None:
                claim.release()

    def _forget(self, tid, fut):
        with self._lock:
            if self._inflight.get(tid) is fut:
                del self._inflight[tid]

    def _load(self, task_id):
        value = self.memory.get(task_id)
        if value is not NOT_IN_MEMORY:
            return value
        value = self.store.get(task_id)
        if value is not MISSING:
            self.keep(task_id, value)
        return value


class TaskFailed(Exception):
    def __init__(self, failure: Failure):
        self.failure = failure
        super().__init__(str(failure))


class _Run:
    def __init__(self, engine: Engine, effects, table, observers, opts: Options):
        self.engine = engine
        self.effects = effects
        self.table = table
        self.observers = observers
        self.opts = opts
        self.state: dict = {}
        self.values: dict = {}
        self.pending: dict = {}
        self.dependents: dict = {}
        self.refs: dict = {}
        self.failures: dict = {}
        self.gathers: dict = {}
        self.linked: set = set()  # tasks that hold references on their arguments
        self.early: set = set()  # completed while their worker still commits them
        self.mine: set = set()  # computed by this run (needed again later, they are not "waited")
        self.futures: dict = {}  # futures this run submitted
        self.shared: set = set()  # tasks this run awaits from another run's future
        self.inline: deque = deque()  # ready to start in this thread (cheap, loops, shared)
        self.ready: list = []  # heap of (rank, n, task): ready for the executor
        self.pushed = 0
        self.rank: dict = {}  # task id -> planning rank (lower runs first)
        self.next_rank = 0
        self.running: set = set()  # tasks this run submitted whose futures are not done
        self.reserved: dict = {}  # task id -> bytes reserved for it while it runs
        self.todo: list = []
        self.completions: queue.SimpleQueue = queue.SimpleQueue()
        self.outstanding = 0
        self.goals: set = set()
        self.pinned: set = set()  # goals whose values the outcome keeps (print, value)
        self.saves: dict = {}  # goal id -> save effects still to run on it
        self.held: dict = {}  # task id -> [(buffer owner, bytes)] of values in self.values
        self.owners: dict = {}  # buffer owner -> [count, bytes]
        self.held_bytes = 0
        self.typical = 0  # voxels of the largest image this run has held
        self.warned: set = set()
        self.current = None  # the cheap task running in this thread
        self.stats = {"computed": 0, "cached": 0, "waited": 0, "failed": 0}
        self.planned_heavy = 0
        self.planned_stored = 0
        self.reported = (0, 0)  # (planned_heavy, planned_stored) already sent in plan events
        self.out = Outcome()
        use_store = not opts.no_cache
        self.store = engine.store if use_store else NullStore()
        self.memory = engine.memory if use_store else None

    # -- events --------------------------------------------------------------
    def emit(self, kind, task=None, **data):
        if self.observers:
            ev = Event(kind, task.id if task is not None else "", task.op if task is not None else "", data)
            for obs in self.observers:
                obs(ev)

    def warn(self, task, pos, messages):
        """Record what a primitive reported, as lines located at ``pos``."""
        for message in messages:
            line = f"{_where(pos)}: {message}"
            if line in self.warned:
                continue
            self.warned.add(line)
            self.out.warnings.append(line)
            self.emit("warning", task, text=line, message=message, position=str(pos) if pos else "")

    def report_inline(self, message):
        """The report sink of cheap tasks, which run in the loop's thread."""
        t = self.current
        self.warn(t, t.pos if t is not None else None, [message])

    # -- memory ----------------------------------------------------------------
    def hold(self, tid, value):
        """Count the array memory of a value this run now holds."""
        found = buffers(value)
        if not found:
            return
        self.release(tid)
        self.held[tid] = found
        added = 0
        for owner, size in found:
            entry = self.owners.get(owner)
            if entry is None:
                self.owners[owner] = [1, size]
                added += size
            else:
                entry[0] += 1
        if added:
            self.held_bytes += added
            self.engine.account.add(added)
            if self.held_bytes > self.out.peak_bytes:
                self.out.peak_bytes = self.held_bytes
        n = voxels(value)
        if n > self.typical:
            self.typical = n

    def release(self, tid):
        found = self.held.pop(tid, None)
        if not found:
            return
        freed = 0
        for owner, _size in found:
            entry = self.owners[owner]
            entry[0] -= 1
            if entry[0] == 0:
                del self.owners[owner]
                freed += entry[1]
        if freed:
            self.held_bytes -= freed
            self.engine.account.add(-freed)

    def drop(self, tid):
        """Forget a value no consumer in this run needs any more."""
        self.values.pop(tid, None)
        if tid in self.held:
            self.release(tid)

    def needed(self, tid) -> bool:
        return self.refs.get(tid, 0) > 0 or tid in self.pinned or tid in self.saves

    def estimate(self, t) -> int:
        """Bytes a pool task needs: its output (the size of its largest image
        argument, or of the largest image the run has seen, in the result
        type's voxel type) plus a working set by cost class."""
        n = 0
        computing = self.state.get(t.id) == PENDING
        if computing:
            for a in t.args:
                v = voxels(self.values.get(a.id))
                if v > n:
                    n = v
        typ = t.type
        if n == 0 and (typ.is_image or typ.name == "seq"):
            n = self.typical
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

    def fits(self, need) -> bool:
        """Is there room for ``need`` more bytes (the LRU gives way first)?"""
        engine = self.engine
        room = engine.memory_bytes - engine.account.used
        if need <= room - engine.memory.bytes:
            return True
        if need > room:
            return False
        engine.memory.trim(room - need)
        return True

    def reserve(self, tid, need):
        if need:
            self.reserved[tid] = need
            self.engine.account.add(need)

    def unreserve(self, tid):
        need = self.reserved.pop(tid, 0)
        if need:
            self.engine.account.add(-need)

    def settle(self):
        """The run is over: what it held and reserved is no longer its own."""
        self.engine.account.add(-(self.held_bytes + sum(self.reserved.values())))
        self.held_bytes = 0
        self.held.clear()
        self.owners.clear()
        self.reserved.clear()

    # -- planning ------------------------------------------------------------
    def visit(self, t, goal=False):
        """Classify a task the first time the run meets it."""
        tid = t.id
        s = self.state.get(tid)
        if s is not None:
            if s != DONE or tid in self.values:
                return
            # Freed after its last consumer, and now a loop expansion needs
            # it again: obtain it afresh (memory, store, or recompute).
            del self.state[tid]
        kind = t.kind
        if kind == "const":
            self.values[tid] = t.value
            self.state[tid] = DONE
            return
        if kind == "param":
            raise RuntimeError("a loop variable escaped its loop body")
        force = goal and self.opts.force
        reusable = kind == "apply" and t.prim.pure and not t.volatile and not force
        if reusable and self.memory is not None and (t.cost != "cheap" or goal):
            value = self.memory.get(tid)
            if value is not NOT_IN_MEMORY:
                self.values[tid] = value
                self.hold(tid, value)
                self.state[tid] = DONE
                self.stats["cached"] += 1
                return
        if reusable and (t.cost != "cheap" or goal):
            with self.engine._lock:
                fut = self.engine._inflight.get(tid)
            if fut is not None:
                self.state[tid] = INFLIGHT
                self.pending[tid] = 0
                self.push(t)
                return
            if (t.cost == "heavy" or goal) and self.store.contains(tid):
                self.state[tid] = READY_LOAD
                self.pending[tid] = 0
                self.planned_stored += 1
                self.push(t)
                return
        self.state[tid] = PENDING
        if t.cost != "cheap" and kind == "apply":
            self.planned_heavy += 1
        self.todo.append(t)

    def expand_todo(self):
        """Link every newly met task to its arguments. Tasks are ranked in
        the order they are linked: depth-first, a task before its arguments."""
        while self.todo:
            t = self.todo.pop()
            self.linked.add(t.id)
            self.rank[t.id] = self.next_rank
            self.next_rank += 1
            if t.kind == "for" and t.id in self.gathers:
                args = self.gathers[t.id][::-1]  # so that element 0 is linked first
            else:
                args = t.args
            n = 0
            upstream = None
            seen = set()
            for a in args:
                if a.id in seen:
                    continue
                seen.add(a.id)
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

    def plan(self, goal_tasks):
        for t in goal_tasks:  # one at a time, so earlier effects rank first
            self.goals.add(t.id)
            self.visit(t, goal=True)
            self.expand_todo()

    # -- running ---------------------------------------------------------------
    def report_plan(self, first=False):
        """Send the work met since the last ``plan`` event (if any)."""
        compute = self.planned_heavy - self.reported[0]
        stored = self.planned_stored - self.reported[1]
        if first or compute or stored:
            self.reported = (self.planned_heavy, self.planned_stored)
            self.emit("plan", compute=compute, stored=stored)

    def execute(self) -> Outcome:
        t0 = time.perf_counter()
        if self.observers:  # else it stays for a run that can show it
            cleared = self.engine.take_dangling()
            if cleared:
                self.out.dangling = cleared
                self.emit("dangling", cleared=cleared)
        for e in self.effects:
            tid = e.task.id
            if e.kind == "save":
                self.saves[tid] = self.saves.get(tid, 0) + 1
            else:
                self.pinned.add(tid)
        try:
            self.plan([e.task for e in self.effects])
            self.report_plan(first=True)
            self.next_effect = 0
            self.effect_busy = False
            # wake the loop when another thread sets the cancel event
            unwatch = on_set(self.opts.cancel, lambda: self.completions.put(("cancel", None, None)))
            try:
                with reporting(self.report_inline):
                    self.loop()
            except BaseException:
                self.cancel()
                raise
            finally:
                unwatch()
        finally:
            self.settle()
        self.out.stats = dict(self.stats)
        self.out.seconds = time.perf_counter() - t0
        self.emit("finish", stats=self.out.stats, seconds=self.out.seconds, peak_bytes=self.out.peak_bytes)
        return self.out

    def loop(self):
        cancel = self.opts.cancel
        while True:
            if cancel.is_set():
                raise KeyboardInterrupt
            self.dispatch()
            self.advance_effects()
            if self.next_effect >= len(self.effects) and not self.effect_busy:
                while self.early:  # values already used, still being committed
                    if cancel.is_set():
                        raise KeyboardInterrupt
                    self.handle(self.completions.get())
                return
            if self.inline:
                continue
            if self.outstanding == 0:
                raise RuntimeError("scheduler stalled: nothing running and nothing ready")
            self.handle(self.completions.get())

    def push(self, t):
        """``t`` is ready: start it in this thread, or queue it for the executor."""
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

    def dispatch(self):
        """Start what is ready: every inline task, then executor tasks in
        rank order while a worker is free and their memory fits (or nothing
        of this run is running: a task larger than the budget runs alone)."""
        slots = self.engine.slots
        ready = self.ready
        while True:
            while self.inline:
                self.start(self.inline.popleft())
            if not ready or len(self.running) >= slots:
                return
            t = ready[0][2]
            if self.state.get(t.id) not in (PENDING, READY_LOAD) or t.id in self.running:
                heapq.heappop(ready)  # done, failed or started meanwhile
                continue
            need = self.estimate(t)
            if self.running and not self.fits(need):
                return
            heapq.heappop(ready)
            self.start(t)
            if t.id in self.running:
                self.reserve(t.id, need)

    def cancel(self):
        """Stop: cancel queued work no other run shares. Workers already
        running finish, commit and release their own claims."""
        self.opts.cancel.set()
        for tid in list(self.shared):
            self.unshare(tid)
        with self.engine._lock:
            for tid, fut in self.futures.items():
                if not self.engine._sharers.get(tid):
                    fut.cancel()

    def unshare(self, tid):
        self.shared.discard(tid)
        with self.engine._lock:
            left = self.engine._sharers.get(tid, 0) - 1
            if left > 0:
                self.engine._sharers[tid] = left
            else:
                self.engine._sharers.pop(tid, None)

    def replan(self, t):
        """Obtain ``t`` afresh (from the store, or by computing it here)."""
        self.state.pop(t.id, None)
        self.visit(t, goal=t.id in self.goals)
        self.expand_todo()
        self.report_plan()

    def share(self, t, fut):
        """Wait for another run's in-flight future of ``t``."""
        with self.engine._lock:
            self.engine._sharers[t.id] = self.engine._sharers.get(t.id, 0) + 1
        self.shared.add(t.id)
        self.outstanding += 1
        fut.add_done_callback(lambda f, t=t: self.completions.put(("shared", t, f)))

    def start(self, t):
        tid = t.id
        s = self.state[tid]
        if s in (DONE, FAILED):
            return
        if s == READY_LOAD:
            self.submit(t, self.engine._load, tid, kind="load")
            return
        if s == INFLIGHT:
            with self.engine._lock:
                fut = self.engine._inflight.get(tid)
            if fut is None:  # finished meanwhile: it is in the LRU or the store
                self.state[tid] = READY_LOAD
                self.push(t)
            else:
                self.share(t, fut)
            return
        if t.kind == "for":
            self.start_for(t)
            return
        args = [self.values[a.id] for a in t.args]
        if t.cost == "cheap":
            self.current = t  # what the loop's report sink locates messages at
            try:
                fn = t.fn or t.prim.dispatch(args)
                value = fn(*args)
            except Exception as exc:
                self.fail(t, Failure(t, _message(exc), traceback.format_exc()))
                return
            self.stats["computed"] += 1
            if tid in self.goals and t.prim.pure and not t.volatile:
                self.store.put(tid, value, {"op": t.op, "version": t.version, "seconds": 0.0})
                if self.memory is not None:
                    self.memory.put(tid, value)
            self.complete(t, value)
            return
        # light or heavy: share one in-flight future per task id in this process
        engine = self.engine
        with engine._lock:
            fut = engine._inflight.get(tid)
            if fut is None:
                fut = engine.executor.submit(engine._compute, t, args, self.opts, self.completions.put,
                                             tid in self.goals)
                engine._inflight[tid] = fut
                fut.add_done_callback(lambda f, tid=tid: engine._forget(tid, f))
                mine = True
            else:
                mine = False
        if mine:
            self.futures[tid] = fut
            self.running.add(tid)
            self.outstanding += 1
            self.emit("start", t)
            fut.add_done_callback(lambda f, t=t: self.completions.put(("computed", t, f)))
        else:
            self.share(t, fut)

    def submit(self, t, fn, *args, kind):
        fut = self.engine.executor.submit(fn, *args)
        self.futures[t.id] = fut
        self.running.add(t.id)
        self.outstanding += 1
        fut.add_done_callback(lambda f, t=t: self.completions.put((kind, t, f)))

    def handle(self, item):
        kind, t, payload = item
        if kind == "cancel":  # the loop checks the event
            return
        if kind == "wait":  # a worker is blocked on another process's claim
            self.emit("wait", t)
            return
        if kind == "warn":  # a worker's task reported something
            self.warn(t, t.pos, payload)
            return
        if kind == "value":  # computed; the worker is committing it to the store
            if self.state.get(t.id) != DONE:
                self.early.add(t.id)
                self.mine.add(t.id)
                self.stats["computed"] += 1
                self.emit("done", t)
                self.complete(t, payload)
            return
        self.outstanding -= 1
        f = payload
        if kind == "effect":
            self.finish_effect(t, f)
            return
        self.running.discard(t.id)
        self.unreserve(t.id)
        if t.id in self.early:  # the commit finished
            self.early.discard(t.id)
            self.futures.pop(t.id, None)
            return
        if kind == "shared":
            self.unshare(t.id)
        try:
            result = f.result()
        except BaseException as exc:
            if f.cancelled() or isinstance(exc, (KeyboardInterrupt, WaitCancelled)):
                if self.opts.cancel.is_set():
                    raise KeyboardInterrupt from None
                self.replan(t)  # another run was interrupted: do it ourselves
                return
            self.fail(t, Failure(t, _message(exc), "".join(traceback.format_exception(exc))))
            return
        if kind == "load":
            if result is MISSING:  # vanished or corrupt: compute it after all
                self.replan(t)
                return
            self.stats["cached"] += 1
            self.emit("load", t)
            self.complete(t, result)
            return
        value, how = result
        if kind == "shared":
            # Another run's work, or this run's own value, dropped and needed
            # again while its commit is still under way: from memory, then.
            how = "loaded" if t.id in self.mine else "waited"
        elif how == "computed":
            self.mine.add(t.id)
        if how == "computed":
            self.stats["computed"] += 1
            self.emit("done", t)
        elif how == "loaded":
            self.stats["cached"] += 1
            self.emit("load", t)
        else:
            self.stats["waited"] += 1
            self.emit("load", t, waited=True)
        self.complete(t, value)

    def start_for(self, t):
        if t.id in self.gathers:  # every element's body is done
            value = [self.values[r.id] for r in self.gathers[t.id]]
            self.complete(t, value)
            return
        seq_task = t.args[0]
        seq = self.values[seq_task.id]
        # From now on the loop waits for its elements, not its sequence: a
        # sequence obtained again later (for another consumer) must not
        # count towards the loop's pending elements.
        self.dependents.get(seq_task.id, set()).discard(t)
        roots = [self.table.instantiate(t.body, t.level, self.table.element(seq_task, seq, i))
                 for i in range(len(seq))]
        self.gathers[t.id] = roots
        self.todo.append(t)
        self.expand_todo()
        self.report_plan()
        aid = seq_task.id  # the loop no longer needs its sequence
        self.refs[aid] = self.refs.get(aid, 0) - 1
        if not self.needed(aid):
            self.drop(aid)

    def complete(self, t, value):
        tid = t.id
        self.state[tid] = DONE
        self.values[tid] = value
        if type(value) not in _SCALARS:
            self.hold(tid, value)
        if self.reserved:
            self.unreserve(tid)
        self.futures.pop(tid, None)
        self.release_args(t)
        state, pending = self.state, self.pending
        for d in self.dependents.get(tid, ()):
            did = d.id
            if state.get(did) == PENDING:
                left = pending[did] - 1
                pending[did] = left
                if left == 0:
                    self.push(d)
        if self.refs.get(tid, 0) <= 0 and tid not in self.pinned and tid not in self.saves:
            self.drop(tid)  # nothing in this run reads it (e.g. a task shared with another run)

    def release_args(self, t):
        if t.id not in self.linked:  # loaded, not computed: it holds no references
            return
        args = self.gathers.get(t.id, ()) if t.kind == "for" else t.args
        refs = self.refs
        for aid in {a.id for a in args}:
            left = refs.get(aid, 0) - 1
            refs[aid] = left
            if left <= 0 and aid not in self.pinned and aid not in self.saves:
                self.drop(aid)

    def fail(self, t, failure, root=None):
        """Fail ``t`` (with ``failure``, or upstream of ``root``) and every
        task that depends on it."""
        stack = [(t, failure or Failure(t, "upstream failed", root=root))]
        while stack:
            task, f = stack.pop()
            if self.state.get(task.id) == FAILED:
                continue
            self.state[task.id] = FAILED
            self.failures[task.id] = f
            self.futures.pop(task.id, None)
            self.unreserve(task.id)
            if f.root is None:
                self.stats["failed"] += 1
                self.out.failures.append(f)
                self.emit("fail", task, failure=f)
            r = f.root or f
            for d in self.dependents.get(task.id, ()):
                if self.state.get(d.id) != FAILED:
                    stack.append((d, Failure(d, "upstream failed", root=r)))

    # -- effects ---------------------------------------------------------------
    def saved(self, tid):
        """A ``save`` of ``tid`` is over: drop its value if nothing else needs it."""
        left = self.saves.get(tid, 0) - 1
        if left > 0:
            self.saves[tid] = left
            return
        self.saves.pop(tid, None)
        if not self.needed(tid):
            self.drop(tid)

    def advance_effects(self):
        while not self.effect_busy and self.next_effect < len(self.effects):
            i = self.next_effect
            e = self.effects[i]
            s = self.state.get(e.task.id)
            if s == FAILED:
                f = self.failures[e.task.id]
                self.out.effect_failures.append((e, f.root or f))
                if e.kind == "save":
                    self.saved(e.task.id)
            elif s == DONE:
                value = self.values[e.task.id]
                if e.kind == "save":
                    self.effect_busy = True
                    fut = self.engine.executor.submit(_calling, REGISTRY["save"].dispatch([e.target, value]),
                                                      e.target, value)
                    self.outstanding += 1
                    fut.add_done_callback(lambda f, i=i: self.completions.put(("effect", i, f)))
                    return
                self.out.values[i] = value
                if e.kind == "print":
                    self.out.printed.append((e.target, value))
                    self.emit("print", e.task, label=e.target, value=value)
            else:
                return
            self.next_effect += 1

    def finish_effect(self, i, fut):
        e = self.effects[i]
        self.effect_busy = False
        self.next_effect += 1
        self.saved(e.task.id)
        try:
            _value, said = fut.result()
        except BaseException as exc:
            if isinstance(exc, KeyboardInterrupt):
                raise
            f = Failure(e.task, _message(exc), "".join(traceback.format_exception(exc)))
            f.op, f.pos = "save", e.pos
            self.stats["failed"] += 1
            self.out.failures.append(f)
            self.out.effect_failures.append((e, f))
            self.emit("fail", e.task, failure=f)
            return
        if said:
            self.warn(e.task, e.pos, said)
        self.out.saved.append(e.target)
        self.emit("save", e.task, path=e.target)
