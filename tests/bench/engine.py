"""Engine benchmarks (not collected by pytest): ``python tests/bench/engine.py``.

* Fibonacci chain of depth 10,000 (10k tasks), end to end through run().
* The function-explosion program of depth 10: reduce, then run.

Each is reported with a baseline measured in the same process (a plain
Python loop doing the same arithmetic), since these machines are noisy; the
targets are absolute (under 1 s each) and printed beside the measurement.
"""
from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import voxlogica_nb as vx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests/, for _programs
from _programs import explosion_program, fib_program  # noqa: E402
from voxlogica_nb.session import Session


def best(fn, repeat=3):
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times), statistics.median(times)


def python_fib(n):
    a, b = 1.0, 1.0
    for _ in range(n - 1):
        a, b = b, a + b
    return b


def main():
    sys.setrecursionlimit(100000)
    text = fib_program(10_000)
    base, _ = best(lambda: python_fib(10_000))
    t, med = best(lambda: vx.run(text, no_cache=True))
    print(f"fibonacci 10k, run(): best {t:.3f} s, median {med:.3f} s (target < 1 s); "
          f"plain Python loop {base * 1e3:.3f} ms, ratio {t / base:.0f}x")

    s = Session(no_cache=True)
    t0 = time.perf_counter()
    reduced = s.reduce(text)
    t_reduce = time.perf_counter() - t0
    t0 = time.perf_counter()
    s.engine.run(reduced.effects, s.table)
    t_run = time.perf_counter() - t0
    print(f"  of which parse+reduce {t_reduce:.3f} s, schedule+run {t_run:.3f} s, "
          f"{len(s.table)} tasks in the table")

    text = explosion_program(10)
    t, med = best(lambda: vx.run(text, no_cache=True))
    s = Session(no_cache=True)
    t0 = time.perf_counter()
    reduced = s.reduce(text)
    t_reduce = time.perf_counter() - t0
    print(f"function explosion depth 10, reduce+run: best {t:.3f} s, median {med:.3f} s (target < 1 s); "
          f"reduce alone {t_reduce:.3f} s; {len(s.table)} distinct tasks")


if __name__ == "__main__":
    main()
