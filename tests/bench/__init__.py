"""Benchmarks, run by hand from the repository's root (pytest does not collect them)::

    python -m tests.bench.NAME [options]     # e.g. python -m tests.bench.engine
    python -m tests.bench.NAME --help        # what it measures, its options
    python -m tests.bench.NAME --smoke       # a tiny size, in a few seconds

Every benchmark takes ``--smoke``: the same code paths at a tiny size, its
figures printed as usual (they mean nothing at that size).
``tests/test_bench_smoke.py`` runs each module of this folder that way, so a
benchmark that no longer runs fails the test suite. A benchmark whose
optional dependency is missing says so in one line and exits 0.
"""
