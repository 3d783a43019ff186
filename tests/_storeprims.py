"""Python primitives and a program runner for the store end-to-end tests.

Importing the module registers the primitives; running it as a script runs
one program in a fresh process and prints one JSON line with the outcome::

    python tests/_storeprims.py '{"program": "...", "cache_dir": "..."}'
    python tests/_storeprims.py '{"cli": ["run", "prog.imgql", "--cache-dir", "..."]}'

Every primitive appends lines ``start|done OP ARG PID`` to the file named by
``$VXT_LOG`` (one ``write`` per line, ``O_APPEND``), so a test can count
executions across processes. ``slowop`` sleeps ``$VXT_SLEEP`` seconds
(default 0.3); ``slowfail`` sleeps as long, then raises. ``flaky`` fails while the file ``$VXT_MARKER`` does not
exist (and creates it), so it fails once and then succeeds.

Options of the JSON argument: ``program`` (text), ``cache_dir``, ``jobs``,
``timeout``, ``no_cache``, ``force``, ``barrier`` ([folder, n]: wait until n
processes reached the start line), ``cli`` (run the command line instead).
"""
from __future__ import annotations

import json
import os
import sys
import time

import numpy as np

import voxlogica_nb as vx
from voxlogica_nb.image import Image


def log(*fields) -> None:
    path = os.environ.get("VXT_LOG")
    if not path:
        return
    line = (" ".join(str(f) for f in fields) + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)


def tag(value) -> str:
    """A short, stable text for an argument: numbers as %g, images by their sum."""
    arr = getattr(value, "array", None)
    if arr is not None:
        return f"img{float(np.asarray(arr, dtype=np.float64).sum()):g}"
    return f"{value:g}" if isinstance(value, float) else str(value)


@vx.primitive("(num) -> num", name="slowop")
def slowop(x):
    log("start", "slowop", tag(x), os.getpid())
    time.sleep(float(os.environ.get("VXT_SLEEP", "0.3")))
    log("done", "slowop", tag(x), os.getpid())
    return x + 1


@vx.primitive("(num) -> num", name="flaky")
def flaky(x):
    log("start", "flaky", tag(x), os.getpid())
    marker = os.environ["VXT_MARKER"]
    if not os.path.exists(marker):
        with open(marker, "w"):
            pass
        raise ValueError("flaky fails on its first attempt")
    log("done", "flaky", tag(x), os.getpid())
    return x * 2


@vx.primitive("(num) -> num", name="slowfail")
def slowfail(x):
    log("start", "slowfail", tag(x), os.getpid())
    time.sleep(float(os.environ.get("VXT_SLEEP", "0.3")))
    raise ValueError(f"slowfail always fails ({tag(x)})")


@vx.primitive("(num) -> nimg", name="mkimg")
def mkimg(x):
    log("start", "mkimg", tag(x), os.getpid())
    arr = np.arange(16 * 16, dtype=np.float32).reshape(16, 16) + np.float32(x)
    log("done", "mkimg", tag(x), os.getpid())
    return Image(arr, "number")


@vx.primitive("(img) -> nimg", name="cntimg")
def cntimg(img):
    log("start", "cntimg", tag(img), os.getpid())
    out = Image(np.asarray(img.array, dtype=np.float32) * 2 + 1, "number", img.spacing, img.origin,
                img.direction)
    log("done", "cntimg", tag(img), os.getpid())
    return out


@vx.primitive("(nimg) -> num", name="imgsum")
def imgsum(img):
    log("start", "imgsum", tag(img), os.getpid())
    s = float(np.asarray(img.array, dtype=np.float64).sum())
    log("done", "imgsum", tag(img), os.getpid())
    return s


def executions(path, op=None, what="done"):
    """[(op, arg, pid)] of the ``what`` lines in the log at ``path``."""
    try:
        with open(path) as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        return []
    out = []
    for line in lines:
        parts = line.split()
        if len(parts) == 4 and parts[0] == what and (op is None or parts[1] == op):
            out.append((parts[1], parts[2], int(parts[3])))
    return out


def _plain(value):
    from voxlogica_nb.text import format_value

    arr = getattr(value, "array", None)
    if arr is not None:
        return {"sum": float(np.asarray(arr, dtype=np.float64).sum()), "shape": list(arr.shape)}
    return format_value(value)


def _barrier(folder, n):
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, f"{os.getpid()}.ready"), "w"):
        pass
    deadline = time.monotonic() + 30
    while len([f for f in os.listdir(folder) if f.endswith(".ready")]) < n:
        if time.monotonic() > deadline:
            raise SystemExit("barrier timed out")
        time.sleep(0.002)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    opts = json.loads(argv[0])
    from voxlogica_nb.engine import diskstore
    from voxlogica_nb.text import summarize_cleared

    gets = []
    original_get = diskstore.DiskStore.get

    def counting_get(self, task_id):
        gets.append(task_id)
        return original_get(self, task_id)

    diskstore.DiskStore.get = counting_get
    if opts.get("barrier"):
        _barrier(*opts["barrier"])
    if "cli" in opts:
        from voxlogica_nb.cli import main as cli_main

        return cli_main(opts["cli"])
    events = {}
    dangling = []

    def observer(ev):
        events[ev.kind] = events.get(ev.kind, 0) + 1
        if ev.kind == "wait":
            log("waiting", ev.op, "-", os.getpid())
        elif ev.kind == "dangling":
            dangling.append(summarize_cleared(ev.data["cleared"]))

    t0 = time.perf_counter()
    r = vx.run(opts["program"], jobs=opts.get("jobs"), cache_dir=opts.get("cache_dir"),
               no_cache=opts.get("no_cache", False), force=opts.get("force", False),
               timeout=opts.get("timeout"), observers=[observer])
    seconds = time.perf_counter() - t0
    out = {
        "pid": os.getpid(),
        "printed": {label: _plain(v) for label, v in r.printed},
        "stats": dict(r.stats),
        "failures": [str(f) for f in r.failures],
        "failure_records": [{"op": f.op, "task_id": f.task_id, "message": f.message} for f in r.failures],
        "dangling": dangling,
        "events": events,
        "gets": len(gets),
        "seconds": seconds,
    }
    print(json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
