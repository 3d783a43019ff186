"""The table of small values (``engine/records.py``) and the engine's use of
it: batched commits of unclaimed values, builtins too quick for a claim,
and a database that breaks (it costs speed, never a value or a crash)."""
from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time

import numpy as np
import pytest

import voxlogica_nb as vx
from _build import Recorder, all_records, raw_record
from voxlogica_nb.engine import records as records_module
from voxlogica_nb.engine import worker
from voxlogica_nb.engine.claims import ClaimTable
from voxlogica_nb.engine.diskstore import DiskStore
from voxlogica_nb.engine.store import MISSING

A = "ab" + "1" * 62
B = "cd" + "2" * 62


def other_process_sees(root, tid):
    """What a fresh process reads for ``tid`` (repr), or "MISSING"."""
    code = ("import sys\nfrom voxlogica_nb.engine.diskstore import DiskStore\nfrom voxlogica_nb.engine.store "
            "import MISSING\nv = DiskStore(sys.argv[1]).get(sys.argv[2])\n"
            "print('MISSING' if v is MISSING else repr(v))")
    out = subprocess.run([sys.executable, "-c", code, str(root), tid], capture_output=True, text=True,
                         check=True)
    return out.stdout.strip()


# -- batches ----------------------------------------------------------------------------

def test_a_batched_value_is_seen_here_at_once_and_elsewhere_after_the_flush(tmp_path):
    s = DiskStore(tmp_path)
    s.put(A, 1.5, {"op": "x"}, later=True)
    assert s.get(A) == 1.5 and s.contains(A) and s.meta(A)["op"] == "x"
    assert other_process_sees(tmp_path, A) == "MISSING"  # not written yet
    s.flush()
    assert other_process_sees(tmp_path, A) == "1.5"
    s.put(B, (1, "two"), {}, later=True)
    s.close()  # closing flushes too
    assert other_process_sees(tmp_path, B) == "(1, 'two')"


def test_a_full_batch_is_written_without_a_flush(tmp_path):
    s = DiskStore(tmp_path)
    ids = [f"{k:02x}" + "0" * 62 for k in range(records_module.BATCH)]
    for k, tid in enumerate(ids):
        s.put(tid, float(k), {}, later=True)
    fresh = DiskStore(tmp_path)
    assert [fresh.get(t) for t in ids] == [float(k) for k in range(len(ids))]
    assert fresh.info()["count"] == len(ids)


def test_a_batched_value_replaced_or_removed_before_its_flush(tmp_path):
    s = DiskStore(tmp_path)
    s.put(A, 1.0, {}, later=True)
    s.put(A, 2.0, {})  # committed now: the pending row must not overwrite it later
    s.flush()
    assert DiskStore(tmp_path).get(A) == 2.0
    s.put(B, 3.0, {}, later=True)
    assert s.clear()["removed"] == 2
    s.flush()
    assert DiskStore(tmp_path).info()["count"] == 0


# -- a database that breaks ---------------------------------------------------------------

def _break_with_garbage(s):
    with open(s.records.path, "wb") as f:
        f.write(os.urandom(8192))


def _break_as_folder(s):
    os.mkdir(s.records.path)


@pytest.mark.parametrize("damage", [_break_with_garbage, _break_as_folder], ids=["garbage", "folder"])
def test_an_unusable_database_costs_speed_never_a_value(tmp_path, damage):
    s = DiskStore(tmp_path)
    s.put(A, 1.5, {})
    s.close()
    for suffix in ("", "-wal", "-shm"):
        if os.path.isfile(s.records.path + suffix):
            os.unlink(s.records.path + suffix)
    damage(s)
    rec = Recorder()
    s = DiskStore(tmp_path, warn=rec)
    assert s.get(A) is MISSING  # lost with its table: recomputed, never misread
    for k in range(3):
        s.put(B, float(k), {})
        s.put(A, (k, "x"), {}, later=True)
    assert s.get(B) == 2.0 and s.get(A) == (2, "x")  # in record files meanwhile
    assert DiskStore(tmp_path, warn=Recorder()).get(B) == 2.0
    assert raw_record(s, B) is not None and (s.objects / B[:2] / (B + ".json")).exists()
    assert len(rec.messages) == 1 and "cache clear" in rec.messages[0]
    assert s.info()["count"] == 2
    s.clear()  # removes the broken database: the next store has a table again
    fresh = DiskStore(tmp_path, warn=rec)
    fresh.put(A, 4.0, {})
    assert fresh.records.get(A) is not None and other_process_sees(tmp_path, A) == "4.0"
    assert len(rec.messages) == 1


def test_a_database_error_while_writing_sends_the_value_to_a_file(tmp_path, monkeypatch):
    rec = Recorder()
    s = DiskStore(tmp_path, warn=rec)
    s.put(A, 1.0, {})
    real = s.records._write_pending

    def full(db):
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(s.records, "_write_pending", full)
    s.put(B, 2.0, {}, later=True)  # the batch waits in memory ...
    s.flush()  # ... and its write fails: the table turns off, the batch is lost
    assert len(rec.messages) == 1 and "disk is full" in rec.messages[0]
    assert s.get(B) is MISSING
    s.put(B, 2.0, {})  # from now on: files
    assert (s.objects / B[:2] / (B + ".json")).exists() and DiskStore(tmp_path).get(B) == 2.0
    monkeypatch.setattr(s.records, "_write_pending", real)
    assert DiskStore(tmp_path).get(A) == 1.0  # what the table held is still there for others


def test_the_table_and_its_log_are_owner_only(tmp_path):
    old = os.umask(0)
    try:
        s = DiskStore(tmp_path / "c")
        s.put(A, 1.0, {})
        names = [n for n in os.listdir(s.root) if n.startswith("records.sqlite")]
        assert "records.sqlite" in names and "records.sqlite-wal" in names
        assert {n: oct(os.stat(s.root / n).st_mode & 0o777) for n in names} == {n: "0o600" for n in names}
    finally:
        os.umask(old)


# -- the engine -------------------------------------------------------------------------

@pytest.fixture
def claims_taken(monkeypatch):
    """The ids the engine claims (every claim goes through try_acquire)."""
    taken = []
    real = ClaimTable.try_acquire

    def spy(self, task_id, op=""):
        taken.append(op)
        return real(self, task_id, op)

    monkeypatch.setattr(ClaimTable, "try_acquire", spy)
    return taken


def _image(tmp_path):
    import SimpleITK as sitk

    path = str(tmp_path / "img.nii")
    sitk.WriteImage(sitk.GetImageFromArray(np.random.default_rng(0).random((8, 8, 8), dtype=np.float32)), path)
    return path


def _program(path, n):
    terms = " .+. ".join(f"max(x *. {k + 2})" for k in range(n))
    return f'load img = "{path}"\nlet x = intensity(img)\nprint "s" {terms}\n'


def test_quick_builtins_go_unclaimed_and_are_still_stored(tmp_path, claims_taken, monkeypatch):
    monkeypatch.setattr(worker, "CLAIM_WORTH_SECONDS", 60.0)  # every task quick, however loaded the machine
    path, cache = _image(tmp_path), tmp_path / "cache"
    program = _program(path, 12)
    engine = vx.Engine(DiskStore(cache), jobs=1)  # one at a time: each measured before the next starts
    r = vx.Session(engine=engine).run(program)
    while engine.busy():
        pass
    assert engine.costs.quick.get("max") == worker.QUICK_RUNS  # measured quick
    # the first tasks of `max` were claimed until it proved quick; the rest were not
    assert claims_taken.count("max") == worker.QUICK_RUNS
    # every value is stored all the same: a fresh process computes nothing
    # (another connection sees the batched rows: the engine flushed them when it went idle)
    stored = [meta["op"] for meta in all_records(DiskStore(cache)).values()]
    assert stored.count("max") == 12 and "load" in stored
    again = vx.Session(cache_dir=str(cache)).run(program)
    assert again["s"] == r["s"] and again.stats["computed"] == 0


def test_measured_costs_move_an_operator_between_classes():
    costs = worker.Costs()

    class T:
        op = "max"

        class prim:
            packaged = True

    small, large = 1.5, np.zeros(worker.LARGE_BYTES // 8 * 4)  # 4 MB
    for _ in range(worker.QUICK_RUNS):
        assert costs.claim(T)
        costs.measured(T, 0.0001, small)
    assert not costs.claim(T) and costs.store(T)  # quick: unclaimed, stored
    costs.measured(T, worker.CLAIM_WORTH_SECONDS * 2, small)  # one slow task: claimed again
    assert costs.claim(T) and costs.store(T)
    fast = large.nbytes / worker.STORE_BYTES_PER_SECOND / 4  # a quarter of the time to write it
    for _ in range(worker.QUICK_RUNS):
        costs.measured(T, fast, large)
    assert not costs.claim(T) and not costs.store(T)  # quicker to make than to store
    costs.measured(T, fast * 8, large)  # twice the time it takes to write it: worth storing again
    assert costs.claim(T) and costs.store(T)
    T.prim.packaged = False  # a user's primitive keeps the class it declares
    for _ in range(10):
        costs.measured(T, 0.0001, large)
    assert costs.claim(T) and costs.store(T)


def test_an_operator_quicker_than_storing_its_output_is_not_stored_but_goals_are(tmp_path, claims_taken,
                                                                                   monkeypatch):
    import SimpleITK as sitk

    # whatever the load: every 4 MB image is quicker to make than to store, and no task is "quick"
    monkeypatch.setattr(worker, "STORE_BYTES_PER_SECOND", 1.0)
    monkeypatch.setattr(worker, "CLAIM_WORTH_SECONDS", 0.0)

    path = str(tmp_path / "big.nii")
    arr = np.random.default_rng(1).random((64, 128, 128), dtype=np.float32)  # 4 MB an image
    sitk.WriteImage(sitk.GetImageFromArray(arr), path)
    cache = tmp_path / "cache"
    n = 8
    op = "simpleitk.Abs"  # heavy until measured
    terms = " .+. ".join(f"volume({op}(x -. {k / n}) >. 0.25)" for k in range(n))
    head = f'load img = "{path}"\nlet x = intensity(img)\n'
    program = head + f'print "s" {terms}\n'
    engine = vx.Engine(DiskStore(cache), jobs=1)
    r = vx.Session(engine=engine).run(program)
    while engine.busy():
        pass
    expected = sum(float(np.count_nonzero(np.abs(arr - np.float32(k / n)) > np.float32(0.25))) for k in range(n))
    assert r["s"] == expected
    assert engine.costs.cheap_output.get(op) == worker.QUICK_RUNS
    ops = [meta["op"] for meta in all_records(DiskStore(cache)).values()]
    # stored until measured (claimed: another process may be waiting for them); then not
    assert ops.count(op) == worker.QUICK_RUNS
    assert ops.count("volume") == n  # what is worth storing still is
    assert claims_taken.count(op) == worker.QUICK_RUNS
    again = vx.Session(cache_dir=str(cache)).run(program)
    assert again["s"] == expected and again.stats["computed"] == 0
    # a goal is stored whatever its operator's class
    goal = head + f'print "m" {op}(x -. 0.3)\n'
    vx.Session(engine=engine).run(goal)
    while engine.busy():
        pass
    ops = [meta["op"] for meta in all_records(DiskStore(cache)).values()]
    assert ops.count(op) == worker.QUICK_RUNS + 1


def test_a_threshold_computed_in_numpy_is_light_never_stored_or_claimed(tmp_path, claims_taken):
    import SimpleITK as sitk

    path = str(tmp_path / "big.nii")
    arr = np.random.default_rng(1).random((64, 128, 128), dtype=np.float32)
    sitk.WriteImage(sitk.GetImageFromArray(arr), path)
    cache = tmp_path / "cache"
    n = 8
    terms = " .+. ".join(f"volume(simpleitk.BinaryThreshold(x, {k / n}, 2, 1, 0) >. 0)" for k in range(n))
    program = f'load img = "{path}"\nlet x = intensity(img)\nprint "s" {terms}\n'
    r = vx.Session(cache_dir=str(cache)).run(program)
    assert r["s"] == sum(float(np.count_nonzero(arr >= np.float32(k / n))) for k in range(n))
    ops = [meta["op"] for meta in all_records(DiskStore(cache)).values()]
    assert "simpleitk.BinaryThreshold" not in ops and "simpleitk.BinaryThreshold" not in claims_taken
    assert ops.count("volume") == n


def test_user_primitives_are_always_claimed(tmp_path, claims_taken):
    @vx.primitive("(num) -> num", name="rt_quick", cost="heavy")
    def rt_quick(x):
        return x + 1

    try:
        program = 'print "s" ' + " + ".join(f"rt_quick({k})" for k in range(8))
        vx.Session(cache_dir=str(tmp_path / "cache")).run(program)
        assert claims_taken.count("rt_quick") == 8
    finally:
        vx.REGISTRY.remove("rt_quick")


def test_a_failure_record_is_never_served_beside_a_value(tmp_path):
    s = DiskStore(tmp_path)
    s.put(A, 1.0, {})  # s has listed the failure shards: none
    DiskStore(tmp_path).put_failure(B, {"op": "x", "message": "boom"})  # another process
    s.put(B, 2.0, {})  # within the listing's lifetime: the record may stay on disk ...
    for reader in (s, DiskStore(tmp_path)):  # ... but it is never taken for the task's state
        assert reader.failure(B) is None and reader.failures() == [] and reader.get(B) == 2.0
    assert not (s.failures_dir / B[:2] / (B + ".json")).exists()
    s.put_failure(A, {"op": "x", "message": "forced, failed"})  # newer than A's value: it counts
    assert s.failure(A)["message"] == "forced, failed" and len(s.failures()) == 1 and s.get(A) == 1.0


def test_a_store_on_a_network_filesystem_or_shared_keeps_small_values_in_files(tmp_path, monkeypatch):
    mounts = tmp_path / "mounts"
    mounts.write_text(f"/dev/vda / ext4 rw 0 0\nserver:/home {tmp_path / 'nfs'} nfs4 rw 0 0\n"
                      f"tmpfs {tmp_path / 'nfs' / 'local'} tmpfs rw 0 0\n")
    assert records_module.on_network_filesystem(tmp_path / "nfs" / "cache", str(mounts))
    assert not records_module.on_network_filesystem(tmp_path / "nfs" / "local" / "cache", str(mounts))
    assert not records_module.on_network_filesystem(tmp_path / "nfsx", str(mounts))
    assert not records_module.on_network_filesystem(tmp_path, str(tmp_path / "no-mount-table"))
    real = records_module.on_network_filesystem
    monkeypatch.setattr("voxlogica_nb.engine.diskstore.on_network_filesystem",
                        lambda path: real(path, str(mounts)))
    for store in (DiskStore(tmp_path / "nfs" / "cache"), DiskStore(tmp_path / "team", shared=True)):
        store.put(A, 1.5, {})
        assert not os.path.exists(store.records.path)
        assert (store.objects / A[:2] / (A + ".json")).exists() and store.get(A) == 1.5
    # a private store opened as shared reads what its table holds, and writes files from then on
    DiskStore(tmp_path / "mine").put(B, 2.5, {})
    shared = DiskStore(tmp_path / "mine", shared=True)
    assert shared.get(B) == 2.5 and shared.contains(B) and shared.info()["count"] == 1
    shared.put(B, 3.5, {})  # (a forced recomputation): the file wins over the row
    assert shared.get(B) == 3.5 and (shared.objects / B[:2] / (B + ".json")).exists()
    assert shared.clear()["removed"] == 1 and shared.get(B) is MISSING
    local = DiskStore(tmp_path / "nfs" / "local" / "cache")
    local.put(A, 1.5, {})
    assert os.path.exists(local.records.path)


CREATE_AT_ONCE = """
import json, os, sys, time
from voxlogica_nb.engine.records import RecordTable
path, go = sys.argv[1], sys.argv[2]
errors = []
table = RecordTable(path, on_error=lambda exc: errors.append(repr(exc)))
while not os.path.exists(go):
    time.sleep(0.0005)
table.put("v%d" % os.getpid(), "{}")
print(json.dumps(errors))
"""


def test_two_processes_creating_the_table_at_once_both_keep_it(tmp_path):
    # (switching a new database to WAL can find it locked, which SQLite's busy
    # timeout does not cover: the table turned off in one process about one
    # time in four, which then recomputed every value the other committed)
    for k in range(20):
        path, go = tmp_path / f"r{k}.sqlite", tmp_path / f"go{k}"
        procs = [subprocess.Popen([sys.executable, "-c", CREATE_AT_ONCE, str(path), str(go)],
                                  stdout=subprocess.PIPE, text=True) for _ in range(2)]
        time.sleep(0.15)  # both waiting at the line
        go.touch()
        outs = [p.communicate(timeout=60)[0].strip() for p in procs]
        assert outs == ["[]", "[]"], (k, outs)
        with sqlite3.connect(path) as db:
            assert db.execute("SELECT COUNT(*) FROM records").fetchone()[0] == 2
