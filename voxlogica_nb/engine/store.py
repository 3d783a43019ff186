"""The store interface, and the stores that keep nothing on disk.

A store maps task ids to committed values and keeps failure records. The
engine asks it, for each task a run needs:

1. ``contains(id)`` — is a value committed? (cheap: no value is read)
2. ``get(id)`` — the value, or ``MISSING`` if absent or found corrupt (a
   corrupt entry is discarded, never returned);
3. ``put(id, value, meta)`` — commit a value atomically; a store that cannot
   write (read-only, full disk) warns once and carries on;
4. ``put_failure(id, record)`` / ``failure(id)`` — failure records, kept for
   inspection and never served as results; a later ``put`` of the same id
   clears the record.

Across processes, ``claims`` (a :class:`~voxlogica_nb.engine.claims.ClaimTable`)
decides who computes a task and who waits; a store without it (``None``)
only deduplicates inside the process. The administration (CLI, magic)
uses ``info``, ``failures``, ``running``, ``sweep``, ``prune`` and ``clear``.
"""
from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod

from ..errors import RuntimeSetupError
from .claims import RUN_OP
from .memory import MISSING, value_bytes  # one "no value" sentinel for memory and stores


class StoreError(RuntimeSetupError):
    """A store that cannot be used at all; ``str()`` is one line meant for users."""


class UnsafeStoreError(StoreError, PermissionError):
    """A store folder that someone else can write (it is owned by another user,
    or writable by group or others), refused unless a shared store was asked
    for. Values are unpickled when read, so whoever can write the folder can
    run code in every process that reads it."""

    def __init__(self, message, path=None):
        super().__init__(message)
        self.path = path


class Store(ABC):
    """Every verb the engine and the administration use; all are thread-safe."""

    #: A ClaimTable when the store coordinates processes, else None.
    claims = None
    #: False once writing failed: the store then stores nothing more.
    writable = True
    #: Values of at least this many bytes come back memory-mapped (None: never),
    #: so the engine need not keep them in its memory.
    mmap_min_bytes = None
    #: A folder for data kept beside the values (input digests), or None.
    root = None

    # -- the engine's verbs ------------------------------------------------
    @abstractmethod
    def contains(self, task_id: str) -> bool:
        """True if a value is committed for ``task_id`` (reads no value)."""

    def likely_contains(self, task_id: str) -> bool:
        """``contains``, as planning asks it for every task of a run: the
        answer may be as old as the run's planning (at most a fraction of a
        second), since a stale "no" only costs a computation (a claim still
        finds a value committed since)."""
        return self.contains(task_id)

    def new_plan(self) -> None:
        """A run starts planning: what ``likely_contains`` remembered of
        earlier runs is forgotten."""

    @abstractmethod
    def get(self, task_id: str):
        """The committed value, or ``MISSING`` (absent, or corrupt and discarded)."""

    @abstractmethod
    def put(self, task_id: str, value, meta: dict, later: bool = False) -> None:
        """Commit ``value`` atomically, replacing any previous one, and clear a
        failure record. ``meta``: ``op``, ``version``, ``seconds`` (compute
        time) and anything else worth keeping. ``later``: no other process
        waits for this value, so a small one may be committed with a batch
        (see :meth:`flush`). Never raises for a write that fails: the store
        warns once and stops writing."""

    def flush(self) -> None:
        """Commit the values put ``later`` that are still waiting for their batch."""

    @abstractmethod
    def put_failure(self, task_id: str, record: dict) -> None:
        """Keep a failure record (message, traceback, op, version, ``time``)."""

    @abstractmethod
    def failure(self, task_id: str) -> dict | None:
        """The failure record of ``task_id``, or None."""

    # -- inspection and administration --------------------------------------
    @abstractmethod
    def meta(self, task_id: str) -> dict | None:
        """The metadata of a committed value (type, bytes, op, version,
        seconds, created), or None."""

    @abstractmethod
    def failures(self) -> list[dict]:
        """Every failure record, most recent first."""

    @abstractmethod
    def info(self) -> dict:
        """``root`` (None: no folder), ``count`` and ``bytes`` of values,
        ``failures``, ``running`` (claims held now), ``writable``, ``shared``."""

    @abstractmethod
    def clear(self) -> dict:
        """Delete every value and failure record: ``removed``, ``freed`` (bytes), ``failures``."""

    @abstractmethod
    def prune(self, max_bytes: int | None = None, older_than_seconds: float | None = None) -> dict:
        """Delete least recently used values down to ``max_bytes`` and those
        unused for ``older_than_seconds``: ``removed``, ``freed``, ``count``,
        ``bytes`` left, ``temp_files`` and ``lock_files`` removed (None: kept)."""

    def running(self) -> list[dict]:
        """Owner records of the claims live processes hold now."""
        return self.claims.running() if self.claims is not None else []

    def sweep(self) -> list[dict]:
        """Clear the claims of processes that ended without releasing them;
        the owner records of their tasks (a run's claim on its goals is
        cleared too, but not reported: the tasks it was running are)."""
        if self.claims is None:
            return []
        return [r for r in self.claims.sweep() if r.get("op") != RUN_OP]

    def close(self) -> None:
        """Release this process's claims; the store is not used afterwards."""
        if self.claims is not None:
            self.claims.close()


class MemoryStore(Store):
    """Values in a dict, for the life of the process: the engine's store when
    it is given none, and tests. (``no_cache`` runs use :class:`NullStore`.)"""

    def __init__(self):
        self._values: dict = {}
        self._meta: dict = {}  # task id -> metadata, with "used": last get or put
        self._failures: dict = {}
        self._lock = threading.Lock()

    def contains(self, task_id):
        return task_id in self._values

    def get(self, task_id):
        value = self._values.get(task_id, MISSING)
        m = self._meta.get(task_id)
        if m is not None:
            m["used"] = time.time()
        return value

    def put(self, task_id, value, meta, later=False):
        now = time.time()
        with self._lock:
            self._values[task_id] = value
            self._meta[task_id] = dict(meta, bytes=value_bytes(value), created=now, used=now)
            self._failures.pop(task_id, None)

    def meta(self, task_id):
        m = self._meta.get(task_id)
        return dict(m) if m is not None else None

    def put_failure(self, task_id, record):
        with self._lock:
            self._failures[task_id] = dict(record, id=task_id)

    def failure(self, task_id):
        return self._failures.get(task_id)

    def failures(self):
        return sorted(self._failures.values(), key=lambda r: r.get("time") or 0, reverse=True)

    def info(self):
        with self._lock:
            size = sum(m["bytes"] for m in self._meta.values())
            return {"root": None, "count": len(self._values), "bytes": size,
                    "failures": len(self._failures), "running": 0, "writable": True, "shared": False}

    def clear(self):
        with self._lock:
            out = {"removed": len(self._values), "freed": sum(m["bytes"] for m in self._meta.values()),
                   "failures": len(self._failures)}
            self._values.clear()
            self._meta.clear()
            self._failures.clear()
        return out

    def prune(self, max_bytes=None, older_than_seconds=None):
        now = time.time()
        with self._lock:
            order = sorted(self._meta, key=lambda t: self._meta[t]["used"])  # least recently used first
            total = sum(m["bytes"] for m in self._meta.values())
            removed = freed = 0
            for task_id in order:
                m = self._meta[task_id]
                too_old = older_than_seconds is not None and now - m["used"] > older_than_seconds
                if too_old or (max_bytes is not None and total > max_bytes):
                    del self._values[task_id], self._meta[task_id]
                    removed += 1
                    freed += m["bytes"]
                    total -= m["bytes"]
            return {"removed": removed, "freed": freed, "count": len(self._values), "bytes": total,
                    "temp_files": 0, "lock_files": None}


class NullStore(Store):
    """Stores nothing (``no_cache``: compute everything fresh, write nothing)."""

    writable = False

    def contains(self, task_id):
        return False

    def get(self, task_id):
        return MISSING

    def put(self, task_id, value, meta, later=False):
        pass

    def put_failure(self, task_id, record):
        pass

    def failure(self, task_id):
        return None

    def meta(self, task_id):
        return None

    def failures(self):
        return []

    def info(self):
        return {"root": None, "count": 0, "bytes": 0, "failures": 0, "running": 0,
                "writable": False, "shared": False}

    def clear(self):
        return {"removed": 0, "freed": 0, "failures": 0}

    def prune(self, max_bytes=None, older_than_seconds=None):
        return {"removed": 0, "freed": 0, "count": 0, "bytes": 0, "temp_files": 0, "lock_files": None}
