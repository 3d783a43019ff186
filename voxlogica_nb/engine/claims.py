"""Cross-process task claims: one ``flock`` per task, owner records, sweeps.

A claim says "this process is computing task X". It is an exclusive
``fcntl.flock`` on a per-task lock file, held from claim to commit; the value
(or failure record) is committed *before* the claim is released. Another
process that needs X blocks in ``flock`` — no CPU, no sleep loop — and wakes
when the holder releases **or dies** (the OS drops a dead process's locks).

Layout under ``root`` (sharded by the first two hex digits of the id)::

    root/.inuse                 shared-locked by every open ClaimTable
    root/ab/<id>.lock           the flock target (never deleted while in use)
    root/ab/<id>.owner          owner record (JSON), present while claimed

Facts the design rests on:

* ``flock`` locks belong to an open file description, so each claim opens
  its own descriptor; two descriptors of one process conflict like two
  processes. An in-process registry (guarded by a ``threading.Condition``)
  additionally makes a second thread of the same process see the task as
  held at once, and wait on a threading primitive rather than the kernel.
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
  created (full disk, I/O error, read-only folder) degrades the claim to this
  process: the task still runs once here, ``error`` keeps the reason and
  ``on_error`` (if given) is called with it.

``flock`` works on local filesystems; on NFS it degrades to server-side
leases, so several machines should coordinate through a scheduler instead.
"""
from __future__ import annotations

import errno
import fcntl
import json
import os
import secrets
import socket
import threading
import time
import weakref

__all__ = ["ClaimTable", "Claim", "WaitTimeout", "WaitCancelled", "CancelEvent", "on_set",
           "process_start_time"]


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


class CancelEvent(threading.Event):
    """A ``threading.Event`` whose ``set()`` also wakes registered waiters.

    ``ClaimTable.acquire(cancel=...)`` accepts a plain ``threading.Event`` too,
    but then needs one watcher thread per event (blocked in ``event.wait()``
    until it is set); a ``CancelEvent`` needs none.
    """

    def __init__(self):
        super().__init__()
        self._callbacks_lock = threading.Lock()
        self._callbacks: dict[int, object] = {}
        self._next = 0

    def add_callback(self, fn) -> int:
        """Call ``fn()`` when the event is set (at once if it already is)."""
        with self._callbacks_lock:
            key = self._next
            self._next += 1
            self._callbacks[key] = fn
        if self.is_set():
            self._fire()
        return key

    def remove_callback(self, key) -> None:
        with self._callbacks_lock:
            self._callbacks.pop(key, None)

    def set(self):
        super().set()
        self._fire()

    def _fire(self):
        with self._callbacks_lock:
            fns = list(self._callbacks.values())
            self._callbacks.clear()
        for fn in fns:
            fn()


# -- plain threading.Event support: one watcher thread per event ------------
_watch_lock = threading.Lock()
_watched: "weakref.WeakKeyDictionary[threading.Event, set]" = weakref.WeakKeyDictionary()


def _watch_plain_event(event: threading.Event, fn):
    """Call ``fn()`` once ``event`` is set, with one shared thread per event."""
    with _watch_lock:
        fns = _watched.get(event)
        if fns is None:
            fns = _watched[event] = set()

            def watcher():
                event.wait()
                with _watch_lock:
                    pending = _watched.pop(event, set())
                for f in list(pending):
                    f()

            threading.Thread(target=watcher, name="voxlogica-cancel-watch", daemon=True).start()
        fns.add(fn)

    def unregister():
        with _watch_lock:
            s = _watched.get(event)
            if s is not None:
                s.discard(fn)

    if event.is_set():
        fn()
    return unregister


def on_set(event: threading.Event, fn):
    """Call ``fn()`` once ``event`` is set (at once if it is); returns a
    function that unregisters it."""
    if isinstance(event, CancelEvent):
        key = event.add_callback(fn)
        return lambda: event.remove_callback(key)
    return _watch_plain_event(event, fn)


# -- process identity --------------------------------------------------------
_HOST = socket.gethostname()


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


def _refresh_identity():
    global _PROC_START
    _PROC_START = process_start_time()


# -- the claim table ---------------------------------------------------------
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_tables: "weakref.WeakSet[ClaimTable]" = weakref.WeakSet()


def _after_fork_in_child():
    _refresh_identity()
    for table in list(_tables):
        table._forget_after_fork()


os.register_at_fork(after_in_child=_after_fork_in_child)


class Claim:
    """An exclusive claim on one task, held until :meth:`release`.

    ``owner`` is this claim's owner record; ``previous`` is the owner record
    left behind by an earlier holder that died without releasing (None
    normally) — the sign that a crashed run is being taken over.
    """

    __slots__ = ("task_id", "op", "owner", "previous", "_table", "_fd", "_released", "_lock", "__weakref__")

    def __init__(self, table, task_id, op, fd, owner, previous):
        self.task_id = task_id
        self.op = op
        self.owner = owner
        self.previous = previous
        self._table = table
        self._fd = fd
        self._released = False
        self._lock = threading.Lock()

    @property
    def released(self) -> bool:
        return self._released

    def release(self) -> None:
        """Remove the owner record, then unlock. Idempotent."""
        with self._lock:
            if self._released:
                return
            self._released = True
        self._table._release(self)

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
    cannot be created or written and the claim degrades to this process.
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
        self.error: OSError | None = None
        try:
            os.makedirs(self.root, mode=dir_mode, exist_ok=True)
            fd = os.open(os.path.join(self.root, ".inuse"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, file_mode)
            try:
                fcntl.flock(fd, fcntl.LOCK_SH)  # blocks only while a gc() runs
            except BaseException:
                os.close(fd)
                raise
            self._inuse_fd = fd
        except OSError as e:
            self.error = e
        self.shared = self._inuse_fd is not None
        _tables.add(self)

    def _failed(self, err):
        """A claim file could not be created or written: note it, tell ``on_error``."""
        self.error = err
        if self.on_error is not None:
            try:
                self.on_error(err)
            except Exception:  # a warning turned into an error must not break a claim
                pass

    # -- paths ----------------------------------------------------------
    def _dir(self, task_id):
        return os.path.join(self.root, task_id[:2])

    def _lock_path(self, task_id):
        return os.path.join(self.root, task_id[:2], task_id + ".lock")

    def _owner_path(self, task_id):
        return os.path.join(self.root, task_id[:2], task_id + ".owner")

    def _open_lock(self, task_id):
        path = self._lock_path(task_id)
        flags = os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | _NOFOLLOW
        try:
            return os.open(path, flags, self.file_mode)
        except FileNotFoundError:
            os.makedirs(self._dir(task_id), mode=self.dir_mode, exist_ok=True)
            return os.open(path, flags, self.file_mode)

    # -- owner records --------------------------------------------------
    def _read_owner(self, task_id):
        try:
            with open(self._owner_path(task_id), "rb") as f:
                rec = json.loads(f.read())
            return rec if isinstance(rec, dict) else None
        except (OSError, ValueError):
            return None

    def _write_owner(self, task_id, op, on_disk=True):
        rec = {
            "task_id": task_id,
            "op": op,
            "host": _HOST,
            "pid": os.getpid(),
            "process_start": _PROC_START,
            "session": self.session_id,
            "started": time.time(),
        }
        if not self.shared or not on_disk:
            return rec
        path = self._owner_path(task_id)
        tmp = f"{path}.{secrets.token_hex(6)}.tmp"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | _NOFOLLOW, self.file_mode)
            with os.fdopen(fd, "wb") as f:
                f.write(json.dumps(rec).encode())
            os.replace(tmp, path)
        except OSError as e:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            self._failed(e)  # the claim holds; only its description is missing
        return rec

    def _grant(self, task_id, op, fd):
        """We hold the flock on ``fd`` and the registry slot: make the Claim.

        Without a lock (``fd`` None: an in-process claim) no owner record is
        written, since nothing would remove it when the claim ends."""
        previous = self._read_owner(task_id) if fd is not None else None
        owner = self._write_owner(task_id, op, on_disk=fd is not None)
        claim = Claim(self, task_id, op, fd, owner, previous)
        with self._cond:
            self._held[task_id] = claim
        return claim

    def _unreserve(self, task_id, token):
        with self._cond:
            if self._held.get(task_id) is token:
                del self._held[task_id]
            self._cond.notify_all()

    def _release(self, claim):
        fd = claim._fd
        claim._fd = None
        try:
            if fd is not None:
                try:
                    os.unlink(self._owner_path(claim.task_id))
                except OSError:
                    pass
                self._unlock_close(fd)
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
            self._unlock_close(fd)
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
        """True if some *other* open file description holds the lock (a live holder).

        Returns (held, fd): if not held, ``fd`` is a descriptor holding the lock
        (caller must unlock and close it); used by sweep to clear records safely.
        """
        try:
            fd = os.open(self._lock_path(task_id), os.O_RDWR | os.O_CLOEXEC)
        except FileNotFoundError:
            return False, None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return True, None
        return False, fd

    @staticmethod
    def _unlock_close(fd):
        """Unlock and close ``fd`` (None: nothing); closing releases the lock
        even if the unlock failed, and a failing close is ignored."""
        if fd is None:
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_UN)
        except OSError:
            pass
        finally:
            try:
                os.close(fd)
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
        self._unlock_close(fd)
        if not held:
            return None
        rec = self._read_owner(task_id)
        return rec if rec is not None else {"task_id": task_id, "op": None, "host": None, "pid": None}

    def _owner_ids(self):
        if not self.shared:
            return []
        ids = []
        try:
            shards = list(os.scandir(self.root))
        except OSError:
            return []
        for shard in shards:
            if not shard.is_dir(follow_symlinks=False) or len(shard.name) != 2:
                continue
            try:
                for e in os.scandir(shard.path):
                    if e.name.endswith(".owner"):
                        ids.append(e.name[: -len(".owner")])
            except OSError:
                pass
        return ids

    def running(self) -> list[dict]:
        """Owner records of claims held now by live processes (this one included)."""
        out = []
        seen = set()
        with self._cond:
            mine = [c for c in self._held.values() if isinstance(c, Claim)]
        for c in mine:
            out.append(dict(c.owner))
            seen.add(c.task_id)
        for task_id in self._owner_ids():
            if task_id in seen:
                continue
            held, fd = self._probe(task_id)
            self._unlock_close(fd)
            if held:
                rec = self._read_owner(task_id)
                if rec is not None:
                    out.append(rec)
        out.sort(key=lambda r: r.get("started") or 0)
        return out

    def sweep(self) -> list[dict]:
        """Clear owner records whose owner is gone; return what was cleared."""
        cleared = []
        with self._cond:
            mine = set(self._held)
        for task_id in self._owner_ids():
            if task_id in mine:
                continue
            held, fd = self._probe(task_id)
            if held:
                continue
            try:
                # we hold the lock: nobody can write a new record meanwhile
                rec = self._read_owner(task_id)
                try:
                    os.unlink(self._owner_path(task_id))
                except FileNotFoundError:
                    rec = None
                except OSError:
                    continue
                if rec is not None:
                    cleared.append(rec)
            finally:
                self._unlock_close(fd)
        cleared.sort(key=lambda r: r.get("started") or 0)
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
                for shard in list(os.scandir(self.root)):
                    if not shard.is_dir(follow_symlinks=False) or len(shard.name) != 2:
                        continue
                    for e in list(os.scandir(shard.path)):
                        if e.name.endswith((".lock", ".owner", ".tmp")):
                            try:
                                os.unlink(e.path)
                                removed += 1
                            except OSError:
                                pass
                    try:
                        os.rmdir(shard.path)
                    except OSError:
                        pass
                return removed
            finally:
                fcntl.flock(fd, fcntl.LOCK_SH)

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
        """Release all claims and the shared ``.inuse`` lock."""
        self.release_all()
        fd, self._inuse_fd = self._inuse_fd, None
        if fd is not None:
            try:
                os.close(fd)
            except OSError:
                pass

    def __del__(self, _close=os.close):  # os may be gone at interpreter exit
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
        for c in list(self._held.values()):
            if isinstance(c, Claim) and c._fd is not None:
                try:
                    os.close(c._fd)
                except OSError:
                    pass
                c._fd = None
                c._released = True
        self._held = {}
        if self._inuse_fd is not None:
            # the inherited descriptor shares the parent's lock: take our own
            inherited, self._inuse_fd = self._inuse_fd, None
            try:
                fd = os.open(os.path.join(self.root, ".inuse"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC,
                             self.file_mode)
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
                self._inuse_fd = fd
            except OSError:
                self.shared = False
            finally:
                os.close(inherited)

    def __repr__(self):
        return f"<ClaimTable {self.root} shared={self.shared}>"
