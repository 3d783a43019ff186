"""Image benchmarks on the head phantom: spatial operators and the tumour program
against the same work done directly in SimpleITK.

Run from the repository's root:

    python -m tests.bench.images [--size small|full] [--smoke]

Writes the synthetic head phantom (``voxlogica_nb.data``; full size is
240×240×155) to a temporary folder, then in this one process:

1. times each spatial builtin as the engine runs it (the registered primitive
   function called on ``Image`` values) against the same operation called
   directly through SimpleITK on an image already in SimpleITK form
   (conversions are not counted on the SimpleITK side), checking that they
   agree voxel for voxel where the outputs are comparable. through and maxvol
   are compared with ConnectedComponent alone, the labelling they need
   (SimpleITK would still have to select the components). crossCorrelation
   and percentiles have no SimpleITK counterpart and are reported alone;
2. times the tumour example program, cold (``run(text, no_cache=True)``),
   against a hand-written direct SimpleITK sequence of the same pipeline (one
   SimpleITK filter per ImgQL operation; numpy only for percentiles, the
   crossCorrelation histograms — one scipy box filter per bin — and the
   component selection), checks both give the same Dice numbers and
   segmentation, and times a first and a warm re-run with the persistent store
   (plus a run from a new engine on that store, values read from disk).

Times are best of N (N=3 for operators, calls to ours and to SimpleITK
interleaved; 2 for whole programs, also interleaved); ratios are ours / SimpleITK measured in
the same process, since the machine is noisy.
Nothing is asserted about time. ``--smoke``: a 24×24×16 phantom, every
time of one run.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time

import numpy as np
import scipy.ndimage as ndi
import SimpleITK as sitk

import voxlogica_nb as vx
from voxlogica_nb import data
from voxlogica_nb.session import open_store
from voxlogica_nb.primitives import REGISTRY
from voxlogica_nb.primitives.io import read_image

from ._common import arguments, best, best_pair

F32_INF = float("inf")
SMOKE_SIZE = (24, 24, 16)  # (x, y, z)


def builtin(name):
    """The function the engine runs for the builtin ``name`` (single overload)."""
    prim = REGISTRY.lookup(name)
    assert prim is not None and len(prim.overloads) == 1, name
    return prim.overloads[0].fn


@contextlib.contextmanager
def cwd(folder):
    old = os.getcwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(old)


def above(k):
    """Smallest float32 strictly greater than float32(k), as a Python float."""
    return float(np.nextafter(np.float32(k), np.float32(np.inf)))


def below(k):
    """Largest float32 strictly smaller than float32(k), as a Python float."""
    return float(np.nextafter(np.float32(k), np.float32(-np.inf)))


# ---------------------------------------------------------------------------
# 1. operators
# ---------------------------------------------------------------------------

def bench_operators(folder, repeat):
    flair = read_image(os.path.join(folder, "phantom_flair.nii.gz"))
    arr = flair.array
    # Masks from the phantom: bright voxels (lesion, scalp and noise specks:
    # sparse, many components), dark voxels (the background and the air
    # touching the border: dense), the head, a seed inside the lesion, and the
    # voxels near the border (the seed of the program's background).
    masks = {
        "bright": arr > np.float32(0.6),
        "dark": arr < np.float32(0.1),
        "head": arr >= np.float32(0.1),
        "core": arr > np.float32(0.8),
    }
    m = {k: flair.like(v.view(np.uint8), "bool") for k, v in masks.items()}
    s = {k: v.to_sitk() for k, v in m.items()}
    s_flair = flair.to_sitk()
    box = [1] * flair.ndim
    lo, hi = float(arr.min()), float(arr.max())
    edge = np.zeros(arr.shape, bool)
    edge[[0, 1, -2, -1]] = True
    edge[:, [0, 1, -2, -1]] = True
    edge[:, :, [0, 1, -2, -1]] = True
    m["edge"] = flair.like(edge.view(np.uint8), "bool")

    near, interior, through, lcc = (builtin(n) for n in ("near", "interior", "through", "lcc"))
    maxvol, dt, cc, otsu, pct = (builtin(n) for n in ("maxvol", "dt", "crossCorrelation", "otsu", "percentiles"))

    def components(name):
        return lambda: sitk.ConnectedComponent(s[name], True)

    # operator, mask(s), ours, SimpleITK reference (or None), its description, agreement check
    cases = [
        ("near", "bright", lambda: near(m["bright"]),
         lambda: sitk.BinaryDilate(s["bright"], box, sitk.sitkBox), "BinaryDilate box r1", "bool"),
        ("near", "head", lambda: near(m["head"]),
         lambda: sitk.BinaryDilate(s["head"], box, sitk.sitkBox), "BinaryDilate box r1", "bool"),
        ("interior", "bright", lambda: interior(m["bright"]),
         lambda: sitk.BinaryErode(s["bright"], box, sitk.sitkBox), "BinaryErode box r1", "bool"),
        ("interior", "head", lambda: interior(m["head"]),
         lambda: sitk.BinaryErode(s["head"], box, sitk.sitkBox), "BinaryErode box r1", "bool"),
        ("through", "core,bright", lambda: through(m["core"], m["bright"]), components("bright"),
         "ConnectedComponent only", None),
        ("through", "edge,dark", lambda: through(m["edge"], m["dark"]), components("dark"),
         "ConnectedComponent only", None),
        ("lcc", "bright", lambda: lcc(m["bright"]), components("bright"), "ConnectedComponent full", "labels"),
        ("lcc", "dark", lambda: lcc(m["dark"]), components("dark"), "ConnectedComponent full", "labels"),
        ("maxvol", "bright", lambda: maxvol(m["bright"]), components("bright"), "ConnectedComponent only", None),
        ("maxvol", "dark", lambda: maxvol(m["dark"]), components("dark"), "ConnectedComponent only", None),
        ("dt", "head", lambda: dt(m["head"]),
         lambda: sitk.SignedMaurerDistanceMap(s["head"], False, False, True, 0.0), "SignedMaurerDistanceMap", "dt"),
        ("dt", "core", lambda: dt(m["core"]),
         lambda: sitk.SignedMaurerDistanceMap(s["core"], False, False, True, 0.0), "SignedMaurerDistanceMap", "dt"),
        ("otsu", "head", lambda: otsu(flair, m["head"], 256.0),
         lambda: sitk.OtsuThreshold(s_flair, s["head"], 0, 1, 256, True, 1), "OtsuThreshold 256 bins", "bool"),
        ("crossCorrelation", "core", lambda: cc(3.0, flair, flair, m["core"], lo, hi, 20.0), None,
         "none (r 3 mm, 20 bins; target well under 10 s)", None),
        ("percentiles", "head", lambda: pct(flair, m["head"], 0.5), None, "none", None),
    ]
    print(f"\n1. operators on the phantom flair ({'×'.join(map(str, flair.size))}, spacing "
          f"{', '.join(f'{x:g}' for x in flair.spacing)}), best of {repeat}; SimpleITK threads "
          f"{sitk.ProcessObject.GetGlobalDefaultNumberOfThreads()}; SimpleITK timed on images "
          f"already converted")
    print("   masks: " + ", ".join(f"{k} {int(np.count_nonzero(v.array))}" for k, v in m.items())
          + " voxels (bright flair > 0.6, dark < 0.1, head >= 0.1, core > 0.8, edge = near(border))")
    print(f"   {'operator':<18}{'mask':<13}{'ours ms':>9}{'SimpleITK ms':>14}{'ratio':>8}  {'agree':<6}reference")
    rows = {}
    for name, mname, ours, ref, desc, check in cases:
        if ref is None:
            t_ours, _, _ = best(ours, repeat)
            rows[name, mname] = (t_ours, None)
            print(f"   {name:<18}{mname:<13}{t_ours * 1e3:>9.1f}{'-':>14}{'-':>8}  {'-':<6}{desc}")
            continue
        t_ours, r_ours, t_ref, r_ref = best_pair(ours, ref, repeat)
        rows[name, mname] = (t_ours, t_ref)
        agree = "-"
        if check is not None:
            a = r_ours.array
            b = sitk.GetArrayViewFromImage(r_ref)
            if check == "bool":
                same = np.array_equal(a.view(bool), b != 0)
            elif check == "labels":
                same = np.array_equal(a, b.astype(np.float32))
            else:  # dt: ours sets the contour voxels (exactly 0 in ITK) to -0.0
                same = np.array_equal(a, b)
            agree = "yes" if same else "NO"
        print(f"   {name:<18}{mname:<13}{t_ours * 1e3:>9.1f}{t_ref * 1e3:>14.1f}{t_ours / t_ref:>8.2f}  "
              f"{agree:<6}{desc}")
    return rows


# ---------------------------------------------------------------------------
# 2. the tumour program and the direct SimpleITK sequence
# ---------------------------------------------------------------------------

def _border(img):
    """The image's border voxels as a uint8 SimpleITK image (numpy: a constant image)."""
    size = img.GetSize()
    arr = np.zeros(tuple(reversed(size)), np.uint8)
    for ax in range(arr.ndim):
        index = [slice(None)] * arr.ndim
        for edge in (0, -1):
            index[ax] = edge
            arr[tuple(index)] = 1
    out = sitk.GetImageFromArray(arr)
    out.CopyInformation(img)
    return out


def _through(seeds, region):
    """Components of ``region`` (full connectivity) holding a voxel of ``seeds``."""
    labels = sitk.ConnectedComponent(region, True)
    lab = sitk.GetArrayViewFromImage(labels)
    keep = np.zeros(int(lab.max()) + 1, np.uint8)
    keep[lab[sitk.GetArrayViewFromImage(seeds) != 0]] = 1
    keep[0] = 0
    out = sitk.GetImageFromArray(keep[lab])
    out.CopyInformation(region)
    return out


def _touch(a, b):
    """touch(a, b): components of a that contain a voxel of near(b)."""
    return _through(sitk.BinaryDilate(b, [1] * b.GetDimension(), sitk.sitkBox), a)


def _grow(a, b):
    return sitk.Or(a, _touch(b, a))


def _smoothen(a, d):
    """Opening by a ball of d mm: points within d of the points at distance >= d from not(a)."""
    far = sitk.BinaryThreshold(sitk.SignedMaurerDistanceMap(sitk.Not(a), False, False, True, 0.0),
                               float(np.float32(d)), F32_INF, 1, 0)
    return sitk.BinaryThreshold(sitk.SignedMaurerDistanceMap(far, False, False, True, 0.0),
                                -F32_INF, float(np.float32(d)), 1, 0)


def _percentiles(img, mask, c):
    """numpy: rank of each masked voxel among the masked ones, -1 outside (float32 steps)."""
    arr = sitk.GetArrayViewFromImage(img)
    inside = sitk.GetArrayViewFromImage(mask) != 0
    values = arr[inside]
    _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    below_ = np.cumsum(counts) - counts
    ranks = (below_.astype(np.float32) + np.float32(c) * counts.astype(np.float32)) / np.float32(values.size)
    out = np.full(arr.shape, np.float32(-1), np.float32)
    out[inside] = ranks[inverse.ravel()]
    res = sitk.GetImageFromArray(out)
    res.CopyInformation(img)
    return res


def _cross_correlation(rad, a, b, fb, m1, m2, k):
    """crossCorrelation: numpy histograms, one box sum per bin (scipy uniform_filter)."""
    arr_a = sitk.GetArrayViewFromImage(a).astype(np.float64)
    arr_b = sitk.GetArrayViewFromImage(b)[sitk.GetArrayViewFromImage(fb) != 0].astype(np.float64)
    delta = (m2 - m1) / k

    def bins(v):
        idx = np.full(v.shape, -1, np.int64)
        ok = (v >= m1) & (v < m2)
        idx[ok] = np.clip(np.trunc((v[ok] - m1) / delta), 0, k - 1)
        return idx

    ib = bins(arr_b)
    g = np.bincount(ib[ib >= 0], minlength=k).astype(np.float64)
    g_flat = bool(np.all(g == g[0]))
    cg = g - g.sum() / k
    norm_g = np.sqrt(np.sum(cg * cg))
    sizes = [2 * max(int(round(rad / s)), 1) + 1 for s in reversed(a.GetSpacing())]
    window = float(np.prod(sizes))
    ia = bins(arr_a)
    s1 = np.zeros(ia.shape, np.float32)  # counts are whole numbers <= window: exact in float32
    s2 = np.zeros(ia.shape, np.float32)
    sg = np.zeros(ia.shape, np.float64)
    h = np.empty(ia.shape, np.float32)
    tmp32 = np.empty(ia.shape, np.float32)
    tmp64 = np.empty(ia.shape, np.float64)
    for j in range(k):
        ind = (ia == j).astype(np.float32)
        if not ind.any():
            continue
        ndi.uniform_filter(ind, sizes, output=h, mode="constant")  # local mean of the indicator
        np.multiply(h, np.float32(window), out=h)
        np.rint(h, out=h)                                          # local count of bin j
        s1 += h
        np.multiply(h, h, out=tmp32)
        s2 += tmp32
        np.multiply(h, cg[j], out=tmp64)
        sg += tmp64
    s1 = s1.astype(np.float64)
    s2 = s2.astype(np.float64)
    spread = k * s2 - s1 * s1  # k · Σ(h - mean h)², exact: zero iff the local histogram is flat
    flat = spread == 0.0
    if g_flat:
        out = flat.astype(np.float32)
    else:
        with np.errstate(all="ignore"):
            corr = sg / (np.sqrt(spread / k) * norm_g)
        corr[flat] = 0.0
        out = corr.astype(np.float32)
    res = sitk.GetImageFromArray(out)
    res.CopyInformation(a)
    return res


def _count(img):
    return int(np.count_nonzero(sitk.GetArrayViewFromImage(img)))


def _dice(a, b):
    return 2.0 * _count(sitk.And(a, b)) / (_count(a) + _count(b))


def direct_tumour(folder, out_path):
    """The tumour program step by step in SimpleITK.

    Returns (dice_tumour, dice_gtv, gtv, seconds per stage)."""
    stages, clock = {}, [time.perf_counter()]

    def done(stage):
        now = time.perf_counter()
        stages[stage] = stages.get(stage, 0.0) + now - clock[0]
        clock[0] = now

    scan = sitk.ReadImage(os.path.join(folder, "phantom_flair.nii.gz"), sitk.sitkFloat32)
    truth = sitk.ReadImage(os.path.join(folder, "phantom_truth.nii.gz"))
    gt = sitk.BinaryThreshold(truth, 1, 255, 1, 0)                        # intensity(truth) >. 0
    done("read, ground truth")
    low = sitk.BinaryThreshold(scan, -F32_INF, below(0.1), 1, 0)          # flair <. 0.1
    background = _touch(low, _border(scan))
    brain = sitk.Not(background)
    done("background (touch)")
    pflair = _percentiles(scan, brain, 0.5)
    done("percentiles")
    hyper = _smoothen(sitk.BinaryThreshold(pflair, above(0.95), F32_INF, 1, 0), 5.0)
    very = _smoothen(sitk.BinaryThreshold(pflair, above(0.86), F32_INF, 1, 0), 2.0)
    done("smoothen (distance maps)")
    tumour = _grow(hyper, very)
    done("grow (components)")
    mm = sitk.MinimumMaximumImageFilter()
    mm.Execute(scan)
    similar = _cross_correlation(3.0, scan, scan, tumour, mm.GetMinimum(), mm.GetMaximum(), 20)
    done("crossCorrelation")
    similar_mask = _smoothen(sitk.BinaryThreshold(similar, above(0.6), F32_INF, 1, 0), 2.0)
    done("smoothen (distance maps)")
    gtv = _grow(tumour, similar_mask)
    done("grow (components)")
    d_tumour, d_gtv = _dice(tumour, gt), _dice(gtv, gt)
    os.makedirs(os.path.dirname(out_path), exist_ok=True)
    sitk.WriteImage(gtv, out_path, True)
    done("dice, write")
    return d_tumour, d_gtv, gtv, stages


def bench_program(folder, repeat):
    text = open(data.example_path("tumour"), encoding="utf-8").read()
    print(f"\n2. tumour program (examples/tumour.imgql), best of {repeat}")
    out_dir = os.path.join(folder, "direct")
    with cwd(folder):
        t_prog, res, t_direct, (d_tumour, d_gtv, gtv, stages) = best_pair(
            lambda: vx.run(text, no_cache=True),
            lambda: direct_tumour(folder, os.path.join(out_dir, "gtv.nii.gz")), repeat)
    if not res.ok:
        print(f"   program FAILED: {res.failures}")
        return None
    ours_gtv = sitk.GetArrayFromImage(sitk.ReadImage(os.path.join(folder, "out", "gtv.nii.gz"))) != 0
    same_gtv = np.array_equal(ours_gtv, sitk.GetArrayViewFromImage(gtv) != 0)
    p_tumour, p_gtv = float(res["dice_tumour"]), float(res["dice_gtv"])
    same = p_tumour == d_tumour and p_gtv == d_gtv
    print(f"   dice_tumour  program {p_tumour:.6f}  direct {d_tumour:.6f}")
    print(f"   dice_gtv     program {p_gtv:.6f}  direct {d_gtv:.6f}  "
          f"({'same' if same else 'DIFFERENT'} Dice; saved gtv {'identical' if same_gtv else 'DIFFERS'})")
    print(f"   {'run':<44}{'s':>8}{'ratio':>8}")
    print(f"   {'program, cold (no_cache=True)':<44}{t_prog:>8.2f}{t_prog / t_direct:>8.2f}")
    print(f"   {'direct SimpleITK sequence':<44}{t_direct:>8.2f}{1.0:>8.2f}")
    print("   direct sequence by stage (its last run): "
          + ", ".join(f"{k} {v:.2f} s" for k, v in stages.items()))

    store = tempfile.mkdtemp(prefix="vx-store-")
    try:
        with cwd(folder):
            t0 = time.perf_counter()
            first = vx.run(text, cache_dir=store)
            t_first = time.perf_counter() - t0
            t0 = time.perf_counter()
            second = vx.run(text, cache_dir=store)
            t_warm = time.perf_counter() - t0
            # A new engine on the same store, as a new process would start:
            # nothing in memory, every value read from disk.
            fresh = vx.Session(engine=vx.Engine(open_store(store)))
            t0 = time.perf_counter()
            third = fresh.run(text)
            t_disk = time.perf_counter() - t0
        print(f"   {'program, first run with the store':<44}{t_first:>8.2f}{t_first / t_direct:>8.2f}")
        print(f"   {'program, warm re-run with the store':<44}{t_warm:>8.2f}{t_warm / t_direct:>8.2f}"
              f"  ({second.summary()})")
        print(f"   {'  same, new engine (values read from disk)':<44}{t_disk:>8.2f}{t_disk / t_direct:>8.2f}"
              f"  ({third.summary()})")
        if not all(r.ok and float(r["dice_gtv"]) == p_gtv for r in (first, second, third)):
            print("   warm re-run gave a different result or failed")
    finally:
        shutil.rmtree(store, ignore_errors=True)
    return t_prog, t_direct, t_warm


def main(argv=None):
    ap = arguments(__doc__)
    ap.add_argument("--size", choices=("small", "full"), default="full",
                    help="phantom size: full 240×240×155 (default) or small 48×48×32")
    args = ap.parse_args(argv)
    size = SMOKE_SIZE if args.smoke else data.PHANTOM_LARGE if args.size == "full" else data.PHANTOM_SMALL
    repeat = 1 if args.smoke else 3
    folder = tempfile.mkdtemp(prefix="vx-phantom-")
    try:
        t0 = time.perf_counter()
        data.write_phantom(folder, size)
        print(f"phantom {'×'.join(map(str, size))} written in {time.perf_counter() - t0:.1f} s")
        bench_operators(folder, repeat)
        bench_program(folder, min(repeat, 2))
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
