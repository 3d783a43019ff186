"""``%%voxlogica``, ``%voxlogica`` and ``%voxlogica_cache``, and the
``VoxLogicA`` settings (``%config VoxLogicA.jobs = 4`` or ``c.VoxLogicA.jobs``
in ``ipython_config.py``).

The magics object owns the notebook's :class:`Session`: every cell reduces
into it, so bindings of earlier cells stay visible and identical work is
never redone. It survives ``%reload_ext`` (kept in this module).
"""
from __future__ import annotations

import os
import sys

from IPython.core.error import UsageError
from IPython.core.magic import Magics, cell_magic, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring
from IPython.display import display
from traitlets import CaselessStrEnum, Float, Int, Unicode, observe

from ..engine.claims import CancelEvent
from ..session import Session, get_engine, with_backend
from ..cache_admin import cache_command, summarize_cleared
from ..result import Result
from ..engine.scheduler import TaskFailed
from ..errors import VoxLogicaError
from .display import needs_base, value_bundles
from .errors import CellFailed, Interrupted
from .explore import Explorer, parse_spec
from .progress import TextProgress, WidgetProgress

BACKENDS = ("threads", "dask")
_SESSIONS: dict = {}  # id(shell) -> Session, kept across %reload_ext


def frontend_has_widgets(shell) -> bool:
    """True in a Jupyter kernel (a frontend that may render widgets)."""
    return getattr(shell, "kernel", None) is not None


@magics_class
class VoxLogicA(Magics):
    """Run ImgQL programs in the notebook's session."""

    cache_dir = Unicode("", help="Store folder (default: $VOXLOGICA_CACHE_DIR, else "
                                 "~/.cache/voxlogica_nb).").tag(config=True)
    jobs = Int(0, help="Worker threads (0: one per CPU).").tag(config=True)
    progress = CaselessStrEnum(("auto", "widget", "text", "off"), "auto",
                               help="Progress display: a widget, a final text line, or none; "
                                    "auto picks the widget in a Jupyter kernel.").tag(config=True)
    backend = CaselessStrEnum(BACKENDS, "threads", help="Where tasks run: this kernel's threads, "
                                                        "or a dask.distributed cluster.").tag(config=True)
    scheduler = Unicode("", help="The dask scheduler's address (tcp://host:8786) for backend 'dask'; "
                                 "empty: a local cluster.").tag(config=True)
    timeout = Float(None, allow_none=True,
                    help="Seconds to wait for a task another process computes (None: no limit).").tag(config=True)

    def __init__(self, shell, **kwargs):
        super().__init__(shell, **kwargs)
        session = _SESSIONS.get(id(shell))
        if session is None:
            session = _SESSIONS[id(shell)] = Session(engine=self._engine())
        else:
            session.engine = self._engine()
        self.session = session
        self.cell_names: dict = {}  # cell id -> {name: binding} made by its last run
        self.viewers: dict = {}  # cell id -> slice viewers of its last run
        self.explorers: dict = {}  # cell id -> the explorer its last run made
        self.loose_explorers: list = []  # explorers of cells without an id
        self.cell_id = None
        self.runs = 0

    # -- settings -------------------------------------------------------------
    def _engine(self):
        engine = get_engine(self.cache_dir or None, self.jobs or None,
                            session_id=_kernel_id(self.shell))
        if self.backend == "dask":
            engine = with_backend(engine, "dask", self.scheduler or None)
        return engine

    @observe("backend", "scheduler")
    def _backend_changed(self, change):
        if not hasattr(self, "session"):
            return
        try:
            self.session.engine = self._engine()
        except ImportError as exc:  # dask.distributed is not installed
            self.backend = "threads"
            print(f"voxlogica: {exc}", file=sys.stderr)

    @observe("cache_dir")
    def _cache_dir_changed(self, change):
        if not hasattr(self, "session"):  # set from configuration while constructing
            return
        self.session.engine = self._engine()
        self.report_dangling()

    @observe("jobs")
    def _jobs_changed(self, change):
        if not hasattr(self, "session"):
            return
        self.session.engine.set_jobs(change["new"] or os.cpu_count() or 1)

    def report_dangling(self):
        cleared = self.session.engine.take_dangling()
        if cleared:
            print(summarize_cleared(cleared))

    # -- magics ---------------------------------------------------------------
    @magic_arguments()
    @argument("-o", "--output", metavar="NAME",
              help="store the run's Result in this Python variable (with --explore: the explorer)")
    @argument("-i", "--input", metavar="NAME[,NAME…]", action="append", default=[],
              help="bind Python variables (numbers, strings, bools, numpy arrays, SimpleITK images, "
                   "Images) as ImgQL names, identified by content")
    @argument("--no-cache", action="store_true", help="compute everything, store nothing")
    @argument("--force", action="store_true", help="recompute the printed and saved values")
    @argument("--jobs", type=int, default=None, help="worker threads for this cell")
    @argument("--no-progress", action="store_true", help="no progress display")
    @argument("--timeout", type=float, default=None,
              help="seconds to wait for a task another process computes")
    @argument("--quiet", action="store_true", help="display nothing (the result is still stored by -o)")
    @argument("--explore", nargs="+", action="extend", default=None, metavar="NAME=SPEC",
              help="explore with widgets: NAME=LO:HI[:STEP][=INIT] a slider, NAME=A,B,C[=INIT] a "
                   "dropdown, bound as ImgQL names; moving one re-runs the cell, recomputing only "
                   "what depends on it")
    @cell_magic
    def voxlogica(self, line, cell):
        """Run the cell as an ImgQL program in the notebook's session.

        Bindings (``let``, ``load``, functions) of earlier cells are visible;
        re-running a cell replaces the bindings it made; what is already
        computed (here, in the store, or by another kernel) is reused.
        Printed values are displayed: numbers and sequences as a table, 2D
        images as pictures, 3D images as a slice viewer, bool images over the
        base image.

        ``--explore NAME=LO:HI[:STEP][=INIT] [NAME=A,B,C[=INIT] …]`` explores
        the cell: each NAME becomes a slider (a dropdown for a list of
        numbers, ``true``/``false`` or strings), bound as an ImgQL value the
        program uses like any name. The cell runs once with the initial
        values (INIT, else the middle of the range rounded to STEP; a list's
        first item) and shows its outputs in one panel. Moving a widget
        re-runs the cell in the background: only the tasks that depend on the
        changed value are computed, the rest comes from memory or the store;
        values and pictures update in place (3D viewers keep their slice and
        axis) and a line says what was computed and how long it took. A new
        move cancels the run in progress; the latest value wins. Errors show
        in the panel, located, and the next good value clears them. LO, HI
        and STEP all integers make an integer slider; STEP defaults to a
        power of ten near 1/100 of the range; a slider's value is rounded to
        the step. The names the cell binds follow the values shown. With
        ``--explore``, ``-o NAME`` stores the explorer (``.result`` the Result
        shown, ``.set(NAME=v)``, ``.wait()``); ``--force`` applies to the
        first run; ``--no-cache`` and ``--timeout`` to every run. Example::

            %%voxlogica --explore thr=0.5:1:0.01=0.8 r=1:5:1
            print "v" volume(smoothen(pflair >. thr, r))
        """
        args = self._args(self.voxlogica, line)
        self.close_explorers(self.cell_id)
        if args.explore:
            return self.explore_cell(args, cell)
        self.bind_inputs(args.input)
        source = self.source_name(cell)
        reduced = self.reduce_cell(cell, source)
        quiet = args.quiet
        shows = reduced.effects and not (quiet or args.no_progress)
        progress = self.progress_display() if shows else None
        cancel = CancelEvent()
        jobs = self.session.engine.jobs
        if args.jobs:
            self.session.engine.set_jobs(args.jobs)
        try:
            result = self.session.run_reduced(
                reduced, observers=[progress] if progress else [], force=args.force,
                no_cache=True if args.no_cache else None,
                timeout=args.timeout if args.timeout is not None else self.timeout, cancel=cancel)
        except KeyboardInterrupt:
            cancel.set()
            text = progress.close(interrupted=True) if progress else "voxlogica interrupted"
            raise Interrupted(f"{text}: committed values are kept; claims released") from None
        finally:
            if args.jobs:
                self.session.engine.set_jobs(jobs)
        if progress:
            progress.close()
        if args.output:
            self.shell.user_ns[args.output] = result
        for w in result.warnings:
            print(w, file=sys.stderr)
        if not quiet:
            self.show(result)
        if result.failures:
            raise CellFailed(result, self.session.reducer.sources)

    @line_magic("voxlogica")
    def voxlogica_line(self, line):
        """``%voxlogica EXPR``: evaluate one ImgQL expression in the session
        and return its Python value (float, bool, str, list or Image)."""
        if not line.strip():
            raise UsageError("%voxlogica EXPR evaluates an expression; use %%voxlogica for a program")
        try:
            return self.session.evaluate(line, timeout=self.timeout)
        except TaskFailed as exc:
            raise CellFailed(Result.failed(exc.failure), self.session.reducer.sources) from None
        except KeyboardInterrupt:
            raise Interrupted("voxlogica interrupted: committed values are kept; claims released") from None

    @line_magic
    def voxlogica_cache(self, line):
        """``%voxlogica_cache info | clear | prune SIZE | prune --older-than AGE
        | failures [N] | running | sweep``: inspect or manage the store."""
        store = self.session.engine.store
        if store.root is None:
            raise UsageError("the session has no persistent store")
        words = line.split() or ["info"]
        try:
            print(cache_command(store, words))
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        if words[0] in ("clear", "prune"):  # the kernel's memory must not serve what was removed
            self.session.engine.memory.clear()

    # -- helpers ----------------------------------------------------------------
    def _args(self, fn, line):
        try:
            return parse_argstring(fn, line)
        except UsageError:
            raise
        except SystemExit:  # argparse gives up this way on some errors
            raise UsageError(f"bad options: {line!r} (see %%voxlogica?)") from None

    def bind_inputs(self, groups):
        for group in groups:
            for name in filter(None, (n.strip() for n in group.split(","))):
                if name not in self.shell.user_ns:
                    raise UsageError(f"-i {name}: no Python variable named {name!r}")
                try:
                    self.session.bind(name, self.shell.user_ns[name])
                except (TypeError, ValueError) as exc:
                    raise UsageError(f"-i {name}: {exc}") from None

    def reduce_cell(self, text, source):
        """Reduce a cell; a re-run cell replaces the bindings it made (names
        its previous run bound and nobody rebound since are dropped first)."""
        with self.session.lock:  # explorers reduce from their own threads
            globals_ = self.session.reducer.globals
            mine = {name: b for name, b in self.cell_names.get(self.cell_id, {}).items()
                    if globals_.get(name) is b}
            for name in mine:
                del globals_[name]
            try:
                reduced = self.session.reduce(text, source)
            except VoxLogicaError:
                for name, b in mine.items():
                    globals_.setdefault(name, b)
                raise
            if self.cell_id is not None:
                self.cell_names[self.cell_id] = {name: globals_.get(name) for name in reduced.defined}
            return reduced

    # -- exploration ---------------------------------------------------------------
    def explore_cell(self, args, cell):
        """``%%voxlogica --explore``: the first run here, then a live panel."""
        if args.jobs:
            raise UsageError("--jobs does not combine with --explore (use %config VoxLogicA.jobs)")
        params, seen = [], set()
        for spec in args.explore:
            try:
                p = parse_spec(spec)
            except ValueError as exc:
                raise UsageError(f"--explore {exc}") from None
            if p.name in seen:
                raise UsageError(f"--explore: {p.name} is given twice")
            seen.add(p.name)
            params.append(p)
        self.bind_inputs(args.input)
        source = self.source_name(cell)
        explorer = Explorer(self.session, cell, params, source,
                            no_cache=True if args.no_cache else None,
                            timeout=args.timeout if args.timeout is not None else self.timeout,
                            names=self.cell_names.get(self.cell_id, {}))
        try:
            prepared = explorer.prepare()
        except BaseException:
            explorer.close()
            raise
        if self.cell_id is not None:
            self.cell_names[self.cell_id] = explorer.names
        shows = prepared[0].effects and not (args.quiet or args.no_progress)
        progress = self.progress_display() if shows else None
        try:
            result = explorer.first_run(prepared, observers=[progress] if progress else [], force=args.force)
        except KeyboardInterrupt:
            text = progress.close(interrupted=True) if progress else "voxlogica interrupted"
            explorer.close()
            raise Interrupted(f"{text}: committed values are kept; claims released") from None
        except BaseException:
            if progress:
                progress.close()
            explorer.close()
            raise
        if progress:
            progress.close()
        self.adopt_explorer(explorer)
        if args.output:
            self.shell.user_ns[args.output] = explorer
        for w in result.warnings:
            print(w, file=sys.stderr)
        for v in self.viewers.pop(self.cell_id, []):
            v.close()
        if not args.quiet:
            display(explorer.bundle(widgets=frontend_has_widgets(self.shell)), raw=True)
        if result.failures:
            raise CellFailed(result, self.session.reducer.sources)

    def adopt_explorer(self, explorer):
        """Keep ``explorer`` as the current cell's: re-running the cell closes it."""
        if self.cell_id is None:
            self.loose_explorers.append(explorer)
        else:
            self.explorers[self.cell_id] = explorer

    def close_explorers(self, cell_id):
        """Stop the explorer a cell made (its names stay bound as it left them)."""
        if cell_id is None:
            return
        old = self.explorers.pop(cell_id, None)
        if old is not None:
            old.close()
            self.cell_names[cell_id] = old.names

    def progress_display(self):
        mode = self.progress
        if mode == "auto":
            mode = "widget" if frontend_has_widgets(self.shell) else "text"
        if mode == "off":
            return None
        if mode == "widget":
            try:
                return WidgetProgress(lambda bundle: display(bundle, raw=True, display_id=True))
            except ImportError:
                pass
        return TextProgress(print)

    def show(self, result):
        base = None
        base_task = self.session.reducer.base
        if base_task is not None and needs_base(result.printed):
            try:
                base = self.session.engine.evaluate(base_task, self.session.table)
            except Exception:  # the base failed to load: masks are drawn alone
                base = None
        widgets = frontend_has_widgets(self.shell)
        old = self.viewers.pop(self.cell_id, [])
        for v in old:
            v.close()
        shown = []
        for bundle, viewer in value_bundles(result.printed, base, widgets):
            display(bundle, raw=True)
            if viewer is not None:
                shown.append(viewer)
        self.viewers[self.cell_id] = shown

    def source_name(self, text) -> str:
        """``<cell n>`` with the number the frontend shows (``In[n]``), or a
        count of cells run when history is off; distinct from other cells'
        names, since errors quote their text."""
        self.runs += 1
        history = getattr(self.shell.history_manager, "input_hist_raw", None) or [""]
        n = len(history) - 1 if text.strip() in history[-1] else self.runs
        name, sources, k = f"<cell {n}>", self.session.reducer.sources, 1
        while sources.get(name, text) != text:
            k += 1
            name = f"<cell {n}.{k}>"
        return name

    def pre_run_cell(self, info):
        self.cell_id = getattr(info, "cell_id", None)


def _kernel_id(shell) -> str:
    """The kernel's id (from its connection file), recorded in claim records."""
    kernel = getattr(shell, "kernel", None)
    if kernel is None:
        return f"ipython-{os.getpid()}"
    try:
        from ipykernel import get_connection_file

        name = os.path.basename(get_connection_file())
        return name.removeprefix("kernel-").removesuffix(".json")
    except Exception:
        return f"kernel-{os.getpid()}"
