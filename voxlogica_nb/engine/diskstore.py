"""The embedded default store: a folder of joblib files, content-addressed.

Layout (``<ab>`` = first two hex digits of the task id)::

    <root>/v<SCHEME>/records.sqlite               records of small values (see ``records.py``)
    <root>/v<SCHEME>/objects/<ab>/<id>.json       the record of a large value — its commit point
    <root>/v<SCHEME>/objects/<ab>/<id>.<tag>.pkl  a large value (joblib.dump, uncompressed)
    <root>/v<SCHEME>/failures/<ab>/<id>.json      a failure record
    <root>/v<SCHEME>/locks/...                    claims (see ``claims.py``)

A store written under another scheme version lives in another ``v<N>``
folder and is ignored, never misread.

Commit protocol (``put``): the value is dumped with ``joblib.dump`` while a
CRC-32 of its bytes is computed. A value of at most ``inline_max_bytes``
(a short sequence, a small array) is kept in memory and goes into its
record (base64, ``"inline"``); a number, string, bool or None goes there as
JSON (``"value"``, its CRC taken over its JSON text). Such a record is a row
of the table of small values, committed in one SQLite transaction: creating
a file costs more than anything else a commit does, and many programs make
thousands of small values. (When the table cannot be used, or with
``records_table=False``, it is a record file like a large value's.) A
larger value spills to a temporary file renamed to a value file of its own
(``<id>.<unique tag>.pkl``, named by the record's ``"file"``). Then the
record (size, CRC, type, times, op, version) is written to a temporary file
and renamed over ``<id>.json`` — that rename is the single commit point.
Readers therefore always see a complete, consistent (record, value) pair,
also while a value is being overwritten ("force") or written by two
processes at once; the value file the old record named is deleted after the
switch (a reader that has it memory-mapped keeps its data). A commit of
one form removes the other; should both exist for an id (a crash between
the two steps), a read takes the row where the table takes writes and the
file where it does not (a shared store: see ``records.py``); both are values
of the same task. ``contains`` is a ``stat`` and, if that misses, a lookup
in the table.

Reading (``get``): size and CRC are checked against the record (the CRC of
a value file is checked once per file version per process, ~9 ms for
36 MB); a mismatch, an unreadable file, or a failing ``joblib.load``
discards the entry and returns ``MISSING``. Value files of at least
``mmap_min_bytes`` are loaded memory-mapped, read-only (``mmap_mode="r"``).

The last-used time of an entry is its record file's mtime (touched on
every ``get``) or its row's ``used`` (brought up to date by a ``get`` when
more than ten minutes old); ``prune`` removes least recently used entries
first.

Failures to write (full disk, I/O error, read-only folder) at any step of a
commit, a failure record or a claim leave no partial file behind: the
temporary file is removed, the previous value (if any) stays committed, and
the store warns once and stops writing (values stay in the engine's memory).
Nothing is ``fsync``-ed: a value or record torn by a power loss fails its
size/CRC or JSON check and is recomputed.

Security: values are unpickled when read, so whoever can write the store can
run code in every process that reads it. A store folder (or one of the
folders inside it) that is owned by another user, or writable by group or
others, is refused with :class:`~voxlogica_nb.engine.store.UnsafeStoreError`
unless a shared store is asked for (``shared=True`` or
``$VOXLOGICA_SHARED_STORE=1``). Files are created 0600 and folders 0700
(a shared store creates them as the umask allows, so a group can use it).
"""
from __future__ import annotations

import base64
import io
import json
import os
import stat
import threading
import time
import warnings
import zlib
from pathlib import Path

from .claims import ALIVE, ClaimTable
from ..files import AtomicFile, shards, unique_tag, unlink, walk, write_atomic
from .records import RecordTable, on_network_filesystem
from .store import MISSING, Store, UnsafeStoreError

__all__ = ["DiskStore", "SCHEME_VERSION", "default_root", "shared_store_requested", "SHARED_ENV",
           "file_crc"]


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


def shared_store_requested() -> bool:
    """True if ``$VOXLOGICA_SHARED_STORE`` asks for a shared store (1, true, yes, on)."""
    return os.environ.get(SHARED_ENV, "").strip().lower() in ("1", "true", "yes", "on")


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


class _Spool:
    """Where ``joblib.dump`` writes a value: memory up to ``limit`` bytes,
    then a temporary value file (``open_file()`` gives an AtomicFile); keeps
    the CRC-32 of everything written."""

    __slots__ = ("limit", "open_file", "buf", "file", "crc")

    def __init__(self, limit, open_file):
        self.limit = limit
        self.open_file = open_file
        self.buf = bytearray()
        self.file = None
        self.crc = 0

    def write(self, b):
        self.crc = zlib.crc32(b, self.crc)
        if self.file is None:
            if len(self.buf) + len(b) <= self.limit:
                self.buf += b
                return len(b)
            self.file = self.open_file()
            self.file.write(self.buf)
            self.buf = None
        return self.file.write(b)

    def tell(self):
        return len(self.buf) if self.file is None else self.file.tell()

    def flush(self):
        pass

    def abort(self):
        if self.file is not None:
            self.file.abort()


def file_crc(path) -> int:
    """CRC-32 of a file's bytes."""
    crc = 0
    buf = bytearray(_CHUNK)
    view = memoryview(buf)
    with open(path, "rb", buffering=0) as f:
        while True:
            n = f.readinto(buf)
            if not n:
                return crc
            crc = zlib.crc32(view[:n], crc)


def _read_json(path):
    """(dict, raw bytes) or (None, None) if absent; raises ValueError if unreadable."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None, None
    try:
        parts = []
        while True:
            b = os.read(fd, 1 << 14)
            if not b:
                break
            parts.append(b)
    finally:
        os.close(fd)
    raw = b"".join(parts)
    return _parse_record(raw), raw


def _parse_record(raw) -> dict:
    """A record from its JSON text; ValueError if it is not one."""
    rec = json.loads(raw)
    if not isinstance(rec, dict):
        raise ValueError("not a JSON object")
    return rec


def _type_name(value) -> str:
    t = type(value)
    return t.__qualname__ if t.__module__ in ("builtins", None) else f"{t.__module__}.{t.__qualname__}"


def _describe(value) -> str | None:
    """A short human description of a value (shape/dtype for images and arrays)."""
    arr = getattr(value, "held", None)  # an image's voxels, or what stands for them
    if arr is None and hasattr(value, "shape") and hasattr(value, "dtype"):
        arr = value
    if arr is not None and hasattr(arr, "shape"):
        kind = getattr(value, "kind", None)
        s = "x".join(str(int(n)) for n in arr.shape) + f" {getattr(value, 'dtype', arr.dtype)}"
        return f"{kind} {s}" if kind else s
    return None


class DiskStore(Store):
    """A store in a folder, shared safely by threads and processes.

    ``root``: the cache folder (default :func:`default_root`). ``scheme``: the
    task-id scheme version (data under ``root/v<scheme>``). ``warn``: called
    with one message the first time the folder turns out not to be writable;
    the store then keeps working as a no-op (values stay in the engine's
    memory). ``session_id`` goes into owner records of claims.
    ``inline_max_bytes``: values whose pickle is at most this long are kept
    in their record, larger ones in a file of their own.

    ``shared``: a folder owned by another user or writable by group or
    others is refused (:class:`UnsafeStoreError`) unless ``shared`` is True;
    None (the default) takes the answer from ``$VOXLOGICA_SHARED_STORE``.
    A shared store creates its files as the umask allows instead of 0600.
    """

    def __init__(self, root=None, *, scheme: int | str = SCHEME_VERSION, warn=warnings.warn,
                 session_id: str = "", mmap_min_bytes: int = 1 << 20, inline_max_bytes: int = 4096,
                 shared: bool | None = None, records_table: bool = True):
        self.base = Path(root).expanduser() if root is not None else default_root()
        self.scheme = scheme
        self.root = self.base / f"v{scheme}"
        self.objects = self.root / "objects"
        self.failures_dir = self.root / "failures"
        self._objects, self._failures = os.fspath(self.objects), os.fspath(self.failures_dir)
        self.mmap_min_bytes = mmap_min_bytes
        self.inline_max_bytes = inline_max_bytes
        self.shared = shared_store_requested() if shared is None else bool(shared)
        self.file_mode, self.dir_mode = (0o666, 0o777) if self.shared else (0o600, 0o700)
        self._warn_fn = warn
        self._warned = False
        self._warn_lock = threading.Lock()
        self._verified: dict = {}  # value file path -> (ino, size, mtime_ns, ctime_ns, crc) known good
        self._verified_lock = threading.Lock()
        self._value_shards = _Shards(self._objects)  # see likely_contains
        self._failure_shards = _Shards(self._failures)  # see _clear_failure
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
        # SQLite's log coordinates the processes of one machine only: a store
        # shared on purpose, or on a network filesystem, keeps small values in files
        table = records_table and not self.shared and not on_network_filesystem(self.base)
        self.records = RecordTable(self.root / "records.sqlite", self.file_mode, on_error=self._records_off,
                                   writes=table)
        if self.claims.error is not None and self.writable:
            self._not_writable(self.claims.error)

    def _refuse_if_unsafe(self):
        """Raise :class:`UnsafeStoreError` if someone else can write the
        store folder or a folder in it (their shard folders included)."""
        locks = self.root / "locks"
        folders = [self.base, self.root, locks / ALIVE]
        for top in (self.objects, self.failures_dir, locks):
            folders += [top] + [e.path for e in shards(top)]
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

    def _records_off(self, err):
        self._warn_fn(f"voxlogica_nb: the table of small values in {self.base} cannot be used ({err}); "
                      "they are stored as files meanwhile (`voxlogica cache clear` starts a new table)")

    def flush(self) -> None:
        self.records.flush()

    def close(self) -> None:
        self.records.close()
        super().close()

    # -- paths (strings: this is the hot path) ----------------------------
    def _record_path(self, task_id):
        return f"{self._objects}/{task_id[:2]}/{task_id}.json"

    def _value_path(self, task_id, rec):
        """The value file a record names (None if it names none sensibly)."""
        name = rec.get("file") if rec else None
        if not isinstance(name, str) or not name.startswith(task_id + ".") or "/" in name or not name.endswith(".pkl"):
            return None
        return f"{self._objects}/{task_id[:2]}/{name}"

    def _failure_path(self, task_id):
        return f"{self._failures}/{task_id[:2]}/{task_id}.json"

    def _forget_verified(self, path):
        with self._verified_lock:
            self._verified.pop(path, None)

    # -- values -------------------------------------------------------------
    def contains(self, task_id: str) -> bool:
        return os.path.exists(self._record_path(task_id)) or self.records.has(task_id)

    def likely_contains(self, task_id: str) -> bool:
        # no stat in a shard folder that does not exist (listed once per run's planning)
        if self._value_shards.holds(task_id) and os.path.exists(self._record_path(task_id)):
            return True
        return self.records.has(task_id, guess=True)

    def new_plan(self) -> None:
        self._value_shards.forget()
        self.records.new_plan()

    def meta(self, task_id: str) -> dict | None:
        try:
            rec = _read_json(self._record_path(task_id))[0]
            if rec is None:
                text = self.records.get(task_id)
                rec = None if text is None else _parse_record(text)
        except (OSError, ValueError):
            return None
        if rec is not None:
            rec.pop("inline", None)
            rec.pop("value", None)
        return rec

    def get(self, task_id: str):
        for _attempt in range(10):  # retried only when a writer committed meanwhile
            result = self._get_once(task_id)
            if result is not _RETRY:
                return result
        return MISSING

    def _get_once(self, task_id):
        if self.records.writes:  # most values are small: the table first
            value = self._get_row(task_id)
            if value is not MISSING:
                return value
        js = self._record_path(task_id)
        try:
            rec, raw = _read_json(js)
        except (OSError, ValueError):
            return self._discard(task_id, b"?")
        if rec is None:  # (a store writing small values to files reads the table last)
            return MISSING if self.records.writes else self._get_row(task_id)
        if "value" in rec:
            value = self._load_json(rec)
        elif "inline" in rec:
            value = self._load_inline(rec)
        else:
            value = self._load_file(task_id, rec)
        if value is _CORRUPT:
            return self._discard(task_id, raw)
        if value is not MISSING:
            try:
                os.utime(js)  # last used, for LRU pruning
            except OSError:
                pass
        return value

    def _get_row(self, task_id):
        """The value of a record in the table of small values."""
        row = self.records.get(task_id, touch=True)
        if row is None:
            return MISSING
        try:
            rec = _parse_record(row)
            value = self._load_json(rec) if "value" in rec else self._load_inline(rec) if "inline" in rec \
                else _CORRUPT
        except ValueError:
            value = _CORRUPT
        if value is _CORRUPT:
            # gone for good unless a writer replaced the row meanwhile (then read again)
            return MISSING if self.records.delete(task_id, row) or not self.records.has(task_id) else _RETRY
        return value

    @staticmethod
    def _load_json(rec):
        value = rec["value"]
        try:
            data = json.dumps(value).encode()
        except ValueError:
            return _CORRUPT
        if type(value) not in _JSON_TYPES or len(data) != rec.get("bytes") or zlib.crc32(data) != rec.get("crc32"):
            return _CORRUPT
        return value

    @staticmethod
    def _load_inline(rec):
        try:
            data = base64.b64decode(rec["inline"], validate=True)
            if len(data) != rec.get("bytes") or zlib.crc32(data) != rec.get("crc32"):
                return _CORRUPT
            return _joblib().load(io.BytesIO(data))
        except Exception:
            return _CORRUPT

    def _load_file(self, task_id, rec):
        pkl = self._value_path(task_id, rec)
        if pkl is None:
            return _CORRUPT
        try:
            st = os.stat(pkl)
        except FileNotFoundError:
            return _CORRUPT
        except OSError:
            return MISSING
        if st.st_size != rec.get("bytes"):
            return _CORRUPT
        key = (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns, rec.get("crc32"))
        with self._verified_lock:
            ok = self._verified.get(pkl) == key
        if not ok:
            try:
                crc = file_crc(pkl)
            except FileNotFoundError:  # replaced by a writer meanwhile?
                return _CORRUPT
            except OSError:
                return MISSING
            if crc != rec.get("crc32"):
                return _CORRUPT
            with self._verified_lock:
                if len(self._verified) > 100_000:
                    self._verified.clear()
                self._verified[pkl] = key
        try:
            mmap = "r" if st.st_size >= self.mmap_min_bytes else None
            return _joblib().load(pkl, mmap_mode=mmap)
        except Exception:
            return _CORRUPT

    def _discard(self, task_id, raw):
        """Remove a corrupt entry, unless a writer replaced it meanwhile (then retry)."""
        js = self._record_path(task_id)
        try:
            now, now_raw = _read_json(js)
        except (OSError, ValueError):
            now, now_raw = None, b"?"
        if now_raw is None:
            return MISSING  # already gone (cleared, or discarded by another reader)
        if now_raw != raw:
            return _RETRY  # a writer committed a new value meanwhile
        unlink(js)
        pkl = self._value_path(task_id, now)
        if pkl is not None:
            victims = [pkl]
        elif now is not None and ("inline" in now or "value" in now):
            victims = []
        else:  # unreadable record: drop every value file of this id
            d = os.path.dirname(js)
            try:
                victims = [f"{d}/{n}" for n in os.listdir(d) if n.startswith(task_id + ".") and n.endswith(".pkl")]
            except OSError:
                victims = []
        for v in victims:
            unlink(v)
            self._forget_verified(v)
        return MISSING

    def put(self, task_id: str, value, meta: dict | None = None, later: bool = False) -> None:
        if not self.writable:
            return
        meta = dict(meta or {})
        pkl = f"{self._objects}/{task_id[:2]}/{task_id}.{unique_tag()}.pkl"
        spool = None
        committed = False
        try:
            form, spool = self._encode(value, pkl)
            if form is None:
                return
            rec = {"id": task_id, "type": _type_name(value), "seconds": meta.pop("seconds", None),
                   "created": time.time(), "op": meta.pop("op", None), "version": meta.pop("version", None)}
            desc = _describe(value)
            if desc:
                rec["describe"] = desc
            for k, v in meta.items():
                if k not in ("value", "inline", "file"):  # the keys saying where the value is
                    rec.setdefault(k, v)
            rec.update(form)
            if "file" in form:
                spool.file.commit()
            js = self._record_path(task_id)
            try:  # a record file to replace (a batched value is new: its run found none)
                old_rec, _raw = _read_json(js) if not (later and "file" not in form) else (None, None)
                old = self._value_path(task_id, old_rec)
            except (OSError, ValueError):
                old_rec, old = True, None
            text = _to_json(rec)
            if "file" not in form and self.records.put(task_id, text, later):
                committed = True  # the row is the commit point; an older record file goes
                if old_rec is not None:
                    unlink(js)
            else:
                write_atomic(js, text.encode(), self.file_mode, self.dir_mode)
                committed = True  # the record's rename above was the commit point
                self._value_shards.add(task_id)
                if "file" in form and self.records.writes:
                    self.records.delete(task_id)  # a smaller value committed earlier
            if old is not None and old != pkl:
                unlink(old)
                self._forget_verified(old)
            if "file" in form:
                self._remember_verified(pkl, spool.crc)
            self._clear_failure(task_id)
        except OSError as e:
            if spool is not None:
                spool.abort()
            if not committed:
                unlink(pkl)
            self._not_writable(e)

    def _clear_failure(self, task_id):
        """Remove a failure record the value replaces. Most shards have none:
        which do is listed at most every ``_GUESS_SECONDS``, and this process's
        own failures are added at once. (A record this misses, another
        process's failure of the task written just before, is stale: reading
        it removes it.)"""
        if self._failure_shards.holds(task_id):
            unlink(self._failure_path(task_id))

    def _encode(self, value, pkl):
        """(fields of the record that hold the value, the spool it was dumped
        to or None): a number, string, bool or None as JSON (``"value"``),
        another small value pickled into the record (``"inline"``), a large
        one in a value file (``"file"``, written to ``pkl``, not yet renamed).
        (None, None) if the value cannot be pickled (it is kept in memory)."""
        if type(value) in _JSON_TYPES:
            try:
                data = json.dumps(value).encode()
            except ValueError:  # an int too long for JSON: pickled
                data = None
            if data is not None and len(data) <= self.inline_max_bytes:
                return {"value": value, "bytes": len(data), "crc32": zlib.crc32(data)}, None
        spool = _Spool(self.inline_max_bytes, lambda: AtomicFile(pkl, self.file_mode, self.dir_mode))
        try:
            _joblib().dump(value, spool, compress=False)
        except OSError:
            spool.abort()
            raise
        except Exception as e:
            spool.abort()
            self._warn_fn(f"voxlogica_nb: a value of type {_type_name(value)} cannot be stored ({e}); "
                          "it is kept in memory only")
            return None, None
        form = {"bytes": spool.tell(), "crc32": spool.crc}
        if spool.file is None:
            form["inline"] = base64.b64encode(spool.buf).decode("ascii")
        else:
            form["file"] = pkl.rsplit("/", 1)[1]
        return form, spool

    def _remember_verified(self, pkl, crc):
        try:
            st = os.stat(pkl)
        except OSError:
            return
        with self._verified_lock:
            self._verified[pkl] = (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns, crc)

    # -- failures -------------------------------------------------------------
    def put_failure(self, task_id: str, record: dict) -> None:
        if not self.writable:
            return
        rec = dict(record)
        rec["id"] = task_id
        rec.setdefault("time", time.time())
        self._failure_shards.add(task_id)
        try:
            write_atomic(self._failure_path(task_id), _to_json(rec).encode(),
                         self.file_mode, self.dir_mode)
        except OSError as e:
            self._not_writable(e)

    def failure(self, task_id: str) -> dict | None:
        try:
            rec = _read_json(self._failure_path(task_id))[0]
        except (OSError, ValueError):
            return None
        return None if rec is None or self._stale_failure(task_id, rec) else rec

    def _stale_failure(self, task_id, rec) -> bool:
        """A failure record older than the committed value is stale (the
        commit did not see it, see ``_clear_failure``): it is removed. (One
        newer than the value stays: a forced recomputation that failed.)"""
        meta = self.meta(task_id)
        if meta is None or (meta.get("created") or 0) < (rec.get("time") or 0):
            return False
        unlink(self._failure_path(task_id))
        return True

    def failures(self) -> list[dict]:
        """All failure records, most recent first."""
        out = []
        for path in self._failure_files():
            try:
                rec = _read_json(path)[0]
            except (OSError, ValueError):
                continue
            if rec is not None and not self._stale_failure(os.path.basename(path)[:-5], rec):
                out.append(rec)
        out.sort(key=lambda r: r.get("time") or 0, reverse=True)
        return out

    def _failure_files(self):
        return [e.path for _shard, entries in walk(self._failures) for e in entries
                if e.name.endswith(".json") and not e.name.startswith(".")]

    # -- management -------------------------------------------------------
    def _shards(self):
        """Yield (shard path, {task id: record DirEntry}, {task id: [value DirEntry]}, [temporary DirEntry])."""
        for shard, entries in walk(self._objects):
            records, values, temps = {}, {}, []
            for e in entries:
                if e.name.startswith("."):
                    if e.name.endswith(".tmp"):
                        temps.append(e)
                elif e.name.endswith(".json"):
                    records[e.name[:-5]] = e
                elif e.name.endswith(".pkl"):
                    values.setdefault(e.name.split(".", 1)[0], []).append(e)
            yield shard, records, values, temps

    @staticmethod
    def _named_value(record_entry, value_entries):
        """The value DirEntry a record names (None: inline, unreadable, or none of these)."""
        try:
            rec = _read_json(record_entry.path)[0]
        except (OSError, ValueError):
            return None
        name = rec.get("file") if rec else None
        return next((e for e in value_entries if e.name == name), None)

    def _entries(self):
        """[(task_id, bytes, last_used)] of committed values: those in files
        (an inline value counts its record's size), then the table's rows
        that no record file shadows."""
        out = []
        for _shard, records, values, _temps in self._shards():
            for task_id, js in records.items():
                files = values.get(task_id, ())
                # one value file is the committed one but for a rare stray, counted until prune
                v = js if not files else files[0] if len(files) == 1 else self._named_value(js, files)
                if v is None:
                    continue
                try:
                    out.append((task_id, v.stat().st_size, js.stat().st_mtime))
                except OSError:
                    continue
        in_files = {e[0] for e in out}
        out += [tuple(row) for row in self.records.entries() if row[0] not in in_files]
        return out

    def info(self) -> dict:
        entries = self._entries()
        return {
            "root": str(self.base),  # the folder to name (--cache-dir, VOXLOGICA_CACHE_DIR)
            "scheme": self.scheme,
            "count": len(entries),
            "bytes": sum(e[1] for e in entries),
            "failures": len(self._failure_files()),
            "running": len(self.running()),
            "writable": self.writable,
            "shared": self.shared,
        }

    def _remove_entry(self, task_id):
        js = self._record_path(task_id)
        try:
            rec = _read_json(js)[0]
        except (OSError, ValueError):
            rec = None
        unlink(js)
        self.records.delete(task_id)
        pkl = self._value_path(task_id, rec)
        if pkl is not None:
            unlink(pkl)
            self._forget_verified(pkl)

    def clear(self) -> dict:
        """Delete every value and failure record (lock files stay; see ``prune``)."""
        entries = self._entries()
        for task_id, _size, _last in entries:
            if os.path.exists(self._record_path(task_id)):
                self._remove_entry(task_id)
        self.records.clear()
        nfail = sum(unlink(path) for path in self._failure_files())
        self._remove_stale_temps(max_age=None)
        with self._verified_lock:
            self._verified.clear()
        return {"removed": len(entries), "freed": sum(e[1] for e in entries), "failures": nfail}

    def _remove_stale_temps(self, max_age=3600.0):
        """Temporary files of crashed writers, and value files no record names."""
        now = time.time()
        n = 0
        for _shard, records, values, temps in self._shards():
            orphans = list(temps)
            for task_id, files in values.items():
                js = records.get(task_id)
                used = self._named_value(js, files) if js is not None else None
                orphans += [e for e in files if used is None or e.name != used.name]
            for e in orphans:
                try:
                    if max_age is not None and now - e.stat().st_mtime < max_age:
                        continue  # maybe a writer at work
                except OSError:
                    continue
                n += unlink(e.path)
        return n

    def prune(self, max_bytes: int | None = None, older_than_seconds: float | None = None) -> dict:
        """Remove least recently used values until the store holds at most
        ``max_bytes``, and every value unused for ``older_than_seconds``.

        Lock files are removed only if no other process has the store open.
        """
        now = time.time()
        entries = sorted(self._entries(), key=lambda e: e[2])  # least recently used first
        total = sum(e[1] for e in entries)
        removed = freed = kept = 0
        for task_id, size, last in entries:
            too_old = older_than_seconds is not None and now - last > older_than_seconds
            too_big = max_bytes is not None and total > max_bytes
            if too_old or too_big:
                self._remove_entry(task_id)
                removed += 1
                freed += size
                total -= size
            else:
                kept += 1
        return {
            "removed": removed,
            "freed": freed,
            "count": kept,
            "bytes": total,
            "temp_files": self._remove_stale_temps(),
            "lock_files": self.claims.gc(),  # None: store in use elsewhere, lock files kept
        }


_RETRY = object()
_CORRUPT = object()
_GUESS_SECONDS = 0.5  # how long a listing of shard folders is trusted (guesses only)


class _Shards:
    """Which shard folders of ``folder`` exist, listed at most every
    ``_GUESS_SECONDS`` (and on :meth:`forget`); this process's own new
    entries are added at once. For guesses, whose stale "no" is harmless."""

    __slots__ = ("folder", "names", "listed")

    def __init__(self, folder):
        self.folder, self.names, self.listed = folder, frozenset(), float("-inf")

    def holds(self, task_id) -> bool:
        now = time.monotonic()
        if now >= self.listed + _GUESS_SECONDS:
            try:
                self.names = frozenset(os.listdir(self.folder))
            except OSError:
                self.names = frozenset()
            self.listed = now
        return task_id[:2] in self.names

    def add(self, task_id) -> None:
        self.names |= {task_id[:2]}

    def forget(self) -> None:
        self.listed = float("-inf")
_to_json = json.JSONEncoder(default=str).encode  # one encoder: json.dumps(default=...) builds one per call
_JSON_TYPES = (float, int, bool, str, type(None))  # exact types: JSON gives them back unchanged
