"""The records of small values, in one SQLite table.

A value small enough to live in its record (a number, a string, a short
sequence; see :mod:`.diskstore`) costs a file of its own otherwise, and
creating a file is most of what committing it costs: about 0.2–0.4 ms on
ext4, more than many of the reductions that produce such values. Here a
commit is one row written to a write-ahead log (no file created, no
``fsync``): tens of microseconds.

``<root>/records.sqlite`` holds ``(id, record, used)``: the record as the
JSON text a record file would hold, and its last-used time for pruning.
SQLite serialises writers across processes (a writer waits, in SQLite's
own short sleeps, at most ``timeout`` seconds for another's transaction of
a few microseconds) and readers never block. A process that crashes mid-write leaves the database
consistent; ``synchronous=OFF`` means only a power loss can lose recent
rows, and a record torn that way fails its CRC like a torn file.

A record ``put`` with ``later=True`` (a value no other process waits for:
see :mod:`.worker`) waits in memory and is written with others, up to
``BATCH`` rows in one transaction, when the batch is full, on
:meth:`flush` (the engine flushes when no run is in progress and no task
is running) and on :meth:`close`. Lookups in this process see it at once; other processes see
it after the flush, and a crash before then loses it (it is recomputed).

SQLite's write-ahead log works only among processes of one machine, so a
store on a network filesystem (:func:`on_network_filesystem`), or shared on
purpose (see :mod:`.diskstore`), writes new small values to files instead
(``writes=False``; what the table holds is still read, and removed by
``clear`` and ``prune``).

Any database error (a corrupt file, a full disk, a read-only folder) turns
the table off for this process: lookups miss and new small values go to
record files again, so a broken database costs speed, never a value or a
crash. ``on_error`` hears about it once.
"""
from __future__ import annotations

import os
import shutil
import threading
import time

from ..files import NOFOLLOW

BATCH = 256
TOUCH_SECONDS = 600.0  # how stale a row's last-used time may get (pruning goes by hours or days)
ABSENT_SECONDS = 0.5  # how stale a guess may be (see DiskStore.likely_contains)
SEEN_SECONDS = 2.0  # how long a record found at planning may stand for a read of it
SEEN_MAX = 100_000
SCHEMA = ("CREATE TABLE IF NOT EXISTS records "
          "(id TEXT PRIMARY KEY, record TEXT NOT NULL, used REAL NOT NULL) WITHOUT ROWID")


def _switch_to_wal(db, operational_error, timeout: float) -> None:
    """``PRAGMA journal_mode=WAL``, retried while the database is locked: two
    processes creating the table at once may find it locked for this one
    statement, which SQLite's busy timeout does not cover (the table would
    turn off in one of them, which then could not read what the other
    commits). The other switch takes milliseconds."""
    deadline = time.monotonic() + timeout
    delay = 0.001
    while True:
        try:
            db.execute("PRAGMA journal_mode=WAL")
            return
        except operational_error as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
        time.sleep(delay)
        delay = min(2 * delay, 0.05)


class RecordTable:
    """Small-value records in ``path`` (created, with ``file_mode``, on the
    first write). ``on_error(exc)``: called once when the table turns off."""

    def __init__(self, path, file_mode: int = 0o600, on_error=None, timeout: float = 60.0,
                 writes: bool = True):
        self.path = os.fspath(path)
        self.writes = writes  # False: new small values go to record files (the table is still read)
        self.file_mode = file_mode
        self.timeout = timeout
        self.on_error = on_error
        self.broken = None  # the error that turned the table off
        self._db = None
        self._pending: dict = {}  # task id -> record, committed by the next flush
        self._seen: dict = {}  # task id -> (record, used, when): found by a guessing lookup
        self._absent_seen = float("-inf")  # when planning saw "no database"
        self._lock = threading.Lock()

    # -- connection --------------------------------------------------------
    def _connect(self, create: bool, guess: bool = False):
        """The connection (None: no database yet and ``create`` is false;
        ``guess``: a "no database" up to ``ABSENT_SECONDS`` old will do)."""
        if self._db is None:
            if not create and not self._exists(guess):
                return None
            import sqlite3  # on first use: most runs of a warm program never need it

            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | NOFOLLOW, self.file_mode)
            os.close(fd)  # created with our mode; SQLite gives its -wal and -shm files the same
            db = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None,
                                 check_same_thread=False)
            try:
                db.execute("PRAGMA synchronous=OFF")  # first: switching to WAL syncs otherwise
                _switch_to_wal(db, sqlite3.OperationalError, self.timeout)
                db.execute(SCHEMA)
            except BaseException:
                db.close()
                raise
            self._db = db
        return self._db

    def _exists(self, guess: bool) -> bool:
        """Is there a database? ``guess``: a "no" of this run's planning (at
        most ``ABSENT_SECONDS`` old) will do."""
        now = time.monotonic()
        if guess and now < self._absent_seen + ABSENT_SECONDS:
            return False
        if os.path.exists(self.path):
            return True
        if guess:  # (only planning relies on it later)
            self._absent_seen = now
        return False

    def new_plan(self) -> None:
        """A run starts planning: forget the guesses of earlier ones."""
        self._absent_seen = float("-inf")
        self._seen.clear()

    def _do(self, create, fn, default=None, guess=False):
        """``fn(connection)`` under the lock; ``default`` if there is no
        database (and ``create`` is false) or the table is off."""
        if self.broken is not None:
            return default
        with self._lock:
            try:
                db = self._connect(create, guess)
                return default if db is None else fn(db)
            except Exception as exc:  # sqlite3.Error, OSError: turn off, never fail the caller
                if not _is_db_error(exc):
                    raise
                self._turn_off(exc)
                return default

    def _turn_off(self, exc):
        self.broken = exc
        self._pending.clear()
        self._seen.clear()
        self._disconnect()
        if self.on_error is not None:
            self.on_error(exc)

    def _disconnect(self):
        db, self._db = self._db, None
        if db is not None:
            try:
                db.close()
            except Exception:
                pass


    # -- records -------------------------------------------------------------
    def get(self, task_id: str, touch: bool = False) -> str | None:
        """The record's JSON text, or None. ``touch``: it is being used (its
        last-used time, for pruning, is brought up to date when more than
        ``TOUCH_SECONDS`` old: a write per read would cost more than the read)."""
        text = self._pending.get(task_id)
        if text is not None:
            return text
        seen = self._seen.pop(task_id, None)
        if seen is not None and time.monotonic() - seen[2] < SEEN_SECONDS:
            row = seen  # read a moment ago by a guessing lookup of the same run
        else:
            row = self._row(task_id)
        if row is not None and touch and time.time() - row[1] > TOUCH_SECONDS:
            self._do(False, lambda db: db.execute("UPDATE records SET used=? WHERE id=?", (time.time(), task_id)))
        return row[0] if row else None

    def _row(self, task_id, guess=False):
        """``(record, used)`` of ``task_id``, or None."""
        return self._do(False, lambda db: db.execute("SELECT record, used FROM records WHERE id=?",
                                                     (task_id,)).fetchone(), guess=guess)

    def has(self, task_id: str, guess: bool = False) -> bool:
        """Is there a record? ``guess`` (planning asks for every task, and
        reads each record found soon after): a recent "no database" will do,
        and a record found is kept for a ``get`` in the next ``SEEN_SECONDS``."""
        if task_id in self._pending:
            return True
        if not guess:
            return self._do(False, lambda db: db.execute("SELECT 1 FROM records WHERE id=?",
                                                         (task_id,)).fetchone()) is not None
        row = self._row(task_id, guess=True)
        if row is None:
            return False
        if len(self._seen) >= SEEN_MAX:
            self._seen.clear()
        self._seen[task_id] = (row[0], row[1], time.monotonic())
        return True

    def put(self, task_id: str, record: str, later: bool = False) -> bool:
        """Commit a record (``later``: with the next batch); False if the
        table is off or takes no writes (the caller writes a file)."""
        if not self.writes:
            return False

        self._seen.pop(task_id, None)

        def write(db):
            if later:
                self._pending[task_id] = record
                if len(self._pending) >= BATCH:
                    self._write_pending(db)
            else:
                self._pending.pop(task_id, None)
                db.execute("INSERT OR REPLACE INTO records VALUES (?, ?, ?)", (task_id, record, time.time()))
            return True

        return self._do(True, write, False)

    def flush(self) -> None:
        """Write the records put ``later``."""
        if self._pending:
            self._do(True, self._write_pending)

    def _write_pending(self, db):
        if not self._pending:
            return
        now = time.time()
        rows = [(k, v, now) for k, v in self._pending.items()]
        db.execute("BEGIN IMMEDIATE")
        try:
            db.executemany("INSERT OR REPLACE INTO records VALUES (?, ?, ?)", rows)
            db.execute("COMMIT")
        except BaseException:
            try:
                db.execute("ROLLBACK")
            except Exception:
                pass
            raise
        self._pending.clear()

    def delete(self, task_id: str, record: str | None = None) -> bool:
        """Delete ``task_id``'s row (only if it still holds ``record``, when
        given); True if a row went."""
        if record is None:
            sql, args = "DELETE FROM records WHERE id=?", (task_id,)
        else:
            sql, args = "DELETE FROM records WHERE id=? AND record=?", (task_id, record)

        self._seen.pop(task_id, None)

        def delete(db):
            pending = self._pending.get(task_id)
            if pending is not None and (record is None or pending == record):
                del self._pending[task_id]
                return 1
            return db.execute(sql, args).rowcount

        return bool(self._do(False, delete, 0))

    def entries(self) -> list:
        """[(task_id, bytes of its record, last used)]."""
        self.flush()
        return self._do(False, lambda db: db.execute(
            "SELECT id, length(CAST(record AS BLOB)), used FROM records").fetchall(), [])

    def clear(self) -> int:
        """Delete every row (every file of the database, if it is broken)."""
        if self.broken is not None:
            n = 0
            for suffix in ("", "-wal", "-shm"):
                path = self.path + suffix
                try:
                    if os.path.isdir(path) and not os.path.islink(path):
                        shutil.rmtree(path)  # nothing of ours: only in the way
                    else:
                        os.unlink(path)
                    n += 1
                except OSError:
                    pass
            self.broken = None  # a fresh database next time
            return n
        self._pending.clear()
        self._seen.clear()
        return self._do(False, lambda db: db.execute("DELETE FROM records").rowcount, 0)

    def close(self) -> None:
        self.flush()
        with self._lock:
            self._disconnect()


NETWORK_FILESYSTEMS = {"nfs", "nfs4", "cifs", "smb3", "smbfs", "afs", "lustre", "gpfs", "beegfs", "ceph",
                       "glusterfs", "fuse.sshfs", "fuse.glusterfs", "fuse.ceph", "9p", "panfs", "pvfs2"}


def on_network_filesystem(path, mounts="/proc/self/mounts") -> bool:
    """Is ``path`` (or the folder it would be created in) on a network
    filesystem? Read from the mount table; False where there is none."""
    try:
        with open(mounts, encoding="utf-8", errors="replace") as f:
            table = [line.split()[1:3] for line in f if len(line.split()) >= 3]
    except OSError:
        return False
    path = os.path.realpath(path)
    best, fstype = "", ""
    for point, kind in table:
        point = point.replace("\\040", " ")
        if (path == point or path.startswith(point.rstrip("/") + "/")) and len(point) >= len(best):
            best, fstype = point, kind
    return fstype in NETWORK_FILESYSTEMS


def _is_db_error(exc) -> bool:
    if isinstance(exc, OSError):
        return True
    mod = type(exc).__module__
    return mod.startswith("sqlite3")
