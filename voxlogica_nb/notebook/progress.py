"""Live progress of a run in a notebook: an ipywidgets bar, or one text line.

The engine calls :class:`ProgressState` with its events from the scheduler
thread; the state only counts. One updater thread copies the counts to the
widget at most ``RATE`` times a second, so no engine thread ever touches the
widget and a 10,000-task run sends a handful of messages, not 10,000. When
the run ends the display is replaced by a one-line static summary, so a
saved notebook keeps the summary rather than a dead widget.
"""
from __future__ import annotations

import html
import threading
import time

RATE = 5  # widget updates per second, at most
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"


class ProgressState:
    """Counts of one run, updated from engine events (see voxlogica_nb.engine.events)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.total = 0  # tasks the plan says must be computed here
        self.computed = 0
        self.cached = 0
        self.waited = 0
        self.failed = 0
        self.running: dict = {}  # task id -> operator, computing here
        self.waiting: set = set()  # task ids another process is computing
        self.started = time.monotonic()
        self.seconds: float | None = None  # set when the run finishes
        self.changes = 0

    def __call__(self, ev):
        k = ev.kind
        with self.lock:
            if k == "plan":
                self.total += ev.data.get("compute", 0)
            elif k == "start":
                self.running[ev.task_id] = ev.op
            elif k == "done":
                self.computed += 1
                self.running.pop(ev.task_id, None)
            elif k == "load":
                if ev.data.get("waited"):
                    self.waited += 1
                else:
                    self.cached += 1
                self.running.pop(ev.task_id, None)
                self.waiting.discard(ev.task_id)
            elif k == "wait":
                self.waiting.add(ev.task_id)
            elif k == "fail":
                self.failed += 1
                self.running.pop(ev.task_id, None)
                self.waiting.discard(ev.task_id)
            elif k == "finish":
                # The run's own counts are authoritative (cheap inline tasks
                # send no events of their own).
                stats = ev.data.get("stats", {})
                self.computed = stats.get("computed", self.computed)
                self.cached = stats.get("cached", self.cached)
                self.waited = stats.get("waited", self.waited)
                self.failed = stats.get("failed", self.failed)
                self.total = max(self.total, self.computed)
                self.running.clear()
                self.waiting.clear()
                self.seconds = ev.data.get("seconds", time.monotonic() - self.started)
            else:
                return
            self.changes += 1

    @property
    def elapsed(self) -> float:
        return self.seconds if self.seconds is not None else time.monotonic() - self.started

    def summary(self) -> str:
        """One stable line: ``voxlogica ok: computed 3, from store 1, waited 0, failed 0 in 0.12 s``."""
        with self.lock:
            head = "ok" if not self.failed else f"{self.failed} failed"
            if self.seconds is None:
                head = "running"
            return (f"voxlogica {head}: computed {self.computed}, from store {self.cached}, "
                    f"waited {self.waited}, failed {self.failed} in {self.elapsed:.2f} s")

    def live_html(self) -> str:
        with self.lock:
            ops: dict = {}
            for op in self.running.values():
                ops[op] = ops.get(op, 0) + 1
            now = ", ".join(f"{op}×{n}" if n > 1 else op for op, n in sorted(ops.items())[:4])
            parts = [f"<b>{self.computed}/{self.total}</b> computed", f"{self.cached} from store",
                     f"{len(self.running)} running", f"{len(self.waiting)} waiting on another process",
                     f"{self.failed} failed", f"{self.elapsed:.1f} s"]
            text = " · ".join(parts)
            if now:
                text += f" · now: <code>{html.escape(now)}</code>"
            return text


class WidgetProgress:
    """A bar and a line of counts, refreshed by one updater thread."""

    def __init__(self, display):
        import ipywidgets as W

        self.state = ProgressState()
        self.bar = W.IntProgress(value=0, min=0, max=1, bar_style="info",
                                 layout=W.Layout(width="30%"))
        self.label = W.HTML(value="voxlogica: planning…")
        self.widget = W.HBox([self.bar, self.label])
        self.handle = display({WIDGET_MIME: {"model_id": self.widget.model_id, "version_major": 2,
                                             "version_minor": 0},
                               "text/plain": "voxlogica running"})
        self._stop = threading.Event()
        self._seen = -1
        self._thread = threading.Thread(target=self._updater, name="voxlogica-progress", daemon=True)
        self._thread.start()

    def __call__(self, ev):
        self.state(ev)

    def __repr__(self):
        return self.state.summary()

    def _updater(self):
        while not self._stop.wait(1.0 / RATE):
            self.refresh()

    def refresh(self):
        s = self.state
        if s.changes == self._seen and s.seconds is None and not s.running:
            return  # nothing new; the elapsed time moves only while tasks run
        self._seen = s.changes
        self.bar.max = max(s.total, 1)
        self.bar.value = min(s.computed, self.bar.max)
        self.label.value = s.live_html()

    def close(self, interrupted=False):
        """Stop the updater and leave the static summary in place of the widget."""
        self._stop.set()
        self._thread.join()
        self.refresh()
        text = self.state.summary()
        if interrupted:
            text = text.replace("voxlogica running", "voxlogica interrupted")
        self.handle.update({"text/plain": text}, raw=True)
        self.widget.close()
        self.label.close()
        self.bar.close()
        return text


class TextProgress:
    """No widget frontend: only the final summary line."""

    def __init__(self, write):
        self.state = ProgressState()
        self.write = write

    def __call__(self, ev):
        self.state(ev)

    def __repr__(self):
        return self.state.summary()

    def close(self, interrupted=False):
        text = self.state.summary()
        if interrupted:
            text = text.replace("voxlogica running", "voxlogica interrupted")
        self.write(text)
        return text
