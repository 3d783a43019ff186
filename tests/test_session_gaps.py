"""Sessions as a notebook uses them: base images per program, progress
counts, warnings, cancelling, dangling claims, session ids, edited primitives."""
from __future__ import annotations

import io
import subprocess
import threading
import time

import pytest

import voxlogica_nb as vx
from voxlogica_nb import data
from voxlogica_nb.engine.diskstore import DiskStore
from voxlogica_nb.text import TextProgress, summarize_cleared


@pytest.fixture(autouse=True)
def _forget_test_primitives():
    """Primitives registered by a test are removed after it."""
    before = vx.REGISTRY.registered()
    yield
    for name in vx.REGISTRY.registered() - before:
        vx.REGISTRY.remove(name)


# -- 1. each program's first load sets the base image --------------------------------

def test_same_two_load_program_twice_in_a_session_computes_nothing(tmp_path):
    paths = data.write_phantom(str(tmp_path))
    program = (f'load a = "{paths["flair"]}"\nload b = "{paths["truth"]}"\n'
               'print "v" volume(dt(intensity(a) >. 0.5) >. 2) + volume(dt(intensity(b) >. 0.5) >. 1)')
    s = vx.Session()
    first = s.run(program)
    second = s.run(program)
    assert first.ok and first.stats["computed"] > 4
    assert second.ok and second["v"] == first["v"]
    assert second.stats["computed"] == 0


def test_a_later_program_may_load_an_image_of_another_size(tmp_path):
    png = data.write_shapes(str(tmp_path))
    flair = data.write_phantom(str(tmp_path))["flair"]
    s = vx.Session()
    r2d = s.run(f'load pic = "{png}"\nprint "n" volume(tt)')
    r3d = s.run(f'load vol = "{flair}"\nprint "n" volume(tt)')
    assert r2d.ok and r2d["n"] == 160 * 120
    assert r3d.ok and r3d["n"] == 48 * 48 * 32
    # a program without load keeps the previous program's base
    assert s.run('print "n" volume(tt)')["n"] == 48 * 48 * 32


def test_loads_of_one_program_must_share_the_base_size(tmp_path):
    png = data.write_shapes(str(tmp_path))
    flair = data.write_phantom(str(tmp_path))["flair"]
    r = vx.run(f'load pic = "{png}"\nload vol = "{flair}"\nprint "n" volume(tt)\nprint "m" volume(intensity(vol) >. 0)')
    assert r["n"] == 160 * 120
    [f] = r.failures
    assert f.op == "load"
    assert "but the base image (the first loaded) is 160×120" in f.message


# -- 2. plan events count the work of loop expansions --------------------------------

def test_plan_events_add_up_to_the_tasks_done(tmp_path):
    flair = data.write_phantom(str(tmp_path))["flair"]
    events = []
    r = vx.Session().run(f'load img = "{flair}"\n'
                         'print "v" for i in range(0, 5) do volume(dt(intensity(img) >. (0.1 * i)) >. 2)',
                         observers=[events.append])
    assert r.ok and len(r["v"]) == 5
    plans = [e.data["compute"] for e in events if e.kind == "plan"]
    done = sum(e.kind == "done" for e in events)
    assert done >= 10 and sum(plans) == done
    assert len(plans) > 1 and all(e.data.keys() == {"compute", "stored"} for e in events if e.kind == "plan")


# -- 3. warnings belong to the program or expression that caused them ----------------

def test_warnings_do_not_leak_into_the_next_program():
    s = vx.Session(no_cache=True)
    assert s.evaluate("let f(x) = nosuch(x) in 1") == 1.0
    assert s.run('print "v" 2').warnings == []
    assert s.evaluate("let f(x) = nosuch(x) in 1") == 1.0
    [w] = s.warnings  # the expression's own
    assert "nosuch" in w
    assert s.run('print "v" 2').warnings == [] and s.warnings == []
    r = s.run('let g(x) = alsonot(x)\nprint "v" 3')
    assert len(r.warnings) == 1 and "alsonot" in r.warnings[0]
    assert s.evaluate("1 + 1") == 2.0 and s.warnings == []
    assert s.run('print "v" 4').warnings == []


# -- 4. a cancel event set from another thread stops the run --------------------------

def _wait_until_idle(engine):
    deadline = time.monotonic() + 20
    while (engine.store.claims.running() or engine._inflight) and time.monotonic() < deadline:
        time.sleep(0.02)


def test_cancel_from_another_thread_stops_the_run():
    calls, finished = [], []
    started = threading.Event()

    @vx.primitive("(num) -> num", name="gaps_sleepy")
    def gaps_sleepy(x):
        calls.append(x)
        started.set()
        time.sleep(0.3)
        finished.append(x)
        return x * 2

    program = "\n".join(f'print "a{i}" gaps_sleepy({i})' for i in range(20))
    s = vx.Session(jobs=2)
    cancel = threading.Event()  # a plain event; a CancelEvent needs no watcher thread

    def stop():
        started.wait(10)
        cancel.set()

    stopper = threading.Thread(target=stop)
    stopper.start()
    with pytest.raises(KeyboardInterrupt):
        s.run(program, cancel=cancel)
    assert len(calls) < 20
    stopper.join(10)
    _wait_until_idle(s.engine)
    assert s.engine.store.claims.running() == []
    committed = len(finished)
    assert committed >= 1

    r = s.run(program)
    assert r.ok and [r[f"a{i}"] for i in range(20)] == [2.0 * i for i in range(20)]
    assert r.stats["computed"] + r.stats["cached"] == 20
    assert r.stats["cached"] >= committed
    assert len(calls) == len(set(calls)) == 20  # nothing committed was computed again


def test_evaluate_and_value_accept_cancel():
    @vx.primitive("(num) -> num", name="gaps_never")
    def gaps_never(x):
        raise AssertionError("a cancelled evaluation ran a task")

    s = vx.Session(no_cache=True)
    s.run("let n = gaps_never(1)")
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(KeyboardInterrupt):
        s.evaluate("gaps_never(2)", cancel=cancel)
    with pytest.raises(KeyboardInterrupt):
        s.value("n", cancel=cancel)


# -- 5. dangling claims are reported once ------------------------------------------

HOLDER = r"""
import sys
from voxlogica_nb.engine.diskstore import DiskStore
claim = DiskStore(sys.argv[1]).claims.try_acquire(sys.argv[2], "gaps_op")
assert claim is not None
print("claimed", flush=True)
sys.stdin.read()
"""


def _leave_dangling_claim(procs, root, task_id):
    p = procs.python(HOLDER, root, task_id, stdin=subprocess.PIPE)
    try:
        assert p.stdout.readline().strip() == "claimed", p.stderr.read()
    finally:
        procs.kill(p)  # SIGKILL


def test_dangling_claims_are_taken_once(tmp_path, procs):
    root = tmp_path / "store"
    _leave_dangling_claim(procs, root, "ab" + "1" * 62)
    engine = vx.Engine(DiskStore(root))
    s = vx.Session(engine=engine)
    assert s.run('print "v" 1').dangling == []  # no observers: kept for later
    [rec] = engine.take_dangling()
    assert rec["op"] == "gaps_op" and rec["task_id"] == "ab" + "1" * 62
    assert engine.take_dangling() == []

    _leave_dangling_claim(procs, root, "cd" + "2" * 62)
    engine = vx.Engine(DiskStore(root))
    events = []
    r = vx.Session(engine=engine).run('print "v" 1', observers=[events.append])
    assert [rec["op"] for rec in r.dangling] == ["gaps_op"]
    [ev] = [e for e in events if e.kind == "dangling"]
    assert summarize_cleared(ev.data["cleared"]) == "cleared 1 dangling run(s) left by ended processes (gaps_op)"
    assert engine.take_dangling() == []
    assert vx.Session(engine=engine).run('print "v" 1', observers=[events.append]).dangling == []


# -- 6. the session id is recorded in claims -----------------------------------------

def test_session_id_is_recorded_in_claims():
    engine = vx.get_engine(session_id="kernel-42")
    seen = []

    @vx.primitive("(num) -> num", name="gaps_peek")
    def gaps_peek(x):
        seen.extend((r["op"], r["session"]) for r in engine.store.claims.running())
        return x

    assert vx.Session(engine=engine).run('print "v" gaps_peek(3)')["v"] == 3.0
    assert ("gaps_peek", "kernel-42") in seen


# -- 7. re-registering an edited primitive gives new tasks ----------------------------

def test_reregistered_primitive_runs_its_new_body():
    s = vx.Session()

    @vx.primitive("(num) -> num", name="gaps_edit")
    def gaps_edit(x):
        return x + 1

    first = s.run('print "v" gaps_edit(1)')

    @vx.primitive("(num) -> num", name="gaps_edit")
    def gaps_edit(x):  # noqa: F811
        return x + 100

    second = s.run('print "v" gaps_edit(1)')
    assert (first["v"], second["v"]) == (2.0, 101.0)
    assert second.stats["computed"] == 1


def test_reregistered_primitive_reaches_functions_defined_before():
    s = vx.Session()

    @vx.primitive("(num) -> num", name="gaps_inner")
    def gaps_inner(x):
        return x + 1

    s.run("let f(x) = gaps_inner(x)")
    assert s.run('print "v" f(1)')["v"] == 2.0

    @vx.primitive("(num) -> num", name="gaps_inner")
    def gaps_inner(x):  # noqa: F811
        return x * 10

    r = s.run('print "v" f(1)')
    assert r["v"] == 10.0 and r.stats["computed"] == 1
    assert s.evaluate("f(2)") == 20.0


def test_primitive_version_from_a_variable_enters_the_id():
    s = vx.Session(no_cache=True)
    ids = []
    for v in ("1", "2"):
        @vx.primitive("(num) -> num", name="gaps_versioned", version=v)
        def gaps_versioned(x):
            return x

        ids.append(s.reducer.reduce_expression("gaps_versioned(1)").id)
    assert ids[0] != ids[1]


# -- 8. text progress rewrites its line only on a terminal ---------------------------

def test_text_progress_writes_one_line_per_run_off_a_terminal():
    @vx.primitive("(num) -> num", name="gaps_tick")
    def gaps_tick(x):
        return x

    out = io.StringIO()
    progress = TextProgress(out, interval=0.0)
    s = vx.Session(no_cache=True)
    s.run('print "v" gaps_tick(1) + gaps_tick(2)', observers=[progress])
    s.run('print "v" gaps_tick(3)', observers=[progress])
    text = out.getvalue()
    assert "\r" not in text and text.endswith("\n")
    lines = text.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("[2/2] computed 2,") and lines[1].startswith("[1/1] computed 1,")


def test_text_progress_is_live_on_a_terminal():
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    @vx.primitive("(num) -> num", name="gaps_tock")
    def gaps_tock(x):
        return x

    out = Terminal()
    vx.Session(no_cache=True).run('print "v" gaps_tock(1)', observers=[TextProgress(out, interval=0.0)])
    assert out.getvalue().startswith("\r[") and out.getvalue().count("\n") == 1
