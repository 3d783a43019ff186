"""Fault injection: a failing or full disk at each write step of the store
and of the claims, values vanishing while read, several value files for one
id. After each fault the store must be consistent (no partial value served,
no temporary file left or counted, ``info()`` right, later runs work) and
the run must be correct (right values, in memory if the store is unusable,
one warning).

Faults are injected by wrapping the ``os`` / ``fcntl`` calls the store makes
(``os.open``, ``os.write``, ``os.close``, ``os.pwrite``, ``os.ftruncate``,
``os.replace``, ``os.mkdir``, ``os.unlink``, ``fcntl.flock``), failing only
for paths of one step inside the test's store folder. Every case checks that
its fault really fired. Small values live in their record, large ones in a
value file: commits are tested in both forms. The stores here keep small
records in files (``records_table=False``, as a store does when its SQLite
table is unusable); the table's own faults are in ``test_records_table.py``. (The store does not
``fsync``: a value or record torn by a power loss fails its size/CRC or JSON
check and is recomputed.)
"""
from __future__ import annotations

import errno
import fcntl
import os

import joblib
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import voxlogica_nb as vx
from voxlogica_nb.engine import claims as claims_module
from voxlogica_nb.engine import diskstore
from _build import Recorder
from voxlogica_nb.engine.diskstore import DiskStore as _DiskStore
from voxlogica_nb.engine.store import MISSING


def DiskStore(root, **kwargs):  # noqa: N802  (the store under test, small records in files)
    return _DiskStore(root, records_table=False, **kwargs)

A = "ab" + "1" * 62  # committed before the fault
B = "cd" + "2" * 62  # a new entry (its shard folder does not exist yet)
C = "ef" + "3" * 62


# -- the injector ----------------------------------------------------------------

def _fd_path(fd):
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return ""


class Fault:
    """Fail ``call`` ("open", "write", "close", "pwrite", "ftruncate", "replace",
    "mkdir", "unlink", "flock") on the paths under ``root`` that ``match``;
    ``fired`` counts failures. A failing write stores half of its bytes first;
    a failing close closes first (a delayed write error, as NFS reports them)."""

    def __init__(self, call, match, err, root):
        self.call, self.match, self.err, self.root = call, match, err, str(root)
        self.fired = 0
        self.lock = threading.Lock()

    def hits(self, path):
        path = os.fsdecode(os.fspath(path))
        return path.startswith(self.root) and self.match(path)

    def error(self):
        with self.lock:
            self.fired += 1
        return OSError(self.err, os.strerror(self.err))


def install(monkeypatch, fault):
    """Route the store's calls through ``fault`` until the test ends."""
    real = {name: getattr(os, name)
            for name in ("open", "write", "close", "pwrite", "ftruncate", "replace", "mkdir", "unlink")}
    real_flock = fcntl.flock

    def fd_hits(call, fd):
        return fault.call == call and fault.hits(_fd_path(fd))

    def opener(path, flags, mode=0o777, *, dir_fd=None):
        if fault.call == "open" and flags & os.O_CREAT and fault.hits(path):
            raise fault.error()
        return real["open"](path, flags, mode, dir_fd=dir_fd)

    def write(fd, data):
        if fd_hits("write", fd):
            data = bytes(data)
            real["write"](fd, data[: len(data) // 2])
            raise fault.error()
        return real["write"](fd, data)

    def close(fd):
        failing = fd_hits("close", fd)
        real["close"](fd)
        if failing:
            raise fault.error()

    def pwrite(fd, data, offset):
        if fd_hits("pwrite", fd):
            real["pwrite"](fd, bytes(data)[: len(data) // 2], offset)
            raise fault.error()
        return real["pwrite"](fd, data, offset)

    def ftruncate(fd, length):
        if fd_hits("ftruncate", fd):
            raise fault.error()
        return real["ftruncate"](fd, length)

    def replace(src, dst, **kwargs):
        if fault.call == "replace" and fault.hits(dst):
            raise fault.error()
        return real["replace"](src, dst, **kwargs)

    def mkdir(path, mode=0o777, **kwargs):
        if fault.call == "mkdir" and fault.hits(path):
            raise fault.error()
        return real["mkdir"](path, mode, **kwargs)

    def unlink(path, **kwargs):
        if fault.call == "unlink" and fault.hits(path):
            raise fault.error()
        return real["unlink"](path, **kwargs)

    def flock(fd, op):
        if fault.call == "flock" and op & fcntl.LOCK_EX and fault.hits(_fd_path(fd)):
            raise fault.error()
        return real_flock(fd, op)

    for name, fn in (("open", opener), ("write", write), ("close", close), ("pwrite", pwrite),
                     ("ftruncate", ftruncate), ("replace", replace), ("mkdir", mkdir), ("unlink", unlink)):
        monkeypatch.setattr(os, name, fn)
    monkeypatch.setattr(claims_module.fcntl, "flock", flock)
    return fault


def _name(path):
    return os.path.basename(path)


def _under(part):
    return lambda path: f"{os.sep}{part}{os.sep}" in path


def _both(*preds):
    return lambda path: all(p(path) for p in preds)


_objects, _failures, _locks = _under("objects"), _under("failures"), _under("locks")
_temp = lambda p: _name(p).startswith(".") and _name(p).endswith(".tmp")  # noqa: E731
_value_tmp = _both(_objects, _temp, lambda p: ".pkl." in _name(p))
_meta_tmp = _both(_objects, _temp, lambda p: ".json." in _name(p))
_failure_tmp = _both(_failures, _temp)
_alive, _alive_tmp = _under(".alive"), _both(_under(".alive"), _temp)
_lock_file = lambda p: p.endswith(".lock")  # noqa: E731

#: step -> (call, path predicate): every write step of a commit (a small
#: value has no value-* steps: it is written with its record) ...
COMMIT_STEPS = {
    "shard-mkdir": ("mkdir", _objects),
    "value-open": ("open", _value_tmp),
    "value-write": ("write", _value_tmp),
    "value-close": ("close", _value_tmp),
    "value-rename": ("replace", _both(_objects, lambda p: p.endswith(".pkl"))),
    "meta-open": ("open", _meta_tmp),
    "meta-write": ("write", _meta_tmp),
    "meta-close": ("close", _meta_tmp),
    "meta-rename": ("replace", _both(_objects, lambda p: p.endswith(".json"))),
}
SMALL_COMMIT_STEPS = [k for k in COMMIT_STEPS if not k.startswith("value-")]
# ... of a failure record ...
FAILURE_STEPS = {
    "failure-mkdir": ("mkdir", _failures),
    "failure-open": ("open", _failure_tmp),
    "failure-write": ("write", _failure_tmp),
    "failure-close": ("close", _failure_tmp),
    "failure-rename": ("replace", _both(_failures, lambda p: p.endswith(".json"))),
}
# ... and of a claim: its lock file, the owner record written into it (and
# emptied when the claim ends), the table's presence file (on its first claim)
CLAIM_STEPS = {
    "lock-mkdir": ("mkdir", _locks),
    "lock-open": ("open", _lock_file),
    "lock-flock": ("flock", _lock_file),
    "record-write": ("pwrite", _lock_file),
    "record-clear": ("ftruncate", _lock_file),
    "alive-mkdir": ("mkdir", lambda p: p.endswith(f"{os.sep}.alive")),
    "alive-open": ("open", _alive_tmp),
    "alive-write": ("write", _alive_tmp),
    "alive-rename": ("replace", _alive),
}
ALL_STEPS = {**COMMIT_STEPS, **FAILURE_STEPS, **CLAIM_STEPS}
ERRNOS = [errno.ENOSPC, errno.EIO]


def inject(monkeypatch, root, step, err=errno.ENOSPC):
    call, match = ALL_STEPS[step]
    return install(monkeypatch, Fault(call, match, err, root))


# -- what "consistent" means ----------------------------------------------------------

OLD = np.arange(50_000, dtype=np.float64)  # 400 kB: written in many chunks
NEW = np.full(50_000, 7.0)
#: (committed first, written next) of each form: a value file, pickled into
#: the record, JSON in the record
VALUES = {"large": (OLD, NEW), "small": ((1.5, 2.5), (7.0, 8.0)), "scalar": (1.5, 7.0)}


def files_under(root):
    out = []
    for dirpath, _dirs, names in os.walk(root):
        out += [Path(dirpath) / n for n in names]
    return out


def in_a_file(value):
    return isinstance(value, np.ndarray) and value.nbytes > 4096


def assert_consistent(root, values, failures=0):
    """A fresh store over ``root`` (no fault) serves exactly ``values``
    ({id: value}), counts them right and has no temporary file left."""
    s = DiskStore(root)
    for tid in (A, B, C):
        got = s.get(tid)
        if tid in values:
            assert got is not MISSING and np.array_equal(got, values[tid]), tid
        else:
            assert got is MISSING and not s.contains(tid), tid
    files = files_under(root)
    assert [f for f in files if f.name.endswith(".tmp")] == []
    for tid in (A, B, C):  # one value file per large committed value, none for others
        pkls = [f for f in files if f.name.startswith(tid) and f.name.endswith(".pkl")]
        assert len(pkls) == (tid in values and in_a_file(values[tid])), (tid, pkls)
    info = s.info()
    shard = lambda t: s.objects / t[:2]  # noqa: E731
    sizes = [(shard(t) / s.meta(t)["file"] if in_a_file(v) else shard(t) / (t + ".json")).stat().st_size
             for t, v in values.items()]
    assert (info["count"], info["bytes"], info["failures"], info["running"]) == (
        len(values), sum(sizes), failures, 0)
    assert info["writable"]
    # and it works: a later write and read
    s.put(C, np.arange(3.0), {})
    assert np.array_equal(DiskStore(root).get(C), np.arange(3.0))
    return s


# -- commits ------------------------------------------------------------------------

COMMITS = [(kind, step) for kind in VALUES
           for step in (COMMIT_STEPS if kind == "large" else SMALL_COMMIT_STEPS)]


@pytest.mark.parametrize("err", ERRNOS, ids=errno.errorcode.get)
@pytest.mark.parametrize("kind,step", COMMITS)
def test_fault_while_committing_a_new_value(tmp_path, monkeypatch, kind, step, err):
    root = tmp_path / "store"
    rec = Recorder()
    s = DiskStore(root, warn=rec)
    old, new = VALUES[kind]
    s.put(A, old, {"op": "x"})
    fault = inject(monkeypatch, root, step, err)
    s.put(B, new, {"op": "x"})  # never raises
    assert fault.fired >= 1
    assert s.get(B) is MISSING and not s.contains(B)  # nothing partial is served
    assert np.array_equal(s.get(A), old)
    s.put(B, new, {"op": "x"})  # the store stopped writing: no second warning
    assert len(rec.messages) == 1 and os.strerror(err) in rec.messages[0]
    assert "memory only" in rec.messages[0] and not s.writable
    assert s.info()["count"] == 1
    monkeypatch.undo()
    assert_consistent(root, {A: old})


#: (committed, overwritten by): every change of form
OVERWRITES = [(a, b) for a in VALUES for b in VALUES]


@pytest.mark.parametrize("err", ERRNOS, ids=errno.errorcode.get)
@pytest.mark.parametrize("forms,step", [(f, step) for f in OVERWRITES for step in COMMIT_STEPS
                                        if step != "shard-mkdir" and (f[1] == "large" or step in SMALL_COMMIT_STEPS)],
                         ids=lambda x: "-".join(x) if isinstance(x, tuple) else x)
def test_fault_while_overwriting_keeps_the_committed_value(tmp_path, monkeypatch, forms, step, err):
    root = tmp_path / "store"
    rec = Recorder()
    s = DiskStore(root, warn=rec)
    old, new = VALUES[forms[0]][0], VALUES[forms[1]][1]
    s.put(A, old, {"op": "x"})
    fault = inject(monkeypatch, root, step, err)
    s.put(A, new, {"op": "x"})  # "force": overwrite
    assert fault.fired >= 1 and len(rec.messages) == 1
    assert np.array_equal(s.get(A), old) and np.array_equal(DiskStore(root).get(A), old)
    monkeypatch.undo()
    assert_consistent(root, {A: old})


@pytest.mark.parametrize("forms", OVERWRITES, ids="-".join)
def test_overwriting_changes_the_form_and_leaves_no_file_behind(tmp_path, forms):
    root = tmp_path / "store"
    s = DiskStore(root)
    s.put(A, VALUES[forms[0]][0], {})
    s.put(A, VALUES[forms[1]][1], {})
    assert_consistent(root, {A: VALUES[forms[1]][1]})


@pytest.mark.parametrize("err", ERRNOS, ids=errno.errorcode.get)
@pytest.mark.parametrize("step", FAILURE_STEPS)
def test_fault_while_recording_a_failure(tmp_path, monkeypatch, step, err):
    root = tmp_path / "store"
    rec = Recorder()
    s = DiskStore(root, warn=rec)
    s.put(A, OLD, {"op": "x"})
    fault = inject(monkeypatch, root, step, err)
    s.put_failure(B, {"op": "x", "message": "boom"})
    assert fault.fired >= 1 and len(rec.messages) == 1
    assert s.failure(B) is None and s.failures() == []
    monkeypatch.undo()
    assert_consistent(root, {A: OLD}, failures=0)


# -- claims ---------------------------------------------------------------------------

@pytest.mark.parametrize("err", ERRNOS, ids=errno.errorcode.get)
@pytest.mark.parametrize("step", CLAIM_STEPS)
def test_fault_while_claiming(tmp_path, monkeypatch, step, err):
    root = tmp_path / "store"
    rec = Recorder()
    s = DiskStore(root, warn=rec)
    s.put(A, OLD, {"op": "x"})
    fault = inject(monkeypatch, root, step, err)
    claim = s.claims.try_acquire(B, "x")
    assert claim is not None  # a claim degrades, it never fails
    assert s.claims.try_acquire(B, "x") is None  # still exclusive inside the process
    if step != "record-clear":
        assert fault.fired >= 1 and len(rec.messages) == 1 and os.strerror(err) in rec.messages[0]
    s.put(B, NEW, {"op": "x"})
    claim.release()
    assert s.claims.held() == [] and s.running() == []
    if step == "record-clear":  # the owner record outlived its claim: a sweep clears it
        assert fault.fired == 1 and rec.messages == []
        monkeypatch.undo()
        s.close()
        assert [r["task_id"] for r in DiskStore(root).sweep()] == [B]
        assert_consistent(root, {A: OLD, B: NEW})
        return
    monkeypatch.undo()
    s.close()
    assert DiskStore(root).sweep() == []  # no owner record left behind
    assert_consistent(root, {A: OLD})  # memory only after the warning: B was not written


def test_fault_opening_the_claim_table_warns_once(tmp_path, monkeypatch):
    root = tmp_path / "store"
    DiskStore(root)
    fault = install(monkeypatch, Fault("open", lambda p: p.endswith(".inuse"), errno.EIO, root))
    rec = Recorder()
    s = DiskStore(root, warn=rec)
    assert fault.fired == 1 and len(rec.messages) == 1 and not s.writable
    c = s.claims.try_acquire(A, "x")
    assert c is not None and s.claims.try_acquire(A, "x") is None
    c.release()
    monkeypatch.undo()
    assert_consistent(root, {})


# -- whole runs -----------------------------------------------------------------------

@pytest.fixture
def prims():
    calls = []
    lock = threading.Lock()

    @vx.primitive("(num) -> nimg", name="fault_img")
    def fault_img(x):
        with lock:
            calls.append(("img", x))
        return vx.Image(np.arange(64 * 64, dtype=np.float32).reshape(64, 64) * np.float32(x), "number")

    @vx.primitive("(nimg) -> num", name="fault_sum")
    def fault_sum(img):
        with lock:
            calls.append(("sum", float(img.array[0, 1])))
        return float(np.asarray(img.array, dtype=np.float64).sum())

    @vx.primitive("(num) -> num", name="fault_fail")
    def fault_fail(x):
        with lock:
            calls.append(("fail", x))
        raise ValueError(f"fault_fail always fails ({x:g})")

    try:
        yield calls
    finally:
        for name in ("fault_img", "fault_sum", "fault_fail"):
            vx.REGISTRY.remove(name)


PROGRAM = ('print "s" fault_sum(fault_img(1)) + fault_sum(fault_img(2))\n'
           'print "t" fault_fail(3)\n')
TOTAL = float(np.arange(64 * 64).sum())
HEAVY = sorted([("img", 1.0), ("img", 2.0), ("sum", 1.0), ("sum", 2.0)])


def run_program(root, rec=None):
    engine = vx.Engine(DiskStore(root, warn=rec or Recorder()), jobs=2)
    r = vx.Session(engine=engine).run(PROGRAM)
    deadline = time.monotonic() + 30
    while engine.busy() or engine.store.claims.held():  # workers still committing
        assert time.monotonic() < deadline
        time.sleep(0.01)
    return r


@pytest.mark.parametrize("step", ALL_STEPS)
def test_run_with_a_failing_disk_is_correct_and_warns_once(tmp_path, monkeypatch, prims, step):
    root = tmp_path / "store"
    DiskStore(root)
    fault = inject(monkeypatch, root, step, errno.EIO if step.endswith(("rename", "flock")) else errno.ENOSPC)
    rec = Recorder()
    r = run_program(root, rec)
    assert fault.fired >= 1
    assert dict(r.printed) == {"s": 3 * TOTAL}
    [f] = r.failures
    assert f.op == "fault_fail" and "fault_fail always fails (3)" in f.message
    assert sorted(c for c in prims if c[0] != "fail") == HEAVY  # each task once
    expected_warnings = 0 if step == "record-clear" else 1
    assert len(rec.messages) == expected_warnings, rec.messages
    monkeypatch.undo()

    # a later run (a new engine: another process) is correct, and the store consistent
    prims.clear()
    rec2 = Recorder()
    r2 = run_program(root, rec2)
    assert dict(r2.printed) == {"s": 3 * TOTAL} and len(r2.failures) == 1 and rec2.messages == []
    s = DiskStore(root)
    assert [f for f in files_under(root) if f.name.endswith(".tmp")] == []
    assert s.running() == [] and s.sweep() == []
    info = s.info()
    assert info["failures"] == 1 and info["running"] == 0
    # what the store holds serves the third run: only the failed task runs again
    prims.clear()
    r3 = run_program(root)
    assert dict(r3.printed) == {"s": 3 * TOTAL}
    assert prims == [("fail", 3.0)]
    assert (r3.stats["computed"], r3.stats["failed"], r3.stats["waited"]) == (0, 1, 0)


# -- reading while values vanish ------------------------------------------------------

@pytest.mark.parametrize("moment", ["stat", "crc", "load"])
def test_value_file_vanishing_during_a_read(tmp_path, monkeypatch, moment):
    s = DiskStore(tmp_path)
    s.put(A, OLD, {})
    pkl = s.objects / A[:2] / s.meta(A)["file"]
    reader = DiskStore(tmp_path)  # has not verified the file yet
    vanished = []

    def vanish(path):
        if Path(path) == pkl and not vanished:
            vanished.append(path)
            os.unlink(pkl)  # e.g. `voxlogica cache clear` in another process

    if moment == "stat":
        real = os.stat
        monkeypatch.setattr(diskstore.os, "stat", lambda p, *a, **k: (vanish(p), real(p, *a, **k))[1])
    elif moment == "crc":
        real_crc = diskstore.file_crc
        monkeypatch.setattr(diskstore, "file_crc", lambda p: (vanish(p), real_crc(p))[1])
    else:
        real_load = joblib.load
        monkeypatch.setattr(joblib, "load", lambda p, *a, **k: (vanish(p), real_load(p, *a, **k))[1])
    assert reader.get(A) is MISSING  # never an exception, never a partial value
    monkeypatch.undo()
    assert vanished
    assert not reader.contains(A) and reader.info()["count"] == 0  # the entry was discarded
    assert_consistent(tmp_path, {})


def test_value_replaced_during_a_read_gives_the_new_value(tmp_path, monkeypatch):
    s = DiskStore(tmp_path)
    s.put(A, OLD, {})
    pkl = s.objects / A[:2] / s.meta(A)["file"]
    writer, reader = DiskStore(tmp_path), DiskStore(tmp_path)
    real_crc = diskstore.file_crc
    replaced = []

    def crc(path):
        if Path(path) == pkl and not replaced:
            replaced.append(path)
            writer.put(A, NEW, {})  # "force" in another process: the old file goes
        return real_crc(path)

    monkeypatch.setattr(diskstore, "file_crc", crc)
    assert np.array_equal(reader.get(A), NEW) and replaced
    monkeypatch.undo()
    assert_consistent(tmp_path, {A: NEW})


def test_run_recomputes_a_value_that_vanishes_before_it_is_read(tmp_path, monkeypatch, prims):
    root = tmp_path / "store"
    run_program(root)
    prims.clear()
    real_open = os.open
    gone = []

    def opener(path, flags, *args, **kwargs):
        path = os.fspath(path)
        if not gone and not flags & os.O_CREAT and f"{os.sep}objects{os.sep}" in path and path.endswith(".json"):
            gone.append(path)  # the first value the run reads (a goal's number, in its record) disappears
            os.unlink(path)
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", opener)
    r = run_program(root)
    assert len(gone) == 1 and dict(r.printed) == {"s": 3 * TOTAL}
    # the lost goal was computed again, from its arguments in the store
    assert (r.stats["computed"], r.stats["cached"], r.stats["failed"]) == (1, 2, 1)
    assert prims == [("fail", 3.0)]
    monkeypatch.undo()
    prims.clear()
    r = run_program(root)
    assert dict(r.printed) == {"s": 3 * TOTAL} and prims == [("fail", 3.0)]


# -- several value files for one id -----------------------------------------------------

def test_several_value_files_for_one_id(tmp_path):
    root = tmp_path / "store"
    s = DiskStore(root)
    s.put(A, OLD, {})
    d = s.objects / A[:2]
    committed = d / s.meta(A)["file"]
    # left by racing writers or a failed clean-up: a valid pickle of another
    # value, a truncated copy, and one that is newer than everything
    other = d / f"{A}.0123456789ab.pkl"
    other.write_bytes((d / committed.name).read_bytes()[:100])
    twin = d / f"{A}.ba9876543210.pkl"
    DiskStore(tmp_path / "elsewhere").put(A, NEW, {})
    twin.write_bytes(next((tmp_path / "elsewhere").rglob("*.pkl")).read_bytes())
    old = os.stat(committed).st_mtime - 7200
    for f in (other, twin):
        os.utime(f, (old, old))
    for reader in (s, DiskStore(root)):
        assert np.array_equal(reader.get(A), OLD)
        info = reader.info()
        assert info["count"] == 1 and info["bytes"] == committed.stat().st_size
    assert s.prune()["temp_files"] == 2  # the strays go, the committed file stays
    assert sorted(p.name for p in d.iterdir()) == sorted([committed.name, A + ".json"])
    assert np.array_equal(DiskStore(root).get(A), OLD)
    # with unreadable metadata every value file of the id is dropped
    twin.write_bytes(b"x")
    (d / (A + ".json")).write_text("{broken")
    assert DiskStore(root).get(A) is MISSING
    assert [p.name for p in d.iterdir()] == []
    assert_consistent(root, {})


def test_value_files_beside_a_value_in_its_record(tmp_path):
    # left by a "force" that replaced a large value by a small one and could
    # not remove the old file, or by a writer that crashed: never served,
    # never counted twice, removed by prune
    root = tmp_path / "store"
    s = DiskStore(root)
    s.put(A, OLD, {})
    d = s.objects / A[:2]
    stray = d / s.meta(A)["file"]
    kept = stray.read_bytes()
    s.put(A, 7.0, {})
    assert not stray.exists()
    stray.write_bytes(kept)  # a valid value file no record names
    old = os.stat(stray).st_mtime - 7200
    os.utime(stray, (old, old))
    for reader in (s, DiskStore(root)):
        assert reader.get(A) == 7.0 and reader.info()["count"] == 1
    assert s.prune()["temp_files"] == 1 and not stray.exists()
    assert_consistent(root, {A: 7.0})
