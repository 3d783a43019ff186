"""Engine benchmarks: ``python -m tests.bench.engine [--smoke]``.

* Fibonacci chain of depth 10,000 (10k tasks), end to end through run().
* The function-explosion program of depth 10: reduce, then run.

Each is reported with a baseline measured in the same process (a plain
Python loop doing the same arithmetic), since these machines are noisy; the
targets are absolute (under 1 s each) and printed beside the measurement.
"""
from __future__ import annotations

import sys
import time

import voxlogica_nb as vx
from voxlogica_nb.session import Session

from .._programs import explosion_program, fib_program
from ._common import arguments, best


def python_fib(n):
    a, b = 1.0, 1.0
    for _ in range(n - 1):
        a, b = b, a + b
    return b


def main(argv=None):
    args = arguments(__doc__).parse_args(argv)
    fib, depth, repeat = (200, 4, 1) if args.smoke else (10_000, 10, 3)
    sys.setrecursionlimit(100000)
    text = fib_program(fib)
    base, _, _ = best(lambda: python_fib(fib), repeat)
    t, med, _ = best(lambda: vx.run(text, no_cache=True), repeat)
    print(f"fibonacci {fib:,}, run(): best {t:.3f} s, median {med:.3f} s (target < 1 s); "
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

    text = explosion_program(depth)
    t, med, _ = best(lambda: vx.run(text, no_cache=True), repeat)
    s = Session(no_cache=True)
    t0 = time.perf_counter()
    reduced = s.reduce(text)
    t_reduce = time.perf_counter() - t0
    print(f"function explosion depth {depth}, reduce+run: best {t:.3f} s, median {med:.3f} s (target < 1 s); "
          f"reduce alone {t_reduce:.3f} s; {len(s.table)} distinct tasks")


if __name__ == "__main__":
    main()
