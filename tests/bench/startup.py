"""Start-up and dataset benchmarks: ``python -m tests.bench.startup [--smoke] [--files N] [--scans N]``.

Every figure comes from fresh processes (start-up included), against a
baseline measured in the same run. Printed, with the targets beside them:

1. ``import voxlogica_nb`` (best of 7) against ``import numpy`` and an empty
   interpreter; which heavy libraries the import loads. Target <= 0.12 s.
2. ``voxlogica run`` of the tumour example whose every goal is stored (best
   of 5), and whether SimpleITK or scipy were imported. Target <= 0.2 s wall.
3. Two processes running the same heavy program (the tumour example on a
   1.5 M-voxel phantom) on one empty store at once, against one alone:
   CPU seconds of both together / CPU of one. Target <= 1.2x.
4. A dataset of ``--files`` small scans (default 1,000) under ``for f in
   dir(...)``: the warm re-run (everything stored) in a fresh process; then
   one file's content changed: how many tasks recompute (exactly that
   scan's). Target <= 0.5 s.
5. Peak RSS of a per-scan pipeline over 10 and over ``--scans`` (default
   100) full-size 240x240x155 scans, each run in a fresh process with an
   empty store, against the memory budget. Target: both within the budget.
"""
from __future__ import annotations

import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time

from voxlogica_nb.primitives.fingerprints import RACY_SECONDS

from ._common import ROOT, arguments, tumour_program

PY = sys.executable
# Start-up is measured as users meet it: with compiled bytecode cached (a
# PYTHONDONTWRITEBYTECODE environment would recompile every module each run).
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
subprocess.run([PY, "-c", "import voxlogica_nb.session, voxlogica_nb.cli, voxlogica_nb.primitives.simpleitk"],
               check=True, cwd=ROOT)
HEAVY = ("SimpleITK", "scipy", "joblib")


def wall(code: str, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        subprocess.run([PY, "-c", code], check=True, cwd=ROOT)
        best = min(best, time.perf_counter() - t0)
    return best


def loaded(code: str) -> list:
    """The heavy libraries in ``sys.modules`` after ``code`` ran in a fresh process."""
    probe = code + f"\nimport sys, json; print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    out = subprocess.run([PY, "-c", probe], check=True, cwd=ROOT, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def cli(args, env=None) -> tuple[float, float, subprocess.CompletedProcess]:
    """(wall s, CPU s) of ``voxlogica ARGS`` in a fresh process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    p = subprocess.run([PY, "-m", "voxlogica_nb.cli", *args], cwd=ROOT, capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if p.returncode != 0:
        raise RuntimeError(p.stderr)
    return seconds, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), p


def bench_import(repeat):
    base = wall("pass", repeat)
    numpy = wall("import numpy", repeat)
    pkg = wall("import voxlogica_nb", repeat)
    print(f"1. import voxlogica_nb {pkg:.3f} s (numpy alone {numpy:.3f} s, empty interpreter {base:.3f} s; "
          f"{pkg - base:.3f} s above it); loads {loaded('import voxlogica_nb') or 'none of'} "
          f"{', '.join(HEAVY)} (target <= 0.12 s)")


def bench_stored_run(tmp, size, repeat):
    folder = os.path.join(tmp, "stored")
    os.makedirs(folder)
    prog = os.path.join(folder, "tumour.imgql")
    with open(prog, "w") as f:
        f.write(tumour_program(folder, size))
    args = ["run", prog, "--cache-dir", os.path.join(folder, "store"), "--quiet"]
    cold = cli(args)[0]
    time.sleep(RACY_SECONDS + 0.1)  # until then a saved file may still change unseen: it is rewritten
    warm = min(cli(args)[0] for _ in range(repeat))
    base = wall("pass", repeat)
    code = f"from voxlogica_nb.cli import main\nmain({args!r})"
    print(f"2. voxlogica run, every goal stored: {warm:.3f} s wall (cold {cold:.2f} s; empty interpreter "
          f"{base:.3f} s); loads {loaded(code) or 'none of'} {', '.join(HEAVY[:2])} (target <= 0.2 s)")


def bench_two_processes(tmp, size, repeat=3):
    def program(name):
        folder = os.path.join(tmp, name)
        os.makedirs(folder)
        prog = os.path.join(folder, "tumour.imgql")
        with open(prog, "w") as f:
            f.write(tumour_program(folder, size))
        return ["run", prog, "--cache-dir", os.path.join(folder, "store"), "--quiet"]

    def pair(args):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        procs = [subprocess.Popen([PY, "-m", "voxlogica_nb.cli", *args], cwd=ROOT,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for _ in range(2)]
        for p in procs:
            if p.wait() != 0:
                raise RuntimeError(p.stderr.read().decode())
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        return time.perf_counter() - t0, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)

    # alternated, each on an empty store, medians: single runs vary by a third on this kind of machine
    ones, pairs = [], []
    for k in range(repeat):
        ones.append(cli(program(f"alone{k}"))[:2])
        pairs.append(pair(program(f"pair{k}")))
    one_wall, one_cpu = (statistics.median(x) for x in zip(*ones))
    pair_wall, pair_cpu = (statistics.median(x) for x in zip(*pairs))
    print(f"3. same heavy program, two processes at once: {pair_cpu:.2f} CPU-s ({pair_wall:.2f} s wall) "
          f"against one alone {one_cpu:.2f} CPU-s ({one_wall:.2f} s); ratio {pair_cpu / one_cpu:.2f}x "
          f"(target <= 1.2x; medians of {repeat}, one alone: {', '.join(f'{c:.2f}' for _, c in ones)}; "
          f"pairs: {', '.join(f'{c:.2f}' for _, c in pairs)})")


def write_scans(folder, n, shape, seed0=0):
    import numpy as np
    import SimpleITK as sitk

    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(seed0)
    for i in range(n):
        img = sitk.GetImageFromArray(rng.random(shape, dtype=np.float32))
        sitk.WriteImage(img, os.path.join(folder, f"scan{i:04d}.nii.gz"))


def dataset_program(folder):
    return (f'let scans = for f in dir("{folder}", "*.nii.gz") do intensity(load(f))\n'
            'print "volumes" for s in scans do volume(s >. 0.5)\n'
            'print "means" for s in scans do avg(s, s >. 0.25)\n')


def bench_dataset(tmp, files, shape, repeat):
    folder = os.path.join(tmp, "scans")
    write_scans(folder, files, shape)
    prog = os.path.join(tmp, "dataset.imgql")
    with open(prog, "w") as f:
        f.write(dataset_program(folder))
    args = ["run", prog, "--cache-dir", os.path.join(tmp, "dataset-store")]
    cold = cli(args)[0]
    warm = min(cli(args)[0] for _ in range(repeat))
    write_scans(os.path.join(tmp, "other"), 1, shape, seed0=99)
    os.replace(os.path.join(tmp, "other", "scan0000.nii.gz"), os.path.join(folder, "scan0007.nii.gz"))
    changed, _, p = cli(args)
    computed = re.search(r"computed (\d+)", p.stderr).group(1)  # the progress line
    # one scan's pipeline (and the loops around it): a cold run over a folder of that scan alone
    alone = os.path.join(tmp, "one-scan")
    os.makedirs(alone)
    os.link(os.path.join(folder, "scan0007.nii.gz"), os.path.join(alone, "scan0007.nii.gz"))
    with open(prog, "w") as f:
        f.write(dataset_program(alone))
    p = cli(["run", prog, "--cache-dir", os.path.join(tmp, "one-scan-store")])[2]
    expected = re.search(r"computed (\d+)", p.stderr).group(1)
    print(f"4. dataset of {files:,} scans {shape}: warm re-run {warm:.3f} s (cold {cold:.2f} s; target <= 0.5 s); "
          f"after changing one file {changed:.2f} s, computed {computed} tasks "
          f"(a cold run of that scan alone computes {expected})")


def bench_rss(tmp, counts, shape):
    budget = None
    rows = []
    for n in counts:
        folder = os.path.join(tmp, f"full{n}")
        write_scans(folder, n, shape)
        prog = os.path.join(tmp, f"full{n}.imgql")
        with open(prog, "w") as f:
            f.write(dataset_program(folder))
        code = ("import resource, json, sys\nfrom voxlogica_nb.session import get_engine\n"
                f"from voxlogica_nb.cli import main\nrc = main({['run', prog, '--cache-dir', os.path.join(folder, 'store'), '--quiet']!r})\n"
                "print(json.dumps([rc, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,"
                f" get_engine({os.path.join(folder, 'store')!r}).memory_bytes]))")
        out = subprocess.run([PY, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True).stdout
        rc, rss, budget = json.loads(out.strip().splitlines()[-1])
        rows.append(f"{n} scans {rss / 2**30:.2f} GB")
    print(f"5. peak RSS of a per-scan pipeline on {shape} scans: {', '.join(rows)}; memory budget "
          f"{budget / 2**30:.2f} GB (target: within it, however many scans)")


def main(argv=None):
    ap = arguments(__doc__)
    ap.add_argument("--files", type=int, default=1000)
    ap.add_argument("--scans", type=int, default=100)
    ap.add_argument("--only", default="import,stored,two,dataset,rss")
    args = ap.parse_args(argv)
    only = set(args.only.split(","))
    repeat = 1 if args.smoke else 5
    with tempfile.TemporaryDirectory() as tmp:
        if "import" in only:
            bench_import(2 if args.smoke else 7)
        if "stored" in only:
            bench_stored_run(tmp, (24, 24, 16) if args.smoke else (64, 64, 40), repeat)
        if "two" in only:
            bench_two_processes(tmp, (24, 24, 16) if args.smoke else (128, 128, 96))
        if "dataset" in only:
            bench_dataset(tmp, 8 if args.smoke else args.files, (8, 8, 8), repeat)
        if "rss" in only:
            shape = (16, 16, 8) if args.smoke else (155, 240, 240)
            bench_rss(tmp, (2, 4) if args.smoke else (10, args.scans), shape)


if __name__ == "__main__":
    main()
