"""Scale benchmark: ``python -m tests.bench.scale [--smoke]``.

Reduce and run programs of 10,000 and 100,000 tasks written as text (their
numbers computed while planning, see :class:`voxlogica_nb.engine.in_place.Scalars`;
also run with each scheduled as a task, for comparison), and a
``for`` over 20,000 elements (100,000 cheap applications), evaluated in place
(see :mod:`voxlogica_nb.engine.in_place`) and, for comparison, expanded
into tasks as a body with work worth keeping is. The growth from 10k to
100k is the figure to watch (linear: 10x; target at most 11x); the absolute
target is 2 s each, reduce plus run. Each text case is timed in three
fresh processes (the fastest is shown), as the first large reduction of
each, so that both sizes touch memory new to their process; the baseline is
the fastest of three.
"""
from __future__ import annotations

import json
import sys
import tempfile
import time

import voxlogica_nb as vx
from voxlogica_nb.engine import in_place

from ._common import arguments, run_worker, worker_options

MODULE = __spec__.name  # workers run this module again, in fresh processes

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


def worker(opts):
    """In a fresh process: the (reduce, run) seconds of an ``n``-line chain,
    after a small one that does the code's one-time work."""
    timed(chain(50))
    print(json.dumps({"times": timed(chain(opts["n"]))}))
    return 0


def fresh(sizes):
    """For each size, the fastest (reduce, run) of ``REPEAT`` fresh
    processes (sizes interleaved). Each is its process's first large
    reduction, so at every size the memory it touches is new to it: in one
    process, a second small run reuses the memory the first one freed,
    while a large one's is handed back to the system and touched anew."""
    runs: dict = {n: [] for n in sizes}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(REPEAT):
            for n in sizes:
                runs[n].append(tuple(run_worker(MODULE, {"n": n}, tmp)["times"]))
    return [min(runs[n], key=sum) for n in sizes]


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    opts = worker_options(argv)
    if opts is not None:
        return worker(opts)
    args = arguments(__doc__).parse_args(argv)
    n_small, n_large = (200, 2_000) if args.smoke else (10_000, 100_000)
    small, large = fresh((n_small, n_large))
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
    sys.exit(main())
