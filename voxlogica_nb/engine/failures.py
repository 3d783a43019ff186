"""Failures: what a failed task reports, in one line and as a store record."""
from __future__ import annotations

import time

from ..errors import PrimitiveError


class Failure:
    """A failed task: its own error, or "upstream failed" with the root."""

    __slots__ = ("task_id", "op", "message", "traceback", "pos", "root", "time", "version")

    def __init__(self, task, message, tb="", root=None):
        self.task_id = task.id
        self.op = task.op
        self.version = task.version
        self.message = message
        self.traceback = tb
        self.pos = task.pos
        self.root = root
        self.time = time.time()

    @property
    def where(self) -> str:
        return f"{self.pos.line}:{self.pos.col}" if self.pos else "?"

    @property
    def line(self):
        return self.pos.line if self.pos else 0

    @property
    def col(self):
        return self.pos.col if self.pos else 0

    @property
    def reason(self) -> str:
        """The message without a leading "op: " that would repeat the operator."""
        prefix = f"{self.op}: "
        return self.message[len(prefix):] if self.message.startswith(prefix) else self.message

    def __str__(self):
        place = str(self.pos) if self.pos else "?"
        if self.root is not None:
            r = self.root
            return f"{place}: upstream failed: `{r.op}` at {r.pos or '?'}: {r.reason}"
        return f"{place}: `{self.op}` failed: {self.reason}"

    def __repr__(self):
        return f"<Failure {self}>"

    def record(self) -> dict:
        return {"op": self.op, "version": self.version, "message": self.message,
                "traceback": self.traceback, "time": self.time,
                "position": str(self.pos) if self.pos else ""}


class Waited(Exception):
    """Another process recorded a failure for the task we waited on."""


def traceback_of(exc: BaseException) -> str:
    """The formatted traceback of ``exc`` (the module is imported on the
    first failure: a run that fails nothing does not pay for it)."""
    import traceback

    return "".join(traceback.format_exception(exc))


def message_of(exc: BaseException) -> str:
    """One line saying what went wrong (the traceback is kept apart)."""
    if isinstance(exc, (PrimitiveError, Waited)):
        return str(exc)
    text = str(exc).strip()
    itk = text.rfind("ITK ERROR:")
    if itk >= 0:  # SimpleITK: "… ITK ERROR: SomeFilter(0x…): what went wrong"
        detail = text[itk:].splitlines()[0].split("): ", 1)[-1]
        return f"SimpleITK: {detail.strip()}"
    if "\n" in text:
        text = text.splitlines()[0]
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class TaskFailed(Exception):
    """Raised by ``evaluate`` when the task (or one upstream) failed."""

    def __init__(self, failure: Failure):
        self.failure = failure
        super().__init__(str(failure))
