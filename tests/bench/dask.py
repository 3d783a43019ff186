"""dask.distributed backend: ``python -m tests.bench.dask [--smoke] [--scans N] [--size X,Y,Z]``.

1. The dataset program (one pipeline per scan under ``for f in dir(...)``:
   threshold, largest component, distance map, statistics) on a
   ``LocalCluster`` of 2 worker processes against the local thread backend
   with 2 threads, in the same process, each on an empty store; best of 3,
   interleaved. Printed: both times and their ratio (cluster / threads).
2. Per-task scheduling overhead: a 10,000-task graph of light and heavy
   tasks on a 4x4 image (the work itself is microseconds), without a store,
   on both backends: wall seconds / tasks; beside it, dask's own cost per
   task for the same shape of no-op tasks (chains of three, as many).

The cluster is started (and warmed up) before anything is timed. On 2 cores
the cluster cannot be faster: the figures say what the scheduler, the
transfers and the events cost, which a cluster of several machines pays
per task too.
"""
from __future__ import annotations

import logging
import os
import shutil
import tempfile
import time

import voxlogica_nb as vx
from voxlogica_nb import data

from ._common import arguments, best_pair

PIPELINE = """load first = "{folder}/scan000.nii.gz"
let files = dir("{folder}", "*.nii.gz")
let lesion(f) = maxvol(intensity(load(f)) >. 0.6)
print "volume" for f in files do volume(lesion(f))
print "far" for f in files do max(dt(lesion(f)))
print "mean" for f in files do avg(intensity(load(f)), lesion(f))
"""


def write_scans(folder, n, size):
    work = os.path.join(folder, "work")
    for i in range(n):
        paths = data.write_phantom(os.path.join(work, str(i)), size=size, seed=i)
        os.replace(paths["flair"], os.path.join(folder, f"scan{i:03d}.nii.gz"))
    shutil.rmtree(work)


def tasks_program(folder, n):
    """About ``n`` light and heavy tasks (three per element) on a 4x4 image."""
    return (f'load img = "{folder}/tiny.nii.gz"\n'
            f'print "n" for i in range(0, {n // 3}) do volume(near(intensity(img) >. i))\n')


def main(argv=None):
    ap = arguments(__doc__)
    ap.add_argument("--scans", type=int, default=20)
    ap.add_argument("--size", default="96,96,60", help="scan size in voxels, X,Y,Z")
    args = ap.parse_args(argv)
    try:
        import distributed
    except ImportError:
        print("dask.distributed not installed: skipped (pip install 'voxlogica_nb[dask]')")
        return
    scans, size, n_tasks, repeat = ((3, (16, 16, 10), 300, 1) if args.smoke else
                                    (args.scans, tuple(int(v) for v in args.size.split(",")), 10_000, 3))
    with tempfile.TemporaryDirectory() as tmp, \
            distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                     dashboard_address=None, silence_logs=logging.ERROR) as cluster:
        address = cluster.scheduler_address
        folder = os.path.join(tmp, "scans")
        write_scans(folder, scans, size)
        program = PIPELINE.format(folder=folder)
        stores = iter(range(1_000_000))

        def fresh():
            return os.path.join(tmp, f"store{next(stores)}")

        vx.run(program, backend="dask", scheduler=address, cache_dir=fresh())  # warm-up: imports on workers
        t_dask, r_dask, t_threads, r_threads = best_pair(
            lambda: vx.run(program, backend="dask", scheduler=address, cache_dir=fresh()),
            lambda: vx.run(program, jobs=2, cache_dir=fresh()), repeat)
        assert r_dask.ok and r_dask.printed == r_threads.printed, (r_dask.failures, r_threads.failures)
        print(f"dataset of {scans} scans {'x'.join(map(str, size))}, {r_threads.stats['computed']} tasks: "
              f"2 worker processes {t_dask:.2f} s, 2 threads {t_threads:.2f} s, "
              f"ratio {t_dask / t_threads:.2f}x")

        import numpy as np
        import SimpleITK as sitk

        sitk.WriteImage(sitk.GetImageFromArray(np.arange(16, dtype=np.float32).reshape(4, 4)),
                        os.path.join(folder, "tiny.nii.gz"))
        program = tasks_program(folder, n_tasks)
        t_dask, r_dask, t_threads, r_threads = best_pair(
            lambda: vx.run(program, backend="dask", scheduler=address, no_cache=True),
            lambda: vx.run(program, jobs=2, no_cache=True), 1)
        assert r_dask.ok and r_dask.printed == r_threads.printed
        n = r_threads.stats["computed"]
        with distributed.Client(address) as client:
            t0 = time.perf_counter()
            futures = range(n // 3)
            for _ in range(3):
                futures = client.map(abs, futures, pure=False)
            distributed.wait(futures)
            t_raw = time.perf_counter() - t0
        print(f"{n:,}-task graph, no store: 2 worker processes {t_dask:.2f} s ({t_dask / n * 1e3:.2f} ms per task; "
              f"dask alone, no-op tasks: {t_raw / n * 1e3:.2f} ms), "
              f"2 threads {t_threads:.2f} s ({t_threads / n * 1e6:.0f} us per task)")


if __name__ == "__main__":
    main()
