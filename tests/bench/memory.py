"""Memory and store-overhead benchmarks.

    python -m tests.bench.memory [--quick] [--volumes N] [--format .nii.gz|.nii]
                                 [--only chain,stress,tumour,sweep] [--repeat N] [--smoke]

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
   Each way runs in ``--repeat`` fresh processes (3), interleaved, and the
   median times are compared: single runs vary by 20% here.
2. A threshold sweep: 10 phantom volumes of 240x240x155 voxels on disk, for
   each 100 thresholds between its minimum and maximum, the volume above
   each (``for`` inside ``for``), against a plain numpy loop doing the same
   reads, thresholds and counts. Targets: peak RSS <= 0.5 GB, CPU <= 1.5x
   numpy. Every row runs in ``--repeat`` fresh processes, rounds
   interleaved, and median CPU times are compared.

   The sweep's volumes are ``.nii.gz`` files (``--format .nii`` for
   uncompressed ones, where reading costs less and the comparison weighs
   the voxel work alone). ``>.`` is a library function (``f >. t`` is
   ``t .< f``, one comparison); two more engine rows run the same sweep
   with the primitive ``>``, two with ``simpleitk.BinaryThreshold``.

``--quick`` shrinks the sweep to 4 volumes and skips the tumour case.
``--smoke``: as ``--quick``, at a tiny size, and the sweep with ``>.`` only.
"""
from __future__ import annotations

import json
import os
import resource
import shutil
import sys
import tempfile
import time

from ._common import arguments, run_worker, tumour_program, worker_options

MODULE = __spec__.name  # workers run this module again, in fresh processes

FULL = {
    "chain_terms": 2000,
    "chain_size": (1024, 1024),
    "stress_size": (64, 64, 64),
    "stress_groups": 683,  # 6 tasks each: about 4,100 tasks
    "sweep_size": (240, 240, 155),  # x, y, z
    "thresholds": 100,
    "sweep_ops": (">.", ">", "sitk"),
}
SMOKE = {"chain_terms": 20, "chain_size": (64, 64), "stress_size": (16, 16, 16), "stress_groups": 10,
         "sweep_size": (24, 24, 16), "thresholds": 5, "sweep_ops": (">.", "sitk")}


# ---------------------------------------------------------------------------
# programs and data
# ---------------------------------------------------------------------------

def write_image(path, arr):
    import SimpleITK as sitk

    sitk.WriteImage(sitk.GetImageFromArray(arr), path, path.endswith(".gz"))


def chain_program(path, n):
    terms = " | ".join(f"(x >. {k / n:.6g})" for k in range(n))
    return f'load img = "{path}"\nlet x = intensity(img)\nprint "v" volume({terms})\n'


def balanced_sum(names):
    """``a .+. b`` over ``names`` as a balanced tree (no deep nesting)."""
    if len(names) == 1:
        return names[0]
    mid = len(names) // 2
    return f"({balanced_sum(names[:mid])}) .+. ({balanced_sum(names[mid:])})"


def stress_program(path, groups):
    """Per group: two light image operations, two heavy reductions and two
    cheap additions (one of the final sum)."""
    lines = [f'load img = "{path}"', "let x = intensity(img)"]
    for k in range(groups):
        c = (k + 0.5) / groups
        lines.append(f"let s{k} = volume(x >. {c:.6g}) .+. max(x *. {1 + c:.6g})")
    lines.append('print "total" ' + balanced_sum([f"s{k}" for k in range(groups)]))
    return "\n".join(lines) + "\n"


def sweep_program(folder, ext, n, op=">."):
    t = f"(lo + ((hi - lo) * (i / {n - 1})))"
    # SimpleITK's filter keeps lower <= v <= upper (inclusive) and gives a 0/1 number image
    mask = f"simpleitk.BinaryThreshold(f, {t}, hi + 1, 1, 0) >. 0" if op == "sitk" else f"f {op} {t}"
    return (f'let counts = for path in dir("{folder}", "*{ext}") do\n'
            f"  let f = intensity(load(path)) in\n"
            f"  let lo = min(f) in\n"
            f"  let hi = max(f) in\n"
            f"  for i in range(0, {n}) do volume({mask})\n"
            f'print "counts" counts\n')


def worker_data(opts):
    """Write the inputs (in a worker, so the driver's memory stays small:
    a child starts with the peak RSS of its parent)."""
    import numpy as np

    from voxlogica_nb.data import PHANTOM_LARGE, phantom_flair

    tmp, ext, sizes = opts["tmp"], opts["ext"], opts["sizes"]
    rng = np.random.default_rng(0)
    chain = os.path.join(tmp, "chain.nii")
    write_image(chain, rng.random(sizes["chain_size"][::-1], dtype=np.float32))
    stress = os.path.join(tmp, "stress.nii")
    write_image(stress, rng.random(sizes["stress_size"][::-1], dtype=np.float32))
    sweep = os.path.join(tmp, "sweep")
    os.makedirs(sweep)
    for k in range(opts["volumes"]):
        img = phantom_flair(size=tuple(sizes["sweep_size"]), seed=k)
        write_image(os.path.join(sweep, f"scan{k:02d}{ext}"), img.array)
    tumour = tumour_program(os.path.join(tmp, "tumour"), PHANTOM_LARGE) if opts["tumour"] else None
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

    # The store's libraries and SimpleITK load on first use (package import
    # stays light); a kernel pays that once, so every process loads them
    # before the clock starts (the numpy loop imports SimpleITK before its own).
    t = time.perf_counter()
    import joblib  # noqa: F401
    import sqlite3  # noqa: F401

    import SimpleITK  # noqa: F401
    imports = time.perf_counter() - t
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
                      "peak_bytes": getattr(out, "peak_bytes", None), "imports": imports,
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
            t = lo + ((hi - lo) * (i / (n - 1)))
            if opts.get("inclusive"):  # as SimpleITK's BinaryThreshold: v >= t cast to the pixel type
                row.append(float(np.count_nonzero(f >= np.float32(t))))
            else:
                row.append(float(np.count_nonzero(f > np.float32(t))))
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
    return run_worker(MODULE, opts, tmp)


def gb(n):
    return f"{n / 2**30:.2f} GB"


def verdict(ok):
    return "OK" if ok else "MISSED"


def store_vs_nocache(name, program, tmp, repeat):
    """``repeat`` fresh processes each way, interleaved; the medians are compared
    (single runs of a second vary by 20% on these machines)."""
    ons, offs = [], []
    for _ in range(repeat):
        ons.append(spawn({"mode": "engine", "program": program, "cache_dir": tempfile.mkdtemp(dir=tmp)}, tmp))
        offs.append(spawn({"mode": "engine", "program": program, "no_cache": True}, tmp))
    for r in ons + offs:
        assert r["printed"] == ons[0]["printed"], (r["printed"], ons[0]["printed"])
    on, off = (sorted(rs, key=lambda r: r["execute"])[len(rs) // 2] for rs in (ons, offs))
    t = on["execute"] / off["execute"]
    m = max(r["maxrss"] for r in ons) / max(r["maxrss"] for r in offs)
    peak = ""
    if on.get("peak_bytes") is not None:
        peak = f"; values alive at most {gb(on['peak_bytes'])} / {gb(off['peak_bytes'])}"
    runs = lambda rs: ", ".join(f"{r['execute']:.2f}" for r in rs)  # noqa: E731
    print(f"{name} ({on['tasks']} tasks in the table; median of {repeat} fresh processes each):")
    print(f"    store on: run {on['execute']:.2f} s [{runs(ons)}] (reduce {on['reduce']:.2f} s), "
          f"CPU {on['cpu_run']:.2f} s, peak RSS {gb(on['maxrss'])}; computed {on['stats']['computed']}")
    print(f"    no cache: run {off['execute']:.2f} s [{runs(offs)}] (reduce {off['reduce']:.2f} s), "
          f"CPU {off['cpu_run']:.2f} s, peak RSS {gb(off['maxrss'])}{peak}")
    print(f"    store on / no cache: time {t:.2f}x, peak RSS {m:.2f}x "
          f"(target <= 1.2x each) {verdict(t <= 1.2 and m <= 1.2)}; the store's libraries (joblib, "
          f"sqlite3) and SimpleITK, loaded once per process before the clock starts: {on['imports']:.2f} s", flush=True)


def sweep(folder, volumes, ext, tmp, sizes, repeat):
    """Each row in ``repeat`` fresh processes, rounds interleaved (the
    machine's speed drifts over minutes); medians of CPU time compared."""
    n = sizes["thresholds"]
    numpy_rows = {"numpy": {}, "inclusive": {"inclusive": True}}
    if "sitk" not in sizes["sweep_ops"]:
        del numpy_rows["inclusive"]
    engine_rows = [(label, op, cache) for label, op, cache in (
        ("store on", ">.", True), ("no cache", ">.", False),
        ("store on, `>` for `>.`", ">", True), ("no cache, `>` for `>.`", ">", False),
        ("store on, simpleitk.BinaryThreshold", "sitk", True),
        ("no cache, simpleitk.BinaryThreshold", "sitk", False)) if op in sizes["sweep_ops"]]
    runs: dict = {label: [] for label in [*numpy_rows, *(r[0] for r in engine_rows)]}
    for _ in range(repeat):
        for label, extra in numpy_rows.items():
            runs[label].append(spawn(dict(extra, mode="numpy", folder=folder, thresholds=n, ext=ext), tmp))
        for label, op, cache in engine_rows:
            opts = {"cache_dir": tempfile.mkdtemp(dir=tmp)} if cache else {"no_cache": True}
            r = spawn(dict(opts, mode="engine", program=sweep_program(folder, ext, n, op=op)), tmp)
            base = runs["inclusive" if op == "sitk" else "numpy"][-1]
            if r["printed"] != base["printed"]:
                a, b = (eval(x["printed"][0][1]) for x in (r, base))
                diff = [(v, i, x, y) for v, (ra, rb) in enumerate(zip(a, b))
                        for i, (x, y) in enumerate(zip(ra, rb)) if x != y]
                raise AssertionError(f"the engine's counts differ from numpy's ({len(diff)} differ, first {diff[:3]})")
            runs[label].append(r)
    med = {label: sorted(rs, key=lambda r: r["cpu_run"])[len(rs) // 2] for label, rs in runs.items()}
    cpus = lambda label: ", ".join(f"{r['cpu_run']:.2f}" for r in runs[label])  # noqa: E731
    peak = lambda label: max(r["maxrss"] for r in runs[label])  # noqa: E731
    size = "x".join(map(str, sizes["sweep_size"]))
    print(f"threshold sweep: {volumes} {ext} volumes of {size} x {n} thresholds "
          f"({med['store on']['tasks']} tasks in the table; median CPU of {repeat} fresh processes each, "
          f"rounds interleaved):")
    np_run = med["numpy"]
    print(f"    numpy loop: {np_run['seconds']:.2f} s, CPU {np_run['cpu_run']:.2f} s [{cpus('numpy')}], "
          f"peak RSS {gb(peak('numpy'))} (after imports {gb(np_run['rss_start'])})")
    if "inclusive" in med:
        print(f"    numpy loop, inclusive (as BinaryThreshold): {med['inclusive']['seconds']:.2f} s, "
              f"CPU {med['inclusive']['cpu_run']:.2f} s [{cpus('inclusive')}]")
    for label, op, _ in engine_rows:
        r, base = med[label], med["inclusive" if op == "sitk" else "numpy"]
        cpu = r["cpu_run"] / base["cpu_run"]
        alive = f", values alive at most {gb(r['peak_bytes'])}" if r.get("peak_bytes") is not None else ""
        print(f"    engine, {label}: run {r['execute']:.2f} s, CPU {r['cpu_run']:.2f} s [{cpus(label)}] "
              f"({cpu:.2f}x numpy, target <= 1.5x) {verdict(cpu <= 1.5)}; peak RSS {gb(peak(label))} "
              f"(target <= 0.5 GB) {verdict(peak(label) <= 0.5 * 2**30)}{alive}", flush=True)


def main(argv):
    opts = worker_options(argv)
    if opts is not None:
        return {"numpy": worker_numpy, "data": worker_data, "engine": worker_engine}[opts["mode"]](opts)
    ap = arguments(__doc__)
    ap.add_argument("--quick", action="store_true", help="4 volumes in the sweep, no tumour case")
    ap.add_argument("--volumes", type=int, help="volumes in the sweep (default 10, 4 with --quick)")
    ap.add_argument("--format", default=".nii.gz", choices=(".nii.gz", ".nii"), help="the sweep's files")
    ap.add_argument("--only", help="cases to run, of chain,stress,tumour,sweep (default all)")
    ap.add_argument("--repeat", type=int, help="processes per row (default 3; 1 with --smoke)")
    args = ap.parse_args(argv)
    args.repeat = args.repeat or (1 if args.smoke else 3)
    quick, ext, sizes = args.quick or args.smoke, args.format, SMOKE if args.smoke else FULL
    only = set(args.only.split(",")) if args.only else None
    want = (lambda name: only is None or name in only)
    volumes = args.volumes if args.volumes is not None else 1 if args.smoke else 4 if quick else 10
    tmp = tempfile.mkdtemp(prefix="voxlogica-bench-memory-")
    try:
        paths = spawn({"mode": "data", "tmp": tmp, "ext": ext, "volumes": volumes if want("sweep") else 0,
                       "tumour": want("tumour") and not quick, "sizes": sizes}, tmp)
        print(f"{os.cpu_count()} CPUs; each case in a fresh process", flush=True)
        if want("chain"):
            w, h = sizes["chain_size"]
            store_vs_nocache(f"| chain of {sizes['chain_terms']} thresholds, {w}x{h} image",
                             chain_program(paths["chain"], sizes["chain_terms"]), tmp, args.repeat)
        if want("stress"):
            store_vs_nocache(f"stress program, {sizes['stress_groups']} groups on a "
                             f"{'x'.join(map(str, sizes['stress_size']))} image",
                             stress_program(paths["stress"], sizes["stress_groups"]), tmp, args.repeat)
        if want("tumour") and not quick:
            store_vs_nocache("tumour example, full-size phantom", paths["tumour"], tmp, args.repeat)
        if want("sweep"):
            sweep(paths["sweep"], volumes, ext, tmp, sizes, args.repeat)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
