"""Cross-process claims: real processes, real files, real flock."""
from __future__ import annotations

import json
import multiprocessing
import os
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

from _build import run_python
from voxlogica_nb.engine.claims import CancelEvent, ClaimTable, WaitCancelled, WaitTimeout
from voxlogica_nb.engine.diskstore import DiskStore

TID = "ab" + "c" * 62

# A tiny "runner" following the scheduler's protocol. argv: root tid log delay timeout
RUNNER = r"""
import json, os, sys, time
from voxlogica_nb.engine.diskstore import DiskStore
from voxlogica_nb.engine.store import MISSING

root, tid, log, delay, timeout = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4]), sys.argv[5]
timeout = None if timeout == "none" else float(timeout)
store = DiskStore(root)

def compute():
    with open(log, "a") as f:
        f.write(f"{os.getpid()}\n")
    time.sleep(delay)
    return {"answer": 42, "by": os.getpid()}

acquired = None

def run():
    global acquired
    if store.contains(tid):
        v = store.get(tid)
        if v is not MISSING:
            return v, "loaded", None
    claim = store.claims.try_acquire(tid, "fake.op")
    how = "computed"
    if claim is None:
        print("waiting", flush=True)
        t0 = time.time()
        claim = store.claims.acquire(tid, "fake.op", timeout=timeout)
        acquired = time.time()
        v = store.get(tid)
        if v is not MISSING:
            claim.release()
            return v, "waited", None
        f = store.failure(tid)
        if f is not None and f["time"] >= t0:
            claim.release()
            return f, "failed", None
        how = "took-over"
    else:
        print("claimed", flush=True)
        v = store.get(tid)
        if v is not MISSING:
            claim.release()
            return v, "loaded", None
    prev = claim.previous
    v = compute()
    store.put(tid, v, {"op": "fake.op", "version": 1, "seconds": delay})
    claim.release()
    return v, how, prev

v, how, prev = run()
print(json.dumps({"value": v, "how": how, "previous": prev, "acquired": acquired}), flush=True)
"""

# Holds claims until its stdin closes. argv: root op:tid [op:tid ...]
HOLDER = r"""
import sys
from voxlogica_nb.engine.claims import ClaimTable
t = ClaimTable(sys.argv[1], session_id="holder-session")
claims = []
for spec in sys.argv[2:]:
    op, tid = spec.split(":")
    c = t.try_acquire(tid, op)
    assert c is not None, tid
    claims.append(c)
print("claimed", flush=True)
sys.stdin.read()
for c in claims:
    c.release()
print("released", flush=True)
sys.stdin.close()
"""

# Runs one ClaimTable method and prints JSON. argv: root method
INSPECT = r"""
import json, sys
from voxlogica_nb.engine.claims import ClaimTable
t = ClaimTable(sys.argv[1])
print(json.dumps(getattr(t, sys.argv[2])()))
"""


def _holder(procs, root, *specs):
    p = procs.python(HOLDER, root, *specs, stdin=subprocess.PIPE)
    line = p.stdout.readline()
    assert line.strip() == "claimed", p.stderr.read()
    return p


# -- across processes --------------------------------------------------------

def test_two_processes_compute_once(tmp_path, procs):
    log = tmp_path / "executions.log"
    runners = [procs.python(RUNNER, tmp_path / "cache", TID, log, 0.5, "none") for _ in range(2)]
    results = [procs.result(p) for p in runners]
    assert log.read_text().count("\n") == 1
    assert all(r["value"]["answer"] == 42 for r in results)
    assert results[0]["value"] == results[1]["value"]
    assert sorted(r["how"] for r in results) in (["computed", "waited"], ["computed", "loaded"])


def test_holder_killed_waiter_takes_over(tmp_path, procs):
    root, log = tmp_path / "cache", tmp_path / "executions.log"
    holder = procs.python(RUNNER, root, TID, log, 60, "none")
    assert holder.stdout.readline().strip() == "claimed"
    waiter = procs.python(RUNNER, root, TID, log, 0.0, "none")
    assert waiter.stdout.readline().strip() == "waiting"
    time.sleep(0.1)  # let it block in flock
    killed = time.time()
    os.kill(holder.pid, signal.SIGKILL)
    res = procs.result(waiter, timeout=60)
    assert res["acquired"] - killed < 5  # woken by the holder's death, not by a poll
    procs.kill(holder)
    assert res["how"] == "took-over"
    assert res["value"]["by"] == waiter.pid
    assert res["previous"]["pid"] == holder.pid  # the dead runner's record was seen
    assert log.read_text().split() == [str(holder.pid), str(waiter.pid)]
    assert DiskStore(root).get(TID)["by"] == waiter.pid
    assert DiskStore(root).failure(TID) is None  # a crash is "not done", never "failed"


def test_sweep_after_sigkill_and_running(tmp_path, procs):
    locks = tmp_path / "locks"
    ids = ["01" + "a" * 62, "02" + "b" * 62, "03" + "c" * 62, "04" + "d" * 62]
    doomed = _holder(procs, locks, f"near:{ids[0]}", f"dt:{ids[1]}", f"dt:{ids[2]}")
    alive = _holder(procs, locks, f"label:{ids[3]}")
    try:
        running = procs.result(procs.python(INSPECT, locks, "running"))
        assert sorted(r["pid"] for r in running) == sorted([doomed.pid] * 3 + [alive.pid])
        assert {r["host"] for r in running} == {socket.gethostname()}
        assert all(r["session"] == "holder-session" and r["process_start"] for r in running)

        os.kill(doomed.pid, signal.SIGKILL)
        doomed.wait(10)
        cleared = procs.result(procs.python(INSPECT, locks, "sweep"))
        assert len(cleared) == 3
        assert sorted(r["op"] for r in cleared) == ["dt", "dt", "near"]
        assert {r["pid"] for r in cleared} == {doomed.pid}
        for tid in ids[:3]:
            assert not (locks / tid[:2] / (tid + ".owner")).exists()
            assert (locks / tid[:2] / (tid + ".lock")).exists()  # lock files stay
        # the live holder was neither swept nor hidden
        running = procs.result(procs.python(INSPECT, locks, "running"))
        assert [(r["pid"], r["op"]) for r in running] == [(alive.pid, "label")]
        assert procs.result(procs.python(INSPECT, locks, "sweep")) == []
        t = ClaimTable(locks)
        assert t.holder(ids[3])["pid"] == alive.pid
        assert t.holder(ids[0]) is None
        c = t.try_acquire(ids[0], "near")  # free again
        assert c is not None
        c.release()
    finally:
        procs.kill(doomed)
        alive.stdin.close()
        procs.kill(alive)


def test_wait_timeout_names_holder(tmp_path, procs):
    locks = tmp_path / "locks"
    p = _holder(procs, locks, f"dt:{TID}")
    try:
        t = ClaimTable(locks)
        assert t.try_acquire(TID, "dt") is None
        t0 = time.perf_counter()
        with pytest.raises(WaitTimeout) as ei:
            t.acquire(TID, "dt", timeout=0.3)
        assert 0.25 < time.perf_counter() - t0 < 2
        msg = str(ei.value)
        assert f"pid {p.pid}" in msg and TID[:12] in msg and "dt" in msg
        assert socket.gethostname() in msg
        assert ei.value.holder["pid"] == p.pid
        # the abandoned helper gives the lock back as soon as it gets it
        p.stdin.close()
        assert p.stdout.readline().strip() == "released"
        c = t.acquire(TID, "dt", timeout=5)
        c.release()
        other = ClaimTable(locks)
        c2 = other.acquire(TID, "dt", timeout=5)
        c2.release()
    finally:
        procs.kill(p)


def test_cancel_wakes_waiter(tmp_path, procs):
    locks = tmp_path / "locks"
    p = _holder(procs, locks, f"dt:{TID}")
    try:
        t = ClaimTable(locks)
        for ev in (CancelEvent(), threading.Event()):
            threading.Timer(0.2, ev.set).start()
            t0 = time.perf_counter()
            with pytest.raises(WaitCancelled):
                t.acquire(TID, "dt", cancel=ev)
            assert time.perf_counter() - t0 < 1.0
        # already-cancelled event: returns at once
        with pytest.raises(WaitCancelled):
            t.acquire(TID, "dt", cancel=ev)
    finally:
        p.stdin.close()
        procs.kill(p)


def _fork_child(conn):
    conn.send("ready")
    conn.recv()


def test_forked_child_does_not_keep_claims(tmp_path):
    t = ClaimTable(tmp_path / "locks")
    c = t.try_acquire(TID, "op")
    ctx = multiprocessing.get_context("fork")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_fork_child, args=(child,))
    proc.start()
    try:
        assert parent.recv() == "ready"
        c.release()
        # while the forked child still lives, another process can claim the task
        out = run_python("import sys; from voxlogica_nb.engine.claims import ClaimTable;"
                         "c = ClaimTable(sys.argv[1]).try_acquire(sys.argv[2], 'op'); print(c is not None)",
                         tmp_path / "locks", TID, timeout=15)
        assert out.stdout.strip() == "True", out.stderr
    finally:
        parent.send("bye")
        proc.join(10)


# -- inside one process --------------------------------------------------------

def test_threads_try_acquire_exactly_one(tmp_path):
    t = ClaimTable(tmp_path / "locks")
    barrier = threading.Barrier(8)
    got = []

    def grab():
        barrier.wait()
        c = t.try_acquire(TID, "op")
        if c is not None:
            got.append(c)

    threads = [threading.Thread(target=grab) for _ in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert len(got) == 1
    assert t.held() == [TID]
    assert t.holder(TID)["pid"] == os.getpid()
    got[0].release()
    got[0].release()  # idempotent
    assert t.held() == []
    with t.try_acquire(TID, "op") as c:
        assert c is not None
    assert t.try_acquire(TID, "op") is not None


def test_thread_acquire_waits_for_thread(tmp_path):
    t = ClaimTable(tmp_path / "locks")
    first = t.try_acquire(TID, "op")
    order = []

    def second():
        c = t.acquire(TID, "op", timeout=5)
        order.append("second got it")
        c.release()

    th = threading.Thread(target=second)
    th.start()
    time.sleep(0.2)
    assert order == []
    order.append("first releases")
    first.release()
    th.join(5)
    assert order == ["first releases", "second got it"]
    # timeout between threads of one process
    c = t.try_acquire(TID, "op")
    with pytest.raises(WaitTimeout) as ei:
        t.acquire(TID, "op", timeout=0.1)
    assert f"pid {os.getpid()}" in str(ei.value)
    c.release()
    t.acquire(TID, "op", timeout=2).release()


def _lock(locks, tid):
    return locks / tid[:2] / (tid + ".lock")


def _alive(locks):
    return sorted(p.name for p in (locks / ".alive").iterdir()) if (locks / ".alive").exists() else []


def test_release_all_and_owner_record(tmp_path):
    locks = tmp_path / "locks"
    t = ClaimTable(locks, session_id="k1")
    ids = [f"{i:02x}" + "0" * 62 for i in range(3)]
    for i in ids:
        t.try_acquire(i, "op")
    rec = json.loads(_lock(locks, ids[0]).read_text())  # the record lives in the lock file
    assert rec["pid"] == os.getpid() and rec["session"] == "k1" and rec["op"] == "op"
    assert abs(rec["process_start"] - time.time()) < 24 * 3600 * 365
    assert len(t.running()) == 3
    assert t.release_all() == 3
    assert all(_lock(locks, i).stat().st_size == 0 for i in ids)  # emptied, kept
    assert t.running() == [] and t.sweep() == []
    # a claim wrote no other file than its lock file; the table one presence file
    files = sorted(str(p.relative_to(locks)) for p in locks.rglob("*") if p.is_file())
    assert files == sorted([".inuse", f".alive/{_alive(locks)[0]}"] + [f"{i[:2]}/{i}.lock" for i in ids])
    t.close()
    assert _alive(locks) == []  # closed with every record emptied: nothing to sweep


def test_sweep_reads_lock_files_only_after_a_process_ended(tmp_path):
    locks = tmp_path / "locks"
    t = ClaimTable(locks)
    t.try_acquire(TID, "op").release()
    stale = {"task_id": TID, "op": "dt", "pid": 1, "started": 1.0}
    _lock(locks, TID).write_text(json.dumps(stale))  # a record nobody holds
    assert t.sweep() == []  # no process ended: the lock files are not read
    t.close()
    assert _alive(locks) == []
    # a process that ends without emptying its records leaves its presence file
    code = ("import sys, os; from voxlogica_nb.engine.claims import ClaimTable;"
            "t = ClaimTable(sys.argv[1]); t.try_acquire(sys.argv[2], 'near'); os._exit(0)")
    other = "cd" + "e" * 62
    assert run_python(code, locks, other).returncode == 0
    assert len(_alive(locks)) == 1
    t2 = ClaimTable(locks)
    cleared = t2.sweep()
    assert sorted(r["op"] for r in cleared) == ["dt", "near"]  # every record whose owner is gone
    assert _alive(locks) == [] and _lock(locks, other).stat().st_size == 0
    assert t2.sweep() == [] and t2.running() == []


def test_a_record_that_cannot_be_emptied_is_swept_after_close(tmp_path, monkeypatch):
    locks = tmp_path / "locks"
    t = ClaimTable(locks)
    c = t.try_acquire(TID, "dt")
    real = os.ftruncate

    def failing(fd, n):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "ftruncate", failing)
    c.release()
    monkeypatch.setattr(os, "ftruncate", real)
    assert _lock(locks, TID).stat().st_size > 0 and t.running() == []
    t.close()
    assert len(_alive(locks)) == 1  # kept: a sweep must look
    assert [r["op"] for r in ClaimTable(locks).sweep()] == ["dt"]
    assert _alive(locks) == []


def test_takeover_sees_the_previous_record_and_overwrites_it(tmp_path):
    locks = tmp_path / "locks"
    t = ClaimTable(locks)
    t.try_acquire(TID, "x").release()
    long_record = {"task_id": TID, "op": "y" * 500, "pid": 1}
    _lock(locks, TID).write_text(json.dumps(long_record))
    c = t.try_acquire(TID, "z")
    assert c.previous == long_record
    assert json.loads(_lock(locks, TID).read_text())["op"] == "z"  # no tail of the longer record
    c.release()


def test_gc_only_when_unused(tmp_path):
    locks = tmp_path / "locks"
    t = ClaimTable(locks)
    t.try_acquire(TID, "op").release()
    assert (locks / TID[:2] / (TID + ".lock")).exists()
    other = ClaimTable(locks)  # another user of the store
    assert t.gc() is None
    other.close()
    assert t.gc() == 1
    assert not (locks / TID[:2] / (TID + ".lock")).exists()
    t.try_acquire(TID, "op").release()  # still works afterwards


INTERRUPTED = r"""
import os, signal, sys, threading, time
from voxlogica_nb.engine.claims import ClaimTable
t = ClaimTable(sys.argv[1])
sent = []

def interrupt():  # Ctrl-C once the wait has begun (its helper thread exists)
    while not any(th.name.startswith("voxlogica-claim-") for th in threading.enumerate()):
        time.sleep(0.01)
    time.sleep(0.1)
    sent.append(time.monotonic())
    os.kill(os.getpid(), signal.SIGINT)

threading.Thread(target=interrupt).start()
try:
    t.acquire(sys.argv[2], "dt")
    print("not interrupted", flush=True)
except KeyboardInterrupt:
    print(f"interrupted {time.monotonic() - sent[0]:.3f}", flush=True)
sys.stdin.readline()
c = t.acquire(sys.argv[2], "dt", timeout=5)
c.release()
for th in threading.enumerate():
    if th is not threading.main_thread():
        th.join(5)
print(len(threading.enumerate()), flush=True)
"""


def test_ctrl_c_interrupts_wait_and_abandoned_helper_gives_back(tmp_path, procs):
    locks = tmp_path / "locks"
    t = ClaimTable(locks)
    c = t.try_acquire(TID, "dt")
    p = procs.python(INTERRUPTED, locks, TID, stdin=subprocess.PIPE)
    try:
        word, seconds = p.stdout.readline().split()
        assert word == "interrupted" and float(seconds) < 2  # from Ctrl-C to the exception
        c.release()
        p.stdin.write("go\n")
        p.stdin.flush()
        assert p.stdout.readline().strip() == "1"  # the helper thread has ended
    finally:
        procs.kill(p)
