import threading

import pytest

import voxlogica_nb as vx
from _programs import explosion_program, fib_program
from voxlogica_nb.text import format_value


def run(text, **kw):
    kw.setdefault("no_cache", True)
    return vx.run(text, **kw)


def printed(text, **kw):
    r = run(text, **kw)
    return {label: format_value(v) for label, v in r.printed}


@pytest.mark.parametrize("text, expected", [
    ('print "a" 1 + 2', {"a": "3.0"}),
    ('print "b" 10 - 2 - 3', {"b": "11.0"}),
    ('print "c" 1 + 2 * 3', {"c": "7.0"}),
    ('let f(x) = x + 1\nprint "f" f(41)', {"f": "42.0"}),
    ('let a = 1\nlet f(x) = x + a\nlet a = 100\nprint "f" f(1)', {"f": "2.0"}),
    ('let r = let x = 1 in let x = x + 10 in x + 5\nprint "r" r', {"r": "16.0"}),
    ('print "l" for i in range(0,3) do i * 2', {"l": "[0.0, 2.0, 4.0]"}),
    ('print "n" for i in range(0,2) do for j in range(0,2) do (i * 10) + j',
     {"n": "[[0.0, 1.0], [10.0, 11.0]]"}),
    ('let a = 1\nlet x = for i in range(0,2) do i + a\nlet a = 100\n'
     'let y = for i in range(0,2) do i + a\nprint "x" x\nprint "y" y',
     {"x": "[1.0, 2.0]", "y": "[100.0, 101.0]"}),
    ('print "t" true\nprint "s" "hi"', {"t": "true", "s": "hi"}),
    ('print "d" 1 ./. 0\nprint "m" 0 ./. 0', {"d": "inf", "m": "nan"}),
    ('print "q" (7 .>. 3) .&. !. false', {"q": "true"}),
    ('print "g" 7 .>. 3 .-. 5', {"g": "true"}),
    ('print "len" length(range(5))\nprint "ix" index(range(2, 9), 3)', {"len": "5.0", "ix": "5.0"}),
    ('print "dep" for i in range(3) do let sq = i * i in for j in range(0, 2) do sq + j',
     {"dep": "[[0.0, 1.0], [1.0, 2.0], [4.0, 5.0]]"}),
])
def test_programs_print_expected_values(text, expected):
    assert printed(text) == expected


def test_result_api():
    r = run('print "a" 1 + 2\nprint "s" for i in range(2) do i\nprint "b" true')
    assert r.ok and r["a"] == 3.0 and r["s"] == [0.0, 1.0] and r["b"] is True
    assert r.printed == [("a", 3.0), ("s", [0.0, 1.0]), ("b", True)]
    assert set(r.stats) >= {"computed", "cached", "waited", "failed"}
    with pytest.raises(KeyError):
        r["nope"]


def test_static_errors_raise_before_anything_runs():
    calls = []

    @vx.primitive("(num) -> num", name="spy_static", cost="cheap")
    def spy_static(x):
        calls.append(x)
        return x

    with pytest.raises(vx.VoxLogicaError) as info:
        run('print "a" spy_static(1)\nprint "x" foo(1)')
    assert (info.value.line, info.value.col) == (2, 11)
    assert calls == []


def test_a_failing_task_fails_its_goal_and_others_still_print():
    r = run('print "bad" index(range(0,3), 5) + 1\nprint "ok" 2')
    assert not r.ok
    assert r["ok"] == 2.0
    assert "bad" not in r
    (f,) = r.failures
    assert f.op == "index" and (f.line, f.col) == (1, 13)
    assert "out of range" in f.message
    with pytest.raises(KeyError, match="upstream|out of range"):
        r["bad"]


def test_upstream_failure_names_the_root():
    r = run('let bad = index(range(0,3), 5)\nlet c = bad * 2\nprint "c" c + 1')
    (f,) = r.failures
    assert f.op == "index" and f.line == 1
    with pytest.raises(KeyError) as info:
        r["c"]
    assert "`index` failed" in str(info.value) and "1:11" in str(info.value)


def test_shared_subexpression_runs_once():
    calls = []

    @vx.primitive("(num) -> num", name="counted_once")
    def counted_once(x):
        calls.append(x)
        return x * 2

    expr = " + ".join(["counted_once(21)"] * 1000)
    r = run(f'print "s" {expr}')
    assert r["s"] == 42.0 * 1000
    assert calls == [21.0]


def test_only_what_goals_need_runs():
    calls = []

    @vx.primitive("(num) -> num", name="counted_need")
    def counted_need(x):
        calls.append(x)
        return x

    r = run('let unused = counted_need(1)\nlet used = counted_need(2)\nprint "u" used')
    assert r["u"] == 2.0 and calls == [2.0]


def test_independent_heavy_tasks_run_in_parallel():
    barrier = threading.Barrier(2, timeout=10)

    @vx.primitive("(num) -> num", name="meet")
    def meet(x):
        barrier.wait()  # raises BrokenBarrierError if the two never overlap
        return x

    r = run('print "a" meet(1) + meet(2)', jobs=2)
    assert r.ok, r.failures
    assert r["a"] == 3.0


def test_effects_run_in_program_order(in_tmp):
    seen = []
    r = run('print "one" 1\nsave "out/a.json" for i in range(3) do i\nprint "two" 2\nsave "b.json" "x"',
            observers=[lambda ev: seen.append(ev.kind) if ev.kind in ("print", "save") else None])
    assert r.ok, r.failures
    assert seen == ["print", "save", "print", "save"]
    assert (in_tmp / "out" / "a.json").read_text().strip() == "[0.0, 1.0, 2.0]"
    assert r.saved == ["out/a.json", "b.json"]


def test_fibonacci_chain():
    assert format_value(run(fib_program(100))["f100"]) == "5.731478440138172e+20"


def test_function_explosion():
    assert format_value(run(explosion_program(10))["v"]) == "239841.0"


def test_progress_events():
    events = []

    @vx.primitive("(num) -> num", name="slowish")
    def slowish(x):
        return x

    run('print "a" slowish(1) + slowish(2)', observers=[events.append])
    kinds = [e.kind for e in events]
    assert kinds[0] == "plan" and events[0].data["compute"] == 2
    assert kinds.count("start") == 2 and kinds.count("done") == 2
    assert kinds[-1] == "finish" and "print" in kinds


def test_interrupt_stops_and_the_engine_stays_usable():
    started = threading.Event()

    @vx.primitive("(num) -> num", name="interruptible")
    def interruptible(x):
        started.set()
        return x

    def stop(ev):
        if ev.kind == "start":
            raise KeyboardInterrupt

    session = vx.Session(no_cache=True)
    with pytest.raises(KeyboardInterrupt):
        session.run('print "a" interruptible(1) + interruptible(2)', observers=[stop])
    r = session.run('print "a" interruptible(1) + interruptible(2)')
    assert r["a"] == 3.0


def test_session_accumulates_bindings_and_evaluates_names():
    s = vx.Session(no_cache=True)
    s.run("let a = 20")
    s.run("let f(x) = x + a")
    r = s.run('print "v" f(1)')
    assert r["v"] == 21.0
    assert s.value("a") == 20.0
    assert s.evaluate("f(a) * 2") == 80.0
    with pytest.raises(KeyError):
        s.value("f")


def test_user_primitive_identity_includes_its_source(tmp_path, monkeypatch):
    import importlib

    monkeypatch.syspath_prepend(str(tmp_path))
    ids = []
    for k in (2, 3, 2):
        (tmp_path / f"userprim{k}_{len(ids)}.py").write_text(
            "import voxlogica_nb as vx\n"
            "@vx.primitive('(num) -> num', name='scaled')\n"
            f"def scaled(x):\n    return x * {k}\n")
        importlib.import_module(f"userprim{k}_{len(ids)}")
        session = vx.Session(no_cache=True)
        ids.append(session.reducer.reduce_expression("scaled(1)").id)
        assert session.evaluate("scaled(1)") == float(k)
    assert ids[0] != ids[1]  # edited source: new identity
    assert ids[0] == ids[2]  # same source: same identity


def test_builtins_cannot_be_replaced_by_user_primitives():
    with pytest.raises(ValueError):
        @vx.primitive("(num) -> num", name="range")
        def range_(x):
            return x


def test_interrupting_one_run_does_not_disturb_another_sharing_its_task():
    import os
    import signal

    from voxlogica_nb.engine.store import MemoryStore

    gate, first_in, b_planned = threading.Event(), threading.Event(), threading.Event()
    entered = []

    @vx.primitive("(num) -> num", name="gated")
    def gated(x):
        entered.append(x)
        first_in.set()
        gate.wait(10)
        return x + 1

    engine = vx.Engine(MemoryStore(), jobs=1)  # one of run a's two tasks waits in the queue
    out = {}

    def run_b():
        first_in.wait(10)
        queued = 3 - entered[0]
        s = vx.Session(engine=engine)
        r = s.run(f'print "b" gated({queued:g})',
                  observers=[lambda ev: b_planned.set() if ev.kind == "plan" else None])
        out["b"] = (queued, r.get("b"), r.failures)

    def interrupt_a():
        b_planned.wait(10)
        threading.Event().wait(0.2)  # run b now waits on run a's queued task
        os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C, delivered to the main thread
        threading.Event().wait(0.2)
        gate.set()

    threads = [threading.Thread(target=run_b), threading.Thread(target=interrupt_a)]
    for t in threads:
        t.start()
    with pytest.raises(KeyboardInterrupt):
        vx.Session(engine=engine).run('print "a" gated(1) + gated(2)')
    for t in threads:
        t.join(20)
    queued, value, failures = out["b"]
    assert failures == [] and value == queued + 1


def test_binding_python_values_and_images():
    import numpy as np

    s = vx.Session(no_cache=True)
    s.bind("k", 2)
    arr = np.zeros((4, 5), bool)
    arr[1:3, 1:4] = True
    s.bind("m", arr)
    s.bind("f", np.arange(20, dtype=np.float32).reshape(4, 5))
    r = s.run('print "v" volume(m)\nprint "s" max(mask(f, m)) .*. k\nprint "n" volume(N m)')
    assert (r["v"], r["s"], r["n"]) == (6.0, 2 * 13.0, 20.0)
    first = s.task("m").id
    s.bind("m", arr.copy())
    assert s.task("m").id == first  # identified by content
    arr[0, 0] = True
    s.bind("m", arr)
    assert s.task("m").id != first
    with pytest.raises(TypeError):
        s.bind("bad", object())


def test_loop_over_a_sequence_of_images():
    import numpy as np

    s = vx.Session(no_cache=True)
    s.bind("img", np.zeros((3, 4), np.float32))
    r = s.run("let layers = for k in range(1, 4) do constant(k, img)\n"
              'print "sums" for layer in layers do volume(layer >. 1.5)\n'
              'print "second" max(index(layers, 1))')
    assert r.ok, r.failures
    assert r["sums"] == [0.0, 12.0, 12.0] and r["second"] == 2.0


def test_errors_from_libraries_become_one_line_messages():
    r = run('print "r" length(range(1e12))\nprint "ok" 1')
    (f,) = r.failures
    assert f.op == "range" and "too many" in f.message and "\n" not in f.message
    from voxlogica_nb.engine.failures import message_of

    itk = RuntimeError("Exception thrown in SimpleITK X_Execute: /a/b.hxx:221:\n"
                       "ITK ERROR: BinaryThresholdImageFilter(0x7f): Lower threshold cannot be greater than upper threshold.")
    assert message_of(itk) == "SimpleITK: Lower threshold cannot be greater than upper threshold."
    assert message_of(ValueError("first line\nsecond")) == "ValueError: first line"
