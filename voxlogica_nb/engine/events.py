"""Progress events: what the engine tells its observers.

The engine publishes :class:`Event` objects to observers (callables) from the
thread that runs the scheduler loop, never from worker threads, so an
observer may update a display directly. Kinds:

``plan``    ``data = {"compute": N, "stored": M}`` tasks to compute / found stored; sent
            before anything runs, then again with the additional counts
            when a ``for`` loop expands or a task must be computed after all
            (unless another run or process computes some of them
            meanwhile, the ``compute`` counts add up to the ``done`` events)
``start``   a task started on the worker pool
``done``    a task computed here finished
``load``    a value came from the store (or another run in this process)
``wait``    waiting on another process that holds the task
``fail``    a task failed (``data["failure"]``)
``print``   a ``print`` effect ran (``data = {"label", "value"}``)
``save``    a ``save`` effect wrote a file (``data = {"path"}``; ``"unchanged": True``
            when the file already held that value and was left alone)
``warning`` a primitive reported something (``data = {"text": "source:line:col:
            message", "message", "position"}``); also in ``Result.warnings``
``finish``  the run ended (``data = {"stats", "seconds", "peak_bytes"}``;
            ``peak_bytes``: the most array memory the run's values held at once)
``dangling`` claims of dead processes were cleared when the engine started
            (``data = {"cleared": [records]}``)
"""
from __future__ import annotations

from ..plain import Record

from .failures import Failure


class Event(Record):
    FIELDS = ("kind", "task_id", "op", "data")

    def __init__(self, kind: str, task_id: str = "", op: str = "", data: "dict | None" = None):
        self.kind, self.task_id, self.op = kind, task_id, op
        self.data = {} if data is None else data


class Publishing:
    """What a run tells its observers, for the classes that drive runs (the
    local loop and the dask one). Expects ``observers`` (callables),
    ``out`` (an ``Outcome``: ``warnings`` is appended to), ``warned`` (a
    set), ``planned`` (``[to compute, found stored]`` so far),
    ``reported`` (the counts already sent) and ``stats``."""

    def emit(self, kind, task=None, **data):
        if self.observers:
            ev = Event(kind, task.id if task is not None else "", task.op if task is not None else "", data)
            for obs in self.observers:
                obs(ev)

    def warn(self, task, pos, messages):
        """Record what a primitive reported, as lines located at ``pos``."""
        for message in messages:
            line = f"{pos or '<program>'}: {message}"
            if line not in self.warned:
                self.warned.add(line)
                self.out.warnings.append(line)
                self.emit("warning", task, text=line, message=message, position=str(pos) if pos else "")

    def save_failed(self, effect, message, tb):
        """A ``save`` effect could not write its file: a failure of the run."""
        f = Failure(effect.task, message, tb)
        f.op, f.pos = "save", effect.pos
        self.stats["failed"] += 1
        self.out.failures.append(f)
        self.out.effect_failures.append((effect, f))
        self.emit("fail", effect.task, failure=f)

    def report_plan(self, first=False):
        """Send the work met since the last ``plan`` event (if any)."""
        compute, stored = self.planned[0] - self.reported[0], self.planned[1] - self.reported[1]
        if first or compute or stored:
            self.reported = tuple(self.planned)
            self.emit("plan", compute=compute, stored=stored)
