"""Nesting-depth benchmark: ``python -m tests.bench.depth [DEPTH] [--smoke]``.

For programs nested DEPTH levels deep (default 100,000) — calls
``f(f(…f(x0)))``, stacked prefix operators ``! ! … ! true``, infix chains
``a | a | … | a`` and ``1 + 1 + … + 1``, parentheses ``((…(1)…))``,
``let … in`` scopes and a loop whose body is a deep chain — it prints the
time to parse, to reduce (parse included: names, types, task ids) and to
run on the engine without a store, each as wall-clock and CPU seconds.

As a baseline measured in the same process (these machines are noisy), it
first times a plain Python loop building a structure of the same depth
(nested two-element lists), and prints every result as a multiple of it.
"""
from __future__ import annotations

import time

import voxlogica_nb as vx
from voxlogica_nb.language.parser import parse
from voxlogica_nb.language.reducer import Reducer
from voxlogica_nb.primitives import REGISTRY

from ._common import arguments


def programs(n: int) -> dict[str, str]:
    return {
        "calls f(f(…x0))": 'let f(x) = x .+. 1\nlet x0 = 1\nprint "v" ' + "f(" * n + "x0" + ")" * n,
        "prefix ! ! … true": 'print "v" ' + "! " * n + "true",
        "chain a | … | a": 'let a = true\nprint "v" ' + " | ".join(["a"] * n),
        "chain 1 + … + 1": 'print "v" ' + " + ".join(["1"] * n),
        "parentheses": 'print "v" ' + "(" * n + "1" + ")" * n,
        "let … in": 'print "v" ' + "".join(f"let x{i} = x{i - 1} + 1 in " if i else "let x0 = 0 in "
                                           for i in range(n)) + f"x{n - 1}",
        "loop body chain": 'print "v" for i in range(0, 2) do ' + " + ".join(["i"] * n),
    }


def timed(fn):
    w, c = time.perf_counter(), time.process_time()
    value = fn()
    return value, time.perf_counter() - w, time.process_time() - c


def baseline(n: int):
    def build():
        x = None
        for i in range(n):
            x = [x, i]
        return x

    return timed(build)[1:]


def main(argv=None):
    ap = arguments(__doc__)
    ap.add_argument("depth", nargs="?", type=int, default=100_000, help="nesting depth (default 100,000)")
    args = ap.parse_args(argv)
    n = 300 if args.smoke else args.depth
    base_wall, base_cpu = baseline(n)
    base_cpu = max(base_cpu, 1e-6)  # a clock tick, for tiny depths
    print(f"depth {n:,}; baseline (Python loop building {n:,} nested lists): "
          f"{base_wall:.3f}s wall, {base_cpu:.3f}s cpu")
    print(f"{'program':20} {'parse':>16} {'reduce':>16} {'run':>16}   (wall s / cpu s / cpu x baseline)")
    for name, text in programs(n).items():
        _, pw, pc = timed(lambda: parse(text))
        reducer = Reducer(REGISTRY)
        reduced, rw, rc = timed(lambda: reducer.reduce_program(text))
        session = vx.Session(no_cache=True)
        reduced = session.reduce(text)
        result, xw, xc = timed(lambda: session.run_reduced(reduced))
        assert result.ok, result.failures
        cells = [f"{w:6.2f}/{c:5.2f}/{c / base_cpu:5.0f}x" for w, c in ((pw, pc), (rw, rc), (xw, xc))]
        print(f"{name:20} " + " ".join(f"{c:>16}" for c in cells) + f"   -> {result.printed[0][1]!r:.20}")
    print("reduce includes parse; run is the engine alone (Session.run_reduced, no store)")


if __name__ == "__main__":
    main()
