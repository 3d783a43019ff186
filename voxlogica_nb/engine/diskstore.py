"""The embedded default store: a folder of joblib files, content-addressed.

Layout (``<ab>`` = first two hex digits of the task id)::

    <root>/v<SCHEME>/objects/<ab>/<id>.<tag>.pkl  the value (joblib.dump, uncompressed)
    <root>/v<SCHEME>/objects/<ab>/<id>.json       its metadata — the commit point
    <root>/v<SCHEME>/failures/<ab>/<id>.json  a failure record
    <root>/v<SCHEME>/locks/...                claims (see ``claims.py``)

A store written under another scheme version lives in another ``v<N>``
folder and is ignored, never misread.

Commit protocol (``put``): the value is dumped to a temporary file in the
same folder while a CRC-32 of its bytes is computed, and renamed to a value
file of its own (``<id>.<random tag>.pkl``); then the metadata (value file
name, size, CRC, type, times, op, version) is written to a temporary file
and renamed over ``<id>.json`` — that rename is the single commit point.
Readers therefore always see a complete, consistent (metadata, value) pair,
also while a value is being overwritten ("force") or written by two
processes at once; the value file the old metadata named is deleted after
the switch (a reader that has it memory-mapped keeps its data).
``contains`` is a single ``stat`` of the metadata.

Reading (``get``): size and CRC are checked against the metadata (the CRC is
checked once per file version per process, ~9 ms for 36 MB); a mismatch, an
unreadable file, or a failing ``joblib.load`` discards the entry and returns
``MISSING``. Files of at least ``mmap_min_bytes`` are loaded memory-mapped,
read-only (``mmap_mode="r"``).

The last-used time of an entry is its metadata file's mtime (touched on every
``get``); ``prune`` removes least recently used entries first.

Failures to write (full disk, I/O error, read-only folder) at any step of a
commit, a failure record or a claim leave no partial file behind: the
temporary file is removed, the previous value (if any) stays committed, and
the store warns once and stops writing (values stay in the engine's memory).

Security: values are unpickled when read, so whoever can write the store can
run code in every process that reads it. A store folder (or one of the
folders inside it) that is owned by another user, or writable by group or
others, is refused with :class:`~voxlogica_nb.engine.store.UnsafeStoreError`
unless a shared store is asked for (``shared=True`` or
``$VOXLOGICA_SHARED_STORE=1``). Files are created 0600 and folders 0700
(a shared store creates them as the umask allows, so a group can use it).
"""
from __future__ import annotations

import json
import os
import secrets
import stat
import threading
import time
import warnings
import zlib
from pathlib import Path


from .claims import ClaimTable
from .store import MISSING, Store, UnsafeStoreError

__all__ = ["DiskStore", "SCHEME_VERSION", "default_root", "shared_store_requested", "SHARED_ENV"]


def _task_scheme_version() -> str:
    """The number of the task-id scheme (``voxlogica-task/<N>``), default "1"."""
    try:
        from ..language.tasks import SCHEME

        return str(SCHEME).rsplit("/", 1)[-1]
    except Exception:  # pragma: no cover - reducer unavailable
        return "1"


#: Version of the task-id scheme; data lives under ``v<N>``, so ids of another
#: scheme (and values stored for them) are never looked up.
SCHEME_VERSION = _task_scheme_version()

_CHUNK = 1 << 20

#: Environment variable that opts in to a store others can write (see the module docstring).
SHARED_ENV = "VOXLOGICA_SHARED_STORE"
_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | getattr(os, "O_NOFOLLOW", 0)


def shared_store_requested() -> bool:
    """True if ``$VOXLOGICA_SHARED_STORE`` asks for a shared store (1, true, yes, on)."""
    return os.environ.get(SHARED_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def _create(path: Path, file_mode: int = 0o600, dir_mode: int = 0o700):
    """A new file (it must not exist) open for writing, with mode ``file_mode``;
    its shard folder is created (``dir_mode``) on demand."""
    try:
        fd = os.open(path, _NEW_FILE, file_mode)
    except FileNotFoundError:
        os.makedirs(path.parent, mode=dir_mode, exist_ok=True)
        fd = os.open(path, _NEW_FILE, file_mode)
    try:
        return os.fdopen(fd, "wb")
    except BaseException:
        os.close(fd)
        raise


def _unsafe_reason(st) -> str | None:
    """Why a folder with this ``stat`` must not hold values we unpickle (None: it is safe)."""
    me = os.geteuid()
    if st.st_uid != me:
        return f"it is owned by uid {st.st_uid}, not by you (uid {me})"
    if st.st_mode & 0o022:
        who = {0o020: "group", 0o002: "others"}.get(st.st_mode & 0o022, "group and others")
        return f"it is writable by {who} (mode {stat.S_IMODE(st.st_mode):04o})"
    return None


def default_root() -> Path:
    """``$VOXLOGICA_CACHE_DIR``, else ``$XDG_CACHE_HOME/voxlogica_nb``, else ``~/.cache/voxlogica_nb``."""
    env = os.environ.get("VOXLOGICA_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    if xdg:
        return Path(xdg).expanduser() / "voxlogica_nb"
    return Path.home() / ".cache" / "voxlogica_nb"


def _joblib():
    """joblib, imported on first use, so importing the package stays light."""
    import joblib

    return joblib


class _CrcWriter:
    """File wrapper computing the CRC-32 of what joblib writes."""

    __slots__ = ("f", "crc")

    def __init__(self, f):
        self.f = f
        self.crc = 0

    def write(self, b):
        n = self.f.write(b)
        self.crc = zlib.crc32(b, self.crc)
        return n

    def tell(self):
        return self.f.tell()

    def flush(self):
        self.f.flush()


def _file_crc(path) -> int:
    crc = 0
    buf = bytearray(_CHUNK)
    view = memoryview(buf)
    with open(path, "rb", buffering=0) as f:
        while True:
            n = f.readinto(buf)
            if not n:
                return crc
            crc = zlib.crc32(view[:n], crc)


def _type_name(value) -> str:
    t = type(value)
    name = t.__qualname__ if t.__module__ in ("builtins", None) else f"{t.__module__}.{t.__qualname__}"
    return name


def _describe(value) -> str | None:
    """A short human description of a value (shape/dtype for images and arrays)."""
    arr = getattr(value, "array", None)
    if arr is None and hasattr(value, "shape") and hasattr(value, "dtype"):
        arr = value
    if arr is not None and hasattr(arr, "shape"):
        kind = getattr(value, "kind", None)
        s = "x".join(str(int(n)) for n in arr.shape) + f" {arr.dtype}"
        return f"{kind} {s}" if kind else s
    return None


class DiskStore(Store):
    """A store in a folder, shared safely by threads and processes.

    ``root``: the cache folder (default :func:`default_root`). ``scheme``: the
    task-id scheme version (data under ``root/v<scheme>``). ``warn``: called
    with one message the first time the folder turns out not to be writable;
    the store then keeps working as a no-op (values stay in the engine's
    memory). ``session_id`` goes into owner records of claims.

    ``shared``: a folder owned by another user or writable by group or
    others is refused (:class:`UnsafeStoreError`) unless ``shared`` is True;
    None (the default) takes the answer from ``$VOXLOGICA_SHARED_STORE``.
    A shared store creates its files as the umask allows instead of 0600.
    """

    def __init__(self, root=None, *, scheme: int | str = SCHEME_VERSION, warn=warnings.warn,
                 session_id: str = "", mmap_min_bytes: int = 1 << 20, shared: bool | None = None):
        self.base = Path(root).expanduser() if root is not None else default_root()
        self.scheme = scheme
        self.root = self.base / f"v{scheme}"
        self.objects = self.root / "objects"
        self.failures_dir = self.root / "failures"
        self.mmap_min_bytes = mmap_min_bytes
        self.shared = shared_store_requested() if shared is None else bool(shared)
        self.file_mode, self.dir_mode = (0o666, 0o777) if self.shared else (0o600, 0o700)
        self._warn_fn = warn
        self._warned = False
        self._warn_lock = threading.Lock()
        self._verified: dict = {}  # path -> (ino, size, mtime_ns, ctime_ns, crc) known good
        self._verified_lock = threading.Lock()
        self.writable = True
        error = None
        try:
            if not self.base.exists():
                os.makedirs(self.base, mode=self.dir_mode, exist_ok=True)
                if not self.shared:
                    os.chmod(self.base, 0o700)
            for d in (self.root, self.objects, self.failures_dir):
                os.makedirs(d, mode=self.dir_mode, exist_ok=True)
        except OSError as e:
            error = e
        if not self.shared:
            self._refuse_if_unsafe()
        if error is not None:
            self._not_writable(error)
        self.claims = ClaimTable(self.root / "locks", session_id=session_id, file_mode=self.file_mode,
                                 dir_mode=self.dir_mode, on_error=self._not_writable)
        if self.claims.error is not None and self.writable:
            self._not_writable(self.claims.error)

    def _refuse_if_unsafe(self):
        """Raise :class:`UnsafeStoreError` if someone else can write the
        store folder or a folder in it (their shard folders included)."""
        folders = [self.base, self.root]
        for top in (self.objects, self.failures_dir, self.root / "locks"):
            folders.append(top)
            try:
                folders += [e.path for e in os.scandir(top) if e.is_dir(follow_symlinks=False)]
            except OSError:
                pass
        for folder in folders:
            try:
                st = os.stat(folder)
            except OSError:
                continue  # absent (or not a folder): nothing in it can be read
            reason = _unsafe_reason(st)
            if reason is not None:
                where = "cache folder" if folder == self.base else f"folder {folder} of cache folder"
                raise UnsafeStoreError(
                    f"voxlogica_nb: refusing to use {where} {self.base}: {reason}; whoever can write "
                    f"it can run code in this process (stored values are unpickled). Use a folder "
                    f"only you can write, or opt in to a shared store ({SHARED_ENV}=1, or "
                    f"shared_store=True) if you trust everyone who can write it",
                    path=str(folder))

    # -- helpers ----------------------------------------------------------
    def __repr__(self):
        return f"<DiskStore {self.root}>"

    def _not_writable(self, err):
        self.writable = False
        with self._warn_lock:
            if self._warned:
                return
            self._warned = True
        reason = getattr(err, "strerror", None) or str(err)
        self._warn_fn(
            f"voxlogica_nb: cache folder {self.base} is not writable ({reason}); "
            "results kept in memory only"
        )

    def _paths(self, task_id):
        d = self.objects / task_id[:2]
        return d, d / (task_id + ".json")

    @staticmethod
    def _value_path(d, task_id, meta):
        """The value file a metadata record names (None if it names none sensibly)."""
        name = meta.get("file") if meta else None
        if not isinstance(name, str) or not name.startswith(task_id + ".") or "/" in name or not name.endswith(".pkl"):
            return None
        return d / name

    def _failure_path(self, task_id):
        return self.failures_dir / task_id[:2] / (task_id + ".json")

    @staticmethod
    def _read_json(path):
        """(dict, raw bytes) or (None, None) if absent; raises ValueError if unreadable."""
        try:
            with open(path, "rb") as f:
                raw = f.read()
        except FileNotFoundError:
            return None, None
        rec = json.loads(raw)
        if not isinstance(rec, dict):
            raise ValueError("not a JSON object")
        return rec, raw

    def _write_json_atomic(self, path, rec):
        d = path.parent
        tmp = d / f".{path.name}.{secrets.token_hex(6)}.tmp"
        data = json.dumps(rec, default=str).encode()
        try:
            with _create(tmp, self.file_mode, self.dir_mode) as f:
                f.write(data)
            os.replace(tmp, path)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise

    @staticmethod
    def _unlink(path):
        try:
            os.unlink(path)
            return True
        except FileNotFoundError:
            return False
        except OSError:
            return False

    # -- the Store interface ---------------------------------------------
    def contains(self, task_id: str) -> bool:
        return os.path.exists(self._paths(task_id)[1])

    def meta(self, task_id: str) -> dict | None:
        try:
            return self._read_json(self._paths(task_id)[1])[0]
        except (OSError, ValueError):
            return None

    def get(self, task_id: str):
        for _attempt in range(10):  # retried only when a writer committed meanwhile
            result = self._get_once(task_id)
            if result is not _RETRY:
                return result
        return MISSING

    def _get_once(self, task_id):
        d, js = self._paths(task_id)
        try:
            meta, raw = self._read_json(js)
        except (OSError, ValueError):
            return self._discard(task_id, js_raw=b"?")
        if meta is None:
            return MISSING
        pkl = self._value_path(d, task_id, meta)
        if pkl is None:
            return self._discard(task_id, js_raw=raw)
        try:
            st = os.stat(pkl)
        except FileNotFoundError:
            return self._discard(task_id, js_raw=raw)
        except OSError:
            return MISSING
        key = (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns, meta.get("crc32"))
        if st.st_size != meta.get("bytes"):
            return self._discard(task_id, js_raw=raw)
        spkl = str(pkl)
        with self._verified_lock:
            ok = self._verified.get(spkl) == key
        if not ok:
            try:
                crc = _file_crc(pkl)
            except FileNotFoundError:  # replaced by a writer meanwhile?
                return self._discard(task_id, js_raw=raw)
            except OSError:
                return MISSING
            if crc != meta.get("crc32"):
                return self._discard(task_id, js_raw=raw)
            with self._verified_lock:
                if len(self._verified) > 100_000:
                    self._verified.clear()
                self._verified[spkl] = key
        try:
            mmap = "r" if st.st_size >= self.mmap_min_bytes else None
            value = _joblib().load(spkl, mmap_mode=mmap)
        except Exception:
            return self._discard(task_id, js_raw=raw)
        try:
            os.utime(js)  # last used, for LRU pruning
        except OSError:
            pass
        return value

    def _discard(self, task_id, js_raw):
        """Remove a corrupt entry, unless a writer replaced it meanwhile (then retry)."""
        d, js = self._paths(task_id)
        try:
            now, now_raw = self._read_json(js)
        except (OSError, ValueError):
            now, now_raw = None, b"?"
        if now_raw is None:
            return MISSING  # already gone (cleared, or discarded by another reader)
        if now_raw != js_raw:
            return _RETRY  # a writer committed a new value meanwhile
        self._unlink(js)
        pkl = self._value_path(d, task_id, now)
        if pkl is not None:
            victims = [pkl]
        else:  # unreadable metadata: drop every value file of this id
            try:
                victims = [d / n for n in os.listdir(d) if n.startswith(task_id + ".") and n.endswith(".pkl")]
            except OSError:
                victims = []
        for v in victims:
            self._unlink(v)
            with self._verified_lock:
                self._verified.pop(str(v), None)
        return MISSING

    def put(self, task_id: str, value, meta: dict | None = None) -> None:
        if not self.writable:
            return
        meta = dict(meta or {})
        d, js = self._paths(task_id)
        tag = secrets.token_hex(6)
        tmp = d / f".{task_id}.{tag}.tmp"
        pkl = d / f"{task_id}.{tag}.pkl"
        committed = False
        try:
            f = _create(tmp, self.file_mode, self.dir_mode)
            try:
                with f:
                    w = _CrcWriter(f)
                    _joblib().dump(value, w, compress=False)
                    size = f.tell()
            except OSError:
                raise
            except Exception as e:  # value cannot be pickled: keep it in memory only
                self._unlink(tmp)
                self._warn_fn(f"voxlogica_nb: a value of type {_type_name(value)} cannot be stored ({e}); "
                              "it is kept in memory only")
                return
            now = time.time()
            rec = {
                "id": task_id,
                "file": pkl.name,
                "type": _type_name(value),
                "bytes": size,
                "crc32": w.crc,
                "seconds": meta.pop("seconds", None),
                "created": now,
                "op": meta.pop("op", None),
                "version": meta.pop("version", None),
            }
            desc = _describe(value)
            if desc:
                rec["describe"] = desc
            for k, v in meta.items():
                rec.setdefault(k, v)
            os.replace(tmp, pkl)
            try:
                old = self._value_path(d, task_id, self._read_json(js)[0])
            except (OSError, ValueError):
                old = None
            self._write_json_atomic(js, rec)  # the commit point
            committed = True
            if old is not None and old != pkl:
                self._unlink(old)
                with self._verified_lock:
                    self._verified.pop(str(old), None)
            with self._verified_lock:
                try:
                    st = os.stat(pkl)
                    self._verified[str(pkl)] = (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns, w.crc)
                except OSError:
                    pass
            self._unlink(self._failure_path(task_id))
        except OSError as e:
            self._unlink(tmp)
            if not committed:
                self._unlink(pkl)
            self._not_writable(e)

    def put_failure(self, task_id: str, record: dict) -> None:
        if not self.writable:
            return
        rec = dict(record)
        rec["id"] = task_id
        rec.setdefault("time", time.time())
        try:
            self._write_json_atomic(self._failure_path(task_id), rec)
        except OSError as e:
            self._not_writable(e)

    def failure(self, task_id: str) -> dict | None:
        try:
            return self._read_json(self._failure_path(task_id))[0]
        except (OSError, ValueError):
            return None

    def clear_failure(self, task_id: str) -> None:
        self._unlink(self._failure_path(task_id))

    def failures(self) -> list[dict]:
        """All failure records, most recent first."""
        out = []
        for path in self._scan(self.failures_dir, ".json"):
            try:
                rec = self._read_json(path)[0]
            except (OSError, ValueError):
                continue
            if rec is not None:
                out.append(rec)
        out.sort(key=lambda r: r.get("time") or 0, reverse=True)
        return out

    # -- management -------------------------------------------------------
    @staticmethod
    def _scan(top, suffix):
        try:
            shards = list(os.scandir(top))
        except OSError:
            return
        for shard in shards:
            if not shard.is_dir(follow_symlinks=False):
                continue
            try:
                entries = list(os.scandir(shard.path))
            except OSError:
                continue
            for e in entries:
                if e.name.endswith(suffix) and not e.name.startswith("."):
                    yield Path(e.path)

    def _shards(self):
        """Yield (shard path, {task id: meta DirEntry}, {task id: [value DirEntry]})."""
        try:
            shards = [e for e in os.scandir(self.objects) if e.is_dir(follow_symlinks=False)]
        except OSError:
            return
        for shard in shards:
            metas, values = {}, {}
            try:
                entries = list(os.scandir(shard.path))
            except OSError:
                continue
            for e in entries:
                if e.name.startswith("."):
                    continue
                if e.name.endswith(".json"):
                    metas[e.name[:-5]] = e
                elif e.name.endswith(".pkl"):
                    values.setdefault(e.name.split(".", 1)[0], []).append(e)
            yield Path(shard.path), metas, values

    def _committed_value(self, shard, task_id, meta_entry, value_entries):
        """The value DirEntry a committed entry uses (reads the metadata only if ambiguous)."""
        if len(value_entries) == 1:
            return value_entries[0]
        try:
            meta = self._read_json(meta_entry.path)[0]
        except (OSError, ValueError):
            return None
        name = meta.get("file") if meta else None
        for e in value_entries:
            if e.name == name:
                return e
        return None

    def _entries(self):
        """[(task_id, bytes, last_used)] of committed values."""
        out = []
        for shard, metas, values in self._shards():
            for task_id, js in metas.items():
                v = self._committed_value(shard, task_id, js, values.get(task_id, ()))
                if v is None:
                    continue
                try:
                    out.append((task_id, v.stat().st_size, js.stat().st_mtime))
                except OSError:
                    continue
        return out

    def info(self) -> dict:
        entries = self._entries()
        return {
            "root": str(self.base),  # the folder to name (--cache-dir, VOXLOGICA_CACHE_DIR)
            "scheme": self.scheme,
            "count": len(entries),
            "bytes": sum(e[1] for e in entries),
            "failures": sum(1 for _ in self._scan(self.failures_dir, ".json")),
            "running": len(self.claims.running()),
            "writable": self.writable,
            "shared": self.shared,
        }

    def _remove_entry(self, task_id):
        d, js = self._paths(task_id)
        try:
            meta = self._read_json(js)[0]
        except (OSError, ValueError):
            meta = None
        self._unlink(js)
        pkl = self._value_path(d, task_id, meta)
        if pkl is not None:
            self._unlink(pkl)
            with self._verified_lock:
                self._verified.pop(str(pkl), None)

    def clear(self) -> dict:
        """Delete every value and failure record (lock files stay; see ``prune``)."""
        entries = self._entries()
        nfail = 0
        for task_id, _size, _last in entries:
            self._remove_entry(task_id)
        for path in list(self._scan(self.failures_dir, ".json")):
            nfail += self._unlink(path)
        self._remove_stale_temps(max_age=None)
        with self._verified_lock:
            self._verified.clear()
        return {"removed": len(entries), "freed": sum(e[1] for e in entries), "failures": nfail}

    def _remove_stale_temps(self, max_age=3600.0):
        """Temporary files of crashed writers, and values without metadata."""
        now = time.time()
        n = 0
        for shard, metas, values in self._shards():
            orphans = []
            try:
                orphans += [e for e in os.scandir(shard) if e.name.endswith(".tmp")]
            except OSError:
                pass
            for task_id, entries in values.items():
                js = metas.get(task_id)
                used = self._committed_value(shard, task_id, js, entries) if js is not None else None
                orphans += [e for e in entries if used is None or e.name != used.name]
            for e in orphans:
                try:
                    if max_age is not None and now - e.stat().st_mtime < max_age:
                        continue  # maybe a writer at work
                except OSError:
                    continue
                n += self._unlink(e.path)
        return n

    def prune(self, max_bytes: int | None = None, older_than_seconds: float | None = None) -> dict:
        """Remove least recently used values until the store holds at most
        ``max_bytes``, and every value unused for ``older_than_seconds``.

        Lock files are removed only if no other process has the store open.
        """
        now = time.time()
        entries = sorted(self._entries(), key=lambda e: e[2])  # least recently used first
        total = sum(e[1] for e in entries)
        removed = freed = 0
        keep = []
        for task_id, size, last in entries:
            too_old = older_than_seconds is not None and now - last > older_than_seconds
            too_big = max_bytes is not None and total > max_bytes
            if too_old or too_big:
                self._remove_entry(task_id)
                removed += 1
                freed += size
                total -= size
            else:
                keep.append(task_id)
        temps = self._remove_stale_temps()
        locks = self.claims.gc()
        return {
            "removed": removed,
            "freed": freed,
            "count": len(keep),
            "bytes": total,
            "temp_files": temps,
            "lock_files": locks,  # None: store in use elsewhere, lock files kept
        }

    def sweep(self) -> list[dict]:
        """Clear dangling claims (owners gone); see :meth:`ClaimTable.sweep`."""
        return self.claims.sweep()

    def running(self) -> list[dict]:
        return self.claims.running()

    def close(self) -> None:
        self.claims.close()


_RETRY = object()
