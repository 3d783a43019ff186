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
