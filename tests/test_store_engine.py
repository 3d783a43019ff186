"""The joblib store and cross-process coordination, end to end.

Real processes sharing one real cache folder: each program runs in a fresh
Python process (``tests/_storeprims.py``), whose primitives log every
execution to a shared file, so the tests count what ran where.
"""
from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import numpy as np
import pytest

from _build import all_records, damage_record, num, save, store_of
from _storeprims import executions
from voxlogica_nb.engine.diskstore import DiskStore

HELPER = str(Path(__file__).with_name("_storeprims.py"))

# a small DAG of five slow tasks: a, b, c in parallel, then d and e
DAG = """
let a = slowop(1)
let b = slowop(10)
let c = slowop(100)
let d = slowop(a + b)
let e = slowop(b + c)
print "d" d
print "r" d + e
"""
DAG_PRINTED = {"d": "14.0", "r": "127.0"}
DAG_ARGS = ["1", "10", "100", "13", "112"]


@pytest.fixture
def env(tmp_path):
    e = dict(os.environ)
    e["VXT_LOG"] = str(tmp_path / "exec.log")
    e["VXT_SLEEP"] = "0.3"
    e["VXT_MARKER"] = str(tmp_path / "flaky.marker")
    e["VOXLOGICA_CACHE_DIR"] = str(tmp_path / "cache")
    e.pop("PYTHONWARNINGS", None)
    return e


def start(procs, env, opts=None, *, python_args=(), helper=HELPER, **kw):
    """``helper`` in a new process (of ``procs``), running what ``opts`` or ``kw`` say."""
    return procs.script(helper, json.dumps(opts or kw), python_args=python_args, env=env)


def run_fresh(procs, env, python_args=(), **kw):
    """Run a program in a new process; return (result dict, stderr)."""
    return procs.finish(start(procs, env, python_args=python_args, **kw))


def wait_for_line(path, what, op, n=1, timeout=15):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = executions(path, op, what)
        if len(found) >= n:
            return found
        time.sleep(0.01)
    raise AssertionError(f"no {what!r} line for {op} in {path} after {timeout} s")


def store_entries(cache, op):
    """[(task id, metadata)] of committed values of ``op`` in the store at ``cache``."""
    return [(tid, meta) for tid, meta in all_records(DiskStore(cache)).items() if meta.get("op") == op]


def wait_until_committed(engine, timeout=30):
    """A run returns once its values are known; its workers may still be
    committing them. Wait until they are done."""
    deadline = time.monotonic() + timeout
    while engine.busy() or engine.store.claims.held():
        if time.monotonic() > deadline:
            raise AssertionError("the engine's workers did not finish committing")
        time.sleep(0.01)


def snapshot(folder):
    out = {}
    for root, _dirs, files in os.walk(folder):
        for f in files:
            st = os.stat(os.path.join(root, f))
            out[os.path.join(root, f)] = (st.st_size, st.st_mtime_ns)
    return out


# -- 1. two processes, one computation per task ----------------------------------

def test_two_processes_same_program_compute_each_task_once(tmp_path, env, procs):
    cache, log = str(tmp_path / "cache"), env["VXT_LOG"]
    barrier = [str(tmp_path / "barrier"), 2]
    p1 = start(procs, env, program=DAG, cache_dir=cache, jobs=4, barrier=barrier)
    p2 = start(procs, env, program=DAG, cache_dir=cache, jobs=4, barrier=barrier)
    r1, _ = procs.finish(p1)
    r2, _ = procs.finish(p2)
    assert r1["printed"] == DAG_PRINTED and r2["printed"] == DAG_PRINTED
    assert r1["failures"] == [] and r2["failures"] == []
    done = executions(log, "slowop")
    assert sorted(arg for _op, arg, _pid in done) == sorted(DAG_ARGS)  # each exactly once
    assert len(executions(log, "slowop", "start")) == len(DAG_ARGS)  # nobody started a duplicate
    # they really ran at the same time: one of them waited on the other's claims
    assert r1["stats"]["waited"] + r2["stats"]["waited"] >= 1
    assert r1["events"].get("wait", 0) + r2["events"].get("wait", 0) >= 1


def test_a_process_running_the_same_program_waits_for_the_whole_run(tmp_path, env, procs):
    # The second process finds the first running these very goals: it waits
    # for that run to end and loads the goals, computing nothing itself.
    cache, log = str(tmp_path / "cache"), env["VXT_LOG"]
    first = start(procs, env, program=DAG, cache_dir=cache, jobs=1)
    wait_for_line(log, "start", "slowop")  # the first run is under way
    second = start(procs, env, program=DAG, cache_dir=cache, jobs=4)
    r1, _ = procs.finish(first)
    r2, _ = procs.finish(second)
    assert r1["printed"] == DAG_PRINTED and r2["printed"] == DAG_PRINTED and r2["failures"] == []
    assert {pid for _op, _arg, pid in executions(log, "slowop", "start")} == {r1["pid"]}
    assert len(executions(log, "slowop", "start")) == len(DAG_ARGS)
    assert r2["stats"]["computed"] == 0 and r2["stats"]["waited"] == 2 and r2["events"]["wait"] == 2
    assert r1["events"].get("wait", 0) == 0 and DiskStore(cache).running() == []


def _hold_the_run(tmp_path, program):
    """An engine on a disk store, the goals of ``program`` reduced, and the
    claim another process would hold while running them (a claim table of
    its own: its lock conflicts with the engine's as another process's does)."""
    import voxlogica_nb as vx
    from voxlogica_nb.engine.claims import RUN_OP, ClaimTable
    from voxlogica_nb.language.tasks import task_id

    engine = vx.Engine(store_of("disk", tmp_path), jobs=2)
    session = vx.Session(engine=engine)
    reduced = session.reduce(program)
    key = task_id({"run": sorted({e.task.id for e in reduced.effects})})
    other = ClaimTable(engine.store.root / "locks")
    return session, reduced, other, other.try_acquire(key, RUN_OP)


@pytest.mark.parametrize("end", ["released", "timeout"])
def test_a_run_waiting_for_the_same_run_goes_on_when_it_ends_or_after_the_timeout(tmp_path, end):
    import threading

    session, reduced, other, held = _hold_the_run(tmp_path, 'print "v" 40 + 2\nprint "w" 7 * 6')
    assert held is not None
    events, out = [], {}
    waiting = threading.Event()

    def observe(ev):
        events.append(ev.kind)
        if ev.kind == "wait":
            waiting.set()

    timeout = 0.3 if end == "timeout" else None
    th = threading.Thread(target=lambda: out.update(r=session.run_reduced(reduced, [observe], timeout=timeout)))
    th.start()
    assert waiting.wait(30)
    if end == "released":  # the other run ended (or died) without storing the goals: this one computes them
        time.sleep(0.2)
        assert th.is_alive()  # still waiting
        held.release()
    th.join(30)
    r = out["r"]
    assert r.ok and r["v"] == 42.0 and r["w"] == 42.0 and r.stats["computed"] == 2
    assert events.count("wait") == 2 and session.engine.store.claims.held() == []
    held.release()
    other.close()


def test_a_run_waiting_for_the_same_run_is_cancelled_cleanly(tmp_path):
    import threading

    session, reduced, other, held = _hold_the_run(tmp_path, 'print "v" 40 + 2')
    cancel, out, waiting = threading.Event(), {}, threading.Event()

    def run():
        try:
            session.run_reduced(reduced, [lambda ev: ev.kind == "wait" and waiting.set()], cancel=cancel)
        except KeyboardInterrupt:
            out["interrupted"] = True

    th = threading.Thread(target=run)
    th.start()
    assert waiting.wait(30)
    cancel.set()
    th.join(30)
    assert out == {"interrupted": True} and session.engine.store.claims.held() == []
    held.release()
    other.close()
    r = session.run_reduced(reduced)  # and the next run computes it
    assert r["v"] == 42.0 and r.stats["computed"] == 1


# -- 2. the runner dies, the waiter takes over ---------------------------------------

def test_waiter_takes_over_when_runner_is_killed(tmp_path, env, procs):
    cache, log = str(tmp_path / "cache"), env["VXT_LOG"]
    program = 'print "v" slowop(7)'
    runner = start(procs, dict(env, VXT_SLEEP="30"), program=program, cache_dir=cache)
    wait_for_line(log, "start", "slowop")
    waiter = start(procs, dict(env, VXT_SLEEP="0.2"), program=program, cache_dir=cache)
    wait_for_line(log, "waiting", "slowop")  # blocked on the runner's claim
    runner.send_signal(signal.SIGKILL)
    runner.wait()
    r, _ = procs.finish(waiter)
    assert r["printed"] == {"v": "8.0"} and r["failures"] == []
    starts = executions(log, "slowop", "start")
    done = executions(log, "slowop", "done")
    assert [pid for *_x, pid in starts] == [runner.pid, waiter.pid]
    assert [(arg, pid) for _op, arg, pid in done] == [("7", waiter.pid)]
    assert r["stats"]["computed"] == 1 and r["events"]["wait"] == 1
    store = DiskStore(cache)
    assert store.running() == [] and store.failures() == []  # a crash is "not done", not "failed"


# The program runner of _storeprims.py plus a primitive that fails once the
# file $VXT_GATE exists: the test decides when the runner lets go of its claim.
GATED = f"""
import os, sys, time
sys.path.insert(0, {str(Path(__file__).parent)!r})
import _storeprims
import voxlogica_nb as vx


@vx.primitive("(num) -> num", name="gatedfail")
def gatedfail(x):
    _storeprims.log("start", "gatedfail", _storeprims.tag(x), os.getpid())
    while not os.path.exists(os.environ["VXT_GATE"]):
        time.sleep(0.01)
    raise ValueError(f"gatedfail always fails ({{_storeprims.tag(x)}})")


sys.exit(_storeprims.main())
"""


def test_waiter_reports_the_runners_failure_without_recomputing(tmp_path, env, procs):
    cache, log = str(tmp_path / "cache"), env["VXT_LOG"]
    helper = tmp_path / "gated.py"
    helper.write_text(GATED)
    gate = tmp_path / "gate"
    env = dict(env, VXT_GATE=str(gate))
    program = 'print "x" gatedfail(4)\nprint "y" 1 + 1'
    runner = start(procs, env, program=program, cache_dir=cache, helper=helper)
    wait_for_line(log, "start", "gatedfail", timeout=60)  # the runner holds the claim
    waiter = start(procs, env, program=program, cache_dir=cache, helper=helper)
    wait_for_line(log, "waiting", "gatedfail", timeout=60)  # the waiter is blocked on it
    gate.touch()  # now the runner fails, records the failure and releases the claim
    r1, _ = procs.finish(runner, timeout=60)
    r2, _ = procs.finish(waiter, timeout=60)
    assert len(executions(log, "gatedfail", "start")) == 1  # the waiter did not run it again
    for r in (r1, r2):
        assert r["printed"] == {"y": "2.0"}
        assert len(r["failures"]) == 1 and "gatedfail always fails (4)" in r["failures"][0]
    assert r1["events"].get("wait", 0) == 0 and r2["events"]["wait"] == 1
    [rec] = DiskStore(cache).failures()
    assert rec["op"] == "gatedfail" and "gatedfail always fails (4)" in rec["message"]


def test_waiter_ignores_a_failure_record_older_than_its_wait_and_takes_over(tmp_path):
    # A failure record left by an earlier attempt is not the verdict of the
    # runner we waited for: if that runner ends without a value (it crashed),
    # the waiter computes the task itself.
    import threading

    import voxlogica_nb as vx

    calls = []

    @vx.primitive("(num) -> num", name="stale_failure_op")
    def stale_failure_op(x):
        calls.append(x)
        return x * 3

    try:
        root = tmp_path / "cache"
        engine = vx.Engine(DiskStore(root), jobs=2)
        session = vx.Session(engine=engine)
        tid = session.reducer.reduce_expression("stale_failure_op(2)").id
        other = DiskStore(root)  # another runner (its own claim table, its own flock)
        other.put_failure(tid, {"op": "stale_failure_op", "message": "failed an hour ago",
                                "time": time.time() - 3600})
        claim = other.claims.try_acquire(tid, "stale_failure_op")
        assert claim is not None
        waiting, out = threading.Event(), {}

        def watch(ev):
            if ev.kind == "wait":
                waiting.set()

        th = threading.Thread(target=lambda: out.update(r=session.run('print "v" stale_failure_op(2)',
                                                                       observers=[watch])))
        th.start()
        assert waiting.wait(30)  # the run is blocked on the other runner's claim
        claim.release()  # the other runner ends without committing anything
        th.join(30)
        r = out["r"]
        assert r.failures == [] and r["v"] == 6.0 and calls == [2.0]
        assert r.stats["computed"] == 1 and r.stats["waited"] == 0
        wait_until_committed(engine)
        assert other.failure(tid) is None and other.get(tid) == 6.0  # the value replaced the record
    finally:
        vx.REGISTRY.remove("stale_failure_op")


@pytest.mark.parametrize("store", ["disk", "memory"])
def test_two_runs_in_one_process_share_a_task_in_flight(tmp_path, store):
    # The second run finds the first run's future for the task and waits on
    # it: one execution, counted as "waited", and no claim wait (with the
    # disk store) nor second computation (with the memory store).
    import threading

    import voxlogica_nb as vx

    calls = []
    entered, gate = threading.Event(), threading.Event()

    @vx.primitive("(num) -> num", name="inflight_shared_op")
    def inflight_shared_op(x):
        calls.append(x)
        entered.set()
        gate.wait(30)
        return x + 1

    try:
        engine = vx.Engine(store_of(store, tmp_path), jobs=2)
        program = 'print "v" inflight_shared_op(1) * 2'
        events = {"a": [], "b": []}
        results = {}
        b_planned = threading.Event()

        def run(name):
            def observe(ev):
                events[name].append(ev)
                if name == "b" and ev.kind == "plan":
                    b_planned.set()
            results[name] = vx.Session(engine=engine).run(program, observers=[observe])

        ta = threading.Thread(target=run, args=("a",))
        ta.start()
        assert entered.wait(30)  # run a is computing the task
        tb = threading.Thread(target=run, args=("b",))
        tb.start()
        assert b_planned.wait(30)  # run b has planned while the task is in flight
        deadline = time.monotonic() + 30  # and holds its future (planning only found it)
        while not engine._sharers and time.monotonic() < deadline:
            time.sleep(0.001)
        gate.set()
        ta.join(30)
        tb.join(30)
        a, b = results["a"], results["b"]
        assert a["v"] == 4.0 and b["v"] == 4.0
        assert calls == [1.0]
        assert a.stats == {"computed": 2, "cached": 0, "waited": 0, "failed": 0}
        assert b.stats == {"computed": 1, "cached": 0, "waited": 1, "failed": 0}
        # run b started nothing on the pool and never waited on a claim
        assert [e.kind for e in events["b"] if e.kind in ("start", "wait")] == []
        assert [e.kind for e in events["a"] if e.kind in ("start", "wait")] == ["start"]
    finally:
        gate.set()
        vx.REGISTRY.remove("inflight_shared_op")


# -- 3. a killed run is finished by the next one, reusing what was committed ----------

def test_killed_run_is_swept_and_finished_without_recomputing(tmp_path, env, procs):
    cache, log = str(tmp_path / "cache"), env["VXT_LOG"]
    program = 'print "t" slowop(1) + slowop(2) + slowop(3) + slowop(4)'
    path = tmp_path / "four.imgql"
    path.write_text(program)
    # one worker: the tasks run one after the other
    first = start(procs, dict(env, VXT_SLEEP="0.4"), program=program, cache_dir=cache, jobs=1)
    starts = wait_for_line(log, "start", "slowop", n=3)  # two committed, the third running
    first.send_signal(signal.SIGKILL)
    first.wait()
    killed_at = executions(log, "slowop", "start")
    assert len(killed_at) == 3, killed_at
    committed = {arg for _op, arg, _pid in executions(log, "slowop", "done")}
    assert len(committed) == 2
    running_arg = next(arg for _op, arg, _pid in starts if arg not in committed)
    assert DiskStore(cache).info()["count"] == 2

    # the command line, with the test primitives registered
    p = start(procs, dict(env, VXT_SLEEP="0.05"),
              cli=["run", str(path), "--cache-dir", cache, "--jobs", "1"])
    out, err = p.communicate(timeout=30)
    assert p.returncode == 0, err
    assert out.strip() == "t=14.0"
    assert "cleared 1 dangling run(s) left by ended processes (slowop)" in err
    second = [(arg, pid) for _op, arg, pid in executions(log, "slowop", "start") if pid == p.pid]
    assert sorted(arg for arg, _pid in second) == sorted({"1", "2", "3", "4"} - committed)
    assert running_arg in {arg for arg, _pid in second}
    # reported once: the next process finds nothing dangling, and nothing is left running
    r, _ = run_fresh(procs, env, program=program, cache_dir=cache)
    assert r["dangling"] == [] and r["printed"] == {"t": "14.0"} and r["stats"]["computed"] == 0
    assert DiskStore(cache).running() == [] and DiskStore(cache).failures() == []


def test_dangling_event_reported_through_observers(tmp_path, env, procs):
    cache, log = str(tmp_path / "cache"), env["VXT_LOG"]
    program = 'print "u" slowop(5)'
    first = start(procs, dict(env, VXT_SLEEP="30"), program=program, cache_dir=cache)
    wait_for_line(log, "start", "slowop")
    first.send_signal(signal.SIGKILL)
    first.wait()
    r, _ = run_fresh(procs, dict(env, VXT_SLEEP="0.05"), program=program, cache_dir=cache)
    assert r["dangling"] == ["cleared 1 dangling run(s) left by ended processes (slowop)"]
    assert r["printed"] == {"u": "6.0"} and r["events"].get("wait", 0) == 0


# -- 4. a corrupt value is detected and recomputed ----------------------------------

def _as_value_file(cache, tid, meta):
    """Rewrite an entry in the other form: a value file of its own."""
    s = DiskStore(cache, inline_max_bytes=0)
    s.put(tid, s.get(tid), {k: meta[k] for k in ("op", "version", "seconds")})
    return s.meta(tid)


@pytest.mark.parametrize("form,damage", [("file", "truncate"), ("file", "garbage"), ("file", "metadata"),
                                         ("record", "garbage"), ("record", "metadata")])
def test_corrupt_value_is_recomputed(tmp_path, env, procs, form, damage):
    import base64

    cache, log = str(tmp_path / "cache"), env["VXT_LOG"]
    program = 'print "m" mkimg(3)'
    expected = {"sum": float(np.arange(256).sum() + 3 * 256), "shape": [16, 16]}
    r, _ = run_fresh(procs, env, program=program, cache_dir=cache)
    assert r["printed"] == {"m": expected}
    [(tid, meta)] = store_entries(cache, "mkimg")
    assert "inline" in meta and "file" not in meta  # a 1 kB image lives in its record
    store = DiskStore(cache)
    shard = store.objects / tid[:2]
    if form == "file":
        meta = _as_value_file(cache, tid, meta)
        value_file = shard / meta["file"]
        size = value_file.stat().st_size
        assert size == meta["bytes"] and size > 16 * 16 * 4
    if damage == "metadata":
        damage_record(store, tid, '{"id": "' + tid + '", "fi')
    elif form == "record":  # the value's bytes in the record (a row of the table), same size
        data = bytearray(base64.b64decode(meta["inline"]))
        data[len(data) // 2] ^= 0x55
        damage_record(store, tid, json.dumps(dict(meta, inline=base64.b64encode(bytes(data)).decode())))
    elif damage == "truncate":
        with open(value_file, "r+b") as f:
            f.truncate(size // 2)
    else:  # same size, other bytes
        value_file.write_bytes(bytes((i * 7 + 1) % 251 for i in range(size)))

    r, err = run_fresh(procs, env, program=program, cache_dir=cache)
    assert r["printed"] == {"m": expected} and r["failures"] == [], err
    assert len(executions(log, "mkimg")) == 2  # recomputed once
    [(tid2, meta2)] = store_entries(cache, "mkimg")
    assert tid2 == tid and "inline" in meta2
    assert list(shard.glob(tid + ".*.pkl")) == []  # the bad file is gone
    # and the repaired entry serves the next run
    r, _ = run_fresh(procs, env, program=program, cache_dir=cache)
    assert r["printed"] == {"m": expected} and len(executions(log, "mkimg")) == 2


# -- 5. an unusable cache folder: one warning, correct results ------------------------

def test_unwritable_cache_folder_warns_once_and_runs(tmp_path, env, procs):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a regular file")
    cache = str(blocker / "cache")  # no one, root included, can create this
    program = DAG + 'print "m" imgsum(mkimg(1))\nprint "d again" slowop(a + b)\n'
    r, err = run_fresh(procs, env, python_args=("-W", "always"), program=program, cache_dir=cache,
                       jobs=4)
    assert r["printed"] == {**DAG_PRINTED, "m": f"{float(np.arange(256).sum() + 256)!r}",
                            "d again": "14.0"}
    assert r["failures"] == []
    warnings_lines = [line for line in err.splitlines() if "not writable" in line]
    assert len(warnings_lines) == 1, err
    assert "voxlogica_nb: cache folder" in warnings_lines[0] and str(blocker) in warnings_lines[0]
    assert len(executions(env["VXT_LOG"], "slowop")) == len(DAG_ARGS)
    assert blocker.read_text() == "a regular file"


# -- 6. failures are recorded and retried -----------------------------------------

def cache_cli(procs, env, cache, *words):
    p = start(procs, env, cli=["cache", "--cache-dir", cache, *words])
    out, err = p.communicate(timeout=30)
    assert p.returncode == 0, err
    return out


def test_failure_is_recorded_listed_and_retried(tmp_path, env, procs):
    cache, log = str(tmp_path / "cache"), env["VXT_LOG"]
    program = 'print "bad" flaky(21)\nprint "good" slowop(5)'
    r, _ = run_fresh(procs, env, program=program, cache_dir=cache)
    assert r["printed"] == {"good": "6.0"}  # the other goal is unaffected
    assert len(r["failures"]) == 1 and "flaky fails on its first attempt" in r["failures"][0]
    assert "`flaky` failed" in r["failures"][0]
    listing = cache_cli(procs, env, cache, "failures")
    assert "1 failure record(s)" in listing and "flaky" in listing
    assert "flaky fails on its first attempt" in listing

    r, _ = run_fresh(procs, env, program=program, cache_dir=cache)
    assert r["printed"] == {"bad": "42.0", "good": "6.0"} and r["failures"] == []
    assert len(executions(log, "flaky", "start")) == 2  # retried, not served as a result
    assert len(executions(log, "slowop")) == 1  # the good goal came from the store
    assert "no failure records" in cache_cli(procs, env, cache, "failures")


# -- 7. an edited input file recomputes what depends on it, and only that -------------

def write_nifti(path, arr):
    save(path, num(arr, (1.0, 1.0, 2.0)))


def test_edited_input_recomputes_only_its_dependents(tmp_path, env, procs):
    cache, log = str(tmp_path / "cache"), env["VXT_LOG"]
    a, b = tmp_path / "a.nii.gz", tmp_path / "b.nii.gz"
    write_nifti(a, np.ones((4, 6, 8)))
    write_nifti(b, np.full((4, 6, 8), 2.0))
    program = (f'load a = "{a}"\nload b = "{b}"\n'
               'print "sa" imgsum(cntimg(a))\nprint "sb" imgsum(cntimg(b))\n')
    r, _ = run_fresh(procs, env, program=program, cache_dir=cache)
    n = 4 * 6 * 8
    assert r["printed"] == {"sa": f"{3.0 * n!r}", "sb": f"{5.0 * n!r}"}
    assert len(executions(log)) == 4

    write_nifti(b, np.full((4, 6, 8), 3.0))  # edit one input
    r, _ = run_fresh(procs, env, program=program, cache_dir=cache)
    assert r["printed"] == {"sa": f"{3.0 * n!r}", "sb": f"{7.0 * n!r}"}
    second = [(op, arg) for op, arg, _pid in executions(log)[4:]]
    assert sorted(second) == [("cntimg", f"img{3 * n}"), ("imgsum", f"img{7 * n}")]

    r, _ = run_fresh(procs, env, program=program, cache_dir=cache)  # nothing changed now
    assert r["printed"]["sb"] == f"{7.0 * n!r}" and len(executions(log)) == 6


# -- 8. a wait with a timeout names the holder -------------------------------------------

def test_wait_timeout_is_a_task_failure_naming_the_holder(tmp_path, env, procs):
    cache, log = str(tmp_path / "cache"), env["VXT_LOG"]
    program = 'print "h" slowop(9)\nprint "other" 2 + 3'
    holder = start(procs, dict(env, VXT_SLEEP="30"), program=program, cache_dir=cache)
    wait_for_line(log, "start", "slowop")
    r, _ = run_fresh(procs, env, program=program, cache_dir=cache, timeout=0.5)  # exits normally
    assert r["printed"] == {"other": "5.0"}
    [f] = r["failure_records"]
    assert f["op"] == "slowop" and r["stats"]["failed"] == 1
    msg = f["message"]
    assert "timed out after 0.5 s" in msg and f"pid {holder.pid}" in msg, msg
    assert f["task_id"][:12] in msg and "(slowop)" in msg
    assert executions(log, "slowop", "start") == [("slowop", "9", holder.pid)]  # not run by the waiter
    assert holder.poll() is None
    # a timeout is the waiter's failure, not the task's: no failure record
    assert DiskStore(cache).failures() == []


# -- 9. an unchanged program computes nothing and loads only its goals ----------------

def test_rerun_in_fresh_process_loads_only_the_goals(tmp_path, env, procs):
    cache, log = str(tmp_path / "cache"), env["VXT_LOG"]
    program = DAG + 'print "m" imgsum(mkimg(1))\n'
    r, _ = run_fresh(procs, env, program=program, cache_dir=cache, jobs=4)
    assert r["stats"]["computed"] > 0
    before = len(executions(log))
    r, _ = run_fresh(procs, env, program=program, cache_dir=cache, jobs=4)
    assert r["printed"] == {**DAG_PRINTED, "m": f"{float(np.arange(256).sum() + 256)!r}"}
    assert r["stats"] == {"computed": 0, "cached": 3, "waited": 0, "failed": 0}
    assert r["gets"] == 3  # one store read per goal, no intermediate
    assert len(executions(log)) == before


# -- 10. no_cache and force ---------------------------------------------------------------

def test_no_cache_writes_nothing_and_force_recomputes_goals(tmp_path, env, procs):
    cache, log = tmp_path / "cache", env["VXT_LOG"]
    program = 'let a = slowop(1)\nlet b = mkimg(a)\nprint "g" slowop(imgsum(b))'
    goal_arg = f"{float(np.arange(256).sum() + 2 * 256):g}"
    r, _ = run_fresh(procs, env, program=program, cache_dir=str(cache), no_cache=True)
    assert r["printed"] == {"g": f"{float(goal_arg) + 1!r}"}
    assert not cache.exists() or snapshot(cache) == {}  # nothing written at all
    assert len(executions(log)) == 4

    r, _ = run_fresh(procs, env, program=program, cache_dir=str(cache))
    assert len(executions(log)) == 8
    assert len(all_records(DiskStore(cache))) == 4
    before = snapshot(cache)

    r, _ = run_fresh(procs, env, program=program, cache_dir=str(cache), no_cache=True)
    assert len(executions(log)) == 12  # everything again, fresh
    assert snapshot(cache) == before  # not a byte (nor a time stamp) changed

    [(goal_id, goal_meta)] = [e for e in store_entries(cache, "slowop")
                              if DiskStore(cache).get(e[0]) == float(goal_arg) + 1]
    r, _ = run_fresh(procs, env, program=program, cache_dir=str(cache), force=True)
    assert r["printed"] == {"g": f"{float(goal_arg) + 1!r}"}
    assert [(op, arg) for op, arg, _pid in executions(log)[12:]] == [("slowop", goal_arg)]
    assert r["stats"]["computed"] == 1
    after = DiskStore(cache).meta(goal_id)
    assert after["created"] > goal_meta["created"] and after["crc32"] == goal_meta["crc32"]


# -- an interrupted run leaves other runs' claims alone ---------------------------------

def test_interrupt_keeps_the_claims_of_other_runs(tmp_path, env, procs, monkeypatch):
    import signal
    import threading

    import _storeprims  # noqa: F401  (registers slowop in this process)
    import voxlogica_nb as vx

    cache, log = str(tmp_path / "cache"), env["VXT_LOG"]
    monkeypatch.setenv("VXT_LOG", log)
    monkeypatch.setenv("VXT_SLEEP", "2")
    env = dict(env, VXT_SLEEP="2")
    results = {}
    b = threading.Thread(target=lambda: results.update(b=vx.run('print "b" slowop(1)', cache_dir=cache, jobs=2)))
    b.start()
    wait_for_line(log, "start", "slowop")  # run b computes slowop(1) and holds its claim
    q = start(procs, env, program='print "b" slowop(1)', cache_dir=cache)  # another process waits on it
    time.sleep(0.5)

    def interrupt_when_a_starts():
        wait_for_line(log, "start", "slowop", n=2)
        os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=interrupt_when_a_starts).start()
    with pytest.raises(KeyboardInterrupt):
        vx.run('print "a" slowop(5)', cache_dir=cache, jobs=2)
    b.join(30)
    r, _ = procs.finish(q)
    assert results["b"]["b"] == 2.0 and r["printed"] == {"b": "2.0"}
    assert [e for e in executions(log, "slowop", "start") if e[1] == "1"] == [("slowop", "1", os.getpid())]
