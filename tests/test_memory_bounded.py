"""Memory-bounded scheduling, what the LRU keeps, and located runtime warnings.

* A wide ``for`` streams: values are dropped after their last consumer and
  ready tasks whose inputs are in memory go first, so a threshold sweep
  never holds more than a few of its masks at once.
* A task starts only when its estimated memory fits the budget; one larger
  than the budget runs alone.
* With the store on, light intermediates stay out of the LRU, and so do
  large values the store hands back memory-mapped.
* Warnings of primitives become one located line each in ``Result.warnings``.
"""
from __future__ import annotations

import threading
import warnings

import numpy as np
import pytest

import voxlogica_nb as vx
from _build import num, save, store_of
from voxlogica_nb.engine.diskstore import DiskStore
from voxlogica_nb.engine.memory import default_budget, parse_memory
from voxlogica_nb.engine.store import MemoryStore

MB = 1 << 20


def write(path, arr, spacing=None):
    save(path, num(arr, spacing))


def run(engine, text, source="prog.imgql"):
    """Run ``text`` on ``engine``; the scheduler's Outcome (with peak_bytes)."""
    s = vx.Session(engine=engine)
    reduced = s.reduce(text, source)
    return s, engine.run(reduced.effects, s.table)


SWEEP = """let counts = for path in dir("{folder}", "*.nii") do
  let f = intensity(load(path)) in
  let lo = min(f) in
  let hi = max(f) in
  for i in range(0, {n}) do volume(f >. (lo + ((hi - lo) * (i / {last}))))
print "counts" counts
"""


def sweep_expected(arrays, n):
    out = []
    for a in arrays:
        lo, hi = float(a.min()), float(a.max())
        out.append([float(np.count_nonzero(a > np.float32(lo + ((hi - lo) * (i / (n - 1)))))) for i in range(n)])
    return out


@pytest.mark.parametrize("store", ["disk", "none"])
def test_wide_sweep_streams_within_the_budget(tmp_path, store):
    shape, volumes, n = (64, 64, 64), 5, 100
    rng = np.random.default_rng(1)
    arrays = [rng.random(shape, dtype=np.float32) * (k + 1) for k in range(volumes)]
    folder = tmp_path / "scans"
    folder.mkdir()
    for k, a in enumerate(arrays):
        write(folder / f"scan{k}.nii", a)
    budget = 64 * MB
    engine = vx.Engine(store_of(store, tmp_path), jobs=2, memory_bytes=budget)
    options = {} if store == "disk" else {"no_cache": True}
    s = vx.Session(engine=engine)
    reduced = s.reduce(SWEEP.format(folder=folder, n=n, last=n - 1), "sweep.imgql")
    out = engine.run(reduced.effects, s.table, **options)
    assert out.failures == []
    assert out.printed == [("counts", sweep_expected(arrays, n))]

    volume_bytes = arrays[0].nbytes  # 1 MB of float32 voxels
    mask_bytes = arrays[0].size  # uint8
    # Breadth first, every mask of the run is alive at once (the old
    # behaviour): far more than the budget.
    everything = volumes * n * mask_bytes + volumes * volume_bytes
    bound = 2 * 8 * volume_bytes  # the working set of the tasks in flight (2 workers)
    assert everything > budget + bound
    assert volume_bytes <= out.peak_bytes <= budget + bound
    # and in fact streaming: a few volumes and masks, not a volume's 100 masks
    assert out.peak_bytes <= 3 * volume_bytes + 16 * mask_bytes
    assert engine.account.used == 0  # the run gave back all it held


def test_tasks_start_only_when_their_memory_fits():
    side = 1 << 10  # 1024 x 1024 float32: 4 MB per image
    running, most = [0], [0]
    lock = threading.Lock()
    gate = threading.Event()

    @vx.primitive("(nimg, num) -> nimg", name="membig")
    def membig(img, k):
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        gate.wait(0.05)  # give other admitted tasks the time to start
        with lock:
            running[0] -= 1
        return img.like(img.array + np.float32(k))

    # one task: 4 MB out + a working set of 3 x 4 MB = 16 MB; two fit in 40 MB, three do not
    engine = vx.Engine(MemoryStore(), jobs=4, memory_bytes=40 * MB)
    s = vx.Session(engine=engine)
    s.bind("img", np.zeros((side, side), np.float32))
    terms = " .+. ".join(f"max(membig(img, {k}))" for k in range(8))
    reduced = s.reduce(f'print "s" {terms}')
    out = engine.run(reduced.effects, s.table, no_cache=True)
    assert out.failures == [] and out.printed == [("s", float(sum(range(8))))]
    assert 1 <= most[0] <= 2


def test_a_task_larger_than_the_budget_runs_alone():
    engine = vx.Engine(MemoryStore(), jobs=2, memory_bytes=MB)  # smaller than any image here
    s = vx.Session(engine=engine)
    big = np.arange(2048 * 1024, dtype=np.float32).reshape(2048, 1024)  # 8 MB
    s.bind("big", big)
    reduced = s.reduce('print "a" volume(big >. 1000)\nprint "b" max(big *. 2)')
    out = engine.run(reduced.effects, s.table, no_cache=True)
    assert out.failures == []
    assert out.printed == [("a", float(big.size - 1001)), ("b", float(big.max() * 2))]
    assert out.peak_bytes > MB


def test_light_intermediates_stay_out_of_the_lru(tmp_path):
    rng = np.random.default_rng(2)
    small = rng.random((64, 64), dtype=np.float32)
    large = rng.random((1024, 1024), dtype=np.float32)  # 4 MB: memory-mapped by the store
    write(tmp_path / "small.nii", small)
    write(tmp_path / "large.nii", large)
    terms = " | ".join(f"(x >. {k / 40:g})" for k in range(1, 40))
    program = (f'load img = "{tmp_path}/small.nii"\nlet x = intensity(img)\n'
               f'print "v" volume({terms})\n'
               f'let y = intensity(load("{tmp_path}/large.nii"))\n'
               f'print "w" volume(y >. 0.5)\n')
    expected = [("v", float(np.count_nonzero(small > np.float32(1 / 40)))),
                ("w", float(np.count_nonzero(large > np.float32(0.5))))]

    engine = vx.Engine(DiskStore(tmp_path / "cache"), jobs=2)
    s, out = run(engine, program)
    assert out.failures == [] and out.printed == expected
    kept = {tid: s.table.get(tid) for tid in engine.memory.keys()}
    ops = sorted(t.op for t in kept.values())
    assert all(t.cost == "heavy" for t in kept.values()), ops
    assert "or" not in ops and "and" not in ops  # voxel-wise intermediates
    assert ops.count("load") == 1  # the small image; the large one is read back memory-mapped
    assert ops.count("volume") == 2  # the goals

    # the same values without the store, and again from the store
    plain = vx.Engine(MemoryStore(), jobs=2)
    _, ref = run(plain, program)
    assert ref.printed == expected
    _, again = run(engine, program)
    assert again.printed == expected and again.stats["computed"] == 0


def test_saved_values_are_dropped_once_saved(tmp_path):
    engine = vx.Engine(MemoryStore(), jobs=1)
    s = vx.Session(engine=engine)
    s.bind("img", np.ones((512, 512), np.float32))
    lines = [f'save "{tmp_path}/out{k}.nii" img *. {k + 1}' for k in range(12)]
    reduced = s.reduce("\n".join(lines))
    out = engine.run(reduced.effects, s.table, no_cache=True)
    assert out.failures == [] and len(out.saved) == 12
    assert out.peak_bytes <= 3 * 512 * 512 * 4  # not twelve images alive until the end
    assert out.values == {}


def test_runtime_warnings_are_located_lines(tmp_path, recwarn):
    s = vx.Session(engine=vx.Engine(MemoryStore(), jobs=2))
    s.bind("img", np.linspace(0, 1000, 64 * 48, dtype=np.float32).reshape(48, 64))
    seen = []
    r = s.run(f'let a = img\nprint "one" 1\nsave "{tmp_path}/a.png" a\n', "prog.imgql",
              observers=[lambda ev: seen.append(ev) if ev.kind == "warning" else None])
    assert r.ok, r.failures
    assert r.warnings == [f"prog.imgql:3:1: save: values of the image saved to '{tmp_path}/a.png' "
                          "outside 0..255 were clipped (range 0.0..1000.0)"]
    assert [ev.data["text"] for ev in seen] == r.warnings
    assert len(recwarn) == 0  # no Python warning, nothing naming a file of the package


def test_load_adopting_the_base_geometry_warns_at_the_load(tmp_path, recwarn):
    write(tmp_path / "a.nii", np.zeros((4, 5, 6)), spacing=(1.0, 1.0, 1.0))
    write(tmp_path / "b.nii", np.ones((4, 5, 6)), spacing=(2.0, 1.0, 1.0))
    s = vx.Session(engine=vx.Engine(MemoryStore(), jobs=2))
    r = s.run(f'load a = "{tmp_path}/a.nii"\nprint "n" 1\nload b = "{tmp_path}/b.nii"\n'
              'print "v" volume(intensity(b) >. 0.5)\n', "geo.imgql")
    assert r.ok and r["v"] == 120.0
    assert len(r.warnings) == 1 and r.warnings[0].startswith("geo.imgql:3:")
    assert "using the base image's geometry" in r.warnings[0]
    assert len(recwarn) == 0


def test_report_outside_a_run_is_a_python_warning():
    from voxlogica_nb.primitives.registry import report

    with pytest.warns(UserWarning, match="something to say"):
        report("something to say")


def test_memory_budget_settings(monkeypatch):
    assert parse_memory("2G") == 2 << 30 and parse_memory("512M") == 512 << 20
    assert parse_memory("1.5GB") == 3 << 29 and parse_memory(1000) == 1000
    assert parse_memory("25%", ram=8 << 30) == 2 << 30
    with pytest.raises(ValueError):
        parse_memory("lots")
    monkeypatch.setenv("VOXLOGICA_MEMORY", "3G")
    assert default_budget() == 3 << 30 and vx.Engine(MemoryStore()).memory_bytes == 3 << 30
    assert vx.Engine(MemoryStore(), memory_bytes=123 * MB).memory_bytes == 123 * MB
    monkeypatch.delenv("VOXLOGICA_MEMORY")
    import os

    ram = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    assert default_budget() == max(256 * MB, ram // 4)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        monkeypatch.setenv("VOXLOGICA_MEMORY", "nonsense")
        assert default_budget() == max(256 * MB, ram // 4)
