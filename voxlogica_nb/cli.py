"""Command line: ``voxlogica run FILE``, ``voxlogica primitives``, ``voxlogica cache …``,
``voxlogica demo NAME``.

Exit codes: 0 ok, 1 a task failed, 2 a syntax or static error (or bad usage).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

from .text import TextProgress, format_value
from .result import not_done_line
from .engine.store import StoreError
from .errors import RuntimeSetupError, VoxLogicaError


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="voxlogica", description="Run ImgQL (VoxLogicA) programs.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("run", help="run a program file")
    p.add_argument("file")
    p.add_argument("--jobs", type=int, default=None, help="worker threads (default: CPU count)")
    p.add_argument("--no-cache", action="store_true", help="compute everything, store nothing")
    p.add_argument("--force", action="store_true", help="recompute the printed/saved values and overwrite them")
    p.add_argument("--cache-dir", default=None, help="store folder (default $VOXLOGICA_CACHE_DIR or ~/.cache/voxlogica_nb)")
    p.add_argument("--timeout", type=float, default=None, help="seconds to wait for a task another process runs")
    p.add_argument("--graph", default=None, help="write the task graph to a .dot or .json file")
    p.add_argument("--quiet", action="store_true", help="no progress line on stderr")
    p.add_argument("--backend", choices=("threads", "dask"), default="threads",
                   help="where tasks run: this process's threads, or a dask.distributed cluster")
    p.add_argument("--scheduler", default=None, metavar="ADDR",
                   help="dask scheduler address, e.g. tcp://host:8786 (default: a local cluster)")
    p.add_argument("--workers", type=int, default=None, metavar="N",
                   help="worker processes of the local dask cluster")
    p.add_argument("--log-format", choices=("plain", "voxlogica1"), default="plain",
                   help="how printed values appear on stdout: label=value lines (plain), or "
                        "VoxLogicA 1's log lines `[    1234ms] [user] label=value`")

    p = sub.add_parser("primitives", help="list builtins, or show one builtin's reference entry")
    p.add_argument("name", nargs="?", default=None,
                   help="a builtin or library name (near, mayReach, simpleitk.Median) or a namespace (simpleitk)")

    p = sub.add_parser("cache", help="inspect or manage the store",
                       description="info | clear | prune [SIZE] [--older-than AGE] | failures [N] | running | sweep")
    p.add_argument("words", nargs=argparse.REMAINDER, help="e.g. info, prune 2G, prune --older-than 7d")
    p.add_argument("--cache-dir", default=None)

    p = sub.add_parser("demo", help="write synthetic input and an example program into a folder, then run it")
    p.add_argument("name", help="example name (see `voxlogica demo list`)")
    p.add_argument("--dir", default=None, help="folder to write into (default: ./voxlogica-demo-NAME)")

    args = parser.parse_args(argv)
    handler = {"run": cmd_run, "primitives": cmd_primitives, "cache": cmd_cache, "demo": cmd_demo}
    return handler[args.command](args)


def cmd_run(args) -> int:
    try:
        with open(args.file, encoding="utf-8") as f:
            text = f.read()
    except OSError as exc:
        print(f"voxlogica: cannot read {args.file}: {exc.strerror}", file=sys.stderr)
        return 2
    return run_text(text, args.file, args)


def run_text(text, source, args) -> int:
    from . import Session

    try:
        session = Session(cache_dir=args.cache_dir, jobs=args.jobs, no_cache=args.no_cache,
                          backend=getattr(args, "backend", "threads"), scheduler=getattr(args, "scheduler", None),
                          workers=getattr(args, "workers", None))
    except StoreError as exc:
        print(exc, file=sys.stderr)
        return 2
    except (ValueError, ImportError) as exc:  # a backend option without its backend, or dask missing
        print(f"voxlogica: {exc}", file=sys.stderr)
        return 2
    try:
        reduced = session.reduce(text, source)
    except VoxLogicaError as exc:
        print(exc.render(), file=sys.stderr)
        return 2
    for warning in reduced.warnings:
        print(warning, file=sys.stderr)
    if args.graph:
        write_graph(args.graph, [e.task for e in reduced.effects])
    observers = [] if args.quiet else [TextProgress(sys.stderr)]

    show_line = voxlogica1_line if getattr(args, "log_format", "plain") == "voxlogica1" else plain_line

    def show(ev):
        if ev.kind == "print":
            print(show_line(ev.data["label"], ev.data["value"]), flush=True)
        elif ev.kind == "warning":
            print(ev.data["text"], file=sys.stderr, flush=True)

    try:
        outcome = session.engine.run(reduced.effects, session.table, [show, *observers],
                                     force=args.force, no_cache=args.no_cache, timeout=args.timeout)
    except KeyboardInterrupt:
        print("voxlogica: interrupted", file=sys.stderr)
        return 130
    except RuntimeSetupError as exc:  # e.g. a cluster that cannot be reached
        print(exc, file=sys.stderr)
        return 2
    for f in outcome.failures:
        print(f"{f}", file=sys.stderr)
    for e, f in outcome.effect_failures:
        if not (e.kind == "save" and f.op == "save"):  # a failed save was reported above
            print(not_done_line(e, f), file=sys.stderr)
    return 1 if outcome.failures else 0


def plain_line(label, value) -> str:
    return f"{label}={format_value(value)}"


_T0 = time.monotonic()


def voxlogica1_line(label, value) -> str:
    """A value as VoxLogicA 1 logs it: ``[      1234ms] [user] label=value``
    (strings quoted, booleans lower case), for scripts that parse its output."""
    if isinstance(value, str):
        text = '"' + value + '"'
    elif isinstance(value, (list, tuple)):
        text = "[" + "; ".join(format_value(v) for v in value) + "]"
    else:
        text = format_value(value)
    ms = int((time.monotonic() - _T0) * 1000)
    return f"[{ms:10d}ms] [user] {label}={text}"


def write_graph(path, roots):
    """The tasks reachable from ``roots`` as Graphviz dot or JSON."""
    nodes, stack, seen = [], list(roots), set()
    while stack:
        t = stack.pop()
        if t.id in seen:
            continue
        seen.add(t.id)
        nodes.append(t)
        stack.extend(t.args)
        if t.body is not None:
            stack.append(t.body)
    if path.endswith(".json"):
        data = [{"id": t.id, "op": t.op, "version": t.version, "type": str(t.type),
                 "args": [a.id for a in t.args], "body": t.body.id if t.body is not None else None,
                 "value": t.value if t.kind == "const" else None,
                 "position": str(t.pos) if t.pos else None} for t in nodes]
        with open(path, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=1)
        return
    with open(path, "w", encoding="utf-8") as f:
        f.write("digraph tasks {\n  rankdir=BT;\n")
        for t in nodes:
            label = repr(t.value) if t.kind == "const" else t.op
            f.write(f'  "{t.id[:12]}" [label={json.dumps(label)}];\n')
            for a in t.args:
                f.write(f'  "{a.id[:12]}" -> "{t.id[:12]}";\n')
            if t.body is not None:
                f.write(f'  "{t.body.id[:12]}" -> "{t.id[:12]}" [style=dashed];\n')
        f.write("}\n")


def cmd_primitives(args) -> int:
    from .primitives import REGISTRY, reference

    if args.name is None or REGISTRY.has_namespace(args.name):
        print(reference.listing(args.name or ""))
        return 0
    try:
        print(reference.entry(args.name), end="")
    except KeyError:
        close = reference.close_names(args.name)
        hint = f"; did you mean {', '.join(close)}?" if close else " (list them with `voxlogica primitives`)"
        print(f"voxlogica primitives: no builtin named {args.name!r}{hint}", file=sys.stderr)
        return 2
    return 0


def cmd_cache(args) -> int:
    from .cache_admin import cache_command
    from .engine.diskstore import DiskStore

    try:
        print(cache_command(DiskStore(args.cache_dir), args.words))
    except ValueError as exc:
        print(f"voxlogica cache: {exc}", file=sys.stderr)
        return 2
    except StoreError as exc:
        print(exc, file=sys.stderr)
        return 2
    return 0


def cmd_demo(args) -> int:
    from . import data

    if args.name == "list":
        print("\n".join(data.DEMOS))
        return 0
    if args.name not in data.DEMOS:
        print(f"voxlogica: unknown demo {args.name!r} (known: {', '.join(data.DEMOS)})", file=sys.stderr)
        return 2
    folder = args.dir or f"voxlogica-demo-{args.name}"
    program = data.write_demo(args.name, folder)
    print(f"wrote {folder}/ ; running {os.path.basename(program)}", file=sys.stderr)
    cwd = os.getcwd()
    os.chdir(folder)
    try:
        with open(os.path.basename(program), encoding="utf-8") as f:
            text = f.read()
        ns = argparse.Namespace(cache_dir=None, jobs=None, no_cache=False, force=False, timeout=None,
                                graph=None, quiet=False, log_format="plain")
        return run_text(text, os.path.basename(program), ns)
    finally:
        os.chdir(cwd)


if __name__ == "__main__":
    sys.exit(main())
