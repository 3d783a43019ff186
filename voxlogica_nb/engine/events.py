"""Progress events and the text observer.

The engine publishes :class:`Event` objects to observers (callables) from the
thread that runs the scheduler loop, never from worker threads, so an
observer may update a display directly. Kinds:

``plan``    ``data = {"compute": N, "stored": M, "waiting": K}`` tasks to compute / found stored
``start``   a task started on the worker pool
``done``    a task computed here finished
``load``    a value came from the store (or another run in this process)
``wait``    waiting on another process that holds the task
``fail``    a task failed (``data["failure"]``)
``print``   a ``print`` effect ran (``data = {"label", "value"}``)
``save``    a ``save`` effect wrote a file (``data = {"path"}``)
``finish``  the run ended (``data = {"stats", "seconds"}``)
``dangling`` claims of dead processes were cleared when the engine started
            (``data = {"cleared": [records], "text": one-line summary}``)
"""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field


@dataclass
class Event:
    kind: str
    task_id: str = ""
    op: str = ""
    data: dict = field(default_factory=dict)


def format_value(value) -> str:
    """The CLI's text form: floats as Python repr, true/false, raw strings,
    sequences as ``[a, b]``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):
        return value
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(format_value(v) for v in value) + "]"
    return repr(value)


class TextProgress:
    """Writes a throttled one-line progress report to a stream (stderr)."""

    def __init__(self, stream=None, interval=0.5):
        self.stream = stream or sys.stderr
        self.interval = interval
        self.total = self.done = self.loaded = self.failed = self.waiting = 0
        self.last = 0.0
        self.shown = False

    def __call__(self, ev: Event):
        k = ev.kind
        if k == "dangling":
            self.stream.write(ev.data["text"] + "\n")
        elif k == "plan":
            self.total += ev.data.get("compute", 0)
        elif k == "done":
            self.done += 1
        elif k == "load":
            self.loaded += 1
        elif k == "fail":
            self.failed += 1
        elif k == "wait":
            self.waiting += 1
        elif k == "finish":
            if self.total or self.loaded or self.failed:
                self.stream.write(("\r" if self.shown else "") + self.line()
                                  + f" in {ev.data.get('seconds', 0.0):.2f} s\n")
                self.stream.flush()
            return
        now = time.monotonic()
        if self.total and now - self.last >= self.interval:
            self.last = now
            self.shown = True
            self.stream.write("\r" + self.line())
            self.stream.flush()

    def line(self) -> str:
        return (f"[{self.done}/{self.total}] computed {self.done}, from store {self.loaded}, "
                f"waited {self.waiting}, failed {self.failed}")
