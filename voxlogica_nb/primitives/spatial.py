"""Spatial builtins: near, interior, through, lcc, maxvol, dt, crossCorrelation, otsu.

Neighbourhoods are full boxes (8-connected in 2D, 26-connected in 3D) and
ignore spacing, except ``dt`` and ``crossCorrelation`` which work in mm.
Every result keeps the geometry of its first image argument.
"""
from __future__ import annotations


from ..errors import PrimitiveError
from .images import as_bool, boolean, number, same_size
from .registry import primitive
from ..lazy import LazyModule

np = LazyModule("numpy", globals(), "np")  # imported on first use


def _shifted(ndim, axis, start, stop):
    index = [slice(None)] * ndim
    index[axis] = slice(start, stop)
    return tuple(index)


def _box3(mask: np.ndarray, grow: bool) -> np.ndarray:
    """3×3(×3) box dilation (grow) or erosion of a bool array, one axis at a time.

    Outside the array counts as false for dilation and true for erosion:
    the shifted slices never bring in anything from beyond the edge.
    """
    cur = mask
    for ax in range(mask.ndim):
        if cur.shape[ax] < 2:
            continue
        out = cur.copy()
        lo, hi = _shifted(mask.ndim, ax, 1, None), _shifted(mask.ndim, ax, None, -1)
        if grow:
            out[lo] |= cur[hi]
            out[hi] |= cur[lo]
        else:
            out[lo] &= cur[hi]
            out[hi] &= cur[lo]
        cur = out
    return cur.copy() if cur is mask else cur


def _label(mask: np.ndarray):
    """Full-connectivity component labels numbered in raster order (x
    fastest) and their count.

    SimpleITK's ConnectedComponent (what VoxLogicA 1 calls) is 1.7–3× faster
    than ``scipy.ndimage.label`` on the smooth masks of real images, though
    slower on salt-and-pepper noise; both number components identically.
    """
    import SimpleITK as sitk  # on first use: importing the package stays light
    cc = sitk.ConnectedComponentImageFilter()
    cc.SetFullyConnected(True)
    labels = cc.Execute(sitk.GetImageFromArray(mask.view(np.uint8)))
    return sitk.GetArrayFromImage(labels), cc.GetObjectCount()


@primitive("near", "(bimg) -> bimg", cost="light")
def near(b):
    """Dilation by the 3×3 (3×3×3 in 3D) box: the voxels of b and their neighbours.

    Parameters
    ----------
    b : bimg
        A boolean image.

    Returns
    -------
    bimg
        True where ``b`` is true at the voxel or at one of its 8 (2D) or 26
        (3D) neighbours; outside the image counts as false.

    Examples
    --------
    print "v" volume(near((x =. 2) & (y =. 1)))   // v=9.0
    """
    return as_bool(b, _box3(boolean(b, "near"), grow=True))


@primitive("interior", "(bimg) -> bimg", cost="light")
def interior(b):
    """Erosion by the 3×3 (3×3×3 in 3D) box: the voxels of b whose neighbours are all in b.

    Parameters
    ----------
    b : bimg
        A boolean image.

    Returns
    -------
    bimg
        True where ``b`` is true at the voxel and at all its 8 (2D) or 26 (3D)
        neighbours; outside the image counts as true, so the image edge erodes
        nothing. Equals ``not(near(not(b)))``.

    Examples
    --------
    print "v" volume(interior(x <. 3))   // v=8.0
    print "all" volume(interior(tt))   // all=20.0
    """
    return as_bool(b, _box3(boolean(b, "interior"), grow=False))


@primitive("through", "(bimg, bimg) -> bimg")
def through(b1, b2):
    """The connected components of b2 that contain a voxel of b1.

    Components are full-connectivity (8-connected in 2D, 26 in 3D). The
    stdlib's ``a ~> b`` is ``through(b, a)``.

    Parameters
    ----------
    b1 : bimg
        The seeds.
    b2 : bimg
        The region whose components are kept or dropped, of the same size.

    Returns
    -------
    bimg
        The union of the components of ``b2`` that meet ``b1`` (a subset of
        ``b2``).

    Examples
    --------
    // the column x = 2 splits the image in two components of 8 voxels
    print "v" volume(through((x =. 0) & (y =. 0), not(x =. 2)))   // v=8.0
    """
    same_size("through", b1, b2)
    seeds = boolean(b1, "through")
    labels, count = _label(boolean(b2, "through"))
    keep = np.zeros(count + 1, bool)
    keep[labels[seeds]] = True
    keep[0] = False
    return as_bool(b2, keep[labels])


@primitive("lcc", "(bimg) -> nimg")
def lcc(b):
    """Connected-component labels.

    Components are full-connectivity (8-connected in 2D, 26 in 3D).

    Parameters
    ----------
    b : bimg
        A boolean image.

    Returns
    -------
    nimg
        Labels 1..K (float32) on the voxels of ``b``, 0 elsewhere, numbered in
        raster order of each component's first voxel (first axis fastest).

    Examples
    --------
    print "k" max(lcc(not(x =. 2)))   // k=2.0
    print "right" max(mask(lcc(not(x =. 2)), x =. 4))   // right=2.0
    """
    labels, _ = _label(boolean(b, "lcc"))
    return b.like(labels.astype(np.float32), "number")


@primitive("maxvol", "(bimg) -> bimg")
def maxvol(b):
    """The largest connected component.

    Parameters
    ----------
    b : bimg
        A boolean image.

    Returns
    -------
    bimg
        The component of ``b`` with the most voxels (full connectivity); the
        union of all the largest ones on a tie; empty when ``b`` is.

    Examples
    --------
    print "v" volume(maxvol(not(x =. 1)))   // v=12.0
    """
    labels, count = _label(boolean(b, "maxvol"))
    if count == 0:
        return as_bool(b, np.zeros(labels.shape, bool))
    sizes = np.bincount(labels.ravel(), minlength=count + 1)
    sizes[0] = 0
    keep = sizes == sizes.max()
    keep[0] = False
    return as_bool(b, keep[labels])


@primitive("dt", "(bimg) -> nimg")
def dt(b):
    """Signed Euclidean distance transform, in mm.

    Parameters
    ----------
    b : bimg
        A boolean image.

    Returns
    -------
    nimg
        Outside ``b``: the distance (spacing aware) to the nearest voxel of
        ``b``. Inside ``b``: minus the distance to the nearest contour voxel,
        a voxel of ``b`` with a box neighbour outside ``b`` inside the image
        (the image edge is not background); contour voxels hold -0.0. With no
        contour voxel (``b`` empty or full) every voxel is +1.8446743e19 (empty)
        or -1.8446743e19 (full). float32.

    Notes
    -----
    Computed by ITK's SignedMaurerDistanceMap, as VoxLogicA 1 does; with
    anisotropic spacing it may leave rounding residue (e.g. -2.4e-7) on
    contour voxels, which are set to -0.0 here.

    Examples
    --------
    print "far" max(dt(x =. 0))   // far=4.0
    print "in" min(dt(x <. 2))   // in=-1.0
    print "none" max(dt(ff))   // none=1.8446742974197924e+19
    """
    import SimpleITK as sitk  # on first use: importing the package stays light
    inside = boolean(b, "dt")
    res = sitk.SignedMaurerDistanceMap(b.to_sitk(), False, False, True, 0.0)
    out = sitk.GetArrayFromImage(res).astype(np.float32, copy=False)
    contour = inside & ~_box3(inside, grow=False)
    out[contour] = np.float32(-0.0)
    return b.like(out, "number")


# -- crossCorrelation ------------------------------------------------------

def _box_sum(x: np.ndarray, radii, dtype) -> np.ndarray:
    """Sum of x over the box of the given half-sizes around each voxel, clipped at the edges.

    Integer arithmetic in ``dtype``; wrap-around in a narrow unsigned dtype is
    harmless because every window sum fits in it. Small radii use shifted
    adds, larger ones differences of cumulative sums.
    """
    out = x.astype(dtype)
    nd = out.ndim
    for ax, r in enumerate(radii):
        n = out.shape[ax]
        if r <= 10:
            src, out = out, out.copy()
            for s in range(1, min(r, n - 1) + 1):
                out[_shifted(nd, ax, s, None)] += src[_shifted(nd, ax, None, -s)]
                out[_shifted(nd, ax, None, -s)] += src[_shifted(nd, ax, s, None)]
            continue
        c = np.cumsum(out, axis=ax, dtype=dtype)
        res = np.empty_like(c)
        m = max(n - r, 0)
        res[_shifted(nd, ax, 0, m)] = c[_shifted(nd, ax, r, r + m)]
        res[_shifted(nd, ax, m, n)] = c[_shifted(nd, ax, n - 1, n)]
        if n > r + 1:
            res[_shifted(nd, ax, r + 1, n)] -= c[_shifted(nd, ax, 0, n - r - 1)]
        out = res
    return out


def _bin_index(values: np.ndarray, m1: float, m2: float, delta: float, nbins: int) -> np.ndarray:
    """Bin of each value (float64 arithmetic), -1 for values outside [m1, m2) and NaN."""
    v = values.astype(np.float64)
    with np.errstate(invalid="ignore"):
        inside = (v >= m1) & (v < m2)
    idx = np.full(v.shape, -1, np.int32)
    with np.errstate(all="ignore"):
        q = np.trunc((v[inside] - m1) / delta)
    # A value a hair below m2 may round up to bin nbins: keep it in the last bin.
    idx[inside] = np.clip(q, 0, nbins - 1).astype(np.int32)
    return idx


def _half_sizes(rad: float, spacing) -> list[int]:
    """Box half-size per ITK axis: round_half_even(rad / spacing), at least 1."""
    out = []
    for s in spacing:
        r = round(rad / s)  # Python rounds half to even, like .NET Math.Round
        if r < 0:
            raise PrimitiveError(f"crossCorrelation: negative radius {rad}")
        out.append(max(int(r), 1))
    return out


@primitive("crossCorrelation", "(num, nimg, nimg, bimg, num, num, num) -> nimg")
def crossCorrelation(rad, a, b, fb, m1, m2, k):
    """Local texture similarity: correlation of local histograms of a with the histogram of b over fb.

    Parameters
    ----------
    rad : num
        Radius of the local box in mm: round_half_even(rad / spacing) voxels
        (at least 1) each side along each axis.
    a : nimg
        The image whose local histograms are taken.
    b : nimg
        The image whose global histogram is the reference.
    fb : bimg
        The voxels of ``b`` in its histogram (it does not restrict ``a``).
    m1, m2 : num
        The histogram range [m1, m2), split in ``k`` equal bins; values
        outside, including exactly m2, are not counted.
    k : num
        The number of bins (truncated to a whole number, at least 1).

    Returns
    -------
    nimg
        At each voxel, the Pearson correlation between the k-bin histogram of
        ``a`` over the box around it (clipped to the image) and that of ``b``
        over ``fb``; 1 when both histograms are flat, 0 when exactly one is.
        Computed in float64, stored as float32.

    Notes
    -----
    VoxLogicA 1 leaves some voxels of its traversal uncomputed (machine
    dependent); here every voxel is computed. The stdlib's ``a ~[rad, k] b`` is
    ``crossCorrelation(rad, a, b, tt, min(b), max(b), k)``.

    Examples
    --------
    // img has one row of values per bin; rows 0-1 fill fb's histogram
    print "same" max(crossCorrelation(1, img, img, img <. 10, 0, 20, 4))   // same=1.0
    print "opposite" min(crossCorrelation(1, img, img, img <. 10, 0, 20, 4))   // opposite=-1.0
    """
    same_size("crossCorrelation", a, b, fb)
    arr_a = number(a, "crossCorrelation")
    arr_b = number(b, "crossCorrelation")
    sel = boolean(fb, "crossCorrelation")
    nbins = int(k)  # truncates, as VoxLogicA 1 does
    if nbins < 1:
        raise PrimitiveError(f"crossCorrelation: the number of bins must be at least 1, got {k}")
    delta = (m2 - m1) / nbins

    idx_b = _bin_index(arr_b[sel], m1, m2, delta, nbins)
    hist_b = np.bincount(idx_b[idx_b >= 0], minlength=nbins).astype(np.float64)
    flat_b = bool(np.all(hist_b == hist_b[0]))
    centred_b = hist_b - hist_b.sum() / nbins
    norm_b = float(np.sqrt(np.sum(centred_b * centred_b)))

    radii = list(reversed(_half_sizes(rad, a.spacing)))  # numpy axis order
    window = int(np.prod([2 * r + 1 for r in radii]))
    cdtype = np.uint8 if window < 1 << 8 else np.uint16 if window < 1 << 16 else np.uint32

    idx_a = _bin_index(arr_a, m1, m2, delta, nbins)
    present = np.flatnonzero(np.bincount(idx_a[idx_a >= 0], minlength=nbins))
    weights = None if flat_b else centred_b
    out = np.empty(arr_a.shape, np.float32)
    # Slabs along the slowest axis (with a halo of r0 planes) keep the
    # per-bin temporaries small enough to stay in cache.
    n0, r0 = arr_a.shape[0], radii[0]
    plane = max(1, arr_a[0].size)
    step = max(1, (1 << 18) // plane)
    for z0 in range(0, n0, step):
        z1 = min(z0 + step, n0)
        lo, hi = max(0, z0 - r0), min(n0, z1 + r0)
        out[z0:z1] = _correlate_slab(idx_a[lo:hi], slice(z0 - lo, z1 - lo), radii, cdtype,
                                     present, nbins, weights, norm_b)
    return a.like(out, "number")


def _correlate_slab(idx, keep, radii, cdtype, present, nbins, weights, norm_b):
    """crossCorrelation on the planes ``keep`` of a slab of bin indices (with its halo).

    Local histograms h are box sums of each bin's indicator. With integer
    Σh and Σh², k·Σh² - (Σh)² is exact: zero iff the local histogram is flat.
    The numerator Σ(h - mean h)(g - mean g) equals Σ h·(g - mean g).
    """
    s1 = _box_sum(idx >= 0, radii, cdtype)[keep].astype(np.float64)
    shape = s1.shape
    # Σh² <= (Σh)² <= window² < 2**32 (window < 2**16): exact in uint64 too.
    sq_dtype = np.uint32 if cdtype != np.uint32 else np.uint64
    s2 = np.zeros(shape, sq_dtype)
    sq = np.empty(shape, sq_dtype)
    sg = np.zeros(shape, np.float64)
    tmp = np.empty(shape, np.float64)
    for j in present:
        h = _box_sum(idx == j, radii, cdtype)[keep]
        np.multiply(h, h, out=sq, dtype=sq_dtype)
        s2 += sq
        if weights is not None and weights[j] != 0.0:
            np.multiply(h, weights[j], out=tmp, dtype=np.float64)
            sg += tmp
    spread = nbins * s2.astype(np.float64) - s1 * s1
    flat = spread == 0.0
    if weights is None:  # global histogram flat
        return flat.astype(np.float32)
    with np.errstate(all="ignore"):
        corr = sg / (np.sqrt(spread / nbins) * norm_b)
    corr[flat] = 0.0
    return corr.astype(np.float32)


# -- otsu ------------------------------------------------------------------

@primitive("otsu", "(nimg, bimg, num) -> bimg")
def otsu(n, b, bins):
    """Otsu's threshold of a number image over a mask.

    Parameters
    ----------
    n : nimg
        The number image; infinite or NaN values under ``b`` are an error.
    b : bimg
        The voxels whose histogram is thresholded, of the same size; an empty
        mask is an error.
    bins : num
        The number of histogram bins (truncated, at least 1).

    Returns
    -------
    bimg
        True where ``n`` is above the threshold t and ``b`` is true, t being
        ITK's OtsuThresholdImageFilter on the voxels of ``b``.

    Examples
    --------
    print "v" volume(otsu(img, tt, 20))   // v=10.0
    """
    import SimpleITK as sitk  # on first use: importing the package stays light
    same_size("otsu", n, b)
    arr = number(n, "otsu")
    inside = boolean(b, "otsu")
    nbins = int(bins)
    if nbins < 1:
        raise PrimitiveError(f"otsu: the number of bins must be at least 1, got {bins}")
    if not inside.any():
        raise PrimitiveError("otsu: the mask is empty")
    if not np.isfinite(arr[inside]).all():
        raise PrimitiveError("otsu: the image has infinite or NaN values inside the mask")
    flt = sitk.OtsuThresholdImageFilter()
    flt.SetInsideValue(0)
    flt.SetOutsideValue(1)
    flt.SetNumberOfHistogramBins(nbins)
    flt.SetMaskOutput(True)
    flt.SetMaskValue(1)
    # Geometry is irrelevant to the histogram; plain images avoid ITK's geometry checks.
    res = flt.Execute(sitk.GetImageFromArray(arr), sitk.GetImageFromArray(b.array))
    above = sitk.GetArrayViewFromImage(res).astype(bool)
    return as_bool(n, above & inside)
