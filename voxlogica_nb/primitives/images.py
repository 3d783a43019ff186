"""Voxel-wise builtins on number, boolean and colour images (VoxLogicA 1.3.3).

Conventions shared by every function here:

* Scalar constants are cast to float32 before they meet voxels.
* Results keep the geometry of the first image argument.
* Two images in one operation must have the same size; colour and grey
  images never mix.
* The base-image builtins (``tt``, ``ff``, ``bconstant``, ``constant``,
  ``border``, ``x``, ``y``, ``z``) take the image whose geometry they copy as
  their last argument; the reducer supplies the base image when it is omitted.
"""
from __future__ import annotations

import numpy as np

from ..errors import PrimitiveError
from ..image import Image
from .registry import primitive as _register


def primitive(name, *signatures, cost="light", **options):
    """Register an image builtin: voxel-wise work is "light" (recomputing it
    costs less than storing and reading back its voxels) unless said otherwise."""
    return _register(name, *signatures, cost=cost, **options)


FLT_MAX = np.float32(np.finfo(np.float32).max)
# ITK's Div functor returns FLT_MAX when the divisor is "almost zero":
# |d| <= float32(0.1 * float32 epsilon) (checked against SimpleITK.Divide).
DIV_EPS = np.float32(0.1 * float(np.finfo(np.float32).eps))

NN_N = ("(nimg, nimg) -> nimg", "(nimg, num) -> nimg", "(num, nimg) -> nimg")
CMP = ("(nimg, num) -> bimg", "(num, nimg) -> bimg")


# -- helpers ---------------------------------------------------------------

def f32(k) -> np.float32:
    """float32(k), overflowing to ±inf like a C cast (no warning)."""
    with np.errstate(over="ignore"):
        return np.float32(k)


def _size_text(img: Image) -> str:
    return "×".join(map(str, img.size))


def number(img, name: str) -> np.ndarray:
    """The float32 voxels of a number image, or a PrimitiveError naming ``name``."""
    if img.kind != "number":
        raise PrimitiveError(f"{name}: needs a number image, got a {img.kind} image")
    return img.array


def boolean(img, name: str) -> np.ndarray:
    """The voxels of a boolean image as a numpy bool view (no copy)."""
    if img.kind != "bool":
        raise PrimitiveError(f"{name}: needs a boolean image, got a {img.kind} image")
    return img.array.view(np.bool_)


def same_size(name: str, *imgs: Image) -> None:
    """Raise unless all images have the same spatial size and none mixes colour with grey."""
    first = imgs[0]
    for other in imgs[1:]:
        if (first.kind == "colour") != (other.kind == "colour"):
            raise PrimitiveError(f"{name}: cannot mix colour and grey images")
        if other.shape != first.shape:
            raise PrimitiveError(
                f"{name}: images of different sizes ({_size_text(first)} and {_size_text(other)})")


def as_bool(img: Image, mask: np.ndarray) -> Image:
    """A boolean image with ``img``'s geometry from a numpy bool array."""
    return img.like(mask.view(np.uint8), "bool")


# -- base-image builtins ---------------------------------------------------

@primitive("tt", "(img) -> bimg", "(bimg) -> bimg", base=True)
def tt(img):
    """All-true boolean image with the geometry of the base image (or of the given image)."""
    return img.like(np.ones(img.shape, np.uint8), "bool")


@primitive("ff", "(img) -> bimg", "(bimg) -> bimg", base=True)
def ff(img):
    """All-false boolean image with the geometry of the base image (or of the given image)."""
    return img.like(np.zeros(img.shape, np.uint8), "bool")


@primitive("bconstant", "(bool, img) -> bimg", "(bool, bimg) -> bimg", base=True)
def bconstant(b, img):
    """Boolean image holding ``b`` everywhere (base geometry)."""
    return img.like(np.full(img.shape, 1 if b else 0, np.uint8), "bool")


@primitive("constant", "(num, img) -> nimg", "(num, bimg) -> nimg", base=True)
def constant(k, img):
    """Number image holding float32(k) everywhere (base geometry)."""
    return img.like(np.full(img.shape, f32(k), np.float32), "number")


@primitive("border", "(img) -> bimg", "(bimg) -> bimg", base=True)
def border(img):
    """True on the voxels whose index is 0 or size-1 along some axis (base geometry)."""
    out = np.zeros(img.shape, np.uint8)
    for ax in range(out.ndim):
        idx = [slice(None)] * out.ndim
        for edge in (0, -1):
            idx[ax] = edge
            out[tuple(idx)] = 1
    return img.like(out, "bool")


def _coordinate(img, itk_axis: int) -> Image:
    shape = img.shape
    np_axis = len(shape) - 1 - itk_axis
    if np_axis < 0:  # z of a 2D image
        return img.like(np.zeros(shape, np.float32), "number")
    view = [1] * len(shape)
    view[np_axis] = shape[np_axis]
    ramp = np.arange(shape[np_axis], dtype=np.float32).reshape(view)
    return img.like(np.broadcast_to(ramp, shape).copy(), "number")


@primitive("x", "(img) -> nimg", "(bimg) -> nimg", base=True)
def x(img):
    """Voxel index along the first (ITK) axis, the one fastest in memory, as float32."""
    return _coordinate(img, 0)


@primitive("y", "(img) -> nimg", "(bimg) -> nimg", base=True)
def y(img):
    """Voxel index along the second (ITK) axis, as float32."""
    return _coordinate(img, 1)


@primitive("z", "(img) -> nimg", "(bimg) -> nimg", base=True)
def z(img):
    """Voxel index along the third (ITK) axis, as float32; 0 everywhere in 2D."""
    return _coordinate(img, 2)


# -- boolean images --------------------------------------------------------

@primitive("not", "(bimg) -> bimg")
def not_(a):
    """Voxel-wise negation of a boolean image."""
    return as_bool(a, ~boolean(a, "not"))


@primitive("and", "(bimg, bimg) -> bimg", commutative=True)
def and_(a, b):
    """Voxel-wise conjunction of two boolean images."""
    same_size("and", a, b)
    return as_bool(a, np.logical_and(boolean(a, "and"), boolean(b, "and")))


@primitive("or", "(bimg, bimg) -> bimg", commutative=True)
def or_(a, b):
    """Voxel-wise disjunction of two boolean images."""
    same_size("or", a, b)
    return as_bool(a, np.logical_or(boolean(a, "or"), boolean(b, "or")))


# -- arithmetic ------------------------------------------------------------

def _operands(name, a, b):
    """(array or float32 scalar, same, geometry image) for a binary number operator."""
    if isinstance(a, Image) and isinstance(b, Image):
        same_size(name, a, b)
        return number(a, name), number(b, name), a
    if isinstance(a, Image):
        return number(a, name), f32(b), a
    return f32(a), number(b, name), b


def _arith(name, ufunc, a, b):
    u, v, geo = _operands(name, a, b)
    with np.errstate(all="ignore"):
        return geo.like(ufunc(u, v, dtype=np.float32), "number")


def divide_flt_max(u, v) -> np.ndarray:
    """float32 u / v, FLT_MAX where |v| <= float32(0.1·eps) (ITK's Div functor)."""
    with np.errstate(all="ignore"):
        out = np.divide(u, v, dtype=np.float32)
    tiny = np.abs(v) <= DIV_EPS
    if np.ndim(tiny) == 0:
        if tiny:
            out = np.full(np.shape(out), FLT_MAX, np.float32)
    else:
        out = np.asarray(out)
        out[np.broadcast_to(tiny, out.shape)] = FLT_MAX
    return out


@primitive("+", *NN_N)
def add(a, b):
    """Voxel-wise float32 sum of two number images, or of an image and float32(k)."""
    return _arith("+", np.add, a, b)


@primitive("-", *NN_N)
def subtract(a, b):
    """Voxel-wise float32 difference of two number images, or of an image and float32(k)."""
    return _arith("-", np.subtract, a, b)


@primitive("*", *NN_N)
def multiply(a, b):
    """Voxel-wise float32 product of two number images, or of an image and float32(k)."""
    return _arith("*", np.multiply, a, b)


@primitive("/", *NN_N)
def divide(a, b):
    """Voxel-wise float32 quotient; FLT_MAX where the divisor is within 1.19e-8 of 0.

    Image / image and number / image follow ITK's division rule (any dividend
    over a divisor |d| <= float32(0.1·eps) gives +3.4028235e38). Image / number
    is the same as ``n /. k``: n × float32(1/k).
    """
    if isinstance(a, Image) and not isinstance(b, Image):
        return sdiv(a, b)
    u, v, geo = _operands("/", a, b)
    return geo.like(divide_flt_max(u, v), "number")


@primitive("+.", "(nimg, num) -> nimg")
def sadd(n, k):
    """n +. k: every voxel plus float32(k)."""
    return _arith("+.", np.add, n, k)


@primitive("-.", "(nimg, num) -> nimg")
def ssub(n, k):
    """n -. k: every voxel minus float32(k)."""
    return _arith("-.", np.subtract, n, k)


@primitive("*.", "(nimg, num) -> nimg")
def smul(n, k):
    """n *. k: every voxel times float32(k)."""
    return _arith("*.", np.multiply, n, k)


@primitive("/.", "(nimg, num) -> nimg")
def sdiv(n, k):
    """n /. k: every voxel times float32(1/k), 1/k computed in float64 (IEEE: k = 0 gives ±inf)."""
    with np.errstate(all="ignore"):
        inv = np.float64(1.0) / np.float64(k)
    return _arith("/.", np.multiply, n, inv)


@primitive(".-", "(num, nimg) -> nimg")
def ssub_left(k, n):
    """k .- n: float32(k) minus every voxel."""
    return _arith(".-", np.subtract, k, n)


@primitive("./", "(num, nimg) -> nimg")
def sdiv_left(k, n):
    """k ./ n: float32(k) over every voxel, FLT_MAX where the voxel is within 1.19e-8 of 0."""
    v = number(n, "./")
    return n.like(divide_flt_max(f32(k), v), "number")


@primitive("abs", "(nimg) -> nimg")
def abs_(n):
    """Voxel-wise absolute value."""
    return n.like(np.abs(number(n, "abs")), "number")


def _extreme(n, name, reduce_, nanreduce, empty):
    arr = number(n, name)
    m = reduce_(arr)
    if np.isnan(m):  # NaN voxels are ignored (ITK's answer depends on where they sit)
        finite = arr[~np.isnan(arr)]
        m = nanreduce(finite) if finite.size else empty
    return float(m)


@primitive("max", "(nimg) -> num", cost="heavy")
def max_(n):
    """Largest voxel value of a number image (NaN voxels ignored)."""
    return _extreme(n, "max", np.max, np.max, -FLT_MAX)


@primitive("min", "(nimg) -> num", cost="heavy")
def min_(n):
    """Smallest voxel value of a number image (NaN voxels ignored)."""
    return _extreme(n, "min", np.min, np.min, FLT_MAX)


# -- comparisons -----------------------------------------------------------

def _compare(name, ufunc, a, b):
    u, v, geo = _operands(name, a, b)
    return as_bool(geo, ufunc(u, v))


@primitive(".=", "(num, nimg) -> bimg")
def eq_left(k, n):
    """k .= n: true where the voxel equals float32(k) (NaN voxels false)."""
    return _compare(".=", np.equal, n, k)


@primitive("=.", "(nimg, num) -> bimg")
def eq_right(n, k):
    """n =. k: true where the voxel equals float32(k) (NaN voxels false)."""
    return _compare("=.", np.equal, n, k)


@primitive(".<=", "(num, nimg) -> bimg")
def leq_left(k, n):
    """k .<= n: true where float32(k) <= the voxel."""
    return _compare(".<=", np.greater_equal, n, k)


@primitive(".>=", "(num, nimg) -> bimg")
def geq_left(k, n):
    """k .>= n: true where float32(k) >= the voxel."""
    return _compare(".>=", np.less_equal, n, k)


@primitive("between", "(num, num, nimg) -> bimg")
def between(k1, k2, n):
    """True where float32(k1) <= voxel <= float32(k2); an error if float32(k1) > float32(k2)."""
    lo, hi = f32(k1), f32(k2)
    if lo > hi:
        raise PrimitiveError(f"between: lower bound {k1} is greater than upper bound {k2}")
    arr = number(n, "between")
    return as_bool(n, (arr >= lo) & (arr <= hi))


@primitive("<", *CMP)
def less(a, b):
    """Voxel-wise a < b between a number image and float32 of a number."""
    return _compare("<", np.less, a, b)


@primitive("<=", *CMP)
def less_equal(a, b):
    """Voxel-wise a <= b between a number image and float32 of a number."""
    return _compare("<=", np.less_equal, a, b)


@primitive(">", *CMP)
def greater(a, b):
    """Voxel-wise a > b between a number image and float32 of a number."""
    return _compare(">", np.greater, a, b)


@primitive(">=", *CMP)
def greater_equal(a, b):
    """Voxel-wise a >= b between a number image and float32 of a number."""
    return _compare(">=", np.greater_equal, a, b)


@primitive("==", *CMP)
def equal(a, b):
    """Voxel-wise a == b between a number image and float32 of a number (NaN: false)."""
    return _compare("==", np.equal, a, b)


@primitive("!=", *CMP)
def not_equal(a, b):
    """Voxel-wise a != b between a number image and float32 of a number (NaN: true)."""
    return _compare("!=", np.not_equal, a, b)


# -- masks and statistics --------------------------------------------------

@primitive("mask", "(nimg, bimg) -> nimg")
def mask(n, b):
    """The number image where the boolean image is true, 0 elsewhere."""
    same_size("mask", n, b)
    arr = number(n, "mask")
    return n.like(np.where(boolean(b, "mask"), arr, np.float32(0)), "number")


@primitive("avg", "(nimg, bimg) -> num", cost="heavy")
def avg(n, b):
    """Mean of the number image over the true voxels of the mask; an empty mask is an error.

    The float32 values are summed in float64 one after the other in reverse
    voxel order (as VoxLogicA 1 does), then divided by their count.
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
    """Number of true voxels (a count, not mm³)."""
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
    """Rank of each masked voxel among the masked voxels, in [0, 1]; -1 outside the mask.

    For a voxel of value v: (number of masked voxels below v + c × number equal
    to v) / number of masked voxels, every step in float32.
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


# -- colour ----------------------------------------------------------------

@primitive("intensity", "(img) -> nimg")
def intensity(img):
    """Grey level: the values of a grey image; 0.2126 r + (0.7152 g + 0.0722 b) in float32 for colour."""
    if img.kind == "number":
        return img.like(img.array, "number")
    if img.kind == "bool":
        return img.like(img.array.astype(np.float32), "number")
    a = img.array
    r, g, bl = a[..., 0], a[..., 1], a[..., 2]
    return img.like(f32(0.2126) * r + (f32(0.7152) * g + f32(0.0722) * bl), "number")


def _channel(img, i, name):
    if img.kind != "colour":
        raise PrimitiveError(f"{name}: needs a colour image, got a {img.kind} image")
    return img.like(np.ascontiguousarray(img.array[..., i]), "number")


@primitive("red", "(cimg) -> nimg")
def red(img):
    """Red component of a colour image."""
    return _channel(img, 0, "red")


@primitive("green", "(cimg) -> nimg")
def green(img):
    """Green component of a colour image."""
    return _channel(img, 1, "green")


@primitive("blue", "(cimg) -> nimg")
def blue(img):
    """Blue component of a colour image."""
    return _channel(img, 2, "blue")


@primitive("alpha", "(img) -> nimg")
def alpha(img):
    """Alpha component of an RGBA image; 255 everywhere when the image has no alpha."""
    if img.kind == "colour" and img.components == 4:
        return _channel(img, 3, "alpha")
    return img.like(np.full(img.shape, np.float32(255), np.float32), "number")


def _compose(name, *chans):
    same_size(name, *chans)
    arrays = [number(c, name) for c in chans]
    return chans[0].like(np.stack(arrays, axis=-1), "colour")


@primitive("rgb", "(nimg, nimg, nimg) -> cimg")
def rgb(r, g, b):
    """Colour image from red, green and blue number images (no clamping)."""
    return _compose("rgb", r, g, b)


@primitive("rgba", "(nimg, nimg, nimg, nimg) -> cimg")
def rgba(r, g, b, a):
    """Colour image from red, green, blue and alpha number images (no clamping)."""
    return _compose("rgba", r, g, b, a)
