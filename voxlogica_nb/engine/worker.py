"""The worker side: what an executor thread does for one task, and the
messages it sends to the run's loop.

A task whose value is to be committed (see :mod:`.policy`) is claimed in
the store first, so that across processes one computes and the others
wait; once computed, the value is handed to the loop (a ``value`` note)
before it is committed, so dependents start while the file is written,
and the claim is released after the commit.

What a task of the package's own operators costs is measured as it runs
(:class:`Costs`): one whose recent tasks were quicker than a claim is
computed without one (two processes may both compute it; still committed,
in a batch), and one that makes its values faster than the store could
write them is, like a light task, neither claimed nor stored unless it is
a goal.
"""
from __future__ import annotations

import time

from ..plain import Record
from ..primitives.registry import reporting
from .failures import Failure, Waited, message_of, traceback_of
from .memory import SCALARS, value_bytes
from .store import MISSING


class Note(Record):
    """A worker tells the loop something while its task goes on:
    ``wait`` (blocked on another process's claim), ``warn`` (``data``: what
    the primitive reported), ``value`` (``data``: the value, being committed)."""

    FIELDS = ("kind", "task", "data")

    def __init__(self, kind: str, task, data=None):
        self.kind, self.task, self.data = kind, task, data


class Finished(Record):
    """A future of the run finished. ``how``: ``computed`` (a task this run
    submitted), ``load`` (a value read from the store), ``shared`` (another
    run's future this run waited on)."""

    FIELDS = ("how", "task", "future")

    def __init__(self, how: str, task, future):
        self.how, self.task, self.future = how, task, future


class SaveFinished(Record):
    """The ``save`` effect number ``index`` was written (or failed)."""

    FIELDS = ("index", "future")

    def __init__(self, index: int, future):
        self.index, self.future = index, future


WAKE = Note("wake", None)  # the cancel event was set: the loop looks at it

CLAIM_WORTH_SECONDS = 0.002  # a claim costs 0.1-0.3 ms, and waiting on one more
STORE_BYTES_PER_SECOND = 300e6  # writing a value to the store and reading it back, about
LARGE_BYTES = 1 << 20  # smaller values are cheap to store whatever they cost to compute
QUICK_RUNS = 3  # consecutive tasks of an operator that set its class


class Costs:
    """What an engine has measured of the package's own operators (user
    primitives keep the class they declare). An operator whose last
    ``QUICK_RUNS`` tasks each

    * took under ``CLAIM_WORTH_SECONDS`` goes unclaimed;
    * made a value of ``LARGE_BYTES`` or more faster than the store writes
      that many bytes (``STORE_BYTES_PER_SECOND``) goes unclaimed and
      unstored, unless it is a goal.

    One task that breaks the pattern (a larger input) puts it back."""

    def __init__(self):
        self.quick: dict = {}  # op -> consecutive tasks under CLAIM_WORTH_SECONDS
        self.cheap_output: dict = {}  # op -> consecutive tasks quicker than storing their value

    def claim(self, task) -> bool:
        op = task.op
        return self.quick.get(op, 0) < QUICK_RUNS and self.cheap_output.get(op, 0) < QUICK_RUNS

    def store(self, task) -> bool:
        return self.cheap_output.get(task.op, 0) < QUICK_RUNS

    def measured(self, task, seconds: float, value) -> None:
        op = task.op
        if not (self.quick.get(op) or self.cheap_output.get(op)) and not task.prim.packaged:
            return  # (packaged is looked up until the operator has a count: then it is known)
        _count(self.quick, op, seconds < CLAIM_WORTH_SECONDS)
        _count(self.cheap_output, op, quicker_than_storing(seconds, value))


def quicker_than_storing(seconds: float, value) -> bool:
    """Whether a value of ``LARGE_BYTES`` or more took less time to make
    than the store would take to write it."""
    size = value_bytes(value)
    return size >= LARGE_BYTES and seconds * STORE_BYTES_PER_SECOND < size


def _count(counts, op, yes):
    n = counts.get(op, 0)
    if yes:
        if n < QUICK_RUNS:
            counts[op] = n + 1
    elif n:
        counts[op] = 0


def calling(fn, *args):
    """``fn(*args)`` collecting what it reports: ``(value, [messages])``."""
    said: list = []
    with reporting(said.append):
        return fn(*args), said


def compute(engine, store, task, args, decision, opts, notify):
    """Compute (or wait for, or load) one pool task: ``(value, how)`` with
    ``how`` one of ``computed``, ``loaded``, ``waited``."""
    costs = engine.costs
    commit = decision.commit and (decision.goal or costs.store(task))
    claims = store.claims if commit and costs.claim(task) else None
    claim = None
    if claims is not None:
        claim, found = _claim(engine, store, claims, task, decision, opts, notify)
        if found is not None:
            return found
    try:
        return _run(engine, store, task, args, decision, notify, commit, later=claims is None), "computed"
    finally:
        if claim is not None:
            claim.release()


def _claim(engine, store, claims, task, decision, opts, notify):
    """Take the task's claim: ``(claim, None)`` to compute it, or ``(None,
    (value, how))`` when the value turned up meanwhile."""
    claim = claims.try_acquire(task.id, task.op)
    if claim is None:  # another process computes it: wait, then take its value
        notify(Note("wait", task))
        started = time.time()
        claim = claims.acquire(task.id, task.op, timeout=opts.timeout, cancel=opts.cancel)
        found = _stored(engine, store, task.id, "waited")
        rec = store.failure(task.id) if found is None else None
        if found is not None or (rec is not None and rec.get("time", 0) >= started - 1):
            claim.release()
            if found is None:  # it failed there, after we began to wait
                raise Waited(rec.get("message", "failed in another process"))
            return None, found
        return claim, None  # it gave up (or died): take over
    if decision.store and store.contains(task.id):
        found = _stored(engine, store, task.id, "loaded")
        if found is not None:
            claim.release()
            return None, found
    if opts.failed_since is not None:  # the run waited for the same run elsewhere, which failed here
        rec = store.failure(task.id)
        if rec is not None and rec.get("time", 0) >= opts.failed_since - 1:
            claim.release()
            raise Waited(rec.get("message", "failed in another process"))
    return claim, None


def _stored(engine, store, task_id, how):
    value = store.get(task_id)
    if value is MISSING:
        return None
    engine.keep(task_id, value)
    return value, how


def _run(engine, store, task, args, decision, notify, commit, later):
    said: list = []
    t0 = time.perf_counter()
    try:
        fn = task.fn or task.prim.dispatch(args)
        with reporting(said.append):
            value = fn(*args)
    except BaseException as exc:
        if said:
            notify(Note("warn", task, said))
        if commit and not isinstance(exc, (KeyboardInterrupt, SystemExit)):
            store.put_failure(task.id, Failure(task, message_of(exc), traceback_of(exc)).record())
        raise
    seconds = time.perf_counter() - t0
    if said:
        notify(Note("warn", task, said))
    if decision.commit:
        engine.costs.measured(task, seconds, value)
    if commit:
        engine.keep(task.id, value)  # before the commit, so a run needing it again finds it
        if not (later and type(value) in SCALARS):  # a commit that may take a while:
            notify(Note("value", task, value))  # dependents need not wait for it
        store.put(task.id, value, {"op": task.op, "version": task.version, "seconds": seconds}, later)
    return value
