"""The dask.distributed backend: a program's tasks run on a dask cluster.

:class:`DaskEngine` has the engine's ``run`` and ``evaluate`` and returns the
same :class:`~.scheduler.Outcome`; everything else (store, memory, claims)
is the local engine's. Each run plans from the goals in the calling thread,
stopping at values the store holds, as the local engine does, then:

* submits every light and heavy task under the key ``"<op>-<task id>"``, so
  identical submissions from several clients share one task in the
  scheduler (the operator names the task group: with one group per task
  the scheduler slows down several times). A task is submitted as soon as
  its arguments are (the tasks that became ready together in one graph),
  with their futures: values stay on the workers; only goal values (what
  ``print``, ``save`` and ``evaluate`` need) and the sequence of a ``for``
  computed on the cluster come back. A task the store holds is submitted as
  a load, ``"<op>-stored-<task id>"``, without its inputs; a stored goal is
  read here directly;
* runs cheap tasks whose arguments are all known here inline; the others go
  to the cluster like any task;
* on a worker, a stored task (heavy, or a goal) is looked up in the store,
  claimed, computed and committed with the store's protocol, so local runs
  and the cluster reuse each other's results, and a second cluster or a
  kernel on the same store waits instead of recomputing;
* workers report start, wait and end (how the value was obtained, what the
  primitive reported) as events on one topic, which reach this process
  before the task's completion does; this thread turns them into the
  engine's progress events;
* a failure fails its dependents as "upstream failed"; other goals go on;
* each run has a client of its own: closing it (at the end, or on an
  interrupt) releases only this run's wants, so tasks another client shares
  go on.

Workers must import ``voxlogica_nb``, and see the store folder and the input
files at the same paths as this process. Python primitives are looked up by
name on the workers (a module of primitives must be imported there too),
except those defined in ``__main__`` (a notebook), which are sent along.
"""
from __future__ import annotations

import atexit
import importlib.util
import logging
import queue
import threading
import time
import traceback
from collections import deque
from dataclasses import dataclass

from ..errors import PrimitiveError, RuntimeSetupError
from ..primitives.registry import REGISTRY, reporting
from .claims import CancelEvent, on_set
from .diskstore import DiskStore
from .events import Publishing
from .failures import Failure, message_of
from .policy import Reuse, reuse
from .scheduler import Engine, Options, Outcome
from .state import loop_elements, loop_source
from .memory import SCALARS
from .store import MISSING, NullStore
from .worker import Costs, compute

TOPIC = "voxlogica-tasks"
PLANNED, RUNNING, DONE, FAILED = range(4)


class DaskEngine:
    """Runs on a dask scheduler (``scheduler="tcp://host:8786"``), or on a
    ``LocalCluster`` of ``workers`` processes started on first use and kept
    for the life of the process. Attributes other than ``run`` and
    ``evaluate`` are those of ``local``, the engine of the store."""

    def __init__(self, local: Engine, scheduler: str | None = None, workers: int | None = None):
        if importlib.util.find_spec("distributed") is None:
            raise ImportError("the dask backend needs dask.distributed: pip install 'voxlogica_nb[dask]'")
        self.local = local
        self.scheduler = scheduler or None
        self.workers = workers

    def __getattr__(self, name):
        if name == "local":  # not set yet (a copy being built)
            raise AttributeError(name)
        return getattr(self.local, name)

    def run(self, effects, table, observers=(), **options) -> Outcome:
        """As :meth:`Engine.run`, on the cluster."""
        from distributed import Client

        opts = Options(**options)
        address = self.scheduler or local_cluster(self.workers)
        try:
            client = Client(address, set_as_default=False, timeout=CONNECT_SECONDS)
        except OSError as exc:  # unreachable, refused, timed out
            raise RuntimeSetupError(f"voxlogica: cannot reach the dask scheduler at {address}: {exc}") from None
        with client:
            run = _Run(client, self.local.store, effects, table, list(observers), opts)
            if observers:
                run.out.dangling = self.local.take_dangling()
            return run.execute()

    evaluate = Engine.evaluate  # one "value" effect through run()


_clusters: dict = {}
CONNECT_SECONDS = 10  # to reach a scheduler before saying it cannot be reached
_clusters_lock = threading.Lock()


def local_cluster(workers: int | None = None) -> str:
    """The address of this process's ``LocalCluster`` of ``workers`` worker
    processes (None: dask's default), started on first use."""
    from distributed import LocalCluster

    with _clusters_lock:
        cluster = _clusters.get(workers)
        if cluster is None or cluster.status.name in ("closing", "closed"):
            # its workers' shutdown chatter is no news to someone running a program
            cluster = _clusters[workers] = LocalCluster(n_workers=workers, processes=True,
                                                        dashboard_address=None, silence_logs=logging.ERROR)
        return cluster.scheduler_address


def close_local_clusters() -> None:
    """Stop the local clusters this process started (their worker processes end)."""
    with _clusters_lock:
        clusters = list(_clusters.values())
        _clusters.clear()
    for cluster in clusters:
        cluster.close()


atexit.register(close_local_clusters)


# -- on the workers ---------------------------------------------------------------

@dataclass(frozen=True)
class _Spec:
    """What a worker needs to obtain one task's value."""

    id: str
    key: str
    op: str
    version: str
    overload: int | None  # the statically chosen overload; None: chosen by the values
    cheap: bool
    decision: Reuse  # the reuse policy's decision (commit: claimed and stored)
    store: tuple | None  # (folder, scheme, shared) of the store, if it has one
    timeout: float | None = None
    load: bool = False  # the store holds it: load, never compute
    where: str = ""  # source position, for the failure record
    prim: object = None  # the primitive itself, when workers cannot import it


class TaskError(Exception):
    """A task failed on a worker. Dask gives the same exception to the
    task's dependents, so ``task_id`` tells a run which task is the root."""

    def __init__(self, task_id, message, tb=""):
        super().__init__(task_id, message, tb)
        self.task_id, self.message, self.tb = task_id, message, tb

    def __str__(self):
        return self.message


class StoredValueMissing(TaskError):
    """A value the store held when the run was planned is gone (pruned, or
    found corrupt): the run computes it after all."""


@dataclass
class _WorkerTask:
    """What :func:`~.worker.compute` reads of a task."""

    id: str
    op: str
    version: str
    fn: object
    prim: object
    pos: str


class _Here:
    """The engine and options :func:`~.worker.compute` expects: values stay
    with dask, and only the client can interrupt a run."""

    def __init__(self, timeout):
        self.timeout = timeout
        self.cancel = CancelEvent()
        self.failed_since = None  # (a run waits for the same run elsewhere only with threads)
        self.costs = _costs  # measured across the tasks of this worker process

    def keep(self, task_id, value):
        pass


_stores: dict = {}
_stores_lock = threading.Lock()
_costs = Costs()


def _worker_store(where):
    if where is None:
        return NullStore()
    with _stores_lock:
        store = _stores.get(where)
        if store is None:
            folder, scheme, shared = where
            store = _stores[where] = DiskStore(folder, scheme=scheme, shared=shared)
        return store


def _tell(spec: _Spec, kind: str, **data) -> None:
    from distributed import get_worker

    get_worker().log_event(TOPIC, {"key": spec.key, "kind": kind, **data})


def _primitive(spec: _Spec):
    prim = spec.prim or REGISTRY.lookup(spec.op)
    if prim is None:
        raise PrimitiveError(f"`{spec.op}` is not a primitive on this worker: import the module that "
                             f"registers it on every worker (e.g. `dask worker --preload MODULE`)")
    if prim.version != spec.version:
        raise PrimitiveError(f"`{spec.op}` is version {prim.version} on this worker but {spec.version} "
                             f"where the program was reduced: workers must run the same code")
    return prim


def _work(spec: _Spec, args: tuple):
    """Obtain one task's value on a worker: from the store, by waiting for
    the process that holds its claim, or by computing it (and committing
    it, if the policy says so), as the local engine's workers do."""
    store = _worker_store(spec.store)
    if spec.load:
        value = store.get(spec.id)
        if value is MISSING:
            raise StoredValueMissing(spec.id, f"{spec.op}: the stored value is gone")
        return value
    said: list = []
    how = "computed"

    def notify(note):
        if note.kind == "wait":
            _tell(spec, "wait")
        elif note.kind == "warn":
            said.extend(note.data)

    if not spec.cheap:
        _tell(spec, "start")
    try:
        prim = _primitive(spec)
        fn = prim.overloads[spec.overload].fn if spec.overload is not None else None
        task = _WorkerTask(spec.id, spec.op, spec.version, fn, prim, spec.where)
        here = _Here(spec.timeout)
        value, how = compute(here, store, task, args, spec.decision, here, notify)
        store.flush()  # no batches across dask tasks: a worker may be retired at any time
    except Exception as exc:
        raise TaskError(spec.id, message_of(exc), traceback.format_exc()) from None
    finally:
        if said or not spec.cheap:
            _tell(spec, "end", how=how, said=said)
    return value


def _collect(_spec, values: tuple):
    """A ``for`` loop's value: its elements' values."""
    return list(values)


# -- in the calling process ----------------------------------------------------------

class _Run(Publishing):
    """One run, driven from the calling thread.

    Task states: PLANNED (waiting for ``missing[id]`` arguments), RUNNING
    (submitted: ``futures[id]``), DONE (a value here, a future, or both),
    FAILED. A task is *available* once it has a value here or a future, and
    its dependents are submitted at once: the scheduler sees the graph ahead
    and values do not pass through this process. ``refs`` counts the
    dependents not finished; at zero the future is released and a later
    need (a ``for`` expanded later) plans the task afresh.
    """

    def __init__(self, client, store, effects, table, observers, opts: Options):
        self.client = client
        self.effects = effects
        self.table = table
        self.observers = observers
        self.opts = opts
        disk = isinstance(store, DiskStore) and not opts.no_cache
        self.store = store if disk else NullStore()
        self.where = (str(store.base), store.scheme, store.shared) if disk else None
        self.state: dict = {}
        self.values: dict = {}  # task id -> value known in this process
        self.futures: dict = {}  # task id -> future of its value on the cluster
        self.failures: dict = {}
        self.known: dict = {}  # task id -> task, for every task planned
        self.missing: dict = {}  # task id -> arguments not yet available
        self.dependents: dict = {}
        self.refs: dict = {}  # task id -> dependents not finished (its future is kept meanwhile)
        self.goals: set = set()
        self.wanted: set = set()  # values to bring here: goals, sequences to expand
        self.expanding: dict = {}  # sequence id -> loops waiting for its value
        self.loops: dict = {}  # loop id -> the tasks of its elements
        self.recompute: set = set()  # stored values found missing: compute them
        self.again: set = set()  # tasks submitted again after failing with such a value
        self.how: dict = {}  # key -> how the worker obtained the value
        self.ready: deque = deque()
        self.batch: list = []  # (task, key, spec, arguments) to submit in one graph
        self.queue: queue.Queue = queue.Queue()
        self.pending = 0  # futures whose completion is not handled yet
        self.next_effect = 0
        self.stats = {"computed": 0, "cached": 0, "waited": 0, "failed": 0}
        self.planned = [0, 0]  # tasks to compute, stored
        self.reported = (0, 0)
        self.warned: set = set()
        self.lookups: dict = {}  # (primitive, fn) -> (overload index, primitive to send)
        self.out = Outcome()

    # -- events: emit, warn, report_plan (see Publishing) -------------------------

    # -- planning --------------------------------------------------------------
    def available(self, tid) -> bool:
        return tid in self.values or tid in self.futures

    def classify(self, t) -> bool:
        """Meet ``t``: True if it must be computed (then link it)."""
        tid = t.id
        if tid in self.state:
            return False
        self.known[tid] = t
        goal = tid in self.goals
        if t.kind == "const":
            self.values[tid] = t.value
            self.state[tid] = DONE
            return False
        if t.kind == "param":
            raise RuntimeError("a loop variable escaped its loop body")
        if reuse(t, goal, self.opts).store and tid not in self.recompute and self.store.contains(tid):
            if goal:  # its value comes here anyway: read it here
                value = self.store.get(tid)
                if value is not MISSING:
                    self.planned[1] += 1
                    self.stats["cached"] += 1
                    self.values[tid] = value
                    self.state[tid] = DONE
                    self.emit("load", t)
                    return False
            else:
                self.planned[1] += 1
                key = f"{t.op}-stored-{tid}"
                self.submit(t, key, (), self.spec(t, key, load=True))
                return False
        self.state[tid] = PLANNED
        if t.kind == "apply" and t.cost != "cheap":
            self.planned[0] += 1
        return True

    def plan(self, t):
        if not self.classify(t):
            return
        stack = [t]
        while stack:
            self.link(stack.pop(), stack)

    def args(self, t):
        """What ``t`` waits for: its arguments; a loop its source sequence,
        once expanded its elements."""
        if t.kind != "for":
            return t.args
        return self.loops[t.id] if t.id in self.loops else (loop_source(t),)

    def link(self, t, stack):
        """Count what ``t`` waits for, planning the arguments met first."""
        n, upstream = 0, None
        for a in dict.fromkeys(self.args(t)):
            if self.classify(a):
                stack.append(a)
            self.dependents.setdefault(a.id, set()).add(t)
            self.refs[a.id] = self.refs.get(a.id, 0) + 1
            if self.state[a.id] == FAILED:
                upstream = self.failures[a.id]
            elif not self.available(a.id):
                n += 1
        self.missing[t.id] = n
        if upstream is not None:
            self.fail(t, None, root=upstream.root or upstream)
        elif n == 0:
            self.ready.append(t)

    # -- running ---------------------------------------------------------------
    def start(self, t):
        """All of ``t``'s arguments are available: run it here, or submit it."""
        tid = t.id
        if self.state.get(tid) != PLANNED or self.missing.get(tid):
            return
        if t.kind == "for":
            if tid in self.loops:
                self.gather_loop(t)
            else:
                self.start_loop(t)
        elif t.cost == "cheap" and all(a.id in self.values for a in t.args):
            self.inline(t)
        else:
            key = self.key(t)
            self.submit(t, key, t.args, self.spec(t, key))

    def key(self, t) -> str:
        # a key that failed stays failed while any client wants it: submit again under another
        return f"{t.op}-again-{t.id}" if t.id in self.again else f"{t.op}-{t.id}"

    def spec(self, t, key, load=False) -> _Spec:
        found = self.lookups.get((t.prim, t.fn))
        if found is None:
            index = next((i for i, o in enumerate(t.prim.overloads) if o.fn is t.fn), None)
            from_main = any(o.fn.__module__ == "__main__" for o in t.prim.overloads)
            found = self.lookups[(t.prim, t.fn)] = (index, t.prim if from_main else None)
        return _Spec(t.id, key, t.op, t.version, found[0], t.cost == "cheap",
                     reuse(t, t.id in self.goals, self.opts), self.where, timeout=self.opts.timeout,
                     load=load, where=str(t.pos or ""), prim=found[1])

    def submit(self, t, key, args, spec=None):
        """Queue ``t`` for the cluster under ``key`` (its loop's value if
        ``spec`` is None); :meth:`flush` submits what is queued."""
        self.state[t.id] = RUNNING
        self.batch.append((t, key, spec, args))

    def flush(self):
        """Submit the queued tasks: one graph per function (a graph per task
        would cost a message, and a scheduler update, each)."""
        batch = [b for b in self.batch if self.state.get(b[0].id) == RUNNING]
        self.batch = []
        for fn in (_work, _collect):
            part = [b for b in batch if (b[2] is None) == (fn is _collect)]
            if not part:
                continue
            futures = self.client.map(fn, [spec for _t, _k, spec, _a in part],
                                      [tuple(self.param(a) for a in args) for *_, args in part],
                                      key=[key for _t, key, _s, _a in part], pure=False)
            for (t, *_), fut in zip(part, futures):
                self.futures[t.id] = fut
                self.pending += 1
                fut.add_done_callback(lambda f, t=t: self.queue.put(("done", t, f)))
        for t, *_ in batch:
            self.arrived(t)

    def param(self, a):
        """What a task submitted with argument ``a`` receives: its future, or its value."""
        fut = self.futures.get(a.id)
        if fut is None:
            value = self.values[a.id]
            if type(value) in SCALARS:
                return value
            # sent once, not inside every task that reads it
            fut = self.futures[a.id] = self.client.scatter([value], hash=False)[0]
        return fut

    def inline(self, t):
        args = [self.values[a.id] for a in t.args]
        said: list = []
        try:
            fn = t.fn or t.prim.dispatch(args)
            with reporting(said.append):
                value = fn(*args)
        except Exception as exc:
            self.warn(t, t.pos, said)
            self.fail(t, Failure(t, message_of(exc), traceback.format_exc()))
            return
        self.warn(t, t.pos, said)
        self.stats["computed"] += 1
        if t.id in self.goals and t.prim.pure and not t.volatile:
            self.store.put(t.id, value, {"op": t.op, "version": t.version, "seconds": 0.0})
        self.values[t.id] = value
        self.state[t.id] = DONE
        self.arrived(t)
        self.finished(t)

    def arrived(self, t):
        """``t``'s value (or its future) is available: wake what waits for it."""
        for d in self.dependents.get(t.id, ()):
            if self.state.get(d.id) == PLANNED:
                self.missing[d.id] -= 1
                if self.missing[d.id] == 0:
                    self.ready.append(d)

    def finished(self, t):
        """``t`` is done (or failed): it no longer needs its arguments."""
        if t.id in self.missing:  # it was linked to them (a load was not)
            for a in dict.fromkeys(self.args(t)):
                self.unref(a.id)

    def unref(self, tid):
        self.refs[tid] = self.refs.get(tid, 0) - 1
        if self.refs[tid] <= 0 and tid not in self.goals:
            self.forget(tid)

    def forget(self, tid):
        """Nothing here needs ``tid`` any more: release its future (the
        cluster drops the value unless another client wants it)."""
        fut = self.futures.pop(tid, None)
        if fut is not None:
            fut.release()
        self.values.pop(tid, None)
        self.refs.pop(tid, None)
        if self.state.get(tid) != FAILED:
            self.state.pop(tid, None)

    # -- loops -----------------------------------------------------------------
    def start_loop(self, t):
        seq = loop_source(t)
        if seq.id in self.values:
            self.expand(t, self.values[seq.id])
            return
        self.wanted.add(seq.id)
        self.expanding.setdefault(seq.id, []).append(t)
        if self.state[seq.id] == DONE:  # finished before anyone wanted its value
            self.fetch(seq)

    def expand(self, t, seq):
        """``t``'s source sequence is ``seq``: wait for its elements instead."""
        seq_task = loop_source(t)
        self.loops[t.id] = [self.table.instantiate(t.body, t.level, e)
                            for e in loop_elements(self.table, t, {seq_task.id: seq})]
        if seq_task.id in self.futures and seq_task.id not in self.goals and any(
                type(v) not in SCALARS for v in seq):
            self.values.pop(seq_task.id, None)  # its elements are taken from it on the cluster
        # the sequence obtained again later must not count towards the elements
        self.dependents.get(seq_task.id, set()).discard(t)
        stack = [t]
        while stack:
            self.link(stack.pop(), stack)
        self.unref(seq_task.id)
        self.report_plan()

    def gather_loop(self, t):
        roots = self.loops[t.id]
        if all(r.id in self.values for r in roots):
            self.values[t.id] = [self.values[r.id] for r in roots]
            self.state[t.id] = DONE
            self.arrived(t)
            self.finished(t)
        else:
            self.submit(t, self.key(t), roots)

    # -- completions -----------------------------------------------------------
    def fetch(self, t):
        """Bring the value of a finished task here."""
        value = self.values[t.id] = self.futures[t.id].result()
        for loop in self.expanding.pop(t.id, ()):
            if self.state.get(loop.id) == PLANNED:
                self.expand(loop, value)

    def handle(self, item):
        kind, t, payload = item
        if kind == "cancel":
            return
        if kind == "event":
            self.event(payload)
            return
        self.pending -= 1
        fut = payload
        if self.futures.get(t.id) is not fut or self.state.get(t.id) != RUNNING:
            return  # released, replaced or failed meanwhile
        if fut.status != "finished":
            self.failed(t, fut)
            return
        how = self.how.pop(fut.key, None)
        if fut.key.startswith(f"{t.op}-stored-"):
            how = "loaded"
        if t.kind == "for":
            pass
        elif how == "computed" or (how is None and t.cost == "cheap"):
            self.stats["computed"] += 1
            if t.cost != "cheap":
                self.emit("done", t)
        elif how == "loaded":
            self.stats["cached"] += 1
            self.emit("load", t)
        else:  # another client's work, or another process's
            self.stats["waited"] += 1
            self.emit("load", t, waited=True)
        self.state[t.id] = DONE
        if t.id in self.wanted:
            self.fetch(t)
        self.finished(t)
        if t.id in self.values and self.refs.get(t.id, 0) <= 0 and t.id in self.futures:
            self.futures.pop(t.id).release()  # a goal brought here: the cluster may drop it

    def event(self, msg):
        key = msg.get("key")
        tid = key.rsplit("-", 1)[-1] if isinstance(key, str) else None
        t = self.known.get(tid)
        fut = self.futures.get(tid)
        if t is None or fut is None or fut.key != key or self.state.get(tid) != RUNNING:
            return  # another run's task, or one this run is done with
        kind = msg.get("kind")
        if kind in ("start", "wait"):
            self.emit(kind, t)
        elif kind == "end":
            self.how[key] = msg.get("how")
            self.warn(t, t.pos, msg.get("said") or ())

    def failed(self, t, fut):
        exc = fut.exception() if fut.status == "error" else None
        root = self.known.get(getattr(exc, "task_id", None))
        if root is None:  # a worker died while running it, or it was cancelled
            root = self.known.get(str(getattr(exc, "task", "")).rsplit("-", 1)[-1], t)
        if isinstance(exc, StoredValueMissing) and root.id not in self.recompute:
            self.retry(root)
            return
        if self.state.get(root.id) != FAILED:
            if isinstance(exc, TaskError):
                message, tb = exc.message, exc.tb
            elif exc is None:
                message, tb = "cancelled on the cluster", ""
            else:
                message, tb = message_of(exc), "".join(traceback.format_exception(exc))
            self.fail(root, Failure(root, message, tb))
        if root is not t:
            self.fail(t, None, root=self.failures[root.id].root or self.failures[root.id])

    def fail(self, t, failure, root=None):
        """Fail ``t`` and every task that depends on it."""
        stack = [(t, failure or Failure(t, "upstream failed", root=root))]
        while stack:
            task, f = stack.pop()
            if self.state.get(task.id) == FAILED:
                continue
            self.state[task.id] = FAILED
            self.failures[task.id] = f
            fut = self.futures.pop(task.id, None)
            if fut is not None:
                fut.release()
            self.finished(task)
            if f.root is None:
                self.stats["failed"] += 1
                self.out.failures.append(f)
                self.emit("fail", task, failure=f)
            r = f.root or f
            for d in self.dependents.get(task.id, ()):
                if self.state.get(d.id) in (PLANNED, RUNNING):
                    stack.append((d, Failure(d, "upstream failed", root=r)))

    def retry(self, root):
        """``root``'s stored value is gone: compute it, and submit again what
        was submitted on its load (dask failed those with it)."""
        self.recompute.add(root.id)
        stale, stack = {}, [root]
        while stack:
            u = stack.pop()
            if u.id not in stale and self.state.get(u.id) == RUNNING:
                stale[u.id] = u
                stack.extend(self.dependents.get(u.id, ()))
        for u in stale.values():
            self.futures.pop(u.id).release()
            self.state[u.id] = PLANNED
            self.again.add(u.id)
        self.again.discard(root.id)  # its load's key failed, not its own
        del self.state[root.id]
        waiting = {d.id: d for u in stale.values() for d in self.dependents.get(u.id, ())
                   if self.state.get(d.id) == PLANNED}
        waiting.pop(root.id, None)
        for u in waiting.values():
            self.missing[u.id] = sum(1 for a in dict.fromkeys(self.args(u)) if not self.available(a.id))
        self.plan(root)
        self.report_plan()

    # -- effects ---------------------------------------------------------------
    def advance_effects(self):
        while self.next_effect < len(self.effects):
            i = self.next_effect
            e = self.effects[i]
            tid = e.task.id
            if tid in self.failures:
                f = self.failures[tid]
                self.out.effect_failures.append((e, f.root or f))
            elif self.state.get(tid) == DONE and tid in self.values:
                value = self.values[tid]
                if e.kind == "save":
                    self.save(e, value)
                else:
                    self.out.values[i] = value
                    if e.kind == "print":
                        self.out.printed.append((e.target, value))
                        self.emit("print", e.task, label=e.target, value=value)
            else:
                return
            self.next_effect += 1

    def save(self, e, value):
        said: list = []
        try:
            with reporting(said.append):
                (e.writer or REGISTRY["save"]).dispatch([e.target, value])(e.target, value)
        except Exception as exc:
            self.save_failed(e, message_of(exc), traceback.format_exc())
            return
        finally:
            self.warn(e.task, e.pos, said)
        self.out.saved.append(e.target)
        self.emit("save", e.task, path=e.target)

    # -- the run ---------------------------------------------------------------
    def execute(self) -> Outcome:
        t0 = time.perf_counter()
        if self.out.dangling:
            self.emit("dangling", cleared=self.out.dangling)
        self.client.subscribe_topic(TOPIC, lambda ev: self.queue.put(("event", None, ev[1])))
        unwatch = on_set(self.opts.cancel, lambda: self.queue.put(("cancel", None, None)))
        try:
            self.goals = {e.task.id for e in self.effects}
            self.wanted |= self.goals
            for e in self.effects:
                self.plan(e.task)
            self.report_plan(first=True)
            self.loop()
        finally:
            unwatch()
        self.out.stats = dict(self.stats)
        self.out.seconds = time.perf_counter() - t0
        self.emit("finish", stats=self.out.stats, seconds=self.out.seconds, peak_bytes=0)
        return self.out

    def loop(self):
        while True:
            if self.opts.cancel.is_set():
                raise KeyboardInterrupt
            while self.ready or self.batch:
                while self.ready:
                    self.start(self.ready.popleft())
                self.flush()
            self.advance_effects()
            if self.next_effect >= len(self.effects):
                return
            if self.pending == 0:
                raise RuntimeError("scheduler stalled: nothing running and nothing ready")
            self.handle(self.queue.get())
