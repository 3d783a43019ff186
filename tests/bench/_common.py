"""What the benchmarks share: their command line, timing, and running one of
their own functions in a fresh process (for peak memory figures that never
mix, or for several processes sharing a store)."""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# The repository: ``python -m tests.bench.NAME`` finds the benchmarks from here.
ROOT = Path(__file__).resolve().parents[2]


def arguments(doc: str) -> argparse.ArgumentParser:
    """A benchmark's command line: its docstring as help, and ``--smoke``."""
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--smoke", action="store_true",
                    help="a tiny size and one repetition, in a few seconds: checks that the benchmark "
                         "runs (its figures mean nothing)")
    return ap


def best(fn, repeat=3):
    """(best seconds, median seconds, last result) of ``repeat`` calls of ``fn``."""
    times, result = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return min(times), statistics.median(times), result


def best_pair(fn_a, fn_b, repeat):
    """Best times and last results of two functions, calls interleaved (a, b, a, b, ...)
    so that drift in the machine's speed affects both alike."""
    times_a, times_b, res_a, res_b = [], [], None, None
    for _ in range(repeat):
        t0 = time.perf_counter()
        res_a = fn_a()
        t1 = time.perf_counter()
        res_b = fn_b()
        t2 = time.perf_counter()
        times_a.append(t1 - t0)
        times_b.append(t2 - t1)
    return min(times_a), res_a, min(times_b), res_b


def tumour_program(folder, size) -> str:
    """The tumour example with its phantom of ``size`` written to ``folder``;
    its paths made absolute, so that it runs from any working directory."""
    from voxlogica_nb import data

    path = data.write_demo("tumour", folder, size=tuple(size))
    with open(path) as f:
        text = f.read()
    return text.replace('"phantom_', f'"{folder}/phantom_').replace('"out/', f'"{folder}/out/')


# -- workers: the benchmark's module run again with ``--worker FILE`` ------------------

def start_worker(module: str, opts: dict, folder: str, env=None) -> subprocess.Popen:
    """``python -m module --worker FILE`` in a fresh process, FILE (in
    ``folder``) holding ``opts`` as JSON: programs are too long for a command
    line. The worker prints its outcome as one JSON line, last."""
    fd, path = tempfile.mkstemp(suffix=".json", dir=folder)
    with os.fdopen(fd, "w") as f:
        json.dump(opts, f)
    return subprocess.Popen([sys.executable, "-m", module, "--worker", path], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish_worker(p: subprocess.Popen, timeout=3600) -> dict:
    """The worker's JSON line, once it has exited (killed after ``timeout`` s)."""
    try:
        out, err = p.communicate(timeout=timeout)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    if p.returncode != 0:
        raise RuntimeError(f"worker failed ({p.returncode}):\n{err}")
    return json.loads(out.strip().splitlines()[-1])


def run_worker(module: str, opts: dict, folder: str) -> dict:
    """Start a worker and wait for it; its outcome plus ``wall``, the process's
    wall-clock seconds (start-up and imports included)."""
    t0 = time.perf_counter()
    r = finish_worker(start_worker(module, opts, folder))
    r["wall"] = time.perf_counter() - t0
    return r


def worker_options(argv) -> dict | None:
    """The options of a worker's command line (``--worker FILE``), else None."""
    if argv[:1] != ["--worker"]:
        return None
    with open(argv[1]) as f:
        return json.load(f)
