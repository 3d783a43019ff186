"""Store and claim micro-benchmarks.

    python -m tests.bench.store_kernels [ROUNDS] [--smoke]

* wake-up latency of a waiter blocked in ``ClaimTable.acquire`` after the
  holder releases: across processes (target median < 20 ms) and between
  threads of one process (target < 2 ms);
* put/get throughput for small values and a 36 MB image;
* what storing one small value of a heavy task costs (claim, ``contains``,
  ``put``, release: what the engine does for, say, ``volume`` of an image),
  phase by phase, and reading it back from a fresh instance (a warm run).
  Creating files dominates it, so the figures depend much on the file
  system; ``memory.py``'s stress program carries the end-to-end target.

``--smoke``: 3 rounds, 50 small values and a 0.2 MB image.
"""
from __future__ import annotations

import multiprocessing as mp
import statistics
import tempfile
import threading
import time

import numpy as np

from voxlogica_nb.engine.claims import ClaimTable
from voxlogica_nb.engine.diskstore import DiskStore
from voxlogica_nb.engine.store import MISSING

from ._common import arguments


def _tid(i):
    return f"{i % 256:02x}" + f"{i:062x}"


def _holder(root, conn):
    t = ClaimTable(root)
    while True:
        msg = conn.recv()
        if msg is None:
            return
        cmd, i = msg
        if cmd == "hold":
            c = t.try_acquire(_tid(i), "bench")
            conn.send("held")
        else:  # release
            t0 = time.monotonic()  # CLOCK_MONOTONIC is system-wide on Linux
            c.release()
            conn.send(t0)


def _waiter(root, conn):
    t = ClaimTable(root)
    while True:
        msg = conn.recv()
        if msg is None:
            return
        conn.send("waiting")
        c = t.acquire(_tid(msg), "bench", timeout=10)
        t1 = time.monotonic()
        c.release()
        conn.send(t1)


def cross_process(root, rounds):
    ctx = mp.get_context("spawn")
    hp, hc = ctx.Pipe()
    wp, wc = ctx.Pipe()
    holder = ctx.Process(target=_holder, args=(root, hc))
    waiter = ctx.Process(target=_waiter, args=(root, wc))
    holder.start()
    waiter.start()
    lat = []
    try:
        for i in range(rounds):
            hp.send(("hold", i))
            assert hp.recv() == "held"
            wp.send(i)
            assert wp.recv() == "waiting"
            time.sleep(0.03)  # let the waiter block in flock
            hp.send(("release", i))
            t0 = hp.recv()
            t1 = wp.recv()
            lat.append(t1 - t0)
    finally:
        hp.send(None)
        wp.send(None)
        holder.join()
        waiter.join()
    return lat


def between_threads(root, rounds):
    t = ClaimTable(root)
    lat = []
    for i in range(rounds):
        c = t.try_acquire(_tid(i), "bench")
        started = threading.Event()
        out = []

        def wait():
            started.set()
            w = t.acquire(_tid(i), "bench", timeout=10)
            out.append(time.perf_counter())
            w.release()

        th = threading.Thread(target=wait)
        th.start()
        started.wait()
        time.sleep(0.01)
        t0 = time.perf_counter()
        c.release()
        th.join()
        lat.append(out[0] - t0)
    return lat


def _ms(xs):
    xs = sorted(xs)
    return (f"median {statistics.median(xs) * 1e3:.2f} ms, "
            f"p90 {xs[int(0.9 * (len(xs) - 1))] * 1e3:.2f} ms, max {xs[-1] * 1e3:.2f} ms")


def throughput(root, n=2000, shape=(155, 240, 240)):
    s = DiskStore(root)
    t0 = time.perf_counter()
    for i in range(n):
        s.put(_tid(i), float(i), {"op": "bench", "version": 1, "seconds": 0.0})
    t1 = time.perf_counter()
    r = DiskStore(root)
    for i in range(n):
        assert r.get(_tid(i)) == float(i)
    t2 = time.perf_counter()
    for i in range(n):
        assert r.contains(_tid(i))
    t3 = time.perf_counter()
    print(f"small values: put {n / (t1 - t0):.0f}/s ({(t1 - t0) / n * 1e6:.0f} us), "
          f"get {n / (t2 - t1):.0f}/s ({(t2 - t1) / n * 1e6:.0f} us), "
          f"contains {(t3 - t2) / n * 1e6:.1f} us")
    from voxlogica_nb.image import Image

    img = Image(np.random.default_rng(0).random(shape, dtype=np.float32))
    big = "ff" + "e" * 62
    t0 = time.perf_counter()
    s.put(big, img, {"op": "bench"})
    t1 = time.perf_counter()
    v = r.get(big)  # checksum verified, then memory-mapped
    t2 = time.perf_counter()
    v = r.get(big)
    v = r.get(big)  # verified before in this instance
    t3 = time.perf_counter()
    s2 = np.asarray(v.array).sum()
    t4 = time.perf_counter()
    assert v is not MISSING
    print(f"{img.array.nbytes / 1e6:.1f} MB image: put {(t1 - t0) * 1e3:.1f} ms, "
          f"get (verify + mmap) {(t2 - t1) * 1e3:.1f} ms, "
          f"get (already verified) {(t3 - t2) / 2 * 1e3:.2f} ms, first full read of mmap {(t4 - t3) * 1e3:.1f} ms"
          f" [{s2:.0f}]")


PHASES = ("claim", "contains", "put", "release")


def small_value_cost(make_store, folder, n=2000, repeat=3, value=1234.5):
    """{phase: microseconds per task} for ``n`` small values, best of
    ``repeat`` rounds, each in a new store (``make_store(path)``) under
    ``folder``, so lock files and shard folders are created as in a cold run."""
    best = {}
    clock = time.perf_counter
    meta = {"op": "volume", "version": "1", "seconds": 0.001}
    for r in range(repeat):
        path = f"{folder}/small-{r}"
        s = make_store(path)
        spent = dict.fromkeys(PHASES + ("get",), 0.0)
        for i in range(n):
            tid = _tid(i)
            t0 = clock()
            c = s.claims.try_acquire(tid, "volume")
            t1 = clock()
            s.contains(tid)
            t2 = clock()
            s.put(tid, value, meta)
            t3 = clock()
            c.release()
            t4 = clock()
            for k, dt in zip(PHASES, (t1 - t0, t2 - t1, t3 - t2, t4 - t3)):
                spent[k] += dt
        reader = make_store(path)  # nothing verified or cached yet
        t0 = clock()
        for i in range(n):
            assert reader.get(_tid(i)) == value
        spent["get"] = clock() - t0
        for k, total in spent.items():
            best[k] = min(best.get(k, float("inf")), total / n * 1e6)
    best["total"] = sum(best[k] for k in PHASES)
    return best


def describe_costs(c):
    return (", ".join(f"{k} {c[k]:.0f}" for k in PHASES) + f" = {c['total']:.0f} us; "
            f"get from a fresh instance {c['get']:.0f} us")


def main(argv=None):
    ap = arguments(__doc__)
    ap.add_argument("rounds", nargs="?", type=int, default=30, help="wake-ups measured (default 30)")
    args = ap.parse_args(argv)
    rounds = 3 if args.smoke else args.rounds
    sizes = {"n": 50, "shape": (16, 48, 64)} if args.smoke else {}
    with tempfile.TemporaryDirectory() as d:
        print("cross-process wake-up:", _ms(cross_process(d + "/locks", rounds)))
        print("between threads wake-up:", _ms(between_threads(d + "/locks2", rounds)))
        throughput(d + "/store", **sizes)
        costs = small_value_cost(DiskStore, d, n=sizes.get("n", 2000), repeat=1 if args.smoke else 3)
        print("a small value, per task:", describe_costs(costs))


if __name__ == "__main__":
    main()
