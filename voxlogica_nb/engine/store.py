"""The store interface the engine runs against, and its in-memory version.

A store maps task ids to committed values (and failure records). The engine
asks it, in this order, for each task a run needs:

1. ``contains(id)`` — is a value committed? (cheap: no value is read)
2. ``get(id)`` — the value, or ``MISSING`` if absent or found corrupt (a
   corrupt entry is discarded, never returned);
3. ``put(id, value, meta)`` — commit a value atomically; a store that cannot
   write (read-only, full disk) warns once and carries on;
4. ``put_failure(id, record)`` / ``failure(id)`` / ``failures()`` — failure
   records, kept for inspection and never served as results; a later ``put``
   of the same id clears the record.

Cross-process claims (``claims``) are optional: a store without them
(``claims is None``) only deduplicates inside the process.
"""
from __future__ import annotations

import threading

MISSING = object()


class StoreError(Exception):
    """A store that cannot be used at all; ``str()`` is one line meant for users."""

    def _render_traceback_(self):  # IPython shows this instead of a traceback
        return [str(self)]


class UnsafeStoreError(StoreError, PermissionError):
    """A store folder that someone else can write (it is owned by another user,
    or writable by group or others), refused unless a shared store was asked
    for. Values are unpickled when read, so whoever can write the folder can
    run code in every process that reads it."""

    def __init__(self, message, path=None):
        super().__init__(message)
        self.path = path


class Store:
    """Base class documenting the interface; every method must be thread-safe."""

    claims = None  # a ClaimTable when the store coordinates processes

    def contains(self, task_id: str) -> bool:
        raise NotImplementedError

    def get(self, task_id: str):
        raise NotImplementedError

    def put(self, task_id: str, value, meta: dict) -> None:
        raise NotImplementedError

    def put_failure(self, task_id: str, record: dict) -> None:
        raise NotImplementedError

    def failure(self, task_id: str) -> dict | None:
        raise NotImplementedError

    def failures(self) -> list[dict]:
        raise NotImplementedError


class MemoryStore(Store):
    """Values in a dict: for ``no_cache`` runs and tests."""

    def __init__(self):
        self._values: dict = {}
        self._meta: dict = {}
        self._failures: dict = {}
        self._lock = threading.Lock()

    def contains(self, task_id):
        return task_id in self._values

    def get(self, task_id):
        return self._values.get(task_id, MISSING)

    def put(self, task_id, value, meta):
        with self._lock:
            self._values[task_id] = value
            self._meta[task_id] = dict(meta)
            self._failures.pop(task_id, None)

    def meta(self, task_id):
        return self._meta.get(task_id)

    def put_failure(self, task_id, record):
        with self._lock:
            self._failures[task_id] = dict(record, id=task_id)

    def failure(self, task_id):
        return self._failures.get(task_id)

    def failures(self):
        return list(self._failures.values())


class NullStore(Store):
    """Stores nothing (``no_cache``: compute everything fresh, write nothing)."""

    def contains(self, task_id):
        return False

    def get(self, task_id):
        return MISSING

    def put(self, task_id, value, meta):
        pass

    def put_failure(self, task_id, record):
        pass

    def failure(self, task_id):
        return None

    def failures(self):
        return []
