"""What `voxlogica run` says about goals that were not computed, and the
VoxLogicA 1 log format."""
import re

import voxlogica_nb as vx

FAILING = ('load bad = "nope.png"\nprint "a" 1\nprint "v" volume(intensity(bad) >. 1)\n'
           'save "out.json" volume(intensity(bad) >. 1)\n')


def test_every_goal_not_computed_is_named(in_tmp, run_cli):
    code, out, err = run_cli(FAILING)
    assert code == 1
    assert out.splitlines() == ["a=1.0"]
    lines = err.splitlines()
    assert any(ln.endswith("prog.imgql:1:1: `load` failed: no such file 'nope.png'") for ln in lines)
    assert any(ln.endswith('prog.imgql:3:1: print "v" not computed: `load` at 1:1 failed') for ln in lines)
    assert any(ln.endswith('prog.imgql:4:1: save "out.json" not saved: `load` at 1:1 failed') for ln in lines)


def test_result_names_goals_not_computed(in_tmp):
    r = vx.run(FAILING, source_name="p.imgql")
    assert r["a"] == 1.0 and not r.ok
    assert r.not_done == ['p.imgql:3:1: print "v" not computed: `load` at 1:1 failed',
                          'p.imgql:4:1: save "out.json" not saved: `load` at 1:1 failed']
    assert 'print "v" not computed' in repr(r)


def test_failed_save_is_not_reported_twice(run_cli):
    code, out, err = run_cli('save "x.unknown" 1')
    assert code == 1
    assert "unknown extension" in err and "not saved" not in err


def test_log_format_voxlogica1(run_cli):
    code, out, err = run_cli('print "a" 1 + 2\nprint "s" "hi"\nprint "b" 1 < 2\nprint "l" range(0, 2)',
                             "--log-format", "voxlogica1")
    assert code == 0
    pattern = re.compile(r"^\[ *\d+ms\] \[user\] (\w+)=(.*)$")
    parsed = [pattern.match(line).groups() for line in out.splitlines()]
    assert parsed == [("a", "3.0"), ("s", '"hi"'), ("b", "true"), ("l", "[0.0; 1.0]")]


def test_runtime_warnings_are_located_lines_on_stderr(tmp_path, in_tmp, run_cli):
    from voxlogica_nb import data
    data.write_shapes(str(in_tmp), name="pic.png")
    code, out, err = run_cli('load pic = "pic.png"\nsave "big.png" intensity(pic) *. 10')
    assert code == 0
    lines = [ln for ln in err.splitlines() if "clipped" in ln]
    assert len(lines) == 1 and lines[0].startswith(str(tmp_path / "prog.imgql") + ":2:1: ")
    assert "warnings.warn" not in err and ".py:" not in err
