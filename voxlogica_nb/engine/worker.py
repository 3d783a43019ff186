"""The worker side: what an executor thread does for one task, and the
messages it sends to the run's loop.

A task whose value is to be committed (see :mod:`.policy`) is claimed in
the store first, so that across processes one computes and the others
wait; once computed, the value is handed to the loop (a ``value`` note)
before it is committed, so dependents start while the file is written,
and the claim is released after the commit.

A claim costs 0.1–0.3 ms, and waiting on one more: a builtin whose recent
tasks each took less than ``CLAIM_WORTH_SECONDS`` is cheaper to compute
twice, should two processes need it at once, than to claim. Its tasks are
computed without a claim (:class:`Quick`) and still committed, so later
runs find them stored.
"""
from __future__ import annotations

import time
import traceback
from dataclasses import dataclass

from ..primitives.registry import reporting
from .failures import Failure, Waited, message_of
from .store import MISSING


@dataclass
class Note:
    """A worker tells the loop something while its task goes on:
    ``wait`` (blocked on another process's claim), ``warn`` (``data``: what
    the primitive reported), ``value`` (``data``: the value, being committed)."""

    kind: str
    task: object
    data: object = None


@dataclass
class Finished:
    """A future of the run finished. ``how``: ``computed`` (a task this run
    submitted), ``load`` (a value read from the store), ``shared`` (another
    run's future this run waited on)."""

    how: str
    task: object
    future: object


@dataclass
class SaveFinished:
    """The ``save`` effect number ``index`` was written (or failed)."""

    index: int
    future: object


WAKE = Note("wake", None)  # the cancel event was set: the loop looks at it

CLAIM_WORTH_SECONDS = 0.002
QUICK_RUNS = 3  # consecutive quick tasks of an operator before its tasks go unclaimed


class Quick:
    """Which builtin operators have lately been quicker than a claim is
    worth (per engine: these are measurements of this process)."""

    def __init__(self):
        self.runs: dict = {}  # op -> consecutive tasks under CLAIM_WORTH_SECONDS

    def claim(self, task) -> bool:
        return self.runs.get(task.op, 0) < QUICK_RUNS

    def measured(self, task, seconds: float) -> None:
        runs = self.runs.get(task.op, 0)
        if seconds >= CLAIM_WORTH_SECONDS:
            if runs:
                self.runs[task.op] = 0  # slow again (a larger input): claim again
        elif runs < QUICK_RUNS and task.prim.builtin:
            self.runs[task.op] = runs + 1


def calling(fn, *args):
    """``fn(*args)`` collecting what it reports: ``(value, [messages])``."""
    said: list = []
    with reporting(said.append):
        return fn(*args), said


def compute(engine, store, task, args, decision, opts, notify):
    """Compute (or wait for, or load) one pool task: ``(value, how)`` with
    ``how`` one of ``computed``, ``loaded``, ``waited``."""
    claims = store.claims if decision.commit and engine.quick.claim(task) else None
    claim = None
    if claims is not None:
        claim, found = _claim(engine, store, claims, task, decision, opts, notify)
        if found is not None:
            return found
    try:
        return _run(engine, store, task, args, decision, notify, later=claims is None), "computed"
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
    return claim, None


def _stored(engine, store, task_id, how):
    value = store.get(task_id)
    if value is MISSING:
        return None
    engine.keep(task_id, value)
    return value, how


def _run(engine, store, task, args, decision, notify, later):
    said: list = []
    t0 = time.perf_counter()
    try:
        fn = task.fn or task.prim.dispatch(args)
        with reporting(said.append):
            value = fn(*args)
    except BaseException as exc:
        if said:
            notify(Note("warn", task, said))
        if decision.commit and not isinstance(exc, (KeyboardInterrupt, SystemExit)):
            store.put_failure(task.id, Failure(task, message_of(exc), traceback.format_exc()).record())
        raise
    seconds = time.perf_counter() - t0
    if said:
        notify(Note("warn", task, said))
    if decision.commit:
        engine.quick.measured(task, seconds)
        engine.keep(task.id, value)  # before the commit, so a run needing it again finds it
        if not later:  # a commit that may take a while: dependents need not wait for it
            notify(Note("value", task, value))
        store.put(task.id, value, {"op": task.op, "version": task.version, "seconds": seconds}, later)
    return value
