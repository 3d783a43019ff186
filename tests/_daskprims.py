"""Python primitives for the dask backend's tests.

The workers import this module too (the tests ``Client.upload_file`` it):
primitives are looked up by name on the workers. Each primitive takes the
path of a log file as its first argument and appends ``start|done OP ARG
PID`` lines to it (one ``write`` per line, ``O_APPEND``), so a test counts
executions across worker processes; the path being an argument, each test
has task ids of its own.
"""
from __future__ import annotations

import os
import time

import numpy as np

import voxlogica_nb as vx


def log(path, *fields) -> None:
    line = (" ".join(str(f) for f in fields) + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)


def lines(path, what="start", op=None) -> list:
    """[(op, arg, pid)] of the log's ``what`` lines."""
    try:
        with open(path) as f:
            rows = [line.split() for line in f.read().splitlines()]
    except FileNotFoundError:
        return []
    return [(r[1], r[2], int(r[3])) for r in rows if r[0] == what and (op is None or r[1] == op)]


@vx.primitive("(str, nimg) -> nimg", name="dask_seen")
def seen(path, image):
    """The image itself; logs its sum."""
    tag = f"{float(np.asarray(image.array, dtype=np.float64).sum()):g}"
    log(path, "start", "dask_seen", tag, os.getpid())
    log(path, "done", "dask_seen", tag, os.getpid())
    return image


@vx.primitive("(str, num, num) -> num", name="dask_slow")
def slow(path, seconds, x):
    """``x + 1`` after ``seconds``."""
    log(path, "start", "dask_slow", f"{x:g}", os.getpid())
    time.sleep(seconds)
    log(path, "done", "dask_slow", f"{x:g}", os.getpid())
    return x + 1


@vx.primitive("(str, num) -> num", name="dask_gated")
def gated(path, x):
    """``x * 2`` once the file ``path + ".open"`` exists (at most 60 s)."""
    log(path, "start", "dask_gated", f"{x:g}", os.getpid())
    deadline = time.monotonic() + 60
    while not os.path.exists(path + ".open") and time.monotonic() < deadline:
        time.sleep(0.02)
    log(path, "done", "dask_gated", f"{x:g}", os.getpid())
    return x * 2


@vx.primitive("(str, num) -> num", name="dask_fail")
def fail(path, x):
    """Always fails."""
    log(path, "start", "dask_fail", f"{x:g}", os.getpid())
    raise ValueError(f"dask_fail fails on {x:g}")
