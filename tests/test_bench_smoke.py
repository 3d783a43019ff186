"""Every benchmark in tests/bench runs at its smoke size and prints its
figures, so that none stops working unnoticed.

The benchmarks are found by listing the folder: one added later is covered
at once. Each runs as ``python -m tests.bench.NAME --smoke`` from the
repository's root, with a store folder of its own; two run at a time (their
figures mean nothing at that size, only that they are printed).
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BENCHES = sorted(p.stem for p in (ROOT / "tests" / "bench").glob("*.py") if not p.name.startswith("_"))
AT_ONCE = 2
TIMEOUT = 300  # seconds for one benchmark; its smoke size takes a few

# A figure: a decimal number ("1.05"), or a number with a unit ("3 ms", "2071x", "33%").
FIGURE = re.compile(r"\d\.\d|\d\s*(?:s|ms|us|µs|x|%|GB|MB)(?![A-Za-z])")
# What a benchmark whose optional dependency is missing says instead.
MISSING = re.compile(r"not installed|not available|unavailable|missing|skipp", re.IGNORECASE)


def smoke(name: str, store: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, VOXLOGICA_CACHE_DIR=str(store))
    return subprocess.run([sys.executable, "-m", f"tests.bench.{name}", "--smoke"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=TIMEOUT)


@pytest.fixture(scope="module")
def runs(request, tmp_path_factory):
    """{benchmark: future of its smoke run}, for the benchmarks this pytest
    run selected, all submitted at once (``AT_ONCE`` running at a time)."""
    selected = [item.callspec.params["name"] for item in request.session.items
                if getattr(item, "module", None) is request.module and hasattr(item, "callspec")]
    with ThreadPoolExecutor(max_workers=AT_ONCE) as pool:
        futures = {name: pool.submit(smoke, name, tmp_path_factory.mktemp(f"store-{name}"))
                   for name in selected}
        try:
            yield futures
        finally:
            for f in futures.values():
                f.cancel()


def test_the_benchmarks_are_found():
    assert {"engine", "store", "images"} <= set(BENCHES)


@pytest.mark.parametrize("name", BENCHES)
def test_benchmark_runs_at_smoke_size(runs, name):
    done = runs[name].result()
    shown = f"stdout:\n{done.stdout[-3000:]}\nstderr:\n{done.stderr[-3000:]}"
    assert done.returncode == 0, shown
    assert FIGURE.search(done.stdout) or MISSING.search(done.stdout), shown
