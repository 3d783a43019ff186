"""The folder store: real files, real processes."""
from __future__ import annotations

import os

import joblib
import stat
import subprocess
import threading
import time

import numpy as np
import pytest

from _build import Recorder, damage_record, raw_record, run_python
from voxlogica_nb.engine.diskstore import DiskStore, default_root
from voxlogica_nb.engine.store import MISSING
from voxlogica_nb.image import Image

A = "ab" + "1" * 62
B = "cd" + "2" * 62
C = "ef" + "3" * 62


def _files(store, tid):
    d = store.objects / tid[:2]
    return d / store.meta(tid)["file"], d / (tid + ".json")


# A small value's record lives in the store's SQLite table, or in a record
# file when the table is off (records_table=False, or a broken database):
# the small-value tests run in both places.
WHERE = ["table", "file"]


def small_store(tmp_path, where, **kwargs):
    return DiskStore(tmp_path, records_table=where == "table", **kwargs)


# -- basics -------------------------------------------------------------------

def test_roundtrip_and_meta(tmp_path):
    s = DiskStore(tmp_path / "c")
    assert not s.contains(A) and s.get(A) is MISSING and s.meta(A) is None
    s.put(A, 3.5, {"op": "scalar.add", "version": 2, "seconds": 0.01})
    s.put(B, {"k": [1, "x"], "t": (True, None)}, {"op": "x", "version": 1, "seconds": 0})
    assert s.contains(A) and s.get(A) == 3.5
    assert s.get(B) == {"k": [1, "x"], "t": (True, None)}
    m = s.meta(A)
    assert m["op"] == "scalar.add" and m["version"] == 2 and m["seconds"] == 0.01
    assert m["type"] == "float" and 0 < m["bytes"] < 100 and "file" not in m and "inline" not in m
    assert "crc32" in m and abs(m["created"] - time.time()) < 60
    # visible to another instance (and process) at once
    assert DiskStore(tmp_path / "c").get(A) == 3.5
    out = run_python("import sys; from voxlogica_nb.engine.diskstore import DiskStore;"
                     f"s = DiskStore(sys.argv[1]); print(s.get('{B}')['k'], s.get('{A}'))", tmp_path / "c",
                     timeout=20)
    assert out.stdout.strip() == "[1, 'x'] 3.5", out.stderr
    info = s.info()
    assert info["count"] == 2 and info["failures"] == 0 and info["bytes"] > 0
    assert info["root"] == str(tmp_path / "c")  # the folder users name, not its versioned inside


def test_large_image_is_memory_mapped_read_only(tmp_path):
    s = DiskStore(tmp_path)
    arr = np.random.default_rng(0).random((40, 64, 128), dtype=np.float32)  # 1.3 MB
    img = Image(arr, spacing=(0.5, 1, 2), origin=(1, 2, 3))
    s.put(A, img, {"op": "load", "version": 1, "seconds": 0.2})
    got = DiskStore(tmp_path).get(A)
    assert isinstance(got.array, np.memmap)
    assert not got.array.flags.writeable
    with pytest.raises(ValueError):
        got.array[0, 0, 0] = 1
    assert np.array_equal(got.array, arr) and got.spacing == (0.5, 1.0, 2.0)
    assert s.meta(A)["describe"] == "number 40x64x128 float32"
    small = np.arange(10, dtype=np.float32)
    s.put(B, small, {})
    assert not isinstance(s.get(B), np.memmap)


BIG = np.arange(1000.0)  # 8 kB: a value file of its own
#: values that live in their record: as JSON, or pickled
SMALL = [3.5, float("nan"), -0.0, 7, True, "x", None, (1, 2), np.float32(2.5), np.arange(4), {"k": [True]},
         10 ** 5000]


def same(a, b):
    return type(a) is type(b) and (np.array_equal(a, b, equal_nan=True) if isinstance(a, (float, np.ndarray))
                                   else a == b)


def test_layout_is_sharded(tmp_path):
    s = DiskStore(tmp_path)
    shard = tmp_path / "v1" / "objects" / "ab"
    s.put(A, BIG, {})
    s.put_failure(B, {"op": "x", "message": "boom"})
    names = sorted((p.name for p in shard.iterdir()), key=lambda n: n.endswith(".pkl"))
    assert len(names) == 2 and names[0] == A + ".json"
    assert names[1].startswith(A + ".") and names[1].endswith(".pkl")
    assert s.meta(A)["file"] == names[1]
    s.put(A, BIG + 1, {})  # overwriting leaves one value file
    assert len(list(shard.iterdir())) == 2 and s.get(A)[0] == 1
    assert (tmp_path / "v1" / "failures" / "cd" / (B + ".json")).is_file()
    s.put(A, 2, {})  # a small value lives in the table of small values: both files go
    assert list(shard.iterdir()) == [] and s.get(A) == 2 and s.meta(A)["bytes"] == 1
    assert s.records.get(A) is not None
    s.put(A, BIG, {})  # and back: the row goes
    assert len(list(shard.iterdir())) == 2 and np.array_equal(s.get(A), BIG)
    assert s.records.get(A) is None and s.info()["count"] == 1


@pytest.mark.parametrize("where", WHERE)
@pytest.mark.parametrize("value", SMALL, ids=lambda v: type(v).__name__)
def test_small_values_live_in_their_record(tmp_path, value, where):
    s = small_store(tmp_path, where)
    s.put(A, value, {"op": "x"})
    in_shard = [p.name for p in (s.objects / "ab").iterdir()] if (s.objects / "ab").exists() else []
    assert in_shard == ([A + ".json"] if where == "file" else [])
    for reader in (s, small_store(tmp_path, where), DiskStore(tmp_path)):
        assert same(reader.get(A), value)
    assert s.info()["bytes"] == len(raw_record(s, A).encode()) and s.info()["count"] == 1
    assert s.meta(A).keys() >= {"type", "bytes", "crc32", "created"}
    assert not s.meta(A).keys() & {"value", "inline", "file"}  # metadata only


def test_inline_limit(tmp_path):
    s = DiskStore(tmp_path, inline_max_bytes=100)
    s.put(A, np.arange(4.0), {})  # ~200 bytes pickled
    s.put(B, 1.0, {})
    assert "file" in s.meta(A) and "file" not in s.meta(B)
    assert np.array_equal(s.get(A), np.arange(4.0)) and s.get(B) == 1.0


# -- corruption -----------------------------------------------------------------

@pytest.mark.parametrize("damage", ["truncate", "garbage-same-size", "garbage-short", "missing-value", "bad-meta"])
def test_corrupt_entry_is_discarded(tmp_path, damage):
    s = DiskStore(tmp_path)
    value = Image(np.ones((8, 300, 300), np.float32))  # memory-mapped size
    s.put(A, value, {"op": "x", "version": 1})
    pkl, js = _files(s, A)
    size = pkl.stat().st_size
    if damage == "truncate":
        with open(pkl, "r+b") as f:
            f.truncate(size // 2)
    elif damage == "garbage-same-size":
        with open(pkl, "r+b") as f:
            f.seek(size // 3)
            f.write(os.urandom(4096))
    elif damage == "garbage-short":
        pkl.write_bytes(b"\x80\x04garbage" + os.urandom(100))
    elif damage == "missing-value":
        pkl.unlink()
    elif damage == "bad-meta":
        js.write_text("{not json")
    fresh = DiskStore(tmp_path)  # no verification cached
    assert fresh.get(A) is MISSING
    assert not pkl.exists() and not js.exists() and not fresh.contains(A)
    fresh.put(A, value, {"op": "x", "version": 1})
    assert np.array_equal(fresh.get(A).array, value.array)


@pytest.mark.parametrize("damage", ["truncate", "garbage-same-size", "not-decodable", "wrong-size", "bad-meta",
                                    "not-a-dict"])
@pytest.mark.parametrize("value", [(1.5, "x"), 2.5], ids=["pickled", "json"])
@pytest.mark.parametrize("where", WHERE)
def test_corrupt_entry_in_its_record_is_discarded(tmp_path, damage, value, where):
    import base64
    import json

    s = small_store(tmp_path, where)
    s.put(A, value, {"op": "x"})
    text = raw_record(s, A)
    rec = json.loads(text)
    if damage == "truncate":
        damage_record(s, A, text[: len(text) // 2])
    elif damage == "garbage-same-size":
        if "inline" in rec:
            data = bytearray(base64.b64decode(rec["inline"]))
            data[len(data) // 2] ^= 0xFF
            rec["inline"] = base64.b64encode(bytes(data)).decode()
        else:
            rec["value"] = 3.5
        damage_record(s, A, json.dumps(rec))
    elif damage == "not-decodable":
        if "inline" in rec:
            rec["inline"] = "%%%" + rec["inline"]
        else:
            rec["value"] = [2.5]
        damage_record(s, A, json.dumps(rec))
    elif damage == "wrong-size":
        rec["bytes"] += 1
        damage_record(s, A, json.dumps(rec))
    elif damage == "bad-meta":
        damage_record(s, A, "{not json")
    else:
        damage_record(s, A, "[1, 2]")
    fresh = small_store(tmp_path, where)
    assert fresh.get(A) is MISSING
    assert raw_record(s, A) is None and not fresh.contains(A) and fresh.info()["count"] == 0
    fresh.put(A, value, {"op": "x"})
    assert DiskStore(tmp_path).get(A) == value


def test_garbage_with_matching_meta_never_crashes(tmp_path, monkeypatch):
    # even if the metadata agrees with a garbage value file (same size, same
    # CRC), the failing joblib.load is caught and the entry discarded
    import json
    import zlib

    from voxlogica_nb.engine import diskstore

    loaded = []
    real_load = joblib.load

    def spy_load(path, *args, **kwargs):
        loaded.append(str(path))
        return real_load(path, *args, **kwargs)

    monkeypatch.setattr(joblib, "load", spy_load)
    s = DiskStore(tmp_path)
    junks = (b"", b"\x80\x05\x95garbage", np.random.default_rng(3).bytes(5000), b"cos\nsystem\n")
    for junk in junks:
        s.put(A, BIG, {})
        pkl, js = _files(s, A)  # the value file the metadata names now
        pkl.write_bytes(junk)
        m = json.loads(js.read_text())
        m.update(bytes=len(junk), crc32=zlib.crc32(junk))
        js.write_text(json.dumps(m))
        loaded.clear()
        assert DiskStore(tmp_path).get(A) is MISSING
        assert loaded == [str(pkl)]  # size and CRC passed: the load itself failed
        assert not js.exists() and not pkl.exists()
    assert s.info()["count"] == 0
    # the same with the value inside its record
    import base64

    for where in WHERE:
        s = small_store(tmp_path, where)
        for junk in junks:
            s.put(A, (1,), {})
            m = json.loads(raw_record(s, A))
            m.update(inline=base64.b64encode(junk).decode(), bytes=len(junk), crc32=zlib.crc32(junk))
            damage_record(s, A, json.dumps(m))
            loaded.clear()
            assert small_store(tmp_path, where).get(A) is MISSING
            assert len(loaded) == 1  # size and CRC passed: the load itself failed
            assert raw_record(s, A) is None
        assert s.info()["count"] == 0
    s.put(A, 5, {})
    assert DiskStore(tmp_path).get(A) == 5


WRITER = r"""
import sys, numpy as np
from voxlogica_nb.engine.diskstore import DiskStore
s = DiskStore(sys.argv[1])
for i in range(25):
    s.put(sys.argv[2], np.full(300_000, float(sys.argv[3])), {})
"""


def read_while_writing(reader, writers, whole, key):
    """Read A until the writer processes end: every read is a whole
    committed value (``whole(v)``), never MISSING; the set of ``key(v)`` seen."""
    seen, missing = set(), 0
    while any(w.poll() is None for w in writers):
        v = reader.get(A)
        if v is MISSING:
            missing += 1
        else:
            assert whole(v)
            seen.add(key(v))
    assert missing == 0 and seen <= {0.0, 1.0, 2.0}
    assert all(w.returncode == 0 for w in writers)
    return seen


def test_concurrent_overwrites_never_hide_or_mix_values(tmp_path, procs):
    # two processes overwrite one entry ("force", or unclaimed cheap values)
    # while this process reads: every read sees one complete committed value
    s = DiskStore(tmp_path)
    s.put(A, np.full(300_000, 0.0), {})
    writers = [procs.python(WRITER, tmp_path, A, k) for k in (1.0, 2.0)]
    seen = read_while_writing(DiskStore(tmp_path), writers, lambda v: v.min() == v.max(), lambda v: float(v[0]))
    assert s.get(A)[0] in (1.0, 2.0) and seen
    # racing writers may leave an unreferenced value file; prune removes it
    s.prune(older_than_seconds=None)


SMALL_WRITER = r"""
import sys
from voxlogica_nb.engine.diskstore import DiskStore
s = DiskStore(sys.argv[1], records_table=sys.argv[4] == "table")
k = float(sys.argv[3])
for i in range(300):
    s.put(sys.argv[2], (k, k * 2, "x" * int(k)), {})
"""


@pytest.mark.parametrize("where", WHERE)
def test_concurrent_small_overwrites_never_hide_or_mix_values(tmp_path, procs, where):
    s = small_store(tmp_path, where)
    s.put(A, (0.0, 0.0, ""), {})
    writers = [procs.python(SMALL_WRITER, tmp_path, A, k, where) for k in (1.0, 2.0)]
    read_while_writing(small_store(tmp_path, where), writers, lambda v: v[1] == 2 * v[0] and v[2] == "x" * int(v[0]),
                       lambda v: v[0])
    assert s.get(A)[0] in (1.0, 2.0)
    in_shard = [p.name for p in (s.objects / A[:2]).iterdir()] if (s.objects / A[:2]).exists() else []
    assert in_shard == ([A + ".json"] if where == "file" else [])


# -- not writable -----------------------------------------------------------------

def test_root_under_a_file_warns_once(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    rec = Recorder()
    s = DiskStore(blocker / "cache", warn=rec)
    for i in range(3):
        s.put(A, i, {"op": "x"})
        s.put_failure(B, {"message": "m"})
    assert s.get(A) is MISSING and not s.contains(A)
    assert len(rec.messages) == 1
    assert "not writable" in rec.messages[0] and "memory only" in rec.messages[0]
    assert str(blocker / "cache") in rec.messages[0]
    # claims still work inside the process
    c = s.claims.try_acquire(A, "x")
    assert c is not None and s.claims.try_acquire(A, "x") is None
    c.release()
    assert s.info()["count"] == 0


def test_folder_becomes_unwritable_warns_once(tmp_path):
    rec = Recorder()
    s = DiskStore(tmp_path, warn=rec, records_table=False)
    s.put(A, 1, {})
    # make writes really fail (even for root): the objects folder becomes a file
    import shutil
    shutil.rmtree(s.objects)
    s.objects.write_text("not a folder")
    for i in range(3):
        s.put(B, i, {})
    assert len(rec.messages) == 1 and "not writable" in rec.messages[0]
    assert s.get(B) is MISSING and s.get(A) is MISSING


@pytest.mark.skipif(os.geteuid() == 0, reason="permissions do not stop root")
def test_read_only_folder_warns_once(tmp_path):
    rec = Recorder()
    s = DiskStore(tmp_path, warn=rec)
    os.chmod(s.objects, 0o500)
    try:
        s.put(A, 1, {})
        s.put(B, 2, {})
        assert len(rec.messages) == 1 and s.get(A) is MISSING
    finally:
        os.chmod(s.objects, 0o700)


def test_unpicklable_value_warns_and_does_not_raise(tmp_path):
    rec = Recorder()
    s = DiskStore(tmp_path, warn=rec)
    s.put(A, threading.Lock(), {})
    s.put(B, [np.zeros(10_000), threading.Lock()], {})  # fails once it has spilled to a file
    assert s.get(A) is MISSING and s.get(B) is MISSING and len(rec.messages) == 2
    assert [p for p in s.objects.rglob("*") if p.is_file()] == []
    s.put(B, 1, {})
    assert s.get(B) == 1


# -- location, scheme, permissions ---------------------------------------------------

def test_new_root_has_mode_0700(tmp_path):
    root = tmp_path / "deep" / "cache"
    DiskStore(root)
    assert stat.S_IMODE(root.stat().st_mode) == 0o700


def test_default_root_resolution(tmp_path, monkeypatch):
    monkeypatch.delenv("VOXLOGICA_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_root() == tmp_path / "xdg" / "voxlogica_nb"
    monkeypatch.setenv("VOXLOGICA_CACHE_DIR", str(tmp_path / "explicit"))
    assert default_root() == tmp_path / "explicit"
    s = DiskStore()
    assert s.root == tmp_path / "explicit" / "v1"
    assert stat.S_IMODE((tmp_path / "explicit").stat().st_mode) == 0o700
    monkeypatch.delenv("VOXLOGICA_CACHE_DIR")
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_root() == tmp_path / "home" / ".cache" / "voxlogica_nb"


def test_other_scheme_version_is_ignored(tmp_path):
    old = DiskStore(tmp_path, scheme=0)
    old.put(A, "old format", {})
    old.put_failure(B, {"message": "old"})
    new = DiskStore(tmp_path)
    assert not new.contains(A) and new.get(A) is MISSING
    assert new.failures() == [] and new.info()["count"] == 0
    new.put(A, "new", {})
    assert old.get(A) == "old format" and new.get(A) == "new"
    new.clear()
    assert old.get(A) == "old format"


# -- failures ----------------------------------------------------------------------

def test_failure_records(tmp_path):
    s = DiskStore(tmp_path)
    for i, tid in enumerate((A, B, C)):
        s.put_failure(tid, {"op": f"op{i}", "version": 1, "message": f"boom {i}",
                            "traceback": "Traceback ...", "time": 1000.0 + i, "position": "1:5"})
    assert s.failure(A)["message"] == "boom 0" and s.failure(A)["id"] == A
    assert [f["op"] for f in s.failures()] == ["op2", "op1", "op0"]
    assert s.info()["failures"] == 3
    assert not s.contains(B) and s.get(B) is MISSING  # failures are never results
    s.put(B, 7, {"op": "op1"})
    assert s.failure(B) is None and s.get(B) == 7
    assert [f["op"] for f in s.failures()] == ["op2", "op0"]
    s.put_failure(C, {"op": "op2", "message": "no time given"})
    assert abs(s.failure(C)["time"] - time.time()) < 60


# -- management -----------------------------------------------------------------------

def test_clear(tmp_path):
    s = DiskStore(tmp_path)
    s.put(A, 1, {})
    s.put(B, 2, {})
    s.put_failure(C, {"message": "x"})
    s.claims.try_acquire(C, "x").release()
    r = s.clear()
    assert r["removed"] == 2 and r["failures"] == 1
    assert s.info()["count"] == 0 and s.failures() == []
    assert (s.root / "locks" / C[:2] / (C + ".lock")).exists()  # locks untouched
    s.put(A, 3, {})
    assert s.get(A) == 3


def test_prune_lru_and_age(tmp_path):
    s = DiskStore(tmp_path)
    payload = np.zeros(10_000)  # ~80 kB each
    ids = [f"{i:02x}" + "0" * 62 for i in range(5)]
    now = time.time()
    for k, tid in enumerate(ids):
        s.put(tid, payload, {})
        os.utime(_files(s, tid)[1], (now - 1000 + k, now - 1000 + k))
    s.get(ids[0])  # ids[0] becomes the most recently used
    size = s.info()["bytes"] // 5
    r = s.prune(max_bytes=3 * size)
    assert r["removed"] == 2 and r["count"] == 3 and r["bytes"] <= 3 * size
    assert [s.contains(t) for t in ids] == [True, False, False, True, True]
    r = s.prune(older_than_seconds=500)  # ids[3], ids[4] unused for ~1000 s
    assert r["removed"] == 2 and [s.contains(t) for t in ids] == [True, False, False, False, False]


def test_prune_keeps_lock_files_while_store_in_use(tmp_path, procs):
    s = DiskStore(tmp_path)
    s.claims.try_acquire(A, "x").release()
    lock = s.root / "locks" / A[:2] / (A + ".lock")
    p = procs.python("import sys; from voxlogica_nb.engine.diskstore import DiskStore;"
                     "s = DiskStore(sys.argv[1]); print('open', flush=True); sys.stdin.read()", tmp_path,
                     stdin=subprocess.PIPE)
    try:
        assert p.stdout.readline().strip() == "open"
        assert s.prune()["lock_files"] is None and lock.exists()
    finally:
        p.communicate("", timeout=20)
    assert s.prune()["lock_files"] == 1 and not lock.exists()


def test_prune_removes_stale_temp_files(tmp_path):
    s = DiskStore(tmp_path)
    s.put(A, 1, {})  # in the table: a value file for A is an orphan
    d = s.objects / A[:2]
    d.mkdir(exist_ok=True)
    stale, fresh, orphan = d / ".x.123.tmp", d / ".y.456.tmp", d / (A + ".0123456789ab.pkl")
    for f in (stale, fresh, orphan):
        f.write_bytes(b"partial")
    old = time.time() - 7200
    os.utime(stale, (old, old))
    os.utime(orphan, (old, old))
    assert s.prune()["temp_files"] == 2
    assert not stale.exists() and fresh.exists() and not orphan.exists() and s.get(A) == 1


# -- management text (CLI / magic) ---------------------------------------------------

def test_cache_commands(tmp_path):
    from voxlogica_nb.cache_admin import cache_command, parse_age, parse_size

    assert parse_size("500M") == 500 * 1024 ** 2 and parse_size("1.5GB") == int(1.5 * 1024 ** 3)
    assert parse_size("2k") == 2048 and parse_size(10) == 10
    assert parse_age("7d") == 7 * 86400 and parse_age("15m") == 900
    with pytest.raises(ValueError):
        parse_size("lots")
    s = DiskStore(tmp_path)
    s.put(A, np.zeros(1000), {"op": "x"})
    s.put_failure(B, {"op": "intensity", "version": 1, "message": "file not found\nmore",
                      "position": "3:7"})
    assert "values: 1 (" in cache_command(s, ["info"])
    text = cache_command(s, ["failures"])
    assert "intensity v1 at 3:7" in text and "file not found" in text and "more" not in text
    assert cache_command(s, ["running"]) == "no task is running"
    c = s.claims.try_acquire(C, "dt")
    assert "dt  on " in cache_command(s, ["running"])
    c.release()
    assert cache_command(s, ["sweep"]) == "no dangling runs"
    assert cache_command(s, ["prune", "--older-than", "1h"]).startswith("removed 0 value(s)")
    assert cache_command(s, ["prune", "0"]).startswith("removed 1 value(s)")
    assert cache_command(s, ["clear"]) == "removed 0 value(s) (0 B) and 1 failure record(s)"
    with pytest.raises(ValueError):
        cache_command(s, ["frobnicate"])


# -- one interface -------------------------------------------------------------------

def test_every_store_implements_the_interface(tmp_path):
    from voxlogica_nb.cache_admin import cache_command
    from voxlogica_nb.engine.store import MemoryStore, NullStore, Store

    with pytest.raises(TypeError):
        Store()  # the verbs are abstract
    for s in (MemoryStore(), NullStore(), DiskStore(tmp_path)):
        assert isinstance(s, Store)
        s.put(A, np.zeros(1000), {"op": "x", "version": "1", "seconds": 0.5})
        s.put_failure(B, {"op": "y", "message": "boom", "time": 1.0})
        kept = not isinstance(s, NullStore)
        assert s.contains(A) is kept and (s.get(A) is MISSING) is not kept
        assert (s.meta(A) or {}).get("op") == ("x" if kept else None)
        assert [f["op"] for f in s.failures()] == (["y"] if kept else [])
        assert (s.failure(B) is not None) is kept
        info = s.info()
        assert info["count"] == kept and (info["bytes"] >= 8000) is kept and info["running"] == 0
        assert s.running() == [] and s.sweep() == []
        for words in (["info"], ["failures"], ["running"], ["sweep"]):
            assert cache_command(s, words)
        assert s.prune(max_bytes=0)["removed"] == kept and not s.contains(A)
        s.put(A, 1.0, {})
        assert s.clear()["removed"] == kept and s.failures() == []
        s.close()
    assert cache_command(MemoryStore(), ["info"]).startswith("no cache folder")


def test_memory_store_prunes_least_recently_used_first():
    from voxlogica_nb.engine.store import MemoryStore

    s = MemoryStore()
    ids = [f"{i:02x}" + "0" * 62 for i in range(3)]
    for t in ids:
        s.put(t, np.zeros(1000), {})
        time.sleep(0.01)
    s.get(ids[0])
    r = s.prune(max_bytes=2 * 8000 + 500)
    assert r["removed"] == 1 and [s.contains(t) for t in ids] == [True, False, True]
    assert s.prune(older_than_seconds=3600)["removed"] == 0 and s.prune(older_than_seconds=0)["count"] == 0
