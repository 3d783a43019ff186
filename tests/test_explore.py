"""Exploration with widgets (``%%voxlogica --explore``, ``voxlogica_nb.explore``)
in an in-process IPython shell: widgets are driven by setting their values,
as a frontend does; the explorer's worker thread is awaited with ``wait``."""
from __future__ import annotations

import base64
import threading

import pytest

from IPython.core.error import UsageError

import voxlogica_nb as vx
from voxlogica_nb.errors import PrimitiveError, VoxLogicaError
from voxlogica_nb.notebook import magics as nbmagics
from voxlogica_nb.notebook.display import scalar_rows
from voxlogica_nb.notebook.explore import Explorer, param_from_python, parse_spec
from voxlogica_nb.notebook.progress import WIDGET_MIME

from _shell import PNG, cell, magics, text

WAIT = 300  # seconds: generous, a loaded machine only makes runs slower


@pytest.fixture
def ip(widget_ip):
    """In a frontend with widgets; explorers are closed afterwards."""
    return widget_ip


# A threshold applied after a heavy distance transform: moving it must not
# recompute `dt` (nor the head mask, nor the load).
THRESHOLD_AFTER_DT = """load scan = "{flair}"
let flair = intensity(scan)
let brain = !touch(flair <. 0.1, border)
let d = dt(brain)
let far = d >. thr
print "far" volume(far)
print "mask" far
"""


def explorer(shell, line, body, cell_id=None) -> Explorer:
    res, cap = cell(shell, f"-o ex {line}", body, cell_id)
    assert res.success, text(cap)
    ex = shell.user_ns["ex"]
    assert isinstance(ex, Explorer)
    return ex


def move(ex, **values):
    """Move widgets as a user does and wait until the panel shows the result."""
    ex.set(**values)
    assert ex.wait(WAIT), "the explorer did not settle"
    assert ex.values == {**ex.values, **values}
    return ex.last


def fresh(body, **values):
    """What a fresh session (nothing stored) prints for ``body`` with ``values`` bound."""
    s = vx.Session(no_cache=True)
    for name, v in values.items():
        s.bind(name, v)
    r = s.run(body)
    assert r.ok, r.failures
    return r


def values_text(printed):
    return scalar_rows([(label, v) for label, v in printed if not isinstance(v, vx.Image)])


def dependents(body, name, value):
    """Ids of the tasks of ``body``'s goals that depend on the constant bound to ``name``."""
    s = vx.Session(no_cache=True)
    s.bind(name, value)
    const = s.table.const(value).id
    goals = [e.task for e in s.reduce(body).effects]
    memo = {}

    def dep(t):
        if t.id not in memo:
            below = [dep(a) for a in t.args]  # every argument, no short cut
            memo[t.id] = t.id == const or any(below)
        return memo[t.id]

    for g in goals:
        dep(g)
    return {tid for tid, d in memo.items() if d and tid != const}


# -- the first run and the panel --------------------------------------------------------
def test_first_run_shows_one_panel_with_a_static_fallback(ip, phantom):
    body = THRESHOLD_AFTER_DT.format(flair=phantom["flair"])
    res, cap = cell(ip, "--no-progress -o ex --explore thr=0:10:0.5", body)
    assert res.success, text(cap)
    (out,) = cap.outputs  # one panel, nothing else
    ex = ip.user_ns["ex"]
    assert out.data[WIDGET_MIME]["model_id"] == ex.panel.model_id
    # initial value: the middle of the range, on the step
    assert ex.controls["thr"].value == 5.0 and ex.values == {"thr": 5.0}
    plain = out.data["text/plain"]
    assert plain.splitlines()[0] == "voxlogica explorer: thr=5.0"
    assert values_text(fresh(body, thr=5.0).printed)["text/plain"] in plain
    assert "mask: bool image 48×48×32, axial slice 16 of 32 over the base image" in plain
    assert base64.b64decode(out.data["image/png"]).startswith(PNG)  # the initial picture
    assert "data:image/png;base64," in out.data["text/html"]
    assert (ex.started, ex.finished, ex.cancelled) == (1, 1, 0)
    assert "dt" in ex.last.computed_ops  # the first run computed everything
    # the panel holds the values and a slice viewer of the mask
    table, box = ex.output_widgets
    assert table.value == values_text(ex.result.printed)["text/html"]
    (viewer,) = ex.viewers
    assert box is viewer.widget and bytes(viewer.picture.value).startswith(PNG)


def test_without_widgets_the_panel_is_its_static_picture(ip, phantom, monkeypatch):
    monkeypatch.setattr(nbmagics, "frontend_has_widgets", lambda shell: False)
    body = THRESHOLD_AFTER_DT.format(flair=phantom["flair"])
    res, cap = cell(ip, "--no-progress --explore thr=0:10:0.5=2", body)
    assert res.success, text(cap)
    (out,) = cap.outputs
    assert WIDGET_MIME not in out.data
    assert out.data["text/plain"].startswith("voxlogica explorer: thr=2.0\nfar=")


# -- moving a slider ------------------------------------------------------------------------
def test_a_move_recomputes_only_what_depends_on_the_value(ip, phantom):
    body = THRESHOLD_AFTER_DT.format(flair=phantom["flair"])
    ex = explorer(ip, "--no-progress --explore thr=0:10:0.5", body)
    (viewer,) = ex.viewers
    viewer.axis.value = 1
    viewer.slider.value = 20
    before = bytes(viewer.picture.value)
    run = move(ex, thr=3.5)
    deps = dependents(body, "thr", 3.5)
    assert run.stats["computed"] == len(deps) > 0  # exactly the tasks that depend on thr …
    assert "dt" not in run.computed_ops and "load" not in run.computed_ops  # … not the heavy upstream
    assert run.stats["cached"] >= 1  # the frontier (dt) came from memory or the store
    assert ex.result.stats == run.stats and run.error is None
    # the panel shows what a fresh evaluation with that value gives
    expected = values_text(fresh(body, thr=3.5).printed)
    assert ex.output_widgets[0].value == expected["text/html"]
    assert ex.output_text().splitlines()[0] == expected["text/plain"]
    # the viewer was updated in place: same widget, same axis and slice, new picture
    assert ex.viewers == [viewer] and ex.output_widgets[1] is viewer.widget
    assert (viewer.axis.value, viewer.slider.value) == (1, 20)
    assert bytes(viewer.picture.value) != before
    assert ex.status.startswith(f"thr=3.5: computed {len(deps)}, from store {run.stats['cached']} in ")
    assert ex.status_line.value.endswith("s</span>") and ex.error_box.layout.display == "none"


def test_outputs_that_did_not_change_are_not_drawn_again(ip, phantom, monkeypatch):
    from voxlogica_nb.notebook.display import SliceViewer

    body = THRESHOLD_AFTER_DT.format(flair=phantom["flair"]) + 'print "brain" brain\n'
    ex = explorer(ip, "--no-progress --explore thr=0:10:0.5", body)
    mask, brain = ex.viewers
    drawn = []
    real = SliceViewer.draw
    monkeypatch.setattr(SliceViewer, "draw", lambda self: (drawn.append(self.label), real(self)))
    picture = brain.picture.value
    move(ex, thr=3.0)
    assert drawn == ["mask"]  # the head mask does not depend on thr: its picture stays
    assert brain.picture.value is picture and ex.viewers == [mask, brain]
    move(ex, thr=5.0)  # back: the mask is found again, and drawn again
    assert drawn == ["mask", "mask"]


def test_going_back_to_an_earlier_value_computes_nothing(ip, phantom):
    body = THRESHOLD_AFTER_DT.format(flair=phantom["flair"])
    ex = explorer(ip, "--no-progress --explore thr=0:10:0.5", body)
    first = ex.output_text()
    move(ex, thr=2.0)
    second = ex.output_text()
    assert second != first
    run = move(ex, thr=5.0)
    # every printed value comes back from memory: nothing at all is computed,
    # not even the cheap inline tasks (the goals themselves are found)
    assert run.stats["computed"] == 0 and run.computed_ops == []
    assert run.stats["cached"] == 2  # the two printed values
    assert ex.output_text() == first
    assert move(ex, thr=2.0).stats["computed"] == 0 and ex.output_text() == second


def test_positions_are_quantised_so_equal_positions_share_tasks(ip, phantom):
    body = THRESHOLD_AFTER_DT.format(flair=phantom["flair"])
    ex = explorer(ip, "--no-progress --explore thr=0:1:0.01=0.72", body)
    move(ex, thr=0.5)
    ex.set(thr=0.1 * 7.2)  # 0.7200000000000001, as a frontend may send it
    assert ex.wait(WAIT)
    assert ex.controls["thr"].value == 0.72 and ex.values == {"thr": 0.72}
    assert ex.last.stats["computed"] == 0


def test_a_burst_of_moves_runs_the_last_value_only(ip, phantom):
    """Deterministic: the worker is held (the session's lock, which every
    reduction takes) while 20 moves arrive; the run it had started is
    cancelled, the 19 others are replaced before they start."""
    body = THRESHOLD_AFTER_DT.format(flair=phantom["flair"])
    ex = explorer(ip, "--no-progress --explore thr=0:10:0.5", body)
    positions = [0.5 * k for k in range(1, 21)]  # 0.5 … 10.0
    with ex.session.lock:
        ex.set(thr=positions[0])
        with ex._cond:  # the worker took the first move, and now waits for the lock
            assert ex._cond.wait_for(lambda: ex._pending is None and ex._busy, WAIT)
        for v in positions[1:]:
            ex.set(thr=v)
    assert ex.wait(WAIT)
    # initial run + the run that took the first move (cancelled) + the last
    assert (ex.started, ex.finished, ex.cancelled) == (3, 2, 1)
    assert ex.values == {"thr": 10.0}
    expected = values_text(fresh(body, thr=10.0).printed)
    assert ex.output_widgets[0].value == expected["text/html"]
    assert ex.status.startswith("thr=10.0: computed ")


def test_a_free_running_burst_ends_on_the_last_value(ip, phantom):
    body = THRESHOLD_AFTER_DT.format(flair=phantom["flair"])
    ex = explorer(ip, "--no-progress --explore thr=0:10:0.5", body)
    for k in range(20):
        ex.set(thr=0.5 * (k % 19 + 1))  # 0.5 … 9.5, then 0.5 again
    ex.set(thr=7.5)
    assert ex.wait(WAIT)
    assert ex.started == ex.finished + ex.cancelled  # every run ended, one way or the other
    print("free burst: started, finished, cancelled", ex.started, ex.finished, ex.cancelled)
    assert ex.finished - 1 <= 5, (ex.started, ex.finished, ex.cancelled)  # far fewer than 21
    assert ex.values == {"thr": 7.5} and ex.last.values == {"thr": 7.5}
    assert ex.output_widgets[0].value == values_text(fresh(body, thr=7.5).printed)["text/html"]


def test_a_new_value_cancels_the_run_in_progress(ip, phantom, monkeypatch):
    """The run for thr=1 blocks inside a primitive; moving on cancels it at
    once (its worker keeps the task and stores it), the next value is
    shown, and going back to 1 later finds the stored task."""
    ip.run_line_magic("config", "VoxLogicA.jobs = 4")
    entered, release = threading.Event(), threading.Event()

    @vx.primitive("(num) -> num")
    def nb_gate(x):
        if x == 1:
            entered.set()
            release.wait(WAIT)
        return x * 10

    try:
        ex = explorer(ip, "--no-progress --explore k=0:3:1", 'print "g" nb_gate(k) .+. 1')
        assert ex.values == {"k": 2} and ex.result["g"] == 21.0  # middle of 0:3, rounded
        ex.set(k=1)
        assert entered.wait(WAIT)  # the run for k=1 is blocked in nb_gate
        move(ex, k=3)  # returns while nb_gate(1) is still blocked
        assert not release.is_set()
        assert ex.cancelled == 1 and ex.result["g"] == 31.0
        release.set()
        run = move(ex, k=1)
        assert ex.result["g"] == 11.0
        # nb_gate(1) finished after its run was cancelled, and was kept
        assert "nb_gate" not in run.computed_ops and run.stats["computed"] == 1  # just the .+.
    finally:
        release.set()
        vx.REGISTRY.remove("nb_gate")


# -- errors ----------------------------------------------------------------------------------------
def test_a_failing_value_shows_a_located_error_and_the_next_good_value_clears_it(ip, phantom):
    @vx.primitive("(num) -> num")
    def nb_checked(x):
        if x > 5:
            raise PrimitiveError(f"{x} is too high")
        return x

    try:
        ex = explorer(ip, "--no-progress --explore thr=0:10:1=2",
                      'print "ok" 1 .+. 1\nprint "v" nb_checked(thr) .*. 2')
        assert ex.error is None and ex.result["v"] == 4.0
        run = move(ex, thr=7)
        shown = ex.error
        assert run.error == shown
        assert "`nb_checked` failed: 7.0 is too high" in shown
        assert ":2:11: " in shown and '  print "v" nb_checked(thr) .*. 2' in shown
        assert "\n            ^" in shown  # the caret under nb_checked
        assert 'print "v" not computed' in shown
        assert "Traceback" not in shown and ".py" not in shown
        assert ex.error_box.layout.display is None and "too high" in ex.error_box.value
        assert ex.status.startswith("thr=7: 1 task(s) failed, computed ")
        assert ex.output_text() == "ok=2.0"  # what did not depend on the failure is shown
        move(ex, thr=3)  # the sliders still work, and a good value clears the error
        assert ex.error is None and ex.error_box.layout.display == "none" and ex.error_box.value == ""
        assert ex.output_text() == "ok=2.0\nv=6.0"
    finally:
        vx.REGISTRY.remove("nb_checked")


def test_a_static_error_shows_in_the_panel_and_keeps_the_outputs(ip, phantom):
    body = THRESHOLD_AFTER_DT.format(flair=phantom["flair"])
    ex = explorer(ip, "--no-progress --explore thr=3,5,far_away", body)
    assert ex.values == {"thr": 3.0}
    good = ex.output_text()
    run = move(ex, thr="far_away")  # a string where a number is needed
    assert run.stats is None
    assert ex.error.startswith("<cell ") and ":5:" in ex.error and "type error" in ex.error.lower()
    assert "let far = d >. thr" in ex.error and "^" in ex.error
    assert ex.output_text() == good  # the previous outputs stay
    assert ex.status.startswith("thr=far_away: error in ")
    move(ex, thr=5.0)
    assert ex.error is None and ex.output_text() != good
    assert ex.output_widgets[0].value == values_text(fresh(body, thr=5.0).printed)["text/html"]


def test_the_first_run_raises_static_errors_and_shows_task_failures(ip, phantom):
    res, cap = cell(ip, "--explore thr=0:1", 'print "v" thr .+. nothing')
    assert not res.success and "unknown name `nothing`" in text(cap)
    assert not cap.outputs and not magics(ip).loose_explorers
    res, cap = cell(ip, "--no-progress -o ex --explore thr=0:1",
                    'print "ok" thr\nload bad = "nope.nii.gz"\nprint "v" volume(intensity(bad) >. thr)')
    assert not res.success  # the cell fails, as any cell with a failed task …
    assert "`load` failed" in text(cap)
    (out,) = cap.outputs  # … and the panel is there, with the error
    ex = ip.user_ns["ex"]
    assert "`load` failed" in ex.error and "`load` failed" in out.data["text/plain"]
    assert out.data["text/plain"].startswith("voxlogica explorer: thr=0.5\nok=0.5")


# -- the magic's options, the Python function, parameters ---------------------------------------
def test_magic_usage_errors(ip):
    for line, message in [("--explore thr=1:0", "is empty"),
                          ("--explore thr=0:1:0", "step must be positive"),
                          ("--explore thr", "expected NAME=LO:HI"),
                          ("--explore 2x=0:1", "not an ImgQL name"),
                          ("--explore a=0:1 a=1:2", "given twice"),
                          ("--explore a=0:1=3", "outside 0:1"),
                          ("--explore a=x:y", "must be numbers"),
                          ("--jobs 2 --explore a=0:1", "--jobs does not combine")]:
        res, cap = cell(ip, line, 'print "a" 1')
        assert not res.success and isinstance(res.error_in_exec, UsageError), line
        assert message in str(res.error_in_exec), (line, str(res.error_in_exec))
    assert not magics(ip).loose_explorers


def test_help_documents_explore():
    doc = nbmagics.VoxLogicA.voxlogica.__doc__
    assert "--explore NAME=SPEC [NAME=SPEC ...]" in doc  # the usage line of %%voxlogica?
    assert "NAME=LO:HI[:STEP][=INIT]" in doc and "only the tasks that depend on" in doc


def test_parse_spec_and_python_params():
    p = parse_spec("thr=0.5:1:0.01")
    assert (p.lo, p.hi, p.step, p.initial, p.integer) == (0.5, 1, 0.01, 0.75, False)
    assert parse_spec("thr=0.5:1:0.01=0.95").initial == 0.95
    assert parse_spec("thr=0:1:0.1=0.33").initial == 0.3  # rounded to the step
    r = parse_spec("r=1:10:1")
    assert r.integer and r.initial == 5 and isinstance(r.initial, int)
    assert not parse_spec("r=1:10").integer and parse_spec("r=1:10").step == 0.1
    assert parse_spec("t=0:255").step == 1 and parse_spec("t=0:2.5").step == 0.01
    m = parse_spec("mode=a,b,c=b")
    assert m.options == ("a", "b", "c") and m.initial == "b"
    assert parse_spec("k=1,2.5").options == (1.0, 2.5) and parse_spec("b=true,false").options == (True, False)
    assert param_from_python("x", (0.5, 1.0, 0.01)).initial == 0.75
    assert param_from_python("x", (0, 4, 1)).integer and not param_from_python("x", (0, 4)).integer
    assert param_from_python("x", (0.0, 1.0, None, 0.2)).initial == 0.2
    assert param_from_python("x", ["a", 1.5]).initial == "a"
    for bad in [(1.0,), "0:1", (0, 1, -1), ["a", "a"], []]:
        with pytest.raises(ValueError):
            param_from_python("x", bad)


def test_python_explore_uses_the_notebook_session_and_displays_as_the_panel(ip, phantom):
    cell(ip, "", f'load scan = "{phantom["flair"]}"\nlet flair = intensity(scan)')
    ex = vx.explore('print "n" volume(flair >. level)\nprint "mode" mode',
                    level=(0.0, 1.0, 0.05), mode=["mean", "max"])
    try:
        assert ex.session is magics(ip).session  # sees the cells' bindings
        assert ex in magics(ip).loose_explorers
        assert ex.values == {"level": 0.5, "mode": "mean"}
        w = ex.controls["mode"]
        assert type(w).__name__ == "Dropdown" and type(ex.controls["level"]).__name__ == "FloatSlider"
        bundle = ex._repr_mimebundle_()
        assert bundle[WIDGET_MIME]["model_id"] == ex.panel.model_id
        assert bundle["text/plain"].startswith("voxlogica explorer: level=0.5, mode=mean\nn=")
        w.value = "max"
        assert ex.wait(WAIT)
        assert ex.result["mode"] == "max" and ex.last.stats["computed"] == 0  # volume(…) from memory
        assert ip.run_line_magic("voxlogica", "mode") == "max"  # the name is bound in the session
    finally:
        ex.close()


def test_python_explore_outside_a_notebook(phantom, monkeypatch):
    monkeypatch.setattr("voxlogica_nb.notebook.explore._notebook_magics", lambda: None)
    s = vx.Session()
    with pytest.raises(VoxLogicaError):
        vx.explore('print "v" nothing .+. t', s, t=(0, 1))
    ex = vx.explore('print "v" t .*. 2', s, t=(0, 10, 2))
    try:
        assert ex.result["v"] == 8.0  # initial 4: the middle, rounded to the step
        ex.set(t=6)
        assert ex.wait(WAIT) and ex.result["v"] == 12.0
    finally:
        ex.close()


# -- lifetime ------------------------------------------------------------------------------------------
def test_rerunning_the_cell_closes_its_explorer_and_names_follow_the_sliders(ip, phantom):
    body = THRESHOLD_AFTER_DT.format(flair=phantom["flair"])
    ex = explorer(ip, "--no-progress --explore thr=0:10:0.5", body, cell_id="c1")
    move(ex, thr=2.0)
    # the cell's bindings are those of the values shown
    assert ip.run_line_magic("voxlogica", "volume(far)") == fresh(body, thr=2.0)["far"]
    ex2 = explorer(ip, "--no-progress --explore thr=0:10:0.5=1", body, cell_id="c1")
    assert ex._closed and magics(ip).explorers["c1"] is ex2
    ex.set(thr=4.0)  # a closed explorer runs nothing
    assert ex.wait(WAIT) and ex.started == 2
    cell(ip, "", 'print "x" 1', cell_id="c1")  # the cell no longer explores
    assert ex2._closed and "c1" not in magics(ip).explorers


def test_bindings_and_reductions_hold_the_sessions_lock(ip, phantom, monkeypatch):
    """The reducer is not thread-safe: the explorer's worker binds, drops and
    reduces under the session's lock, and so do the magic's cells."""
    session = magics(ip).session
    seen = []
    real_bind, real_reduce = session.bind, session.reduce

    def bind(name, value):
        seen.append(("bind", threading.current_thread().name, session.lock._is_owned()))
        return real_bind(name, value)

    def reduce(text, source="<program>"):
        seen.append(("reduce", threading.current_thread().name, session.lock._is_owned()))
        return real_reduce(text, source)

    monkeypatch.setattr(session, "bind", bind)
    monkeypatch.setattr(session, "reduce", reduce)
    ex = explorer(ip, "--no-progress --explore thr=0:10:0.5", 'print "v" thr .*. 2')
    move(ex, thr=2.5)
    cell(ip, "--no-progress", 'print "w" 1')
    threads = {t for _, t, _ in seen}
    assert "voxlogica-explore" in threads and len(threads) == 2
    assert seen and all(owned for _, _, owned in seen), seen


def test_cells_run_while_an_explorer_runs(ip, phantom):
    """Main-thread cells and the explorer's worker reduce into one session."""
    body = THRESHOLD_AFTER_DT.format(flair=phantom["flair"])
    ex = explorer(ip, "--no-progress --explore thr=0:10:0.5", body)
    for k in range(10):
        ex.set(thr=0.5 * (k + 1))
        res, cap = cell(ip, "--no-progress -o r", f'let y{k} = {k} .+. 1\nprint "y" y{k} .*. 2')
        assert res.success, text(cap)
        assert ip.user_ns["r"]["y"] == 2.0 * (k + 1)
    assert ex.wait(WAIT) and ex.values == {"thr": 5.0} and ex.error is None
    assert ex.output_widgets[0].value == values_text(fresh(body, thr=5.0).printed)["text/html"]
