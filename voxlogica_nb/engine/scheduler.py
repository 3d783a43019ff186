"""The engine: runs the tasks a program's goals need, each at most once.

One :class:`Engine` per store (see ``voxlogica_nb.session.get_engine``)
owns what its runs share: the worker pool, an LRU of recent values, the
store, the table of tasks in flight and the memory account. A call to
:meth:`Engine.run` creates a :class:`Run`, which plans from the goals (see
:mod:`.state` for the algorithm and the task states; :mod:`.policy` for
where values come from) and then loops in the calling thread:

* cheap tasks (scalars, small sequences) run inline in that thread;
* light and heavy tasks go to the executor; one in-flight future per task
  id per engine, registered atomically, so concurrent runs share the work;
  across processes the store's claims decide who computes and who waits
  (:mod:`.worker`), and a run whose very goals another process is running
  waits for that whole run first (:meth:`Run.wait_for_same_run`);
* ``for`` tasks expand when their sequence is known;
* effects (``print``, ``save``) run in program order as their inputs arrive;
* a failure fails its dependents as "upstream failed" naming the root task;
  other goals go on.

Memory. A run keeps at most as many tasks submitted as the executor has
workers, and starts one only when its estimated output and working set fit
the engine's budget (see :mod:`.memory`; with nothing else of the run
running it starts anyway, so a task larger than the budget runs alone).
Ready tasks start in planning rank, so the consumer of a value just
computed runs before unrelated work and a wide ``for`` streams through its
elements. A value is dropped the moment its last consumer in the run has
it. The LRU keeps the values worth keeping across runs (heavy tasks and
goals), but not the large ones a disk store hands back memory-mapped.

Warnings a primitive reports (:func:`~voxlogica_nb.primitives.registry.report`)
become lines located at the task's position, in ``Outcome.warnings`` and as
``warning`` events. Only the loop's thread publishes events; workers
report through the run's queue (:class:`~.worker.Note`,
:class:`~.worker.Finished`, :class:`~.worker.SaveFinished`).
"""
from __future__ import annotations

import os
import queue
import threading
import time

from ..language.reducer import gc_paused
from ..language.tasks import task_id
from ..plain import Record
from ..language.types import BOOL, NUM, STR
from ..primitives import fingerprints
from ..primitives.registry import REGISTRY, reporting
from . import in_place
from .claims import RUN_OP, CancelEvent, WaitCancelled, WaitTimeout, on_set
from .events import Publishing
from .executors import ThreadExecutor
from .failures import Failure, TaskFailed, message_of, traceback_of
from .memory import LRU, Account, Holdings, default_budget, value_bytes
from .policy import reuse
from .state import DONE, FAILED, INFLIGHT, READY_LOAD, RunState, Sources, loop_elements
from .store import MISSING, MemoryStore, NullStore
from .worker import WAKE, Finished, Note, Costs, SaveFinished, calling, compute

SMALL = (NUM, BOOL, STR)  # types whose stored values are read in the loop's thread

__all__ = ["Engine", "Run", "Options", "Outcome", "Failure", "TaskFailed"]


class Options(Record):
    FIELDS = ("force", "no_cache", "timeout", "cancel", "failed_since")

    def __init__(self, force: bool = False, no_cache: bool = False, timeout: "float | None" = None,
                 cancel: "threading.Event | None" = None, failed_since: "float | None" = None):
        self.force = force
        self.no_cache = no_cache
        self.timeout = timeout
        self.cancel = CancelEvent() if cancel is None else cancel
        # set once the run has waited for the same run elsewhere: a failure
        # recorded since then is reported, not computed again
        self.failed_since = failed_since


class Outcome(Record):
    FIELDS = ("printed", "saved", "failures", "effect_failures", "values", "stats", "dangling", "seconds",
              "warnings", "peak_bytes")

    def __init__(self, printed=None, saved=None, failures=None, effect_failures=None, values=None,
                 stats=None, dangling=None, seconds: float = 0.0, warnings=None, peak_bytes: int = 0):
        self.printed = printed or []  # (label, value)
        self.saved = saved or []  # paths
        self.failures = failures or []  # root Failures, in order found
        self.effect_failures = effect_failures or []  # (Effect, Failure)
        self.values = values or {}  # effect index -> value (print and value effects)
        self.stats = stats or {}
        self.dangling = dangling or []  # claims of dead processes reported to this run
        self.seconds = seconds
        self.warnings = warnings or []  # "source:line:col: message" reported by primitives
        self.peak_bytes = peak_bytes  # most bytes of values the run held at once (array memory)


class Engine:
    """What the runs of one store share: pool, LRU, store, in-flight
    table, memory account. Runs use only its public methods."""

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
        self.costs = Costs()  # measured: which operators are worth a claim, a store entry
        self._runs = 0  # runs in progress
        self._inflight: dict = {}  # task id -> the future computing it
        self._sharers: dict = {}  # task id -> runs waiting on another run's future
        self._lock = threading.RLock()  # done-callbacks may run while it is held
        # Claims left by dead processes (a crashed or restarted kernel) are
        # cleared once, when the engine starts, and reported once: to the
        # first run that has observers, or to take_dangling().
        self.dangling = self.store.sweep()
        if self.store.root is not None:  # input digests, remembered beside the values
            fingerprints.use_folder(os.path.join(self.store.root, "fingerprints"))

    # -- configuration ------------------------------------------------------
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

    def busy(self) -> bool:
        """Is a task of this engine still running (or committing)?"""
        with self._lock:
            return bool(self._inflight)

    # -- running --------------------------------------------------------------
    def run(self, effects, table, observers=(), **options) -> Outcome:
        """Run the effects' tasks (and only what they need). ``options``:
        ``force``, ``no_cache``, ``timeout`` (seconds to wait on another
        process), ``cancel`` (a threading.Event: setting it, from any thread,
        stops the run with KeyboardInterrupt)."""
        with self._lock:
            self._runs += 1
        try:
            return Run(self, effects, table, list(observers), Options(**options)).execute()
        finally:
            with self._lock:
                self._runs -= 1
                self._flush_if_idle()

    def _flush_if_idle(self):
        """Commit what waits for a batch once no run is in progress and no
        task is still running or committing (the lock is held)."""
        if not self._runs and not self._inflight:
            self.store.flush()

    def evaluate(self, task, table, observers=(), **options):
        """Compute one task and return its value (raises on failure)."""
        from ..language.reducer import Effect

        out = self.run([Effect("value", "", task, task.pos)], table, observers, **options)
        if out.effect_failures:
            raise TaskFailed(out.effect_failures[0][1])
        return out.values[0]

    # -- the interface runs use ---------------------------------------------------
    def keep(self, task_id, value) -> None:
        """Put a value in the LRU if it is worth keeping there: not a large
        value that the store hands back memory-mapped, which the LRU would
        pin in memory long after the run has dropped it."""
        threshold = self.store.mmap_min_bytes
        if threshold is None or not self.store.writable or value_bytes(value) < threshold:
            self.memory.put(task_id, value)

    def in_flight(self, task_id):
        """The future computing ``task_id`` in this engine, or None."""
        with self._lock:
            return self._inflight.get(task_id)

    def start(self, task_id, fn, *args):
        """Submit ``fn(*args)`` as the one computation of ``task_id``, unless
        one is in flight: ``(future, True)`` if submitted now, else
        ``(the running future, False)``."""
        with self._lock:
            fut = self._inflight.get(task_id)
            if fut is not None:
                return fut, False
            fut = self.executor.submit(fn, *args)
            self._inflight[task_id] = fut
        fut.add_done_callback(lambda f: self._forget(task_id, f))
        return fut, True

    def _forget(self, task_id, fut):
        with self._lock:
            if self._inflight.get(task_id) is fut:
                del self._inflight[task_id]
                self._flush_if_idle()

    def share(self, task_id, delta: int) -> None:
        """Count runs waiting on another run's future of ``task_id``."""
        with self._lock:
            left = self._sharers.get(task_id, 0) + delta
            if left > 0:
                self._sharers[task_id] = left
            else:
                self._sharers.pop(task_id, None)

    def cancel(self, futures: dict) -> None:
        """Cancel these futures (task id -> future) unless another run waits on them."""
        with self._lock:
            for tid, fut in futures.items():
                if not self._sharers.get(tid):
                    fut.cancel()

    def make_room(self, need: int) -> bool:
        """Is there room for ``need`` more bytes? The LRU gives way first."""
        room = self.memory_bytes - self.account.used
        if need <= room - self.memory.bytes:
            return True
        if need > room:
            return False
        self.memory.trim(room - need)
        return True

    def load(self, task_id):
        """A value from memory or the store (``MISSING`` if neither has it)."""
        value = self.memory.get(task_id)
        if value is not MISSING:
            return value
        value = self.store.get(task_id)
        if value is not MISSING:
            self.keep(task_id, value)
        return value


class _RunSources(Sources):
    """What a run may reuse: the engine's LRU, in-flight table and the run's store."""

    def __init__(self, engine, store, memory):
        self.engine, self.store, self.memory = engine, store, memory

    def recent(self, task_id):
        return self.memory.get(task_id) if self.memory is not None else MISSING

    def in_flight(self, task_id) -> bool:
        return self.engine.in_flight(task_id) is not None

    def stored(self, task_id) -> bool:
        return self.store.likely_contains(task_id)


class Run(Publishing):
    """Drives one run: starts what the :class:`~.state.RunState` says is
    ready, feeds results back, runs effects, publishes events. Besides the
    state it tracks what is in motion: ``futures`` (this run's own),
    ``running`` (submitted, not finished), ``reserved`` (bytes set aside
    for running tasks), ``shared`` (other runs' futures awaited),
    ``committing`` (values delivered early whose commit is still under
    way), ``mine`` (computed by this run: if needed again they are not
    "waited" for), ``outstanding`` (messages still to come)."""

    def __init__(self, engine: Engine, effects, table, observers, opts: Options):
        self.engine = engine
        self.effects = effects
        self.table = table
        self.observers = observers
        self.opts = opts
        self.store = NullStore() if opts.no_cache else engine.store
        memory = None if opts.no_cache else engine.memory
        self.holdings = Holdings(engine.account)
        self.s = RunState(opts, _RunSources(engine, self.store, memory), self.holdings)
        self.scalars = in_place.Scalars(self.s.values)
        self.s.in_place = self.scalar_in_place
        self.futures: dict = {}
        self.running: set = set()
        self.reserved: dict = {}
        self.shared: set = set()
        self.committing: set = set()
        self.mine: set = set()
        self.outstanding = 0
        self.completions: queue.SimpleQueue = queue.SimpleQueue()
        self.next_effect = 0
        self.effect_busy = False
        self.unchanged: set = set()  # save effects whose file already holds the value
        self.waited_for: set = set()  # goals another run computed while this one waited
        self.warned: set = set()
        self.current = None  # the cheap task running in this thread
        self.stats = {"computed": 0, "cached": 0, "waited": 0, "failed": 0}
        self.reported = (0, 0)  # planned counts already sent in plan events
        self.out = Outcome()

    # -- events (emit, warn, report_plan: see Publishing) ------------------------
    @property
    def planned(self):
        return self.s.planned

    def report_inline(self, message):
        """The report sink of cheap tasks, which run in the loop's thread."""
        t = self.current
        self.warn(t, t.pos if t is not None else None, [message])

    # -- the loop ----------------------------------------------------------------
    def execute(self) -> Outcome:
        t0 = time.perf_counter()
        if self.observers:  # else it stays for a run that can show it
            self.out.dangling = self.engine.take_dangling()
            if self.out.dangling:
                self.emit("dangling", cleared=self.out.dangling)
        same_run = self.wait_for_same_run()
        try:
            self.execute_planned()
        finally:
            if same_run is not None:
                same_run.release()
        self.stats["cached"] += self.s.from_memory
        self.out.stats = dict(self.stats)
        self.out.seconds = time.perf_counter() - t0
        self.out.peak_bytes = self.holdings.peak
        self.emit("finish", stats=self.out.stats, seconds=self.out.seconds, peak_bytes=self.out.peak_bytes)
        return self.out

    def wait_for_same_run(self):
        """If another process runs these very goals now, wait for its run to
        end first (a run in this process shares its futures instead): its
        goals are then loaded from the store, and nothing it computed is
        computed again here (nor are the libraries that computing needs
        imported). Returns the run's claim, held until this run ends, or
        None. After ``timeout`` seconds the run goes on without it (task by
        task, claims still share the work, and their waits time out with a
        message)."""
        claims = getattr(self.store, "claims", None)
        if claims is None or self.opts.force:
            return None
        goals = {e.task.id: e.task for e in self.effects if reuse(e.task, True, self.opts).store}
        missing = [t for tid, t in goals.items() if not self.store.contains(tid)]
        if not missing:
            return None  # nothing to compute: nothing to share
        key = task_id({"run": sorted(goals)})
        claim = claims.try_acquire(key, RUN_OP)
        if claim is not None:
            return claim
        if claims.here(key):  # a run in this process: its futures are shared, task by task
            return None
        for t in missing:
            self.emit("wait", t)
        self.waited_for = {t.id for t in missing}
        self.opts.failed_since = time.time()
        try:
            return claims.acquire(key, RUN_OP, timeout=self.opts.timeout, cancel=self.opts.cancel)
        except WaitCancelled:
            raise KeyboardInterrupt from None
        except WaitTimeout:
            return None

    def execute_planned(self):
        """Plan from the goals, then run the loop until every effect is done."""
        try:
            self.unchanged = self.unchanged_saves()
            live = [e for i, e in enumerate(self.effects) if i not in self.unchanged]
            self.s.add_effects(live)
            with gc_paused():  # planning builds structures that all stay alive
                self.store.new_plan()
                self.s.plan([e.task for e in live])
            self.report_plan(first=True)
            unwatch = on_set(self.opts.cancel, lambda: self.completions.put(WAKE))
            try:
                with reporting(self.report_inline):
                    self.loop()
            except BaseException:
                self.cancel()
                raise
            finally:
                unwatch()
        finally:  # what the run held and reserved is no longer its own
            self.holdings.clear()
            self.engine.account.add(-sum(self.reserved.values()))
            self.reserved.clear()

    def loop(self):
        while True:
            self.check_cancel()
            self.dispatch()
            self.advance_effects()
            if self.next_effect >= len(self.effects) and not self.effect_busy:
                while self.committing:  # values already used, still being committed
                    self.check_cancel()
                    self.handle(self.completions.get())
                return
            if self.s.inline:
                continue
            if self.outstanding == 0:
                raise RuntimeError("scheduler stalled: nothing running and nothing ready")
            self.handle(self.completions.get())

    def check_cancel(self):
        if self.opts.cancel.is_set():
            raise KeyboardInterrupt

    def dispatch(self):
        """Start what is ready: every inline task, then executor tasks in
        rank order while a worker is free and their memory fits (or nothing
        of this run is running: a task larger than the budget runs alone)."""
        slots = self.engine.slots
        while True:
            while self.s.inline:
                self.start(self.s.inline.popleft())
            if len(self.running) >= slots:
                return
            t = self.s.peek_ready(self.running)
            if t is None:
                return
            need = self.s.estimate(t)
            if self.running and not self.engine.make_room(need):
                return
            self.s.pop_ready()
            self.start(t)
            if t.id in self.running and need:
                self.reserved[t.id] = need
                self.engine.account.add(need)

    def cancel(self):
        """Stop: cancel queued work no other run shares. Workers already
        running finish, commit and release their own claims."""
        self.opts.cancel.set()
        for tid in list(self.shared):
            self.unshare(tid)
        self.engine.cancel(self.futures)

    # -- starting tasks -----------------------------------------------------------
    def start(self, t):
        s = self.s.state[t.id]
        if s in (DONE, FAILED):
            return
        if s == READY_LOAD:
            if t.type in SMALL:  # a record read: cheaper here than a thread round trip
                self.loaded(t, self.engine.load(t.id))
            else:
                self.submit(t, self.engine.load, t.id)
        elif s == INFLIGHT:
            self.start_shared(t)
        elif t.kind == "for":
            self.start_for(t)
        elif t.cost == "cheap":
            self.start_cheap(t, [self.s.values[a.id] for a in t.args])
        else:
            self.start_pool(t, [self.s.values[a.id] for a in t.args])

    def start_shared(self, t):
        fut = self.engine.in_flight(t.id)
        if fut is None:  # finished meanwhile: it is in the LRU or the store
            self.s.state[t.id] = READY_LOAD
            self.s.push(t)
        else:
            self.share(t, fut)

    def start_cheap(self, t, args):
        self.current = t  # what the loop's report sink locates messages at
        try:
            fn = t.fn or t.prim.dispatch(args)
            value = fn(*args)
        except Exception as exc:
            self.fail(t, Failure(t, message_of(exc), traceback_of(exc)))
            return
        self.stats["computed"] += 1
        if t.id in self.s.goals:
            self.commit_cheap_goal(t, value)
        self.complete(t, value)

    def scalar_in_place(self, t, goal):
        """A cheap scalar task's value computed during planning (see
        :class:`~.in_place.Scalars`), committed if it is a goal worth it; or MISSING."""
        before = self.scalars.computed
        value = self.scalars.value(t)
        if value is MISSING:
            return value
        self.stats["computed"] += self.scalars.computed - before
        if goal:
            self.commit_cheap_goal(t, value)
        return value

    def commit_cheap_goal(self, t, value):
        """A goal computed in the loop's thread is committed as a pool task's would be."""
        if reuse(t, True, self.opts).commit:
            self.store.put(t.id, value, {"op": t.op, "version": t.version, "seconds": 0.0})
            self.engine.memory.put(t.id, value)

    def start_pool(self, t, args):
        """Light or heavy: one in-flight future per task id in the engine."""
        decision = reuse(t, t.id in self.s.goals, self.opts)
        fut, mine = self.engine.start(t.id, compute, self.engine, self.store, t, args, decision,
                                      self.opts, self.completions.put)
        if not mine:
            self.share(t, fut)
            return
        self.futures[t.id] = fut
        self.running.add(t.id)
        self.outstanding += 1
        self.emit("start", t)
        fut.add_done_callback(lambda f, t=t: self.completions.put(Finished("computed", t, f)))

    def start_for(self, t):
        if t.id in self.s.gathers:  # every element's body is done
            self.complete(t, [self.s.values[r.id] for r in self.s.gathers[t.id]])
            return
        inline = in_place.evaluate(t, self.s.values)
        if inline is not None:
            value, applications = inline
            self.stats["computed"] += applications
            self.complete(t, value)
            return
        with gc_paused():  # a loop's expansion builds graph like planning does
            roots = [self.table.instantiate(t.body, t.level, e) for e in loop_elements(self.table, t, self.s.values)]
            self.s.expand(t, roots)
        self.report_plan()

    def submit(self, t, fn, *args):
        fut = self.engine.executor.submit(fn, *args)
        self.futures[t.id] = fut
        self.running.add(t.id)
        self.outstanding += 1
        fut.add_done_callback(lambda f, t=t: self.completions.put(Finished("load", t, f)))

    def share(self, t, fut):
        """Wait for another run's in-flight future of ``t``."""
        self.engine.share(t.id, +1)
        self.shared.add(t.id)
        self.outstanding += 1
        fut.add_done_callback(lambda f, t=t: self.completions.put(Finished("shared", t, f)))

    def unshare(self, tid):
        self.shared.discard(tid)
        self.engine.share(tid, -1)

    def again(self, t):
        """Obtain ``t`` afresh (from the store, or by computing it here)."""
        self.s.again(t)
        self.report_plan()

    # -- results ------------------------------------------------------------------
    def handle(self, msg):
        if isinstance(msg, Note):
            self.noted(msg)
            return
        self.outstanding -= 1
        if isinstance(msg, SaveFinished):
            self.finish_save(msg.index, msg.future)
            return
        t = msg.task
        self.running.discard(t.id)
        self.unreserve(t.id)
        if t.id in self.committing:  # the commit finished; the value was used already
            self.committing.discard(t.id)
            self.futures.pop(t.id, None)
            return
        if msg.how == "shared":
            self.unshare(t.id)
        try:
            result = msg.future.result()
        except BaseException as exc:
            self.lost(t, msg.future, exc)
            return
        if msg.how == "load":
            self.loaded(t, result)
        else:
            self.arrived(t, msg.how, *result)

    def noted(self, note):
        t = note.task
        if note.kind == "wait":  # a worker is blocked on another process's claim
            self.emit("wait", t)
        elif note.kind == "warn":
            self.warn(t, t.pos, note.data)
        elif note.kind == "value" and self.s.state.get(t.id) != DONE:
            self.committing.add(t.id)  # computed; the worker commits it meanwhile
            self.mine.add(t.id)
            self.stats["computed"] += 1
            self.emit("done", t)
            self.complete(t, note.data)

    def lost(self, t, fut, exc):
        """A future failed, or was cancelled."""
        if fut.cancelled() or isinstance(exc, (KeyboardInterrupt, WaitCancelled)):
            if self.opts.cancel.is_set():
                raise KeyboardInterrupt from None
            self.again(t)  # another run was interrupted: do it ourselves
            return
        self.fail(t, Failure(t, message_of(exc), traceback_of(exc)))

    def loaded(self, t, value):
        if value is MISSING:  # vanished or corrupt: compute it after all
            self.again(t)
            return
        if t.id in self.waited_for:  # stored by the same run elsewhere, while this one waited
            self.stats["waited"] += 1
            self.emit("load", t, waited=True)
        else:
            self.stats["cached"] += 1
            self.emit("load", t)
        self.complete(t, value)

    def arrived(self, t, how, value, done):
        if how == "shared":
            # another run's work, or this run's own value, dropped and needed
            # again while its commit is still under way: from memory, then
            done = "loaded" if t.id in self.mine else "waited"
        elif done == "computed":
            self.mine.add(t.id)
        if done == "computed":
            self.stats["computed"] += 1
            self.emit("done", t)
        elif done == "loaded":
            self.stats["cached"] += 1
            self.emit("load", t)
        else:
            self.stats["waited"] += 1
            self.emit("load", t, waited=True)
        self.complete(t, value)

    def complete(self, t, value):
        if self.reserved:
            self.unreserve(t.id)
        if self.futures:
            self.futures.pop(t.id, None)
        self.s.complete(t, value)

    def unreserve(self, tid):
        need = self.reserved.pop(tid, 0)
        if need:
            self.engine.account.add(-need)

    def fail(self, t, failure):
        for task, f in self.s.fail(t, failure):
            self.stats["failed"] += 1
            self.out.failures.append(f)
            self.emit("fail", task, failure=f)
        self.futures.pop(t.id, None)
        self.unreserve(t.id)

    # -- effects ---------------------------------------------------------------
    def advance_effects(self):
        while not self.effect_busy and self.next_effect < len(self.effects):
            e = self.effects[self.next_effect]
            s = self.s.state.get(e.task.id)
            if self.next_effect in self.unchanged:
                self.out.saved.append(e.target)
                self.emit("save", e.task, path=e.target, unchanged=True)
            elif s == FAILED:
                f = self.s.failures[e.task.id]
                self.out.effect_failures.append((e, f.root or f))
                if e.kind == "save":
                    self.s.saved(e.task.id)
            elif s != DONE:
                return
            elif e.kind == "save":
                self.start_save(self.next_effect, e)
                return
            else:
                self.show(self.next_effect, e)
            self.next_effect += 1

    def unchanged_saves(self) -> set:
        """The save effects whose file an earlier run wrote with this very
        value and nobody changed since: nothing to load, nothing to write."""
        return {i for i, e in enumerate(self.effects)
                if e.kind == "save" and reuse(e.task, True, self.opts).store
                and fingerprints.saved_task(os.path.abspath(e.target)) == e.task.id}

    def show(self, i, e):
        value = self.s.values[e.task.id]
        self.out.values[i] = value
        if e.kind == "print":
            self.out.printed.append((e.target, value))
            self.emit("print", e.task, label=e.target, value=value)

    def start_save(self, i, e):
        value = self.s.values[e.task.id]
        save = e.writer or REGISTRY["save"]
        self.effect_busy = True
        fut = self.engine.executor.submit(calling, save.dispatch([e.target, value]), e.target, value)
        self.outstanding += 1
        fut.add_done_callback(lambda f: self.completions.put(SaveFinished(i, f)))

    def finish_save(self, i, fut):
        e = self.effects[i]
        self.effect_busy = False
        self.next_effect += 1
        self.s.saved(e.task.id)
        try:
            _value, said = fut.result()
        except KeyboardInterrupt:
            raise
        except BaseException as exc:
            self.save_failed(e, message_of(exc), traceback_of(exc))
            return
        if said:
            self.warn(e.task, e.pos, said)
        if reuse(e.task, True, self.opts).commit:
            fingerprints.remember_saved(os.path.abspath(e.target), e.task.id)
        self.out.saved.append(e.target)
        self.emit("save", e.task, path=e.target)
