"""Scale benchmark (not collected by pytest): ``python tests/bench/scale.py``.

Reduce and run programs of 10,000 and 100,000 tasks written as text, and a
``for`` over 20,000 elements (100,000 cheap tasks). The growth from 10k to
100k is the figure to watch (linear: 10x; target at most 11x); the absolute
target is 2 s each, reduce plus run.
"""
from __future__ import annotations

import time

import voxlogica_nb as vx


def chain(n):
    return "let x0 = 1\n" + "\n".join(f"let x{i} = x{i - 1} + 1" for i in range(1, n)) + f'\nprint "v" x{n - 1}'


def timed(text):
    s = vx.Session(no_cache=True)
    t0 = time.perf_counter()
    reduced = s.reduce(text)
    t1 = time.perf_counter()
    s.engine.run(reduced.effects, s.table)
    return t1 - t0, time.perf_counter() - t1


def main():
    small, large = timed(chain(10_000)), timed(chain(100_000))
    print(f"text, 10k tasks: reduce {small[0]:.2f} s, run {small[1]:.2f} s; 100k: reduce {large[0]:.2f} s, "
          f"run {large[1]:.2f} s; growth {sum(large) / sum(small):.1f}x (target <= 11x, <= 2 s)")
    for n in (2_000, 20_000):
        s = vx.Session(no_cache=True)
        t0 = time.perf_counter()
        s.run(f'print "v" for i in range(0, {n}) do (i + 1) * 2 - 1 + i / 2')
        print(f"for over {n} elements ({5 * n} cheap tasks): {time.perf_counter() - t0:.2f} s")


if __name__ == "__main__":
    main()
