"""Statistics of images: numbers computed from all the voxels (``max``,
``min``, ``avg``, ``volume``) and ranks (``percentiles``).

They read every voxel and give a small result, so they are "heavy": stored
rather than recomputed.
"""
from __future__ import annotations


from ..errors import PrimitiveError
from .images import FLT_MAX, boolean, f32, number, same_size
from .registry import primitive
from ..lazy import LazyModule

np = LazyModule("numpy", globals(), "np")  # imported on first use


def _extreme(n, name, which, empty):
    # NaN voxels are ignored (ITK's answer depends on where they sit); the
    # image keeps what was found, so min or max of one image reads it once
    number(n, name)
    m = n.extreme(which)
    return empty if m is None else m


@primitive("max", "(nimg) -> num", cost="heavy")
def max_(n):
    """Largest voxel value of a number image.

    Parameters
    ----------
    n : nimg
        A number image.

    Returns
    -------
    num
        The largest value; NaN voxels are ignored (an image of NaN only gives
        -3.4028235e38).

    Examples
    --------
    print "m" max(img)   // m=19.0
    """
    return _extreme(n, "max", 1, -FLT_MAX)


@primitive("min", "(nimg) -> num", cost="heavy")
def min_(n):
    """Smallest voxel value of a number image.

    Parameters
    ----------
    n : nimg
        A number image.

    Returns
    -------
    num
        The smallest value; NaN voxels are ignored (an image of NaN only gives
        3.4028235e38).

    Examples
    --------
    print "m" min(img)   // m=0.0
    """
    return _extreme(n, "min", 0, FLT_MAX)


@primitive("avg", "(nimg, bimg) -> num", cost="heavy")
def avg(n, b):
    """Mean of a number image over the true voxels of a mask.

    Parameters
    ----------
    n : nimg
        The number image.
    b : bimg
        The mask, of the same size; an empty mask is an error.

    Returns
    -------
    num
        The float32 values of ``n`` under ``b``, summed in float64 one after
        the other in reverse voxel order (as VoxLogicA 1 does), divided by
        their count.

    Examples
    --------
    print "a" avg(img, y =. 0)   // a=2.0
    """
    same_size("avg", n, b)
    values = number(n, "avg")[boolean(b, "avg")]
    if values.size == 0:
        raise PrimitiveError("avg: the mask is empty")
    # np.add.accumulate is a sequential left-to-right sum (np.sum is pairwise).
    total = np.add.accumulate(values[::-1], dtype=np.float64)[-1] + 0.0
    return float(total / values.size)


@primitive("volume", "(bimg) -> num", cost="heavy")
def volume(b):
    """Number of true voxels of a boolean image.

    Parameters
    ----------
    b : bimg
        A boolean image.

    Returns
    -------
    num
        The count of true voxels (a count, not mm³).

    Examples
    --------
    print "v" volume(img >. 9.5)   // v=10.0
    """
    return float(np.count_nonzero(boolean(b, "volume")))


def _group(values: np.ndarray):
    """(inverse, counts) grouping equal float32 values in ascending order."""
    if values.size:
        lo, hi = values.min(), values.max()
        # Few distinct integer values (8/16-bit sources): bincount, no sort.
        # The offsets are taken in integer arithmetic and only when every
        # value is an integer: a float32 offset can round a fractional value
        # onto an integer one and merge two distinct values.
        if (np.isfinite(lo) and np.isfinite(hi) and float(hi) - float(lo) < 1 << 20
                and abs(float(lo)) < 1 << 52 and lo == np.floor(lo)):
            ivalues = values.astype(np.int64)
            if np.array_equal(ivalues, values):
                icodes = ivalues - np.int64(lo)
                counts = np.bincount(icodes)
                present = np.flatnonzero(counts)
                rank = np.zeros(counts.size, np.int64)
                rank[present] = np.arange(present.size)
                return rank[icodes], counts[present]
    _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    return inverse.ravel(), counts


@primitive("percentiles", "(nimg, bimg, num) -> nimg", cost="heavy", version="2")
def percentiles(n, b, c):
    """Rank of each masked voxel's value among the masked voxels, in [0, 1].

    Parameters
    ----------
    n : nimg
        The number image.
    b : bimg
        The voxels taken into account, of the same size.
    c : num
        Weight of the voxels with an equal value: 0 counts those strictly
        below, 1 those at or below, 0.5 the midpoint.

    Returns
    -------
    nimg
        At a voxel of ``b`` with value v: (the number of voxels of ``b`` below
        v + c × the number equal to v) / (the number of voxels of ``b``),
        grouping by exact float32 value, every step in float32. -1 outside
        ``b`` (everywhere when ``b`` is empty).

    Examples
    --------
    print "top" max(percentiles(img, tt, 0.5))   // top=0.9750000238418579
    print "out" min(percentiles(img, y =. 0, 1))   // out=-1.0
    """
    same_size("percentiles", n, b)
    arr = number(n, "percentiles")
    inside = boolean(b, "percentiles")
    out = np.full(arr.shape, np.float32(-1), np.float32)
    values = arr[inside]
    if values.size == 0:
        return n.like(out, "number")
    inverse, counts = _group(values)
    below = np.cumsum(counts) - counts
    c32 = f32(c)
    with np.errstate(all="ignore"):
        ranks = (below.astype(np.float32) + c32 * counts.astype(np.float32)) / np.float32(values.size)
    out[inside] = ranks.astype(np.float32)[inverse]
    return n.like(out, "number")
