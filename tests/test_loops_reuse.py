"""Loops whose elements another loop of the same run (or an earlier run of
the session) already computed and dropped."""
import os

import pytest

import voxlogica_nb as vx
from voxlogica_nb import data


@pytest.fixture
def cases(tmp_path):
    folder = tmp_path / "cases"
    for n in (1, 2):
        for kind, path in data.write_phantom(str(tmp_path / "tmp"), seed=n).items():
            folder.mkdir(exist_ok=True)
            os.replace(path, folder / f"case{n}_{kind}.nii.gz")
    return str(folder)


def test_a_loop_over_values_another_loop_dropped(cases):
    s = vx.Session(jobs=2)
    s.run(f'let flairs = dir("{cases}", "*_flair.nii.gz")\n'
          'let segs = for p in flairs do intensity(load(p)) >. 0.5\n'
          'print "v" for i in range(0, length(flairs)) do volume(index(segs, i))')
    r = s.run('let scans = for p in flairs do intensity(load(p))\n'
              'print "m" for i in range(0, length(scans)) do volume(index(segs, i) & (index(scans, i) >. 0.7))')
    expected = [float(((data.phantom_flair(seed=n).array > 0.5) & (data.phantom_flair(seed=n).array > 0.7)).sum())
                for n in (1, 2)]
    assert r.ok and r["m"] == expected


def test_counts_of_a_cold_run_are_the_same_every_time(cases, tmp_path):
    prog = (f'load first = "{cases}/case1_flair.nii.gz"\n'
            f'let scans = for p in dir("{cases}", "*_flair.nii.gz") do intensity(load(p))\n'
            'print "v" for s in scans do volume(touch(s <. 0.1, border))')
    seen = {str(vx.run(prog, cache_dir=str(tmp_path / f"store{i}"), jobs=2).stats) for i in range(10)}
    assert len(seen) == 1 and "'waited': 0" in seen.pop()  # nothing waited: one process, one run


def test_a_loop_over_a_loop_reuses_per_element_and_recomputes_only_a_changed_file(tmp_path):
    """``for s in scans`` with ``scans = for f in dir(...)`` expands from the
    file list alone: a warm run neither loads a scan nor recomputes the
    (light, unstored) intensity of one, and a changed file recomputes that
    scan's pipeline and nothing else."""
    folder = tmp_path / "scans"
    folder.mkdir()
    for n in range(4):
        for kind, path in data.write_phantom(str(tmp_path / "tmp"), size=(12, 12, 8), seed=n).items():
            if kind == "flair":
                os.replace(path, folder / f"case{n}.nii.gz")
    prog = (f'let scans = for f in dir("{folder}", "*.nii.gz") do intensity(load(f))\n'
            'print "v" for s in scans do volume(s >. 0.5)')
    store = str(tmp_path / "store")
    cold = vx.run(prog, cache_dir=store)
    assert cold.ok and len(cold["v"]) == 4
    done = []
    warm = vx.run(prog, cache_dir=store, observers=[lambda ev: ev.kind == "done" and done.append(ev.op)])
    assert warm["v"] == cold["v"] and done == []
    other = data.write_phantom(str(tmp_path / "other"), size=(12, 12, 8), seed=9)["flair"]
    os.replace(other, folder / "case2.nii.gz")
    changed = vx.run(prog, cache_dir=store, observers=[lambda ev: ev.kind == "done" and done.append(ev.op)])
    assert sorted(done) == [".<", "intensity", "load", "volume"]
    expected = float((data.phantom_flair(size=(12, 12, 8), seed=9).array > 0.5).sum())
    assert changed["v"][2] == expected and changed["v"][:2] == cold["v"][:2] and changed["v"][3] == cold["v"][3]
