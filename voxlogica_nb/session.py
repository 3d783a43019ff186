"""Sessions: bindings that accumulate across programs, run on one engine.

A notebook keeps one session: each cell's program adds its ``let`` and
``load`` bindings, later cells see them, and any bound name can be evaluated
on demand. ``voxlogica_nb.run`` uses a fresh session per call.
"""
from __future__ import annotations

import hashlib
import os
import threading


from .image import Image
from .language.reducer import Reducer
from .language.tasks import Task
from .language.types import value_type
from .primitives import REGISTRY
from .result import Result
from .engine.scheduler import Engine, TaskFailed
from .engine.diskstore import DiskStore, default_root
from .engine.store import NullStore
from .lazy import LazyModule

np = LazyModule("numpy", globals(), "np")  # imported on first use

_engines: dict = {}
_engines_lock = threading.Lock()


def open_store(cache_dir=None, shared_store=None):
    """The persistent store at ``cache_dir`` (default location if None).

    A folder that someone else can write is refused (``UnsafeStoreError``)
    unless ``shared_store`` is True (None: ``$VOXLOGICA_SHARED_STORE``)."""
    return DiskStore(cache_dir, shared=shared_store)


def get_engine(cache_dir=None, jobs=None, session_id=None, shared_store=None) -> Engine:
    """The process's engine for this cache folder (created on first use).

    One engine per folder, so every run in the process shares its in-flight
    table, claims and memory; ``jobs`` resizes its worker pool;
    ``session_id`` (e.g. a kernel id) goes into the owner records of the
    claims it takes from now on; ``shared_store`` as for :func:`open_store`
    (it matters only when the engine is created)."""
    key = os.path.abspath(cache_dir or default_root())
    with _engines_lock:
        engine = _engines.get(key)
        if engine is None:
            engine = _engines[key] = Engine(open_store(key, shared_store), jobs=jobs)
        elif jobs:
            engine.set_jobs(jobs)
        if session_id is not None and engine.store.claims is not None:
            engine.store.claims.session_id = session_id
        return engine


def with_backend(engine, backend="threads", scheduler=None, workers=None):
    """``engine``, or for ``backend="dask"`` an engine that runs on the dask
    scheduler at ``scheduler`` (None: a local cluster of ``workers``
    processes) with ``engine``'s store."""
    if backend == "dask":
        from .engine.distributed import DaskEngine

        return DaskEngine(engine, scheduler, workers)
    if backend != "threads":
        raise ValueError(f"backend must be 'threads' or 'dask', not {backend!r}")
    if scheduler or workers:
        raise ValueError("scheduler and workers need backend='dask'")
    return engine


class Session:
    def __init__(self, engine: Engine | None = None, registry=None, cache_dir=None, jobs=None,
                 no_cache=False, shared_store=None, backend="threads", scheduler=None, workers=None):
        self.registry = registry or REGISTRY
        self.reducer = Reducer(self.registry)
        if engine is None:
            engine = (Engine(NullStore(), jobs=jobs) if no_cache
                      else get_engine(cache_dir, jobs, shared_store=shared_store))
        self.engine = with_backend(engine, backend, scheduler, workers)
        self.no_cache = no_cache
        self.observers: list = []
        # The reducer is not thread-safe: reductions and bindings take this
        # lock (callers that change bindings around a reduction hold it
        # across both). Engine.run needs no lock.
        self.lock = threading.RLock()

    @property
    def table(self):
        return self.reducer.table

    @property
    def warnings(self) -> list[str]:
        """Static warnings of the last program or expression reduced."""
        return self.reducer.last_warnings

    def _options(self, force, no_cache, timeout, cancel=None):
        opts = {"force": force, "no_cache": self.no_cache if no_cache is None else no_cache,
                "timeout": timeout}
        if cancel is not None:
            opts["cancel"] = cancel
        return opts

    def reduce(self, text: str, source_name: str = "<program>"):
        """Parse and reduce a program into this session (static checks only)."""
        with self.lock:
            return self.reducer.reduce_program(text, source_name)

    def run(self, text: str, source_name: str = "<program>", observers=(), force=False,
            no_cache=None, timeout=None, cancel=None) -> Result:
        """Run a program in this session; raises VoxLogicaError for syntax
        and static errors (nothing runs then). Setting ``cancel`` (a
        threading.Event) from another thread stops the run with
        KeyboardInterrupt, as Ctrl-C does."""
        return self.run_reduced(self.reduce(text, source_name), observers, force, no_cache, timeout,
                                cancel)

    def run_reduced(self, reduced, observers=(), force=False, no_cache=None, timeout=None,
                    cancel=None) -> Result:
        """Run a program already reduced by :meth:`reduce` (options as for :meth:`run`)."""
        outcome = self.engine.run(reduced.effects, self.table, [*self.observers, *observers],
                                  **self._options(force, no_cache, timeout, cancel))
        return Result(outcome, self, reduced.warnings)

    def task(self, name: str) -> Task:
        binding = self.reducer.globals.get(name)
        if not isinstance(binding, Task):
            kind = "a function" if binding is not None else "not bound"
            raise KeyError(f"{name!r} is {kind}; only value bindings can be evaluated")
        return binding

    def value(self, name: str, observers=(), **options):
        """Compute (or fetch) the value bound to ``name``. ``options``:
        ``force``, ``no_cache``, ``timeout``, ``cancel`` as for :meth:`run`."""
        return self._evaluate(self.task(name), observers, options)

    def evaluate(self, expression: str, observers=(), **options):
        """Evaluate one expression in the session and return its value
        (its static warnings are left in :attr:`warnings`)."""
        with self.lock:
            task = self.reducer.reduce_expression(expression)
        return self._evaluate(task, observers, options)

    def _evaluate(self, task, observers, options):
        opts = self._options(options.get("force", False), options.get("no_cache"), options.get("timeout"),
                             options.get("cancel"))
        return self.engine.evaluate(task, self.table, [*self.observers, *observers], **opts)

    def bind(self, name: str, value) -> None:
        """Bind a Python value as an ImgQL name: a number, bool or string, an
        :class:`Image`, a SimpleITK image or a numpy array (a number image, or
        a bool image for a bool array). Images are identified by a digest of
        their voxels and geometry, so rebinding equal data changes nothing."""
        if isinstance(value, (bool, int, float, str)):
            with self.lock:
                self.reducer.globals[name] = self.table.const(value)
            return
        img = as_image(value)
        digest = image_digest(img)
        with self.lock:
            self.reducer.globals[name] = self.table.data(img, value_type(img), digest)


def as_image(value) -> Image:
    if isinstance(value, Image):
        return value
    if isinstance(value, np.ndarray):
        if value.ndim not in (2, 3):
            raise TypeError(f"cannot bind a {value.ndim}D array: images are 2D or 3D")
        return Image(value, "bool" if value.dtype == np.bool_ else "number")
    if type(value).__module__.startswith("SimpleITK"):
        return Image.from_sitk(value)
    raise TypeError(f"cannot bind a {type(value).__name__} (numbers, booleans, strings, images, numpy arrays)")


def image_digest(img: Image) -> str:
    h = hashlib.sha256()
    h.update(repr((img.kind, img.array.dtype.str, img.array.shape, img.spacing, img.origin,
                   img.direction)).encode())
    h.update(np.ascontiguousarray(img.array).data)
    return h.hexdigest()


__all__ = ["Session", "Engine", "TaskFailed", "get_engine", "open_store"]
