"""Who may write the store: values are unpickled when read, so a store
folder that someone else can write is refused unless a shared store is asked
for, and everything the store creates is owner-only."""
from __future__ import annotations

import os
import socket
import stat
import threading
import time

import numpy as np
import pytest

import voxlogica_nb as vx
from _build import run_python
from voxlogica_nb.engine import claims as claims_module
from voxlogica_nb.engine import diskstore
from voxlogica_nb.engine.diskstore import DiskStore
from voxlogica_nb.session import get_engine, open_store
from voxlogica_nb.engine.store import StoreError, UnsafeStoreError

A = "ab" + "1" * 62
B = "cd" + "2" * 62
OTHER_UID = 54321


def mode(path):
    return stat.S_IMODE(os.lstat(path).st_mode)


@pytest.fixture
def umask0():
    """Create with umask 0, so modes come from the store and not from the umask."""
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


@pytest.fixture
def spy_temp_modes(monkeypatch):
    """Modes of the temporary files of the store and the claims, seen just before their rename."""
    seen = {}
    real_replace = os.replace

    def replace(src, dst, **kwargs):
        if os.fspath(src).endswith(".tmp"):
            seen[os.path.basename(os.fspath(src))] = mode(src)
        return real_replace(src, dst, **kwargs)

    monkeypatch.setattr(os, "replace", replace)
    return seen


# -- files are created owner-only --------------------------------------------------------

def test_everything_the_store_creates_is_owner_only(tmp_path, umask0, spy_temp_modes):
    base = tmp_path / "new" / "cache"
    s = DiskStore(base, mmap_min_bytes=1000)
    s.put(A, np.arange(1000.0), {"op": "x"})  # memory-mapped size
    s.put(A, 2.0, {"op": "x"})  # overwritten, by a value kept in its record
    s.put("12" + "4" * 62, np.arange(1000.0), {"op": "x"})  # a value file
    s.put_failure(B, {"op": "y", "message": "boom"})
    claim = s.claims.try_acquire("ef" + "3" * 62, "z")  # lock file (owner record inside) and presence file
    held = {p: mode(p) for p in _files(base)}
    claim.release()
    created = {p: mode(p) for p in _files(base)} | held
    kinds = {os.path.basename(p).rsplit(".", 1)[-1] for p in created if "." in os.path.basename(p)}
    assert kinds >= {"pkl", "json", "lock", "inuse", "alive"}
    assert any(f"{os.sep}.alive{os.sep}" in p for p in created)
    folders = [p for p in created if os.path.isdir(p)]
    assert len(folders) == 10  # base, v1, objects, failures, locks, locks/.alive and four shards
    assert {p: m for p, m in created.items() if m != (0o700 if os.path.isdir(p) else 0o600)} == {}
    # temporary files: values, records, failure records, the presence file
    assert len(spy_temp_modes) >= 5 and set(spy_temp_modes.values()) == {0o600}, spy_temp_modes
    assert any(".pkl." in n for n in spy_temp_modes) and any(".json." in n for n in spy_temp_modes)
    assert any(n.startswith(f".{socket.gethostname()}.") for n in spy_temp_modes)


def test_a_run_creates_only_owner_only_files(tmp_path, umask0):
    @vx.primitive("(num) -> num", name="sec_op")
    def sec_op(x):
        return x * 2

    @vx.primitive("(num) -> num", name="sec_fail")
    def sec_fail(x):
        raise ValueError("no")

    try:
        base = tmp_path / "cache"
        engine = vx.Engine(DiskStore(base), jobs=2)
        r = vx.Session(engine=engine).run('print "a" sec_op(2) + sec_op(3)\nprint "b" sec_fail(1)')
        assert r["a"] == 10.0 and len(r.failures) == 1
        deadline = time.monotonic() + 20
        while engine.busy() or engine.store.claims.held():
            assert time.monotonic() < deadline
            time.sleep(0.01)
        files = {p: mode(p) for p in _files(base)}
        # the small values are in the table; SQLite gives its -wal and -shm files the table's mode
        assert any(p.endswith("records.sqlite") for p in files) and any("failures" in p for p in files)
        assert any(p.endswith("records.sqlite-wal") for p in files)
        assert {p: m for p, m in files.items() if m != (0o700 if os.path.isdir(p) else 0o600)} == {}
    finally:
        vx.REGISTRY.remove("sec_op")
        vx.REGISTRY.remove("sec_fail")


def test_a_shared_store_creates_files_as_the_umask_allows(tmp_path, spy_temp_modes):
    base = tmp_path / "team"
    base.mkdir(mode=0o770)
    os.chmod(base, 0o2770)  # a group folder
    old = os.umask(0o007)
    try:
        s = DiskStore(base, shared=True)
        s.put(A, 1.0, {})
        s.claims.try_acquire(B, "x").release()
    finally:
        os.umask(old)
    files = {p: mode(p) for p in _files(base)}
    assert {m for p, m in files.items() if os.path.isfile(p)} == {0o660}
    assert {m & 0o777 for p, m in files.items() if os.path.isdir(p)} == {0o770}
    assert set(spy_temp_modes.values()) == {0o660}
    assert DiskStore(base, shared=True).get(A) == 1.0


def _files(base):
    out = [str(base)]
    for dirpath, dirs, names in os.walk(base):
        out += [os.path.join(dirpath, n) for n in dirs + names]
    return out


# -- folders others can write are refused ------------------------------------------------

def _refused(base, **kwargs):
    with pytest.raises(UnsafeStoreError) as ei:
        DiskStore(base, **kwargs)
    e = ei.value
    assert isinstance(e, PermissionError) and isinstance(e, StoreError)
    msg = str(e)
    assert "\n" not in msg and str(base) in msg
    assert "VOXLOGICA_SHARED_STORE=1" in msg and "shared_store=True" in msg
    assert e._render_traceback_() == [msg]  # IPython shows the message, not a traceback
    return msg


@pytest.mark.parametrize("bits, who", [(0o770, "group"), (0o707, "others"), (0o777, "group and others"),
                                       (0o1777, "group and others")], ids=["g", "o", "go", "sticky"])
def test_folder_writable_by_group_or_others_is_refused(tmp_path, bits, who):
    base = tmp_path / "cache"
    DiskStore(base).put(A, 1.0, {})
    os.chmod(base, bits)
    msg = _refused(base)
    assert f"writable by {who} (mode {bits:04o})" in msg
    shared = DiskStore(base, shared=True)  # explicit opt-in
    assert shared.get(A) == 1.0 and shared.info()["shared"]
    from voxlogica_nb.cache_admin import info_text

    assert "shared store: others may write it" in info_text(shared)
    assert "shared" not in info_text(DiskStore(tmp_path / "private"))


def test_folder_owned_by_another_user_is_refused(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("giving a folder to another user needs root")
    base = tmp_path / "cache"
    base.mkdir(mode=0o700)
    os.chown(base, OTHER_UID, -1)
    msg = _refused(base)
    assert f"owned by uid {OTHER_UID}, not by you (uid {os.geteuid()})" in msg
    assert not (base / "v1").exists() or os.stat(base / "v1").st_uid == os.geteuid()
    DiskStore(base, shared=True).put(A, 1.0, {})


@pytest.mark.parametrize("inner", ["v1", "v1/objects", "v1/failures", "v1/locks", "v1/objects/ab",
                                   "v1/locks/ab"])
def test_a_folder_inside_the_store_writable_by_others_is_refused(tmp_path, inner):
    base = tmp_path / "cache"
    s = DiskStore(base)
    s.put(A, np.zeros(10_000), {})  # large: in a value file of a shard folder
    s.claims.try_acquire(A, "x").release()
    os.chmod(base / inner, 0o777)
    msg = _refused(base)
    assert str(base / inner) in msg


def test_inner_folder_owned_by_another_user_is_refused(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("giving a folder to another user needs root")
    base = tmp_path / "cache"
    DiskStore(base).put(A, np.zeros(10_000), {})
    os.chown(base / "v1" / "objects" / "ab", OTHER_UID, -1)
    assert "owned by uid" in _refused(base)


def test_symlink_to_a_folder_others_can_write_is_refused(tmp_path):
    target = tmp_path / "open"
    target.mkdir()
    os.chmod(target, 0o777)
    link = tmp_path / "cache"
    link.symlink_to(target)
    _refused(link)


def test_opt_in_by_environment_and_explicit_refusal(tmp_path, monkeypatch):
    base = tmp_path / "cache"
    base.mkdir()
    os.chmod(base, 0o775)
    _refused(base)
    monkeypatch.setenv("VOXLOGICA_SHARED_STORE", "1")
    s = DiskStore(base)
    s.put(A, 3.0, {})
    assert s.get(A) == 3.0 and s.shared
    _refused(base, shared=False)  # an explicit False wins over the environment
    monkeypatch.setenv("VOXLOGICA_SHARED_STORE", "0")
    _refused(base)


def test_private_folder_is_accepted_whatever_its_read_bits(tmp_path):
    base = tmp_path / "cache"
    base.mkdir()
    os.chmod(base, 0o755)  # others may read (not write): accepted
    DiskStore(base).put(A, 1.0, {})
    assert mode(base) == 0o755  # an existing folder keeps its mode


# -- the refusal reaches users --------------------------------------------------------------

def test_session_and_engine_refuse_and_accept_the_option(tmp_path):
    base = tmp_path / "cache"
    base.mkdir()
    os.chmod(base, 0o777)
    for make in (lambda: vx.Session(cache_dir=str(base)), lambda: get_engine(str(base)),
                 lambda: open_store(str(base))):
        with pytest.raises(UnsafeStoreError) as ei:
            make()
        assert "\n" not in str(ei.value) and "refusing to use cache folder" in str(ei.value)
    s = vx.Session(cache_dir=str(base), shared_store=True)
    assert s.run('print "v" 2 + 3')["v"] == 5.0
    assert get_engine(str(base)) is s.engine  # created once, with the option
    assert vx.Session(cache_dir=str(base), no_cache=True).run('print "v" 1')["v"] == 1.0


def test_refusal_in_a_fresh_process_is_one_line(tmp_path):
    base = tmp_path / "cache"
    base.mkdir()
    os.chmod(base, 0o777)
    code = ("import sys; from voxlogica_nb.engine.store import StoreError\n"
            "import voxlogica_nb as vx\n"
            "try:\n    vx.run('print \"v\" 1', cache_dir=sys.argv[1])\n"
            "except StoreError as e:\n    print(e); sys.exit(3)\n")
    env = {k: v for k, v in os.environ.items() if k != "VOXLOGICA_SHARED_STORE"}
    done = run_python(code, base, env=env)
    assert done.returncode == 3, done.stderr
    [line] = done.stdout.splitlines()
    assert line.startswith(f"voxlogica_nb: refusing to use cache folder {base}: it is writable by")
    done = run_python(code, base, env=dict(env, VOXLOGICA_SHARED_STORE="1"))
    assert done.returncode == 0, done.stderr


def test_claims_degrade_without_writing_an_owner_record(tmp_path, monkeypatch):
    # an in-process claim (its lock file could not be opened) leaves no owner
    # record that a later sweep would report as a dangling run
    t = claims_module.ClaimTable(tmp_path / "locks")
    real_open = os.open

    def no_lock_files(path, flags, *args, **kwargs):
        if os.fspath(path).endswith(".lock"):
            raise PermissionError(13, "Permission denied")
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", no_lock_files)
    c = t.try_acquire(A, "x")
    assert c is not None and t.error is not None
    monkeypatch.undo()
    assert [p for p in (tmp_path / "locks").rglob("*") if p.is_file() and p.name != ".inuse"] == []
    c.release()
    assert claims_module.ClaimTable(tmp_path / "locks").sweep() == []


def test_other_threads_see_owner_only_modes_under_any_umask(tmp_path, umask0):
    # workers create files concurrently: the modes never depend on timing
    s = DiskStore(tmp_path / "cache")
    ids = [f"{i:02x}" + "7" * 62 for i in range(40)]
    threads = [threading.Thread(target=s.put, args=(t, float(i), {})) for i, t in enumerate(ids)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert all(s.get(t) == float(i) for i, t in enumerate(ids))
    files = {p: mode(p) for p in _files(tmp_path / "cache")}
    assert {p: m for p, m in files.items() if m != (0o700 if os.path.isdir(p) else 0o600)} == {}
    assert diskstore.SHARED_ENV == "VOXLOGICA_SHARED_STORE"


def test_cli_refuses_an_unsafe_store_in_one_line(tmp_path, run_cli):
    store = tmp_path / "open-store"
    store.mkdir()
    os.chmod(store, 0o777)
    code, _, err = run_cli('print "a" 1', "--cache-dir", str(store))
    assert code == 2
    err = err.strip().splitlines()
    assert len(err) == 1 and "refusing to use cache folder" in err[0]
