"""Events that wake waiters when set: how a run's cancellation reaches the
threads blocked on its behalf (a claim's wait, the scheduler's queue)."""
from __future__ import annotations

import threading
import weakref

__all__ = ["CancelEvent", "on_set"]


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
