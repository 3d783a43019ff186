"""VoxLogicA spatial model checking (ImgQL) with a content-hashed, cached,
parallel engine, for scripts, the command line and Jupyter."""
from __future__ import annotations

import importlib

__version__ = "0.1.0"

# Public names, imported on first use: ``import voxlogica_nb`` stays cheap
# (a CLI call or ``%load_ext`` loads only what its run needs).
_LAZY = {"Result": ".result", "Engine": ".engine.scheduler", "Failure": ".engine.failures",
         "TaskFailed": ".engine.failures", "Session": ".session", "get_engine": ".session",
         "PrimitiveError": ".errors", "VoxLogicaError": ".errors", "Image": ".image",
         "REGISTRY": ".primitives"}


def __getattr__(name):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))


def run(text: str, source_name: str = "<program>", jobs: int | None = None, cache_dir=None,
        no_cache: bool = False, force: bool = False, timeout: float | None = None,
        observers=(), backend: str = "threads", scheduler: str | None = None,
        workers: int | None = None) -> Result:
    """Run an ImgQL program and return its :class:`Result`.

    Syntax and static errors raise :class:`VoxLogicaError` before anything
    runs; task failures are reported in ``result.failures``.
    ``backend="dask"`` runs the tasks on the dask scheduler at ``scheduler``
    (``"tcp://host:8786"``), or on a local cluster of ``workers`` processes.
    """
    from .session import Session

    session = Session(cache_dir=cache_dir, jobs=jobs, no_cache=no_cache, backend=backend,
                      scheduler=scheduler, workers=workers)
    return session.run(text, source_name, observers=observers, force=force, timeout=timeout)


def primitive(*signatures: str, name: str | None = None, version: str = "1", cost: str = "heavy",
              registry=None):
    """Make a Python function callable from ImgQL.

    ``@primitive("(num, num) -> num", version="1")`` registers ``fn`` under
    its own name (or ``name``) with the decorator the builtins use
    (:meth:`~voxlogica_nb.primitives.registry.Registry.primitive`; ``cost``
    ``"heavy"`` results are stored, ``"light"`` and ``"cheap"`` ones are
    recomputed). The task identity includes ``version`` and a digest of the
    function's source, so editing the function invalidates its stored
    results. Registering a name again replaces it (a notebook cell run
    twice); a builtin's name is refused with ``ValueError``. ``registry``:
    where to register (default: the package's ``REGISTRY``).
    """
    from .primitives import REGISTRY
    from .primitives.registry import source_digest

    target = REGISTRY if registry is None else registry

    def register(fn):
        qualified = name or fn.__name__
        existing = target.lookup(qualified)
        if existing is not None and existing.builtin:
            raise ValueError(f"{qualified!r} is a builtin; choose another name")
        target.remove(qualified)
        full_version = f"{version}+{source_digest(fn)}"
        return target.primitive(qualified, *signatures, version=full_version, cost=cost)(fn)

    return register


def explore(text: str, session: Session | None = None, **params):
    """Explore an ImgQL program with widgets: ``explore(text, thr=(0.5, 1.0,
    0.01), mode=["a", "b"])``. Each keyword is an ImgQL name the program
    uses: ``(lo, hi[, step[, initial]])`` a slider (initial value: the
    middle of the range rounded to the step), a list a dropdown (its first
    item). The program runs once now; the returned explorer displays as a
    panel whose outputs update in place when a widget moves, recomputing
    only what depends on it (``.set(thr=0.8)``, ``.wait()``, ``.result``).
    Options ``params``, ``source``, ``force``, ``no_cache``, ``timeout``,
    ``continuous_update``: see :func:`voxlogica_nb.notebook.explore.explore`.
    Needs ipywidgets; in a notebook with ``%load_ext voxlogica_nb`` it uses
    the ``%%voxlogica`` session unless ``session`` is given."""
    from .notebook.explore import explore as explore_

    return explore_(text, session, **params)


def load_ipython_extension(shell):
    """``%load_ext voxlogica_nb``: the ``%%voxlogica`` magics (see :mod:`voxlogica_nb.notebook`)."""
    from .notebook import load_ipython_extension as load

    load(shell)


def unload_ipython_extension(shell):
    from .notebook import unload_ipython_extension as unload

    unload(shell)


__all__ = ["run", "primitive", "explore", "Session", "Result", "Engine", "Failure", "TaskFailed", "Image",
           "VoxLogicaError", "PrimitiveError", "get_engine", "REGISTRY"]
