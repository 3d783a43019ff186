"""Scale benchmark: ``python -m tests.bench.scale [--smoke]``.

Reduce and run programs of 10,000 and 100,000 tasks written as text (their
numbers computed while planning, see :class:`voxlogica_nb.engine.in_place.Scalars`;
also run with each scheduled as a task, for comparison), and a
``for`` over 20,000 elements (100,000 cheap applications), evaluated in place
(see :mod:`voxlogica_nb.engine.in_place`) and, for comparison, expanded
into tasks as a body with work worth keeping is. The growth from 10k to
100k is the figure to watch (linear: 10x; target at most 11x); the absolute
target is 2 s each, reduce plus run. Each text case is timed three times
(the fastest is shown), as is the baseline.
"""
from __future__ import annotations

import time

import voxlogica_nb as vx
from voxlogica_nb.engine import in_place

from ._common import arguments

REPEAT = 3


def chain(n):
    return "let x0 = 1\n" + "\n".join(f"let x{i} = x{i - 1} + 1" for i in range(1, n)) + f'\nprint "v" x{n - 1}'


def python_chain(n):
    """The same chain as Python, to compile and run: a baseline measured in
    the same process (this machine's speed varies by the hour)."""
    return "x0 = 1\n" + "\n".join(f"x{i} = x{i - 1} + 1" for i in range(1, n)) + f'\nprint("v", x{n - 1})'


def python_timed(n):
    text = python_chain(n)
    t0 = time.perf_counter()
    exec(compile(text, "<chain>", "exec"), {"print": lambda *a: None})
    return time.perf_counter() - t0


def timed(text, scheduled=False):
    """(reduce s, run s); ``scheduled``: every cheap number task scheduled as
    a task, none computed while planning (what a chain over an image does)."""
    s = vx.Session(no_cache=True)
    t0 = time.perf_counter()
    reduced = s.reduce(text)
    t1 = time.perf_counter()
    value = in_place.Scalars.value
    if scheduled:
        in_place.Scalars.value = lambda self, t: in_place.MISSING
    try:
        s.engine.run(reduced.effects, s.table)
    finally:
        in_place.Scalars.value = value
    return t1 - t0, time.perf_counter() - t1


def best(text):
    """The fastest of ``REPEAT`` (reduce, run) times, each in a new session:
    the machine's load varies from one second to the next."""
    return min((timed(text) for _ in range(REPEAT)), key=sum)


def main(argv=None):
    args = arguments(__doc__).parse_args(argv)
    n_small, n_large = (200, 2_000) if args.smoke else (10_000, 100_000)
    small, large = best(chain(n_small)), best(chain(n_large))
    python = min(python_timed(n_large) for _ in range(REPEAT))
    print(f"text, {n_small:,} tasks: reduce {small[0]:.2f} s, run {small[1]:.2f} s; {n_large:,}: "
          f"reduce {large[0]:.2f} s, run {large[1]:.2f} s; growth {sum(large) / sum(small):.1f}x "
          f"(target <= 11x, <= 2 s); run with every task scheduled: {timed(chain(n_large), True)[1]:.2f} s")
    print(f"  baseline: CPython compiles and runs the same {n_large:,}-line chain written as Python in "
          f"{python:.2f} s; reduce plus run here take {sum(large) / python:.1f}x that")
    evaluate = in_place.evaluate
    for n in (n_small // 5, n_large // 5):
        times = []
        for inline in (True, False):  # in place, then expanded as a body that is not cheap would be
            in_place.evaluate = evaluate if inline else (lambda t, values: None)
            s = vx.Session(no_cache=True)
            t0 = time.perf_counter()
            s.run(f'print "v" for i in range(0, {n}) do (i + 1) * 2 - 1 + i / 2')
            times.append(time.perf_counter() - t0)
        in_place.evaluate = evaluate
        print(f"for over {n:,} elements ({5 * n:,} cheap applications): {times[0]:.2f} s evaluated in place; "
              f"{times[1]:.2f} s expanded into tasks ({times[1] / times[0]:.0f}x)")


if __name__ == "__main__":
    main()
