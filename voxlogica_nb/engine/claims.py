"""Cross-process task claims: one ``flock`` per task, owner records, sweeps.

A claim says "this process is computing task X". It is an exclusive
``fcntl.flock`` on a per-task lock file, held from claim to commit; the value
(or failure record) is committed *before* the claim is released. Another
process that needs X blocks in ``flock`` — no CPU, no sleep loop — and wakes
when the holder releases **or dies** (the OS drops a dead process's locks).

Layout under ``root`` (sharded by the first two hex digits of the id)::

    root/.inuse                 shared-locked by every open ClaimTable
    root/.alive/<host>.<pid>.<tag>  one per ClaimTable that has written an
                                owner record, exclusively locked while it lives
    root/ab/<id>.lock           the flock target (never deleted while in use);
                                while claimed it holds the owner record (JSON)

Facts the design rests on:

* ``flock`` locks belong to an open file description, so each claim opens
  its own descriptor; two descriptors of one process conflict like two
  processes. An in-process registry (guarded by a ``threading.Condition``)
  additionally makes a second thread of the same process see the task as
  held at once, and wait on a threading primitive rather than the kernel.
* The owner record is written into the lock file the claim holds and
  emptied when the claim ends: a claim creates no other file and renames
  nothing (creating files is the dearest thing a claim can do). A record in
  a lock file that nobody holds is dangling: its owner died.
* Finding dangling records means reading every lock file; the presence files
  in ``.alive`` say when that is needed. A table creates one (locked, then
  renamed into place) before it writes its first record, and removes it when
  it is closed or the process exits with every record cleared. A presence
  file whose lock can be taken therefore marks a process that may have left
  records behind, and only then does :meth:`ClaimTable.sweep` read the lock
  files; otherwise a sweep costs one listing of ``.alive``.
* A blocked ``flock`` cannot be interrupted from another thread, so the
  blocking wait of :meth:`ClaimTable.acquire` runs in a helper thread; the
  caller waits on an event (interruptible by Ctrl-C, a timeout or a cancel
  event). An abandoned helper releases the lock as soon as it gets it.
* Lock files are never deleted while any process has the store open (every
  ``ClaimTable`` holds a shared lock on ``.inuse``); :meth:`ClaimTable.gc`
  removes them only under the exclusive ``.inuse`` lock.
* A process forked while holding claims does not keep them: the child closes
  its inherited descriptors (without unlocking, which would release the
  parent's lock) and starts with an empty registry.
* Files and folders are created owner-only (0600 / 0700) unless the table
  is given other modes (a deliberately shared store). A file that cannot be
  created or written (full disk, I/O error, read-only folder) degrades the
  claim: without a lock file it holds inside this process only, without a
  presence file it has no owner record; the task still runs once here,
  ``error`` keeps the reason and ``on_error`` (if given) is called with it.

``flock`` works on local filesystems; on NFS it degrades to server-side
leases, so several machines should coordinate through a scheduler instead.
"""
from __future__ import annotations

import atexit
import errno
import fcntl
import json
import os
import threading
import time
import weakref

from .cancel import CancelEvent, on_set
from ..files import NOFOLLOW, AtomicFile, close_quietly, unlink, unlock_close, walk

__all__ = ["ClaimTable", "Claim", "WaitTimeout", "WaitCancelled", "CancelEvent", "on_set",
           "process_start_time", "RUN_OP"]

# The operator recorded by a run's claim on its set of goals (see
# ``scheduler.Run.wait_for_same_run``), as opposed to a task's.
RUN_OP = "(run)"


class WaitTimeout(TimeoutError):
    """Waiting for another runner's claim took longer than the timeout."""

    def __init__(self, task_id, op, timeout, holder=None):
        self.task_id = task_id
        self.op = op
        self.timeout = timeout
        self.holder = holder
        if holder:
            who = f"host {holder.get('host')} pid {holder.get('pid')}"
            if holder.get("session"):
                who += f" (session {holder['session']})"
            started = holder.get("started")
            if started:
                who += f", running for {max(0.0, time.time() - started):.1f} s"
        else:
            who = "another runner (no owner record)"
        super().__init__(
            f"timed out after {timeout:g} s waiting for task {task_id[:12]} ({op}) held by {who}"
        )


class WaitCancelled(Exception):
    """The wait for a claim was cancelled (e.g. the run was interrupted)."""

    def __init__(self, task_id, op):
        self.task_id = task_id
        self.op = op
        super().__init__(f"wait for task {task_id[:12]} ({op}) was cancelled")


# -- process identity --------------------------------------------------------
_HOST = os.uname().nodename  # what socket.gethostname() gives, without importing socket


def _boot_time():
    try:
        with open("/proc/stat", "rb") as f:
            for line in f:
                if line.startswith(b"btime"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def process_start_time(pid: int | str = "self") -> float | None:
    """Start time of a process (seconds since the epoch), from /proc; None if unknown."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
        fields = data[data.rindex(b")") + 2 :].split()
        ticks = int(fields[19])  # field 22 of the full line: starttime
        btime = _boot_time()
        if btime is None:
            return None
        return btime + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


_PROC_START = process_start_time()
_PID = os.getpid()  # kept: a system call each time otherwise


def _refresh_identity():
    global _PROC_START, _PID
    _PROC_START = process_start_time()
    _PID = os.getpid()


# -- the claim table ---------------------------------------------------------
ALIVE = ".alive"
_RECORD_MAX = 1 << 12  # owner records are a few hundred bytes
_tables: "weakref.WeakSet[ClaimTable]" = weakref.WeakSet()


def _after_fork_in_child():
    _refresh_identity()
    for table in list(_tables):
        table._forget_after_fork()


os.register_at_fork(after_in_child=_after_fork_in_child)


@atexit.register
def _retire_all():
    for table in list(_tables):
        table._retire()


def _parse_record(data: bytes):
    """An owner record from a lock file's bytes; None if empty or unreadable
    (its writer died while writing it)."""
    if not data:
        return None
    try:
        rec = json.loads(data)
    except ValueError:
        return None
    return rec if isinstance(rec, dict) else None


def _read_record_fd(fd):
    """(record or None, length of the file's content)."""
    data = os.pread(fd, _RECORD_MAX, 0)
    return _parse_record(data), len(data)


class Claim:
    """An exclusive claim on one task, held until :meth:`release`.

    ``owner`` is this claim's owner record; ``previous`` is the owner record
    left behind by an earlier holder that died without releasing (None
    normally) — the sign that a crashed run is being taken over.
    """

    __slots__ = ("task_id", "op", "owner", "previous", "table", "fd", "_released", "_lock", "__weakref__")

    def __init__(self, table, task_id, op, fd, owner, previous):
        self.task_id = task_id
        self.op = op
        self.owner = owner
        self.previous = previous
        self.table = table
        self.fd = fd  # the locked lock file; None for a claim inside this process only
        self._released = False
        self._lock = threading.Lock()

    @property
    def released(self) -> bool:
        return self._released

    def release(self) -> None:
        """Empty the owner record, then unlock. Idempotent."""
        with self._lock:
            if self._released:
                return
            self._released = True
        self.table.release(self)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.release()
        return False

    def __repr__(self):
        state = "released" if self._released else "held"
        return f"<Claim {self.task_id[:12]} {self.op} {state}>"


class _Waiter:
    __slots__ = ("task_id", "done", "lock", "state", "fd", "error")

    def __init__(self, task_id):
        self.task_id = task_id
        self.done = threading.Event()
        self.lock = threading.Lock()
        self.state = "waiting"  # -> "granted" | "abandoned" | "failed"
        self.fd = None
        self.error = None


class ClaimTable:
    """Per-task exclusive claims shared by every process using ``root``.

    ``session_id`` is recorded in owner records (e.g. the kernel id).
    If ``root`` cannot be created or written, claims still work inside this
    process (``self.shared`` is False) and ``error`` holds the reason.
    ``file_mode`` / ``dir_mode``: modes of the files and folders it creates
    (owner-only by default). ``on_error(exc)`` is called when a claim file
    cannot be created or written and the claim degrades.
    """

    def __init__(self, root, session_id: str = "", *, file_mode: int = 0o600, dir_mode: int = 0o700,
                 on_error=None):
        self.root = os.fspath(root)
        self.session_id = session_id
        self.file_mode = file_mode
        self.dir_mode = dir_mode
        self.on_error = on_error
        self._cond = threading.Condition(threading.Lock())
        self._held: dict[str, object] = {}  # task id -> Claim, or a reservation token
        self._inuse_fd = None
        self._presence = None  # (path, locked fd) once created; False if it could not be
        self._presence_lock = threading.Lock()
        self._dirty = False  # a record could not be emptied: keep the presence file
        self.error: OSError | None = None
        try:
            os.makedirs(self.root, mode=dir_mode, exist_ok=True)
            self._inuse_fd = self._open_inuse(fcntl.LOCK_SH)  # blocks only while a gc() runs
        except OSError as e:
            self.error = e
        self.shared = self._inuse_fd is not None
        _tables.add(self)

    def _open_inuse(self, how):
        fd = os.open(os.path.join(self.root, ".inuse"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, self.file_mode)
        try:
            fcntl.flock(fd, how)
        except BaseException:
            os.close(fd)
            raise
        return fd

    def _failed(self, err):
        """A claim file could not be created or written: note it, tell ``on_error``."""
        self.error = err
        if self.on_error is not None:
            try:
                self.on_error(err)
            except Exception:  # a warning turned into an error must not break a claim
                pass

    # -- files ----------------------------------------------------------
    def _lock_path(self, task_id):
        return os.path.join(self.root, task_id[:2], task_id + ".lock")

    def _open_lock(self, task_id):
        path = self._lock_path(task_id)
        flags = os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | NOFOLLOW
        try:
            return os.open(path, flags, self.file_mode)
        except FileNotFoundError:
            os.makedirs(os.path.dirname(path), mode=self.dir_mode, exist_ok=True)
            return os.open(path, flags, self.file_mode)

    def _present(self) -> bool:
        """True if this table has its presence file, created on first use;
        False if it could not be created (then no record is written)."""
        if self._presence is None:
            with self._presence_lock:
                if self._presence is None:
                    try:
                        self._presence = self._create_presence()
                    except OSError as e:
                        self._presence = False
                        self._failed(e)
        return bool(self._presence)

    def _create_presence(self):
        path = os.path.join(self.root, ALIVE, f"{_HOST}.{_PID}.{os.urandom(4).hex()}")
        f = AtomicFile(path, self.file_mode, self.dir_mode)
        try:
            fcntl.flock(f.fd, fcntl.LOCK_EX)  # locked before it has its name
            f.write(json.dumps(self._identity()).encode())
            return path, f.commit(keep_open=True)
        except BaseException:
            f.abort()
            raise

    def _retire(self, _unlink=os.unlink, _close=os.close):
        """Remove the presence file, unless records of this table may remain."""
        presence, self._presence = self._presence, None
        if not presence:
            return
        path, fd = presence
        try:
            if not self._dirty and not self._held:
                _unlink(path)
        except OSError:
            pass
        finally:
            try:
                _close(fd)
            except OSError:
                pass

    def _identity(self):
        return {"host": _HOST, "pid": _PID, "process_start": _PROC_START, "session": self.session_id}

    # -- owner records --------------------------------------------------
    def _grant(self, task_id, op, fd):
        """We hold the flock on ``fd`` and the registry slot: make the Claim.

        Without a lock (``fd`` None: an in-process claim) no owner record is
        written, since nothing would empty it if this process died."""
        owner = dict(self._identity(), task_id=task_id, op=op, started=time.time())
        previous = None
        if fd is not None:
            try:
                previous, length = _read_record_fd(fd)
                if self._present():
                    data = json.dumps(owner).encode()
                    os.pwrite(fd, data, 0)
                    if length > len(data):
                        os.ftruncate(fd, len(data))
            except OSError as e:
                self._failed(e)  # the claim holds; only its description is missing
        claim = Claim(self, task_id, op, fd, owner, previous)
        with self._cond:
            self._held[task_id] = claim
        return claim

    def _unreserve(self, task_id, token):
        with self._cond:
            if self._held.get(task_id) is token:
                del self._held[task_id]
            self._cond.notify_all()

    def release(self, claim: Claim) -> None:
        """End ``claim`` (use :meth:`Claim.release`): empty its record, unlock."""
        fd, claim.fd = claim.fd, None
        try:
            if fd is not None:
                try:
                    os.ftruncate(fd, 0)
                except OSError:
                    self._dirty = True  # the record outlives the claim: a later sweep clears it
                unlock_close(fd)
        finally:
            self._unreserve(claim.task_id, claim)

    # -- claiming -------------------------------------------------------
    def try_acquire(self, task_id: str, op: str = "") -> Claim | None:
        """Claim ``task_id`` if nobody (no thread, no process) holds it; else None."""
        token = object()
        with self._cond:
            if task_id in self._held:
                return None
            self._held[task_id] = token
        fd = None
        try:
            if self.shared:
                fd = self._open_lock(task_id)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError as e:
                    os.close(fd)
                    fd = None
                    if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                        self._unreserve(task_id, token)
                        return None
                    raise
            return self._grant(task_id, op, fd)
        except OSError as e:
            # lock file unusable (read-only folder, full disk, I/O error): in-process claim only
            if fd is not None:
                os.close(fd)
            self._failed(e)
            return self._grant(task_id, op, None)
        except BaseException:
            if fd is not None:
                os.close(fd)
            self._unreserve(task_id, token)
            raise

    def acquire(self, task_id: str, op: str = "", timeout: float | None = None,
                cancel: threading.Event | None = None) -> Claim:
        """Block until ``task_id`` can be claimed, then claim it.

        Returns when the holder releases or dies. Raises :class:`WaitTimeout`
        after ``timeout`` seconds, :class:`WaitCancelled` when ``cancel`` is
        set; a KeyboardInterrupt in the waiting thread abandons the wait too.
        """
        claim = self.try_acquire(task_id, op)
        if claim is not None:
            return claim
        waiter = _Waiter(task_id)
        helper = threading.Thread(
            target=self._wait_helper, args=(task_id, waiter),
            name=f"voxlogica-claim-{task_id[:8]}", daemon=True,
        )
        unregister = on_set(cancel, waiter.done.set) if cancel is not None else None
        helper.start()
        try:
            waiter.done.wait(timeout)
        except BaseException:
            self._abandon(waiter)
            raise
        finally:
            if unregister is not None:
                unregister()
        with waiter.lock:
            state = waiter.state
            if state == "waiting":
                waiter.state = "abandoned"
        if state == "granted":
            return self._grant(task_id, op, waiter.fd)
        if state == "failed":
            raise waiter.error
        self._wake_helpers()
        if cancel is not None and cancel.is_set():
            raise WaitCancelled(task_id, op)
        raise WaitTimeout(task_id, op, timeout, self.holder(task_id))

    def _abandon(self, waiter):
        with waiter.lock:
            state = waiter.state
            if state == "waiting":
                waiter.state = "abandoned"
        if state == "granted":
            # got it just as we gave up: give it back at once
            self._give_back(waiter.task_id, waiter.fd, waiter)
        self._wake_helpers()

    def _wake_helpers(self):
        with self._cond:
            self._cond.notify_all()

    def _give_back(self, task_id, fd, token):
        try:
            unlock_close(fd)
        finally:
            self._unreserve(task_id, token)

    def _wait_helper(self, task_id, waiter):
        token = waiter
        # phase 1: wait for other threads of this process (threading primitive)
        with self._cond:
            while task_id in self._held:
                if waiter.state == "abandoned":
                    return
                self._cond.wait()
            if waiter.state == "abandoned":
                return
            self._held[task_id] = token
        # phase 2: wait for other processes (blocking flock, no polling)
        fd = None
        try:
            if self.shared:
                fd = self._open_lock(task_id)
                fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError as e:
            if fd is not None:
                os.close(fd)
                fd = None
            self._failed(e)
            with waiter.lock:
                if waiter.state == "waiting":
                    # degrade to an in-process claim, as try_acquire does
                    waiter.state = "granted"
                    waiter.fd = None
                    waiter.done.set()
                    return
            self._unreserve(task_id, token)
            return
        with waiter.lock:
            if waiter.state == "waiting":
                waiter.state = "granted"
                waiter.fd = fd
                waiter.done.set()
                return
        # the caller gave up meanwhile: release at once
        self._give_back(task_id, fd, token)

    # -- inspection ----------------------------------------------------
    def _probe(self, task_id):
        """(held, fd): held is True if some *other* open file description holds
        the lock (a live holder); if not held, ``fd`` (unless None: no lock
        file) holds the lock now and the caller must :func:`unlock_close` it."""
        try:
            fd = os.open(self._lock_path(task_id), os.O_RDWR | os.O_CLOEXEC | NOFOLLOW)
        except OSError:
            return False, None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return True, None
        return False, fd

    def _read_record(self, task_id):
        try:
            fd = os.open(self._lock_path(task_id), os.O_RDONLY | os.O_CLOEXEC | NOFOLLOW)
        except OSError:
            return None
        try:
            return _read_record_fd(fd)[0]
        except OSError:
            return None
        finally:
            os.close(fd)

    def _recorded(self):
        """Ids whose lock file holds an owner record, except this process's claims."""
        with self._cond:
            mine = set(self._held)
        for _shard, entries in walk(self.root):
            for e in entries:
                if not e.name.endswith(".lock") or e.name[:-5] in mine:
                    continue
                try:
                    if e.stat(follow_symlinks=False).st_size:
                        yield e.name[:-5]
                except OSError:
                    pass

    def holder(self, task_id: str) -> dict | None:
        """The owner record of ``task_id`` if a live process holds it, else None."""
        with self._cond:
            mine = self._held.get(task_id)
        if isinstance(mine, Claim):
            return dict(mine.owner)
        if not self.shared:
            return None
        held, fd = self._probe(task_id)
        unlock_close(fd)
        if not held:
            return None
        rec = self._read_record(task_id)
        return rec if rec is not None else {"task_id": task_id, "op": None, "host": None, "pid": None}

    def running(self) -> list[dict]:
        """Owner records of claims held now by live processes (this one included)."""
        with self._cond:
            out = [dict(c.owner) for c in self._held.values() if isinstance(c, Claim)]
        if self.shared:
            for task_id in self._recorded():
                held, fd = self._probe(task_id)
                unlock_close(fd)
                rec = self._read_record(task_id) if held else None
                if rec is not None:
                    out.append(rec)
        out.sort(key=lambda r: r.get("started") or 0)
        return out

    def sweep(self) -> list[dict]:
        """Clear owner records whose owner is gone; return what was cleared.

        Costs one listing of ``.alive`` unless a process may have left records."""
        if not self.shared:
            return []
        gone = self._gone()
        if not gone:
            return []
        try:
            cleared = self._clear_dangling()
            for path, _fd in gone:
                unlink(path)
        finally:
            for _path, fd in gone:
                unlock_close(fd)
        cleared.sort(key=lambda r: r.get("started") or 0)
        return cleared

    def _gone(self):
        """[(path, locked fd)] of presence files whose table is gone."""
        mine = self._presence[0] if self._presence else None
        try:
            with os.scandir(os.path.join(self.root, ALIVE)) as it:
                paths = [e.path for e in it if not e.name.startswith(".") and e.path != mine]
        except OSError:
            return []
        gone = []
        for path in paths:
            try:
                fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | NOFOLLOW)
            except OSError:
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)  # alive, or being swept by another process
                continue
            gone.append((path, fd))
        return gone

    def _clear_dangling(self):
        cleared = []
        for task_id in list(self._recorded()):
            held, fd = self._probe(task_id)
            if held or fd is None:
                continue
            try:  # we hold the lock: nobody can write a new record meanwhile
                rec = _read_record_fd(fd)[0]
                os.ftruncate(fd, 0)
            except OSError:
                continue
            finally:
                unlock_close(fd)
            if rec is not None:
                cleared.append(rec)
        return cleared

    def gc(self) -> int | None:
        """Delete unused lock files, if no other ClaimTable (any process) has ``root`` open.

        Returns the number of files removed, or None if the store is in use
        elsewhere (lock files are never deleted while it is).
        """
        if not self.shared:
            return None
        with self._cond:
            if self._held:
                return None
            fd = self._inuse_fd
            fcntl.flock(fd, fcntl.LOCK_UN)
            try:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError:
                    return None
                removed = 0
                for shard, entries in walk(self.root):
                    for e in entries:  # .owner: records of earlier versions
                        if e.name.endswith((".lock", ".owner", ".tmp")):
                            removed += unlink(e.path)
                    try:
                        os.rmdir(shard)
                    except OSError:
                        pass
                for path, fd_gone in self._gone():  # nobody else has the store open
                    unlink(path)
                    os.close(fd_gone)
                return removed
            finally:
                fcntl.flock(fd, fcntl.LOCK_SH)

    def here(self, task_id: str) -> bool:
        """Whether a thread of this process holds (or is taking) ``task_id``'s claim."""
        with self._cond:
            return task_id in self._held

    def held(self) -> list[str]:
        """Ids claimed by this process right now."""
        with self._cond:
            return [t for t, c in self._held.items() if isinstance(c, Claim)]

    def release_all(self) -> int:
        """Release every claim this process holds (e.g. after an interrupt)."""
        with self._cond:
            mine = [c for c in self._held.values() if isinstance(c, Claim)]
        for c in mine:
            c.release()
        return len(mine)

    def close(self) -> None:
        """Release all claims, the presence file and the shared ``.inuse`` lock."""
        self.release_all()
        self._retire()
        fd, self._inuse_fd = self._inuse_fd, None
        close_quietly(fd)

    def __del__(self, _close=os.close):  # os may be gone at interpreter exit
        if getattr(self, "_presence_lock", None) is not None:
            self._retire()
        fd, self._inuse_fd = getattr(self, "_inuse_fd", None), None
        if fd is not None:
            try:
                _close(fd)
            except OSError:
                pass

    def _forget_after_fork(self):
        # In a forked child: drop inherited descriptors without unlocking
        # (LOCK_UN would release the parent's locks) and start afresh.
        self._cond = threading.Condition(threading.Lock())
        self._presence_lock = threading.Lock()
        for c in list(self._held.values()):
            if isinstance(c, Claim) and c.fd is not None:
                close_quietly(c.fd)
                c.fd = None
                c._released = True
        self._held = {}
        presence, self._presence, self._dirty = self._presence, None, False
        if presence:
            os.close(presence[1])  # the parent's file: it stays locked by the parent
        if self._inuse_fd is not None:
            # the inherited descriptor shares the parent's lock: take our own
            inherited, self._inuse_fd = self._inuse_fd, None
            try:
                self._inuse_fd = self._open_inuse(fcntl.LOCK_SH | fcntl.LOCK_NB)
            except OSError:
                self.shared = False
            finally:
                os.close(inherited)

    def __repr__(self):
        return f"<ClaimTable {self.root} shared={self.shared}>"
