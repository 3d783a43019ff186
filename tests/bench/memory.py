"""Memory and store-overhead benchmarks (not collected by pytest).

    python tests/bench/memory.py [--quick] [--volumes N] [--format .nii.gz|.nii]
                                 [--only chain,stress,tumour,sweep]

Every case runs in a fresh Python process, so peak RSS figures
(``resource.getrusage``, ``ru_maxrss``) never mix; times are those of the
engine's ``run()`` inside the process, CPU is the process's user + system
time. Printed, with the targets beside them:

1. Store on (cold, empty cache folder) against ``no_cache``, time and peak
   RSS, on
   * a 2,000-term ``|`` chain of thresholds of a 1024x1024 image;
   * a stress program of about 4,000 small tasks (light voxel-wise
     operations, heavy reductions, cheap arithmetic) on a 64x64x64 image;
   * the tumour example (TACAS 2019 case study) on the full-size phantom.
   Target: store on within 1.2x of ``no_cache`` in time and in memory.
2. A threshold sweep: 10 phantom volumes of 240x240x155 voxels on disk, for
   each 100 thresholds between its minimum and maximum, the volume above
   each (``for`` inside ``for``), against a plain numpy loop doing the same
   reads, thresholds and counts. Targets: peak RSS <= 0.5 GB, CPU <= 1.5x
   numpy.

   The sweep's volumes are ``.nii.gz`` files (``--format .nii`` for
   uncompressed ones, where reading costs less and the comparison weighs
   the voxel work alone). ``>.`` is a library function of four voxel-wise
   primitives (``(k .<= f) & !(k .= f)``); two more engine rows run the
   same sweep with the single primitive ``>``.

``--quick`` shrinks the sweep to 4 volumes and skips the tumour case.
"""
from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.abspath(__file__)

CHAIN_TERMS = 2000
CHAIN_SIZE = (1024, 1024)
STRESS_SIZE = (64, 64, 64)
STRESS_GROUPS = 683  # 6 tasks each: about 4,100 tasks
SWEEP_SIZE = (240, 240, 155)  # x, y, z
SWEEP_THRESHOLDS = 100


# ---------------------------------------------------------------------------
# programs and data
# ---------------------------------------------------------------------------

def write_image(path, arr):
    import SimpleITK as sitk

    sitk.WriteImage(sitk.GetImageFromArray(arr), path, path.endswith(".gz"))


def chain_program(path, n=CHAIN_TERMS):
    terms = " | ".join(f"(x >. {k / n:.6g})" for k in range(n))
    return f'load img = "{path}"\nlet x = intensity(img)\nprint "v" volume({terms})\n'


def balanced_sum(names):
    """``a .+. b`` over ``names`` as a balanced tree (no deep nesting)."""
    if len(names) == 1:
        return names[0]
    mid = len(names) // 2
    return f"({balanced_sum(names[:mid])}) .+. ({balanced_sum(names[mid:])})"


def stress_program(path, groups=STRESS_GROUPS):
    """Per group: two light image operations, two heavy reductions and two
    cheap additions (one of the final sum)."""
    lines = [f'load img = "{path}"', "let x = intensity(img)"]
    for k in range(groups):
        c = (k + 0.5) / groups
        lines.append(f"let s{k} = volume(x >. {c:.6g}) .+. max(x *. {1 + c:.6g})")
    lines.append('print "total" ' + balanced_sum([f"s{k}" for k in range(groups)]))
    return "\n".join(lines) + "\n"


def sweep_program(folder, ext, n=SWEEP_THRESHOLDS, op=">."):
    return (f'let counts = for path in dir("{folder}", "*{ext}") do\n'
            f"  let f = intensity(load(path)) in\n"
            f"  let lo = min(f) in\n"
            f"  let hi = max(f) in\n"
            f"  for i in range(0, {n}) do volume(f {op} (lo + ((hi - lo) * (i / {n - 1}))))\n"
            f'print "counts" counts\n')


def tumour_program(folder):
    from voxlogica_nb import data

    path = data.write_demo("tumour", folder, size=data.PHANTOM_LARGE)
    with open(path) as f:
        text = f.read()
    return text.replace('"phantom_', f'"{folder}/phantom_').replace('"out/', f'"{folder}/out/')


def worker_data(opts):
    """Write the inputs (in a worker, so the driver's memory stays small:
    a child starts with the peak RSS of its parent)."""
    import numpy as np

    from voxlogica_nb.data import phantom_flair

    tmp, ext = opts["tmp"], opts["ext"]
    rng = np.random.default_rng(0)
    chain = os.path.join(tmp, "chain.nii")
    write_image(chain, rng.random(CHAIN_SIZE[::-1], dtype=np.float32))
    stress = os.path.join(tmp, "stress.nii")
    write_image(stress, rng.random(STRESS_SIZE[::-1], dtype=np.float32))
    sweep = os.path.join(tmp, "sweep")
    os.makedirs(sweep)
    for k in range(opts["volumes"]):
        img = phantom_flair(size=SWEEP_SIZE, seed=k)
        write_image(os.path.join(sweep, f"scan{k:02d}{ext}"), img.array)
    tumour = tumour_program(os.path.join(tmp, "tumour")) if opts["tumour"] else None
    print(json.dumps({"chain": chain, "stress": stress, "sweep": sweep, "tumour": tumour}))
    return 0


# ---------------------------------------------------------------------------
# worker side (one per case, in a fresh process)
# ---------------------------------------------------------------------------

def usage():
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return {"cpu": ru.ru_utime + ru.ru_stime, "maxrss": ru.ru_maxrss * 1024}


def worker_engine(opts):
    sys.setrecursionlimit(100_000)
    import voxlogica_nb as vx

    before = usage()
    no_cache = opts.get("no_cache", False)
    session = vx.Session(cache_dir=opts.get("cache_dir"), no_cache=no_cache, jobs=opts.get("jobs"))
    t0 = time.perf_counter()
    reduced = session.reduce(opts["program"])
    t1 = time.perf_counter()
    out = session.engine.run(reduced.effects, session.table, [], no_cache=no_cache)
    t2 = time.perf_counter()
    after = usage()
    assert not out.failures, [str(f) for f in out.failures]
    print(json.dumps({"seconds": t2 - t0, "reduce": t1 - t0, "execute": t2 - t1, "stats": out.stats,
                      "printed": [[k, repr(v)] for k, v in out.printed],
                      "cpu": after["cpu"], "cpu_run": after["cpu"] - before["cpu"],
                      "maxrss": after["maxrss"], "rss_start": before["maxrss"],
                      "peak_bytes": getattr(out, "peak_bytes", None),
                      "tasks": len(session.table)}))
    return 0


def worker_numpy(opts):
    """The sweep as a plain loop: read, min, max, threshold and count."""
    import glob

    import numpy as np
    import SimpleITK as sitk

    import voxlogica_nb  # noqa: F401  (same imports as the engine's process)

    before = usage()
    t0 = time.perf_counter()
    n = opts["thresholds"]
    counts = []
    for path in sorted(glob.glob(os.path.join(opts["folder"], "*" + opts["ext"]))):
        f = sitk.GetArrayFromImage(sitk.ReadImage(path)).astype(np.float32, copy=False)
        lo, hi = float(f.min()), float(f.max())
        row = []
        for i in range(n):
            t = np.float32(lo + ((hi - lo) * (i / (n - 1))))
            row.append(float(np.count_nonzero(f > t)))
        counts.append(row)
    t1 = time.perf_counter()
    after = usage()
    print(json.dumps({"seconds": t1 - t0, "cpu": after["cpu"], "cpu_run": after["cpu"] - before["cpu"],
                      "maxrss": after["maxrss"], "rss_start": before["maxrss"],
                      "printed": [["counts", repr(counts)]]}))
    return 0


# ---------------------------------------------------------------------------
# driver side
# ---------------------------------------------------------------------------

def spawn(opts, tmp):
    fd, path = tempfile.mkstemp(suffix=".json", dir=tmp)
    with os.fdopen(fd, "w") as f:
        json.dump(opts, f)  # programs are too long for a command line
    t0 = time.perf_counter()
    p = subprocess.run([sys.executable, HERE, "--worker", path], capture_output=True, text=True,
                       timeout=3600)
    if p.returncode != 0:
        raise RuntimeError(f"worker failed ({p.returncode}):\n{p.stderr}")
    r = json.loads(p.stdout.strip().splitlines()[-1])
    r["wall"] = time.perf_counter() - t0
    return r


def gb(n):
    return f"{n / 2**30:.2f} GB"


def verdict(ok):
    return "OK" if ok else "MISSED"


def store_vs_nocache(name, program, tmp):
    on = spawn({"mode": "engine", "program": program, "cache_dir": tempfile.mkdtemp(dir=tmp)}, tmp)
    off = spawn({"mode": "engine", "program": program, "no_cache": True}, tmp)
    assert on["printed"] == off["printed"], (on["printed"], off["printed"])
    t = on["execute"] / off["execute"]
    m = on["maxrss"] / off["maxrss"]
    peak = ""
    if on.get("peak_bytes") is not None:
        peak = f"; values alive at most {gb(on['peak_bytes'])} / {gb(off['peak_bytes'])}"
    print(f"{name} ({on['tasks']} tasks in the table):")
    print(f"    store on: run {on['execute']:.2f} s (reduce {on['reduce']:.2f} s), CPU {on['cpu_run']:.2f} s, "
          f"peak RSS {gb(on['maxrss'])}; computed {on['stats']['computed']}")
    print(f"    no cache: run {off['execute']:.2f} s (reduce {off['reduce']:.2f} s), CPU {off['cpu_run']:.2f} s, "
          f"peak RSS {gb(off['maxrss'])}{peak}")
    print(f"    store on / no cache: time {t:.2f}x, peak RSS {m:.2f}x "
          f"(target <= 1.2x each) {verdict(t <= 1.2 and m <= 1.2)}", flush=True)


def sweep(folder, volumes, ext, tmp):
    np_run = spawn({"mode": "numpy", "folder": folder, "thresholds": SWEEP_THRESHOLDS, "ext": ext}, tmp)
    rows = {}
    for label, op, opts in (("store on", ">.", {"cache_dir": tempfile.mkdtemp(dir=tmp)}),
                            ("no cache", ">.", {"no_cache": True}),
                            ("store on, `>` for `>.`", ">", {"cache_dir": tempfile.mkdtemp(dir=tmp)}),
                            ("no cache, `>` for `>.`", ">", {"no_cache": True})):
        r = spawn(dict(opts, mode="engine", program=sweep_program(folder, ext, op=op)), tmp)
        if r["printed"] != np_run["printed"]:
            a, b = (eval(x["printed"][0][1]) for x in (r, np_run))
            diff = [(v, i, x, y) for v, (ra, rb) in enumerate(zip(a, b)) for i, (x, y) in enumerate(zip(ra, rb)) if x != y]
            raise AssertionError(f"the engine's counts differ from numpy's ({len(diff)} differ, first {diff[:3]})")
        rows[label] = r
    print(f"threshold sweep: {volumes} {ext} volumes of {'x'.join(map(str, SWEEP_SIZE))} x {SWEEP_THRESHOLDS} thresholds "
          f"({rows['store on']['tasks']} tasks in the table):")
    print(f"    numpy loop: {np_run['seconds']:.2f} s, CPU {np_run['cpu_run']:.2f} s, "
          f"peak RSS {gb(np_run['maxrss'])} (after imports {gb(np_run['rss_start'])})")
    for label, r in rows.items():
        cpu = r["cpu_run"] / np_run["cpu_run"]
        peak = f", values alive at most {gb(r['peak_bytes'])}" if r.get("peak_bytes") is not None else ""
        print(f"    engine, {label}: run {r['execute']:.2f} s, CPU {r['cpu_run']:.2f} s ({cpu:.2f}x numpy, "
              f"target <= 1.5x) {verdict(cpu <= 1.5)}; peak RSS {gb(r['maxrss'])} (target <= 0.5 GB) "
              f"{verdict(r['maxrss'] <= 0.5 * 2**30)}{peak}", flush=True)


def main(argv):
    if argv[:1] == ["--worker"]:
        with open(argv[1]) as f:
            opts = json.load(f)
        return {"numpy": worker_numpy, "data": worker_data, "engine": worker_engine}[opts["mode"]](opts)
    quick = "--quick" in argv
    only = set(argv[argv.index("--only") + 1].split(",")) if "--only" in argv else None
    want = (lambda name: only is None or name in only)
    volumes = int(argv[argv.index("--volumes") + 1]) if "--volumes" in argv else 4 if quick else 10
    ext = argv[argv.index("--format") + 1] if "--format" in argv else ".nii.gz"
    tmp = tempfile.mkdtemp(prefix="voxlogica-bench-memory-")
    try:
        paths = spawn({"mode": "data", "tmp": tmp, "ext": ext, "volumes": volumes if want("sweep") else 0,
                       "tumour": want("tumour") and not quick}, tmp)
        print(f"{os.cpu_count()} CPUs; each case in a fresh process", flush=True)
        if want("chain"):
            store_vs_nocache(f"| chain of {CHAIN_TERMS} thresholds, {CHAIN_SIZE[0]}x{CHAIN_SIZE[1]} image",
                             chain_program(paths["chain"]), tmp)
        if want("stress"):
            store_vs_nocache(f"stress program, {STRESS_GROUPS} groups on a {'x'.join(map(str, STRESS_SIZE))} image",
                             stress_program(paths["stress"]), tmp)
        if want("tumour") and not quick:
            store_vs_nocache("tumour example, full-size phantom", paths["tumour"], tmp)
        if want("sweep"):
            sweep(paths["sweep"], volumes, ext, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
