"""The notebook extension in an in-process IPython shell: magics, sessions
across cells, display bundles, errors, settings, progress."""
from __future__ import annotations

import base64

import numpy as np

from IPython.utils.capture import capture_output

import voxlogica_nb as vx
from voxlogica_nb import data
from voxlogica_nb.notebook import magics as nbmagics
from voxlogica_nb.notebook.progress import WIDGET_MIME

from _shell import PNG, cell, magics, text

HEAVY = """load scan = "{flair}"
let flair = intensity(scan)
let brain = !touch(flair <. 0.1, border)
let d = dt(brain)
print "vol" volume(brain)
print "far" volume(d >. 3)
"""


def test_bindings_persist_across_cells(ip):
    res, _ = cell(ip, "", "let x = 2\nlet f(a) = a .*. x")
    assert res.success
    res, cap = cell(ip, "-o r", 'print "y" f(3) .+. 1')
    assert res.success, text(cap)
    assert ip.user_ns["r"]["y"] == 7.0
    assert any("y=7.0" in o.data["text/plain"] for o in cap.outputs)


def test_rerun_unchanged_cell_computes_nothing(ip, phantom):
    body = HEAVY.format(flair=phantom["flair"])
    res, cap = cell(ip, "-o r", body)
    assert res.success, text(cap)
    first = ip.user_ns["r"]
    assert first.stats["computed"] > 0
    res, _ = cell(ip, "-o r2", body)
    again = ip.user_ns["r2"]
    assert again.stats["computed"] == 0
    assert again["vol"] == first["vol"] and again["far"] == first["far"]


def test_rerun_of_a_cell_replaces_its_bindings(ip):
    cell(ip, "", "let a = 1\nlet b = 2", cell_id="c1")
    res, cap = cell(ip, "", "let a = 3", cell_id="c1")  # b is no longer made by this cell
    assert res.success
    res, cap = cell(ip, "", 'print "b" b')
    assert not res.success
    assert "unknown name `b`" in text(cap)
    res, cap = cell(ip, "-o r", 'print "a" a')
    assert ip.user_ns["r"]["a"] == 3.0


def test_inputs_numpy_and_simpleitk(ip):
    import SimpleITK as sitk

    arr = np.zeros((20, 30), dtype=np.float32)
    arr[5:10, 5:15] = 1.0
    ip.user_ns["arr"] = arr
    ip.user_ns["img"] = sitk.GetImageFromArray(arr * 2)
    ip.user_ns["k"] = 1.5
    res, cap = cell(ip, "-i arr,img -i k -o r", 'print "a" volume(arr >. 0.5)\nprint "b" volume(img >. k)')
    assert res.success, text(cap)
    assert ip.user_ns["r"]["a"] == 50.0
    assert ip.user_ns["r"]["b"] == 50.0


def test_inputs_bad_name_and_type_are_usage_errors(ip):
    res, cap = cell(ip, "-i nothere", 'print "a" 1')
    assert not res.success and "no Python variable named 'nothere'" in text(cap)
    ip.user_ns["v"] = object()
    res, cap = cell(ip, "-i v", 'print "a" 1')
    assert not res.success and "-i v: cannot bind" in text(cap)
    assert "Traceback" not in text(cap)


def test_line_magic_returns_python_values(ip, phantom):
    cell(ip, "", f'load scan = "{phantom["flair"]}"\nlet m = intensity(scan) >. 0.5\nlet s = "hi"')
    assert isinstance(ip.run_line_magic("voxlogica", "volume(m)"), float)
    assert ip.run_line_magic("voxlogica", "volume(m) .>. 0") is True
    assert ip.run_line_magic("voxlogica", "s") == "hi"
    assert ip.run_line_magic("voxlogica", "for i in range(0, 3) do i .*. 2") == [0.0, 2.0, 4.0]
    img = ip.run_line_magic("voxlogica", "m")
    assert isinstance(img, vx.Image) and img.kind == "bool" and img.ndim == 3


def test_syntax_error_shows_location_and_caret_only(ip):
    res, cap = cell(ip, "", 'let a = 1\nprint "x" a +\n')
    assert not res.success
    shown = text(cap)
    assert ":2:" in shown and "^" in shown
    assert "Traceback" not in shown and "voxlogica_nb/" not in shown and ".py" not in shown


def test_unknown_name_has_hint_and_cell_source(ip):
    cell(ip, "", "let brightness = 3")
    res, cap = cell(ip, "", 'print "x" brightnes .+. 1')
    assert not res.success
    assert "did you mean `brightness`?" in text(cap)
    assert 'print "x" brightnes .+. 1' in text(cap)
    assert "<cell " in text(cap)


def test_error_inside_a_function_of_an_earlier_cell_quotes_that_cell(ip):
    with capture_output():
        ip.run_cell('%%voxlogica\nlet f(x) = x .+. "a"', store_history=True)
        ip.run_cell('%%voxlogica\nlet y = 1', store_history=True)
    with capture_output() as cap:
        res = ip.run_cell('%%voxlogica\nprint "v" f(1)', store_history=True)
    assert not res.success
    shown = text(cap)
    n = len(ip.user_ns["In"]) - 1
    assert f"<cell {n}>:1:11: type error" in shown and f"(in <cell {n - 2}>:1:" in shown
    assert 'print "v" f(1)' in shown


def test_failing_task_other_goals_displayed(ip):
    res, cap = cell(ip, "-o r", 'print "ok" 1 .+. 1\nload bad = "nope.nii.gz"\nprint "v" volume(intensity(bad) >. 1)')
    assert not res.success
    shown = "\n".join(o.data["text/plain"] for o in cap.outputs)
    assert "ok=2.0" in shown
    assert "`load` failed" in text(cap) and "nope.nii.gz" in text(cap)
    assert 'load bad = "nope.nii.gz"' in text(cap) and "^" in text(cap)
    assert 'print "v" not computed' in text(cap)
    assert "Traceback" not in text(cap) and "voxlogica_nb/" not in text(cap)
    r = ip.user_ns["r"]
    assert not r.ok and r.failures[0].traceback  # the full traceback is kept in the result


def test_display_bundles_2d_3d_and_masks(ip, phantom, tmp_path, monkeypatch):
    monkeypatch.setattr(nbmagics, "frontend_has_widgets", lambda shell: True)
    shapes = data.write_shapes(str(tmp_path / "sh"))
    res, cap = cell(ip, "--no-progress", f'load pic = "{shapes}"\nprint "pic" pic\nprint "red" red(pic) >. 200')
    assert res.success, text(cap)
    pic, red = cap.outputs
    assert base64.b64decode(pic.data["image/png"]).startswith(PNG)
    assert "colour image 160×120" in pic.data["text/plain"]
    assert WIDGET_MIME not in pic.data  # 2D: a picture, no viewer
    assert "over the base image" in red.data["text/plain"]
    res, cap = cell(ip, "--no-progress", f'load scan = "{phantom["flair"]}"\nprint "flair" intensity(scan)\n'
                                         f'print "n" 3\nprint "l" range(0, 3)')
    assert res.success, text(cap)
    vol, nums = cap.outputs
    assert base64.b64decode(vol.data["image/png"]).startswith(PNG)  # static picture, always
    assert WIDGET_MIME in vol.data  # and the slice viewer
    assert "axial slice 16 of 32" in vol.data["text/plain"]
    assert nums.data["text/plain"] == "n=3.0\nl=[0.0, 1.0, 2.0]"
    assert "<table" in nums.data["text/html"]
    for o in cap.outputs:
        assert "object at 0x" not in o.data["text/plain"] and "SimpleITK" not in o.data["text/plain"]


def test_slice_viewer_slider_and_axis_change_picture(ip, phantom, monkeypatch):
    monkeypatch.setattr(nbmagics, "frontend_has_widgets", lambda shell: True)
    cell(ip, "--no-progress", f'load scan = "{phantom["flair"]}"\nprint "flair" intensity(scan)', cell_id="v")
    (viewer,) = magics(ip).viewers["v"]
    first = bytes(viewer.picture.value)
    assert first.startswith(PNG)
    viewer.slider.value = 3
    assert bytes(viewer.picture.value) != first
    viewer.axis.value = 2
    assert viewer.slider.max == 47 and viewer.slider.value == 24
    width = int.from_bytes(bytes(viewer.picture.value)[16:20], "big")
    assert viewer.picture.layout.width == f"{width}px"  # its own size, not stretched


def test_progress_widget_final_state_equals_counts(ip, phantom, monkeypatch):
    monkeypatch.setattr(nbmagics, "frontend_has_widgets", lambda shell: True)
    made = []
    real = nbmagics.WidgetProgress

    def spy(display):
        w = real(display)
        made.append(w)
        return w

    monkeypatch.setattr(nbmagics, "WidgetProgress", spy)
    res, cap = cell(ip, "-o r", HEAVY.format(flair=phantom["flair"]))
    assert res.success, text(cap)
    r = ip.user_ns["r"]
    (w,) = made
    s = w.state
    assert (s.computed, s.cached, s.waited, s.failed) == (r.stats["computed"], r.stats["cached"],
                                                           r.stats["waited"], r.stats["failed"])
    assert repr(w) == f"voxlogica ok: computed {r.stats['computed']}, from store {r.stats['cached']}, " \
                      f"waited 0, failed 0 in {s.seconds:.2f} s"
    assert w.bar.value == w.bar.max > 0  # every planned task was computed
    first, final = cap.outputs[0], [o for o in cap.outputs if o.update]
    assert WIDGET_MIME in first.data  # the live widget …
    assert final and final[-1].data == {"text/plain": repr(w)}  # … becomes the summary line


def test_text_progress_without_widgets(ip):
    res, cap = cell(ip, "", 'print "a" 1')
    assert "voxlogica ok: computed" in text(cap)
    res, cap = cell(ip, "--no-progress", 'print "a" 1')
    assert "voxlogica ok" not in text(cap)


def test_config_takes_effect(ip, tmp_path):
    m = magics(ip)
    ip.run_line_magic("config", "VoxLogicA.jobs = 1")
    assert m.session.engine.jobs == 1
    ip.run_line_magic("config", f"VoxLogicA.cache_dir = '{tmp_path / 'other'}'")
    assert str(m.session.engine.store.root).startswith(str(tmp_path / "other"))
    ip.run_line_magic("config", "VoxLogicA.progress = 'off'")
    res, cap = cell(ip, "", 'print "a" 1')
    assert "voxlogica ok" not in text(cap)
    with capture_output():
        ip.run_line_magic("config", "VoxLogicA.backend = 'nonsense'")
    assert m.backend == "threads"


def test_quiet_displays_nothing_but_sets_output(ip):
    res, cap = cell(ip, "--quiet -o r", 'print "a" 1 .+. 2')
    assert res.success and not cap.outputs and not text(cap)
    assert ip.user_ns["r"]["a"] == 3.0


def test_bad_option_is_usage_error(ip):
    res, cap = cell(ip, "--jobs many", 'print "a" 1')
    assert not res.success
    assert "UsageError" in text(cap) or "usage" in text(cap).lower()


def test_python_primitive_from_a_cell_and_its_edit(ip):
    ip.run_cell("import voxlogica_nb\n@voxlogica_nb.primitive('(num) -> num')\ndef nb_twice(x):\n    return x * 2\n")
    res, cap = cell(ip, "-o r", 'print "v" nb_twice(4)')
    assert res.success, text(cap)
    assert ip.user_ns["r"]["v"] == 8.0 and ip.user_ns["r"].stats["computed"] >= 1
    res, cap = cell(ip, "-o r", 'print "v" nb_twice(4)')
    assert ip.user_ns["r"].stats["computed"] == 0
    ip.run_cell("@voxlogica_nb.primitive('(num) -> num')\ndef nb_twice(x):\n    return x * 3\n")
    res, cap = cell(ip, "-o r", 'print "v" nb_twice(4)')
    assert ip.user_ns["r"]["v"] == 12.0 and ip.user_ns["r"].stats["computed"] >= 1
    vx.REGISTRY.remove("nb_twice")


def test_cache_magic(ip):
    cell(ip, "", 'print "a" 1')
    with capture_output() as cap:
        ip.run_line_magic("voxlogica_cache", "info")
        ip.run_line_magic("voxlogica_cache", "running")
    assert "cache folder:" in text(cap) and "no task is running" in text(cap)
    with capture_output() as cap:
        ip.run_cell("%voxlogica_cache prune lots")
    assert "not a size" in text(cap)


def test_reload_and_double_load_keep_the_session(ip):
    cell(ip, "", "let kept = 5")
    assert ip.extension_manager.load_extension("voxlogica_nb") == "already loaded"
    with capture_output():
        ip.run_line_magic("reload_ext", "voxlogica_nb")
    res, cap = cell(ip, "-o r", 'print "k" kept')
    assert res.success, text(cap)
    assert ip.user_ns["r"]["k"] == 5.0


def test_settings_from_ipython_config(ip, tmp_path):
    """``c.VoxLogicA.jobs = 1`` in ipython_config.py reaches the extension when it loads."""
    ip.extension_manager.unload_extension("voxlogica_nb")
    ip.config.VoxLogicA.jobs = 1
    ip.config.VoxLogicA.progress = "off"
    try:
        ip.extension_manager.load_extension("voxlogica_nb")
        m = magics(ip)
        assert (m.jobs, m.progress) == (1, "off")
        assert m.session.engine.jobs == 1
    finally:
        ip.config.pop("VoxLogicA", None)


def test_magic_help_lists_its_options(ip):
    doc = magics(ip).voxlogica.__doc__
    for option in ("-o NAME", "--no-cache", "--force", "--jobs", "--no-progress", "--timeout", "--quiet", "-i"):
        assert option in doc


def test_cache_clear_also_empties_the_kernels_memory(ip, phantom):
    body = HEAVY.format(flair=phantom["flair"])
    cell(ip, "-o r", body)
    with capture_output() as cap:
        ip.run_line_magic("voxlogica_cache", "info")
    root = magics(ip).session.engine.store.base
    assert f"cache folder: {root}\n" in cap.stdout  # the folder to pass to --cache-dir
    with capture_output():
        ip.run_line_magic("voxlogica_cache", "clear")
    res, cap = cell(ip, "-o r2", body)
    assert ip.user_ns["r2"].stats["cached"] == 0  # nothing served from memory after a clear
    assert ip.user_ns["r2"].stats["computed"] == ip.user_ns["r"].stats["computed"]
