"""Text for people: values as the CLI prints them, claim summaries, and the
one-line progress observer used by the command line."""
from __future__ import annotations

import sys
import time

from .engine.events import Event


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


def summarize_cleared(cleared) -> str:
    """One line: 'cleared 3 dangling runs (dt ×2, near)'."""
    if not cleared:
        return "no dangling runs"
    counts: dict = {}
    for r in cleared:
        counts[r.get("op")] = counts.get(r.get("op"), 0) + 1
    ops = ", ".join(f"{op} ×{n}" if n > 1 else f"{op}" for op, n in sorted(counts.items(), key=lambda kv: str(kv[0])))
    return f"cleared {len(cleared)} dangling run(s) left by ended processes ({ops})"


class TextProgress:
    """Writes a one-line progress report per run to a stream (stderr).

    On a terminal the line is rewritten in place (throttled); elsewhere (a
    log file, a notebook's captured output) only the final line is written.
    """

    def __init__(self, stream=None, interval=0.5):
        self.stream = stream or sys.stderr
        self.interval = interval
        try:
            self.live = self.stream.isatty()
        except (AttributeError, ValueError):  # no isatty, or a closed stream
            self.live = False
        self.reset()

    def reset(self):
        self.total = self.done = self.loaded = self.failed = self.waiting = 0
        self.last = 0.0
        self.shown = False

    def __call__(self, ev: Event):
        k = ev.kind
        if k == "dangling":
            self.stream.write(summarize_cleared(ev.data["cleared"]) + "\n")
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
            self.reset()  # the next run counts afresh
            return
        if not self.live:
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
