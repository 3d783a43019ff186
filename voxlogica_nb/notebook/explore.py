"""Interactive exploration: sliders bound to ImgQL names that re-run a
program incrementally, its outputs updating in place.

``%%voxlogica --explore thr=0.5:1:0.01`` or ``voxlogica_nb.explore(text,
thr=(0.5, 1.0, 0.01))`` make an :class:`Explorer`: each name becomes a
slider (a dropdown for a list of values), bound as an ImgQL constant the
program sees. The program runs once with the initial values in the calling
thread; its outputs (values, pictures, 3D slice viewers with overlays) fill
one panel (an ipywidgets ``VBox``). Moving a slider re-binds the name and
re-runs the program: tasks are content-hashed, so only the tasks that
depend on the name are new; everything else comes from memory or the store.

Threads. Widget callbacks arrive on the kernel's main thread; they only
record the latest values and wake the explorer's one worker thread, which
reduces and runs the program and then updates widget traits (it never
prints or displays). A new value while a run is in progress sets that
run's cancel event (as an interrupt does): the run stops, the worker takes
the latest values, so moves never queue up. Work already handed to the pool
finishes and is stored, so values computed for earlier positions are found
again at once. Reductions take the session's lock (the reducer is not
thread-safe); the engine needs none.

Initial values: ``INIT`` when given, else the middle of the range rounded
to the step (the first item of a list). A slider is an integer one when
LO, HI and STEP are all integers; without STEP it moves by a power of ten
near a hundredth of the range. A float slider's value is rounded
to its step's decimals, so a position always binds the same constant (and
finds the same tasks) however the frontend represents it.
"""
from __future__ import annotations

import html
import math
import numbers
import re
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from decimal import Decimal

from ..engine.claims import CancelEvent
from ..text import format_value
from ..errors import VoxLogicaError
from ..image import Image
from .display import describe, group_printed, image_bundle, needs_base, scalar_rows, sequence_bundle, value_bundles
from .errors import CellFailed
from .progress import WIDGET_MIME

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_INT = re.compile(r"[+-]?\d+\Z")
HISTORY = 100  # runs remembered in Explorer.history


# -- parameters -------------------------------------------------------------------
def _decimals(x) -> int:
    if isinstance(x, numbers.Integral):
        return 0
    exp = Decimal(repr(float(x))).normalize().as_tuple().exponent
    return max(0, -int(exp))


@dataclass
class Param:
    """One explored name: a range (slider) or a list of values (dropdown)."""

    name: str
    lo: float | int | None = None
    hi: float | int | None = None
    step: float | int | None = None
    options: tuple | None = None
    initial: object = None
    integer: bool = False

    @classmethod
    def range(cls, name, lo, hi, step=None, initial=None):
        _check_name(name)
        for what, v in (("low end", lo), ("high end", hi), ("step", step), ("initial value", initial)):
            number = isinstance(v, numbers.Real) and not isinstance(v, bool)
            if v is not None and not (number and math.isfinite(v)):
                raise ValueError(f"{name}: the {what} must be a finite number, not {v!r}")
        if not lo < hi:
            raise ValueError(f"{name}: the range {lo}:{hi} is empty (the low end must be below the high end)")
        integer = step is not None and all(isinstance(v, numbers.Integral) for v in (lo, hi, step))
        if step is None:
            step = 1 if integer else 10.0 ** round(math.log10((hi - lo) / 100))
        if not step > 0:
            raise ValueError(f"{name}: the step must be positive, not {step}")
        p = cls(name, lo, hi, step, integer=integer)
        if initial is None:
            initial = lo + (hi - lo) / 2
        elif not lo <= initial <= hi:
            raise ValueError(f"{name}: the initial value {initial} is outside {lo}:{hi}")
        p.initial = p.quantise(initial)
        return p

    @classmethod
    def choice(cls, name, options, initial=None):
        _check_name(name)
        options = tuple(options)
        if not options:
            raise ValueError(f"{name}: the list of values is empty")
        for v in options:
            if not isinstance(v, (bool, int, float, str)):
                raise ValueError(f"{name}: {v!r} is not a number, a bool or a string")
        if len(set(options)) != len(options):
            raise ValueError(f"{name}: the list of values has duplicates")
        if initial is None:
            initial = options[0]
        elif initial not in options:
            raise ValueError(f"{name}: the initial value {initial!r} is not in the list")
        return cls(name, options=options, initial=initial)

    @property
    def decimals(self) -> int:
        return max(_decimals(self.lo), _decimals(self.step))

    @property
    def top(self):
        """The highest value a position can take (``hi`` when the step divides the range)."""
        return self.quantise(self.hi)

    def quantise(self, v):
        """The position nearest ``v``: ``lo + k·step``, rounded to the step's decimals."""
        if self.options is not None:
            return v
        k = round((v - self.lo) / self.step)
        k = max(0, min(k, math.floor((self.hi - self.lo) / self.step + 1e-9)))
        if self.integer:
            return int(self.lo + k * self.step)
        return round(self.lo + k * self.step, self.decimals)

    def widget(self, continuous_update=True):
        import ipywidgets as W

        style = {"description_width": "initial"}
        if self.options is not None:
            opts = [(format_value(v), v) for v in self.options]
            return W.Dropdown(options=opts, value=self.initial, description=self.name, style=style)
        if self.integer:
            return W.IntSlider(min=self.lo, max=self.top, step=self.step, value=self.initial,
                               description=self.name, continuous_update=continuous_update, style=style)
        return W.FloatSlider(min=self.lo, max=self.top, step=self.step, value=self.initial,
                             description=self.name, continuous_update=continuous_update,
                             readout_format=f".{self.decimals}f", style=style)

    def binding(self, v):
        """The Python value bound as the ImgQL name."""
        return float(v) if self.options is None else v

    def __str__(self):
        if self.options is not None:
            return f"{self.name}={','.join(format_value(v) for v in self.options)}"
        return f"{self.name}={self.lo}:{self.hi}:{self.step}"


def _check_name(name):
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(f"{name!r} is not an ImgQL name (letters, digits and _, not starting with a digit)")


def _number(text):
    text = text.strip()
    if _INT.match(text):
        return int(text)
    return float(text)


def _item(text):
    """A dropdown item written in the magic's line: a number, true/false, or a string."""
    t = text.strip()
    if t in ("true", "false"):
        return t == "true"
    try:
        return _number(t)
    except ValueError:
        return t


def parse_spec(spec: str) -> Param:
    """``NAME=LO:HI[:STEP][=INIT]`` (a slider) or ``NAME=A,B,C[=INIT]`` (a dropdown)."""
    name, eq, rest = spec.partition("=")
    name = name.strip()
    if not eq or not rest.strip():
        raise ValueError(f"{spec!r}: expected NAME=LO:HI[:STEP][=INIT] or NAME=A,B,C[=INIT]")
    body, _, init = rest.partition("=")
    if ":" in body:
        parts = body.split(":")
        if len(parts) not in (2, 3):
            raise ValueError(f"{spec!r}: a range is LO:HI or LO:HI:STEP")
        try:
            nums = [_number(p) for p in parts]
            initial = _number(init) if init.strip() else None
        except ValueError:
            raise ValueError(f"{spec!r}: LO, HI, STEP and INIT must be numbers") from None
        lo, hi, step = (nums + [None])[:3]
        if initial is not None and isinstance(initial, int) and not all(isinstance(v, int) for v in nums):
            initial = float(initial)
        return Param.range(name, lo, hi, step, initial)
    items = [_item(p) for p in body.split(",")]
    initial = _item(init) if init.strip() else None
    if any(isinstance(v, (int, float)) and not isinstance(v, bool) for v in items):
        # 1,2.5 and an initial 2 mean numbers: compare them as numbers
        items = [float(v) if isinstance(v, int) and not isinstance(v, bool) else v for v in items]
        if isinstance(initial, int) and not isinstance(initial, bool):
            initial = float(initial)
    return Param.choice(name, items, initial)


def param_from_python(name: str, spec) -> Param:
    """``(lo, hi)``, ``(lo, hi, step)`` or ``(lo, hi, step, initial)``: a
    slider (an integer one when lo, hi and step are ints); a list: a
    dropdown (initial: its first item); a :class:`Param` as is."""
    if isinstance(spec, Param):
        return spec
    if isinstance(spec, tuple) and 2 <= len(spec) <= 4:
        lo, hi, step, initial = (tuple(spec) + (None, None))[:4]
        return Param.range(name, lo, hi, step, initial)
    if isinstance(spec, list):
        return Param.choice(name, spec)
    raise ValueError(f"{name}={spec!r}: give (lo, hi[, step[, initial]]) for a slider "
                     f"or a list of values for a dropdown")


# -- what the panel shows -----------------------------------------------------------
# Each output is updated with ``ident``: the ids of the tasks it shows and of
# the base image. Equal ids mean equal values (a value found again may be a
# new object, e.g. memory-mapped from the store), so an output whose ident
# did not change is left alone: no picture is drawn again.
class _Values:
    """Consecutive numbers, strings and sequences: one table."""

    def __init__(self, W):
        self.widget = W.HTML()
        self.text = ""

    def update(self, items, base, ident):
        bundle = scalar_rows(items)
        self.text = bundle["text/plain"]
        self.widget.value = bundle["text/html"]

    def close(self):
        self.widget.close()


class _Picture:
    """A 2D image (or a sequence of images): its picture."""

    def __init__(self, W):
        self.widget = W.HTML()
        self.text = ""
        self.ident = None

    def update(self, item, base, ident):
        label, value = item
        if ident is not None and ident == self.ident:
            return
        self.ident = ident
        if isinstance(value, Image):
            bundle = image_bundle(label, value, base)
        else:
            bundle = sequence_bundle(label, value, base)
        self.text = bundle["text/plain"]
        self.widget.value = bundle["text/html"]

    def close(self):
        self.widget.close()


class _Volume:
    """A 3D image: a slice viewer, whose slice and axis survive updates."""

    def __init__(self, W):
        self.viewer = None
        self.widget = None
        self.text = ""
        self.ident = None

    def update(self, item, base, ident):
        from .display import SliceViewer

        label, image = item
        if self.viewer is None:
            self.viewer = SliceViewer(label, image, base)
            self.widget = self.viewer.widget
        elif ident is None or ident != self.ident:
            self.viewer.update(image, base)
        self.ident = ident
        over = " over the base image" if self.viewer.base is not None else ""
        self.text = f"{label}: {describe(image)}{over}"

    def close(self):
        if self.viewer is not None:
            self.viewer.close()


def _layout(printed, ids):
    """``(key, kind, item, task ids)`` of a run's printed values, in order;
    keys identify an output across runs (kind, label, occurrence)."""
    out, seen = [], {}
    ids = list(ids) if len(ids) == len(printed) else [None] * len(printed)
    for kind, items in group_printed(printed):
        label = tuple(lab for _, lab, _ in items) if kind == "values" else items[0][1]
        n = seen[(kind, label)] = seen.get((kind, label), -1) + 1
        pairs = [(lab, v) for _, lab, v in items]
        out.append(((kind, label, n), kind, pairs if kind == "values" else pairs[0],
                    tuple(ids[i] for i, _, _ in items)))
    return out


_HOLDERS = {"values": _Values, "picture": _Picture, "volume": _Volume}


@dataclass
class Run:
    """One run an explorer finished: the values bound, what it computed, how long it took."""

    values: dict
    stats: dict | None = None  # Result.stats (None: a static error, nothing ran)
    seconds: float = 0.0  # from the request (the slider move) to the panel updated
    engine_seconds: float = 0.0  # the engine's run alone
    computed_ops: list = field(default_factory=list)  # ops computed on the pool, in order
    error: str | None = None


class _Watch:
    """Observer of one run: the operators of the tasks it computed on the
    pool (cheap inline tasks send no events; Result.stats counts them) and
    the task ids of its printed values, in order."""

    def __init__(self):
        self.ops = []
        self.printed = []

    def __call__(self, ev):
        if ev.kind == "done":
            self.ops.append(ev.op)
        elif ev.kind == "print":
            self.printed.append(ev.task_id)


class Explorer:
    """A program whose named parameters are widgets; see the module docstring.

    ``started``, ``finished``, ``cancelled`` count runs (the first one
    included; a run stopped by a newer value is cancelled, one that ends
    with an error is finished); ``result`` is the :class:`Result` of the run
    the panel shows, ``values`` its parameter values, ``error`` the located
    error it shows (None when none), ``last`` / ``history`` its
    :class:`Run` records. :meth:`wait` blocks until the latest values are
    shown; :meth:`set` moves widgets from Python.
    """

    def __init__(self, session, text: str, params, source: str = "<explore>", *, no_cache=None,
                 timeout=None, continuous_update=True, names=None):
        import ipywidgets as W

        self._W = W
        self.session = session
        self.text = text
        self.source = source
        self.params = {p.name: p for p in params}
        if not self.params:
            raise ValueError("nothing to explore: give at least one NAME")
        self.no_cache = no_cache
        self.timeout = timeout
        self.names = dict(names or {})  # name -> binding this program made at its last reduction
        self.result = None
        self.values = None
        self.error = None
        self.status = ""
        self.last = None
        self.history = deque(maxlen=HISTORY)
        self.started = self.finished = self.cancelled = 0
        self._base = (None, None)  # (task id, value) of the base image last evaluated
        self._holders = {}  # output key -> holder
        self._shown_keys = ()
        self._cond = threading.Condition()
        self._pending = None  # values waiting for the worker
        self._asked = 0.0  # when they were asked for
        self._running = None  # values of the run in progress
        self._cancel = None  # its cancel event
        self._busy = False
        self._closed = False
        self._thread = None
        self.controls = {name: p.widget(continuous_update) for name, p in self.params.items()}
        self.status_line = W.HTML()
        self.error_box = W.HTML(layout=W.Layout(display="none"))
        self.outputs = W.VBox()
        self.panel = W.VBox([W.VBox(list(self.controls.values())), self.status_line, self.error_box,
                             self.outputs])
        for name, w in self.controls.items():
            w.observe(lambda change, name=name: self._moved(name, change), names="value")

    # -- the first run (calling thread) ------------------------------------------------
    def current(self) -> dict:
        """The values the widgets hold now (quantised to their steps)."""
        return {name: p.quantise(self.controls[name].value) for name, p in self.params.items()}

    def prepare(self):
        """Reduce the program with the widgets' values (raises VoxLogicaError)."""
        return self._reduce(self.current())

    def first_run(self, prepared, observers=(), force=False):
        """Run the program reduced by :meth:`prepare` in this thread and fill
        the panel; KeyboardInterrupt (or a cancel) stops it."""
        values = self.current()
        reduced, base_task = prepared
        cancel = CancelEvent()
        with self._cond:
            self.started += 1
        asked = time.perf_counter()
        try:
            result, watch = self._run(reduced, cancel, observers, force)
            base = self._base_value(base_task, result, cancel)
        except KeyboardInterrupt:
            cancel.set()
            with self._cond:
                self.cancelled += 1
            raise
        self._show(values, result, base, watch, asked)
        with self._cond:
            self.finished += 1
        return result

    # -- slider moves (main thread) ---------------------------------------------------
    def _moved(self, name, change):
        p = self.params[name]
        v = change["new"]
        q = p.quantise(v)
        if q != v:
            self.controls[name].value = q  # this calls back with the exact position
            return
        self.request(self.current())

    def set(self, **values):
        """Move widgets from Python (``ex.set(thr=0.8)``); as a user's move."""
        for name, v in values.items():
            if name not in self.controls:
                raise KeyError(f"{name!r} is not explored here (explored: {', '.join(self.controls)})")
            self.controls[name].value = v

    def request(self, values: dict):
        """Run with ``values`` as soon as possible: a run in progress for other
        values is cancelled, values not yet taken up are replaced."""
        with self._cond:
            if self._closed:
                return
            self._asked = time.perf_counter()
            if self._busy and values == self._running and not self._cancel.is_set():
                self._pending = None  # the run in progress is for these values
            else:
                self._pending = dict(values)
                if self._busy and self._cancel is not None:
                    self._cancel.set()
            if self._thread is None:
                self._thread = threading.Thread(target=self._worker, name="voxlogica-explore", daemon=True)
                self._thread.start()
            self._cond.notify_all()

    def wait(self, timeout=None) -> bool:
        """Block until the latest values are shown (or ``timeout`` seconds
        pass); True when nothing is pending or running."""
        with self._cond:
            return self._cond.wait_for(lambda: self._pending is None and not self._busy, timeout)

    @property
    def busy(self) -> bool:
        with self._cond:
            return self._busy or self._pending is not None

    # -- the worker thread -----------------------------------------------------------------
    def _worker(self):
        while True:
            with self._cond:
                while self._pending is None and not self._closed:
                    self._cond.wait()
                if self._closed:
                    return
                values, asked = self._pending, self._asked
                self._pending = None
                cancel = self._cancel = CancelEvent()
                self._running = values
                self._busy = True
                self.started += 1
                self._cond.notify_all()
            cancelled = False
            try:
                self._one(values, asked, cancel)
            except KeyboardInterrupt:
                cancelled = True
            except Exception as exc:  # never let the sliders die
                self._failed(values, f"internal error: {type(exc).__name__}: {exc}", asked)
            finally:
                with self._cond:
                    if cancelled:
                        self.cancelled += 1
                    else:
                        self.finished += 1
                    self._busy = False
                    self._running = self._cancel = None
                    self._cond.notify_all()

    def _one(self, values, asked, cancel):
        self.status = f"{self._label(values)}: running…"
        self.status_line.value = self._status_html(self.status)
        try:
            reduced, base_task = self._reduce(values)
        except VoxLogicaError as exc:
            if cancel.is_set():
                raise KeyboardInterrupt from None
            self._failed(values, exc.render(), asked)
            return
        if cancel.is_set():
            raise KeyboardInterrupt
        result, watch = self._run(reduced, cancel)
        base = self._base_value(base_task, result, cancel)
        self._show(values, result, base, watch, asked)

    # -- steps ------------------------------------------------------------------------------
    def _reduce(self, values):
        """Bind the values and reduce the program, replacing the bindings its
        previous reduction made (as re-running a cell does)."""
        session = self.session
        with session.lock:
            globals_ = session.reducer.globals
            mine = {n: b for n, b in self.names.items() if globals_.get(n) is b}
            for n in mine:
                del globals_[n]
            for name, v in values.items():
                session.bind(name, self.params[name].binding(v))
            try:
                reduced = session.reduce(self.text, self.source)
            except VoxLogicaError:
                for n, b in mine.items():
                    globals_.setdefault(n, b)
                raise
            self.names = {n: globals_.get(n) for n in reduced.defined}
            return reduced, session.reducer.base

    def _run(self, reduced, cancel, observers=(), force=False):
        watch = _Watch()
        result = self.session.run_reduced(reduced, observers=[watch, *observers], force=force,
                                          no_cache=self.no_cache, timeout=self.timeout, cancel=cancel)
        return result, watch

    def _base_value(self, base_task, result, cancel):
        """The base image masks are drawn over, when a printed value needs it."""
        if base_task is None or not needs_base(result.printed):
            return None
        if self._base[0] == base_task.id:
            return self._base[1]
        try:
            value = self.session.engine.evaluate(base_task, self.session.table, no_cache=bool(self.no_cache),
                                                 timeout=self.timeout, cancel=cancel)
        except KeyboardInterrupt:
            raise
        except Exception:  # the base failed to load: masks are drawn alone
            value = None
        self._base = (base_task.id, value)
        return value

    def _show(self, values, result, base, watch, asked):
        """Update the panel in place (widget traits only)."""
        W = self._W
        layout = _layout(result.printed, watch.printed)
        keys = tuple(k for k, _, _, _ in layout)
        base_id = self._base[0] if base is not None else None
        for key, kind, item, tids in layout:
            holder = self._holders.get(key)
            if holder is None:
                holder = self._holders[key] = _HOLDERS[kind](W)
            holder.update(item, base, None if None in tids else (tids, base_id))
        if keys != self._shown_keys:
            self.outputs.children = tuple(self._holders[k].widget for k in keys)
            for k in [k for k in self._holders if k not in keys and k[0] != "volume"]:
                self._holders.pop(k).close()  # volumes are kept: their slice and axis come back
            self._shown_keys = keys
        error = None
        if result.failures:
            error = "\n".join(CellFailed(result, self.session.reducer.sources).lines)
        seconds = time.perf_counter() - asked
        s = result.stats
        head = "" if not result.failures else f"{len(result.failures)} task(s) failed, "
        self._set_error(error)
        self.result, self.values = result, dict(values)
        self.status = (f"{self._label(values)}: {head}computed {s.get('computed', 0)}, "
                       f"from store {s.get('cached', 0)} in {seconds:.2f} s")
        self.status_line.value = self._status_html(self.status)
        self._record(Run(dict(values), dict(s), seconds, result.seconds, list(watch.ops), error))

    def _failed(self, values, error, asked):
        """A static error (or an internal one): shown, the outputs stay."""
        seconds = time.perf_counter() - asked
        self._set_error(error)
        self.values = dict(values)
        self.status = f"{self._label(values)}: error in {seconds:.2f} s"
        self.status_line.value = self._status_html(self.status)
        self._record(Run(dict(values), None, seconds, 0.0, [], error))

    def _record(self, run):
        self.last = run
        self.history.append(run)

    def _set_error(self, error):
        self.error = error
        if error:
            self.error_box.value = (f"<pre style='color:#b00020;margin:2px 0;white-space:pre-wrap'>"
                                    f"{html.escape(error)}</pre>")
            self.error_box.layout.display = None
        else:
            self.error_box.value = ""
            self.error_box.layout.display = "none"

    @staticmethod
    def _status_html(text):
        return f"<span style='font-size:smaller;color:#555'>{html.escape(text)}</span>"

    def _label(self, values):
        return ", ".join(f"{name}={format_value(v)}" for name, v in values.items())

    # -- text and display --------------------------------------------------------------------
    @property
    def viewers(self) -> list:
        """The slice viewers the panel shows, in order."""
        return [self._holders[k].viewer for k in self._shown_keys if k[0] == "volume"]

    @property
    def output_widgets(self) -> list:
        """The widgets of the panel's outputs, in order (a table of values,
        a picture, a slice viewer's box)."""
        return list(self.outputs.children)

    def output_text(self) -> str:
        """What the panel's outputs say, as text (values as ``label=value``
        lines, images by their captions)."""
        return "\n".join(self._holders[k].text for k in self._shown_keys)

    def bundle(self, widgets=True) -> dict:
        """The panel's output: the widget, and a static picture of what it
        shows now (text/plain, text/html, the first picture as image/png)."""
        shown = self.values if self.values is not None else self.current()
        lines = [f"voxlogica explorer: {self._label(shown)}"]
        htmls = [f"<div><b>voxlogica explorer</b>: {html.escape(self._label(shown))}</div>"]
        png = None
        if self.result is not None:
            for b, _ in value_bundles(self.result.printed, self._base[1], widgets=False):
                lines.append(b["text/plain"])
                htmls.append(b.get("text/html", html.escape(b["text/plain"])))
                png = png or b.get("image/png")
        if self.error:
            lines.append(self.error)
            htmls.append(f"<pre>{html.escape(self.error)}</pre>")
        out = {"text/plain": "\n".join(lines), "text/html": "<div>" + "".join(htmls) + "</div>"}
        if png:
            out["image/png"] = png
        if widgets:
            out[WIDGET_MIME] = {"model_id": self.panel.model_id, "version_major": 2, "version_minor": 0}
        return out

    def _repr_mimebundle_(self, include=None, exclude=None):
        return self.bundle(widgets=True)

    def __repr__(self):
        shown = self.values if self.values is not None else self.current()
        return (f"<voxlogica explorer {self._label(shown)}: runs started {self.started}, "
                f"finished {self.finished}, cancelled {self.cancelled}>")

    def close(self):
        """Stop the worker (cancelling a run in progress) and close the widgets."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
            self._pending = None
            if self._cancel is not None:
                self._cancel.set()
            self._cond.notify_all()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(30)  # a cancelled run stops at its next step
        for holder in self._holders.values():
            holder.close()
        self._holders.clear()
        for w in (*self.controls.values(), self.status_line, self.error_box, self.outputs, self.panel):
            w.close()


def explore(text: str, session=None, *, params=None, source=None, force=False, no_cache=None,
            timeout=None, continuous_update=True, **named):
    """An :class:`Explorer` of the ImgQL program ``text``: each keyword names
    an ImgQL value explored with a widget — ``(lo, hi)``, ``(lo, hi, step)``
    or ``(lo, hi, step, initial)`` a slider (an integer one when lo, hi and
    step are ints; initial value: the middle of the range rounded to the step), a
    list a dropdown (initial: its first item). ``params`` takes the same as a
    dict (for names that clash with these options).

    The program runs once here with the initial values (static errors raise
    VoxLogicaError); the explorer displays as its panel (make it a cell's
    last value, or ``display()`` it). ``session``: default, the notebook's
    ``%%voxlogica`` session when the extension is loaded, else a new one.
    """
    specs = dict(params or {})
    for name, spec in named.items():
        if name in specs:
            raise ValueError(f"{name} is given twice")
        specs[name] = spec
    plist = [param_from_python(name, spec) for name, spec in specs.items()]
    magics = _notebook_magics()
    if session is None:
        session = magics.session if magics is not None else _new_session()
    if source is None:
        with session.lock:
            n = sum(1 for s in session.reducer.sources if s.startswith("<explore"))
        source = f"<explore {n + 1}>"
    ex = Explorer(session, text, plist, source, no_cache=no_cache, timeout=timeout,
                  continuous_update=continuous_update)
    try:
        prepared = ex.prepare()
        ex.first_run(prepared, force=force)
    except BaseException:
        ex.close()
        raise
    if magics is not None and magics.session is session:
        magics.adopt_explorer(ex)
    return ex


def _new_session():
    from ..session import Session

    return Session()


def _notebook_magics():
    """The ``%%voxlogica`` magics of the running IPython shell, if loaded."""
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    shell = get_ipython()
    if shell is None:
        return None
    return shell.magics_manager.registry.get("VoxLogicA")
