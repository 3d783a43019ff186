"""Time the spatial builtins against the same operations called directly in SimpleITK.

Run from the repository's root:

    python -m tests.bench.kernels [--repeat N] [--small] [--smoke]

Builds a 240×240×155 smooth random volume (a number image and a bool image
with blob-like components), times each builtin and its direct SimpleITK
counterpart in this process, checks they agree, and prints best-of-N times
and the ratio ours / direct (below 1 means faster than SimpleITK).
``--smoke``: a 32×32×24 volume, one repetition.
"""
from __future__ import annotations

import numpy as np
import scipy.ndimage as ndi
import SimpleITK as sitk

from voxlogica_nb.image import Image
from voxlogica_nb.primitives import spatial

from ._common import arguments, best


def volume(shape, seed=0):
    rng = np.random.default_rng(seed)
    noise = rng.random(shape, dtype=np.float32)
    smooth = ndi.uniform_filter(noise, size=5)
    values = np.rint(smooth * 1000).astype(np.float32)  # 16-bit-like intensities
    mask = (smooth > np.float32(0.5)).astype(np.uint8)
    spacing = (1.0, 1.0, 1.5)
    return Image(values, "number", spacing), Image(mask, "bool", spacing)


def main(argv=None):
    ap = arguments(__doc__)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--small", action="store_true", help="use a 120×120×80 volume")
    args = ap.parse_args(argv)
    if args.smoke:
        args.repeat = 1
    shape = (24, 32, 32) if args.smoke else (80, 120, 120) if args.small else (155, 240, 240)
    n, b = volume(shape)
    sb, sn = b.to_sitk(), n.to_sitk()
    box = [1] * b.ndim

    def direct_near():
        return sitk.GetArrayFromImage(sitk.BinaryDilate(sitk.GetImageFromArray(b.array), box, sitk.sitkBox)).astype(bool)

    def direct_interior():
        # BinaryErode's default keeps the image edge as foreground, like interior.
        return sitk.GetArrayFromImage(sitk.BinaryErode(sitk.GetImageFromArray(b.array), box, sitk.sitkBox)).astype(bool)

    def direct_lcc():
        return sitk.GetArrayFromImage(sitk.ConnectedComponent(sitk.GetImageFromArray(b.array), True)).astype(np.float32)

    def direct_dt():
        return sitk.GetArrayFromImage(sitk.SignedMaurerDistanceMap(sb, False, False, True, 0.0))

    def direct_otsu():
        return sitk.GetArrayFromImage(sitk.OtsuThreshold(sn, sb, 0, 1, 128, True, 1)).astype(bool)

    cases = [
        ("near", lambda: spatial.near(b).array.view(bool), direct_near),
        ("interior", lambda: spatial.interior(b).array.view(bool), direct_interior),
        ("lcc", lambda: spatial.lcc(b).array, direct_lcc),
        ("through", lambda: spatial.through(spatial.interior(b), b).array.view(bool), None),
        ("maxvol", lambda: spatial.maxvol(b).array.view(bool), direct_lcc),
        ("dt", lambda: spatial.dt(b).array, direct_dt),
        ("otsu", lambda: spatial.otsu(n, b, 128.0).array.view(bool), direct_otsu),
    ]
    print(f"volume {'×'.join(map(str, reversed(shape)))}, best of {args.repeat}, "
          f"SimpleITK threads {sitk.ProcessObject.GetGlobalDefaultNumberOfThreads()}")
    print(f"{'operator':<18}{'ours ms':>10}{'direct ms':>11}{'ratio':>8}  agree")
    for name, ours, direct in cases:
        t_ours, _, r_ours = best(ours, args.repeat)
        if direct is None:
            print(f"{name:<18}{t_ours * 1e3:>10.1f}{'-':>11}{'-':>8}")
            continue
        t_direct, _, r_direct = best(direct, args.repeat)
        agree = "-" if name == "maxvol" else ("yes" if np.array_equal(r_ours, r_direct) else "NO")
        print(f"{name:<18}{t_ours * 1e3:>10.1f}{t_direct * 1e3:>11.1f}{t_ours / t_direct:>8.2f}  {agree}")
    # crossCorrelation has no SimpleITK counterpart: time it alone (radius 3 mm, 16 bins).
    lo, hi = float(n.array.min()), float(n.array.max())
    t_cc, _, _ = best(lambda: spatial.crossCorrelation(3.0, n, n, b, lo, hi, 16.0), 1)
    print(f"{'crossCorrelation':<18}{t_cc * 1e3:>10.1f}{'-':>11}{'-':>8}  (r=3, 16 bins, 1 run)")


if __name__ == "__main__":
    main()
