"""Comparisons of number images with numbers, voxel by voxel (VoxLogicA 1.3.3).

The number is cast to float32 before it meets the voxels; the result is a
boolean image with the geometry of the image. The undotted ``< <= > >= ==
!=`` also compare two numbers (those overloads are in
:mod:`voxlogica_nb.primitives.scalars`).
"""
from __future__ import annotations


from ..errors import PrimitiveError
from ..image import Image
from .images import as_bool, f32, number, operands
from .registry import primitive
from ..lazy import LazyModule

np = LazyModule("numpy", globals(), "np")  # imported on first use

CMP = ("(nimg, num) -> bimg", "(num, nimg) -> bimg")


def _compare(name, ufunc, a, b):
    if not isinstance(b, Image) and getattr(a, "levels", None) is not None:
        return _by_levels(a, lambda v: ufunc(f32(v), f32(b)))
    if not isinstance(a, Image) and getattr(b, "levels", None) is not None:
        return _by_levels(b, lambda v: ufunc(f32(a), f32(v)))
    u, v, geo = operands(name, a, b)
    return as_bool(geo, ufunc(u, v))


def _by_levels(img, test):
    """A two-valued image held as its mask (see Image.two_valued) compared
    with a number: decided by its two values alone, the result is the mask,
    its negation or a constant."""
    mask, inside, outside = img.levels
    when_in, when_out = bool(test(inside)), bool(test(outside))
    if when_in == when_out:
        return as_bool(img, np.full(mask.shape, when_in))
    return as_bool(img, mask if when_in else ~mask)


@primitive(".=", "(num, nimg) -> bimg", cost="light")
def eq_left(k, n):
    """Where a number image equals a number: ``k .= n``.

    Parameters
    ----------
    k : num
        The number, cast to float32.
    n : nimg
        The number image.

    Returns
    -------
    bimg
        True where the voxel equals float32(k); NaN voxels are false.

    Examples
    --------
    print "v" volume(7 .= img)   // v=1.0
    """
    return _compare(".=", np.equal, n, k)


@primitive("=.", "(nimg, num) -> bimg", cost="light")
def eq_right(n, k):
    """Where a number image equals a number: ``n =. k``.

    The stdlib defines ``=.`` again, as ``k .= n``, with the same values.

    Parameters
    ----------
    n : nimg
        The number image.
    k : num
        The number, cast to float32.

    Returns
    -------
    bimg
        True where the voxel equals float32(k); NaN voxels are false.

    Examples
    --------
    print "v" volume(img =. 7)   // v=1.0
    """
    return _compare("=.", np.equal, n, k)


@primitive(".<=", "(num, nimg) -> bimg", cost="light")
def leq_left(k, n):
    """Where a number is at most the voxel: ``k .<= n``.

    Parameters
    ----------
    k : num
        The number, cast to float32.
    n : nimg
        The number image.

    Returns
    -------
    bimg
        True where float32(k) <= voxel.

    Examples
    --------
    print "v" volume(15 .<= img)   // v=5.0
    """
    return _compare(".<=", np.greater_equal, n, k)


@primitive(".>=", "(num, nimg) -> bimg", cost="light")
def geq_left(k, n):
    """Where a number is at least the voxel: ``k .>= n``.

    Parameters
    ----------
    k : num
        The number, cast to float32.
    n : nimg
        The number image.

    Returns
    -------
    bimg
        True where float32(k) >= voxel.

    Examples
    --------
    print "v" volume(4 .>= img)   // v=5.0
    """
    return _compare(".>=", np.less_equal, n, k)


@primitive(".<", "(num, nimg) -> bimg", cost="light")
def lt_left(k, n):
    """Where a number is below the voxel: ``k .< n`` (``n >. k``).

    VoxLogicA 1 defines it in its stdlib as ``(k .<= n) & !(k .= n)``; one
    comparison gives the same voxels (NaN voxels are false in both) in one
    task instead of four.

    Parameters
    ----------
    k : num
        The number, cast to float32.
    n : nimg
        The number image.

    Returns
    -------
    bimg
        True where float32(k) < voxel.

    Examples
    --------
    print "v" volume(15 .< img)   // v=4.0
    """
    return _compare(".<", np.greater, n, k)


@primitive(".>", "(num, nimg) -> bimg", cost="light")
def gt_left(k, n):
    """Where a number is above the voxel: ``k .> n`` (``n <. k``).

    VoxLogicA 1 defines it in its stdlib as ``(k .>= n) & !(k .= n)``; one
    comparison gives the same voxels (NaN voxels are false in both) in one
    task instead of four.

    Parameters
    ----------
    k : num
        The number, cast to float32.
    n : nimg
        The number image.

    Returns
    -------
    bimg
        True where float32(k) > voxel.

    Examples
    --------
    print "v" volume(4 .> img)   // v=4.0
    """
    return _compare(".>", np.less, n, k)


@primitive("between", "(num, num, nimg) -> bimg", cost="light")
def between(k1, k2, n):
    """Where a number image lies in a closed interval.

    Parameters
    ----------
    k1, k2 : num
        The bounds, cast to float32; float32(k1) > float32(k2) is an error.
    n : nimg
        The number image.

    Returns
    -------
    bimg
        True where float32(k1) <= voxel <= float32(k2).

    Examples
    --------
    print "v" volume(between(5, 9, img))   // v=5.0
    """
    lo, hi = f32(k1), f32(k2)
    if lo > hi:
        raise PrimitiveError(f"between: lower bound {k1} is greater than upper bound {k2}")
    arr = number(n, "between")
    return as_bool(n, (arr >= lo) & (arr <= hi))


@primitive("<", *CMP, cost="light")
def less(a, b):
    """Whether a < b, for numbers or voxel-wise.

    Parameters
    ----------
    a, b : num or nimg
        Two numbers, or a number image and a number (on either side; the
        number is cast to float32).

    Returns
    -------
    bool or bimg
        a < b: a boolean for two numbers (float64), else a boolean image,
        voxel by voxel (NaN voxels give false).

    Notes
    -----
    An extension of VoxLogicA 1 (which writes ``.<.`` for numbers, and the
    dotted forms for images).

    Examples
    --------
    print "b" 1 < 2   // b=true
    print "v" volume(img < 5)   // v=5.0
    print "w" volume(5 < img)   // w=14.0
    """
    return _compare("<", np.less, a, b)


@primitive("<=", *CMP, cost="light")
def less_equal(a, b):
    """Whether a <= b, for numbers or voxel-wise.

    Parameters
    ----------
    a, b : num or nimg
        Two numbers, or a number image and a number (on either side; the
        number is cast to float32).

    Returns
    -------
    bool or bimg
        a <= b: a boolean for two numbers (float64), else a boolean image,
        voxel by voxel (NaN voxels give false).

    Notes
    -----
    An extension of VoxLogicA 1 (which writes ``.<=.`` for numbers, and the
    dotted forms for images).

    Examples
    --------
    print "b" 2 <= 2   // b=true
    print "v" volume(img <= 5)   // v=6.0
    """
    return _compare("<=", np.less_equal, a, b)


@primitive(">", *CMP, cost="light")
def greater(a, b):
    """Whether a > b, for numbers or voxel-wise.

    Parameters
    ----------
    a, b : num or nimg
        Two numbers, or a number image and a number (on either side; the
        number is cast to float32).

    Returns
    -------
    bool or bimg
        a > b: a boolean for two numbers (float64), else a boolean image,
        voxel by voxel (NaN voxels give false).

    Notes
    -----
    An extension of VoxLogicA 1 (which writes ``.>.`` for numbers, and the
    dotted forms for images).

    Examples
    --------
    print "b" 1 > 2   // b=false
    print "v" volume(img > 5)   // v=14.0
    """
    return _compare(">", np.greater, a, b)


@primitive(">=", *CMP, cost="light")
def greater_equal(a, b):
    """Whether a >= b, for numbers or voxel-wise.

    Parameters
    ----------
    a, b : num or nimg
        Two numbers, or a number image and a number (on either side; the
        number is cast to float32).

    Returns
    -------
    bool or bimg
        a >= b: a boolean for two numbers (float64), else a boolean image,
        voxel by voxel (NaN voxels give false).

    Notes
    -----
    An extension of VoxLogicA 1 (which writes ``.>=.`` for numbers, and the
    dotted forms for images).

    Examples
    --------
    print "b" 2 >= 3   // b=false
    print "v" volume(img >= 5)   // v=15.0
    """
    return _compare(">=", np.greater_equal, a, b)


@primitive("==", *CMP, cost="light")
def equal(a, b):
    """Whether a == b, for numbers or voxel-wise.

    Parameters
    ----------
    a, b : num or nimg
        Two numbers, or a number image and a number (on either side; the
        number is cast to float32).

    Returns
    -------
    bool or bimg
        a == b: a boolean for two numbers (float64), else a boolean image,
        voxel by voxel (NaN voxels give false).

    Notes
    -----
    An extension of VoxLogicA 1 (which writes ``.=.`` for numbers, and the
    dotted forms for images).

    Examples
    --------
    print "b" 2 == 2   // b=true
    print "v" volume(img == 5)   // v=1.0
    """
    return _compare("==", np.equal, a, b)


@primitive("!=", *CMP, cost="light")
def not_equal(a, b):
    """Whether a != b, for numbers or voxel-wise.

    Parameters
    ----------
    a, b : num or nimg
        Two numbers, or a number image and a number (on either side; the
        number is cast to float32).

    Returns
    -------
    bool or bimg
        a != b: a boolean for two numbers (float64), else a boolean image,
        voxel by voxel (NaN voxels give true).

    Notes
    -----
    An extension of VoxLogicA 1.

    Examples
    --------
    print "b" 2 != 2   // b=false
    print "v" volume(img != 5)   // v=19.0
    """
    return _compare("!=", np.not_equal, a, b)
