"""Voxel-wise builtins on number and boolean images (VoxLogicA 1.3.3): the
base-image builtins, boolean connectives, arithmetic and masks; and the
helpers that :mod:`.comparisons`, :mod:`.statistics`, :mod:`.colour` and
:mod:`.spatial` share.

Voxel-wise work is "light": recomputing it costs less than storing and
reading back its voxels. Conventions shared by every image builtin:

* Scalar constants are cast to float32 before they meet voxels.
* Results keep the geometry of the first image argument.
* Two images in one operation must have the same size; colour and grey
  images never mix.
* The base-image builtins (``tt``, ``ff``, ``bconstant``, ``constant``,
  ``border``, ``x``, ``y``, ``z``) take the image whose geometry they copy as
  their last argument; the reducer supplies the base image when it is omitted.
"""
from __future__ import annotations

import struct


from ..errors import PrimitiveError
from ..image import Image
from .registry import primitive
from ..lazy import LazyModule

np = LazyModule("numpy", globals(), "np")  # imported on first use


def _float32(x: float) -> float:
    """``x`` rounded to float32 (as a Python float: no numpy at import)."""
    return struct.unpack("f", struct.pack("f", x))[0]


FLT_MAX = 3.4028234663852886e38  # float32's largest, exactly
# ITK's Div functor returns FLT_MAX when the divisor is "almost zero":
# |d| <= float32(0.1 * float32 epsilon) (checked against SimpleITK.Divide).
DIV_EPS = _float32(0.1 * 2.0 ** -23)

NN_N = ("(nimg, nimg) -> nimg", "(nimg, num) -> nimg", "(num, nimg) -> nimg")


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

@primitive("tt", "(img) -> bimg", "(bimg) -> bimg", cost="light", base=True)
def tt(img):
    """All-true boolean image.

    Parameters
    ----------
    img : img or bimg, optional
        The image whose geometry (size, spacing, origin, direction) the result
        takes. Left out, it is the base image: the program's first ``load``.

    Returns
    -------
    bimg
        True at every voxel.

    Examples
    --------
    print "v" volume(tt)   // v=20.0
    """
    return img.like(np.ones(img.shape, np.uint8), "bool")


@primitive("ff", "(img) -> bimg", "(bimg) -> bimg", cost="light", base=True)
def ff(img):
    """All-false boolean image.

    Parameters
    ----------
    img : img or bimg, optional
        The image whose geometry (size, spacing, origin, direction) the result
        takes. Left out, it is the base image: the program's first ``load``.

    Returns
    -------
    bimg
        False at every voxel.

    Examples
    --------
    print "v" volume(ff)   // v=0.0
    """
    return img.like(np.zeros(img.shape, np.uint8), "bool")


@primitive("bconstant", "(bool, img) -> bimg", "(bool, bimg) -> bimg", cost="light", base=True)
def bconstant(b, img):
    """Boolean image holding one value everywhere.

    Parameters
    ----------
    b : bool
        The value.
    img : img or bimg, optional
        The image whose geometry (size, spacing, origin, direction) the result
        takes. Left out, it is the base image: the program's first ``load``.

    Returns
    -------
    bimg
        ``b`` at every voxel.

    Examples
    --------
    print "v" volume(bconstant(true))   // v=20.0
    """
    return img.like(np.full(img.shape, 1 if b else 0, np.uint8), "bool")


@primitive("constant", "(num, img) -> nimg", "(num, bimg) -> nimg", cost="light", base=True)
def constant(k, img):
    """Number image holding float32(k) everywhere.

    Parameters
    ----------
    k : num
        The value, cast to float32.
    img : img or bimg, optional
        The image whose geometry (size, spacing, origin, direction) the result
        takes. Left out, it is the base image: the program's first ``load``.

    Returns
    -------
    nimg
        float32(k) at every voxel.

    Examples
    --------
    print "c" max(constant(2.5))   // c=2.5
    // 0.1 is not a float32: the nearest one, shown as float64
    print "f" max(constant(0.1))   // f=0.10000000149011612
    """
    return img.like(np.full(img.shape, f32(k), np.float32), "number")


@primitive("border", "(img) -> bimg", "(bimg) -> bimg", cost="light", base=True)
def border(img):
    """The voxels on the edge of the image.

    Parameters
    ----------
    img : img or bimg, optional
        The image whose geometry (size, spacing, origin, direction) the result
        takes. Left out, it is the base image: the program's first ``load``.

    Returns
    -------
    bimg
        True where the index along some axis is 0 or size - 1.

    Examples
    --------
    print "v" volume(border)   // v=14.0
    """
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


@primitive("x", "(img) -> nimg", "(bimg) -> nimg", cost="light", base=True)
def x(img):
    """Voxel index along the first axis, as float32.

    The first axis is the file's (ITK) first axis, the one that varies
    fastest in memory. Spacing and origin are ignored.

    Parameters
    ----------
    img : img or bimg, optional
        The image whose geometry (size, spacing, origin, direction) the result
        takes. Left out, it is the base image: the program's first ``load``.

    Returns
    -------
    nimg
        0, 1, ..., size - 1 along the first axis, constant along the others.

    Examples
    --------
    print "w" max(x)   // w=4.0
    """
    return _coordinate(img, 0)


@primitive("y", "(img) -> nimg", "(bimg) -> nimg", cost="light", base=True)
def y(img):
    """Voxel index along the second axis, as float32.

    Spacing and origin are ignored.

    Parameters
    ----------
    img : img or bimg, optional
        The image whose geometry (size, spacing, origin, direction) the result
        takes. Left out, it is the base image: the program's first ``load``.

    Returns
    -------
    nimg
        0, 1, ..., size - 1 along the second (ITK) axis.

    Examples
    --------
    print "h" max(y)   // h=3.0
    """
    return _coordinate(img, 1)


@primitive("z", "(img) -> nimg", "(bimg) -> nimg", cost="light", base=True)
def z(img):
    """Voxel index along the third axis, as float32; 0 everywhere in 2D.

    Spacing and origin are ignored.

    Parameters
    ----------
    img : img or bimg, optional
        The image whose geometry (size, spacing, origin, direction) the result
        takes. Left out, it is the base image: the program's first ``load``.

    Returns
    -------
    nimg
        0, 1, ..., size - 1 along the third (ITK) axis of a 3D image; 0 in 2D.

    Examples
    --------
    print "d" max(z)   // d=0.0
    """
    return _coordinate(img, 2)


# -- boolean images --------------------------------------------------------

@primitive("not", "(bimg) -> bimg", cost="light")
def not_(a):
    """Negation of a boolean image, or of a boolean.

    Parameters
    ----------
    a : bimg or bool
        The operand.

    Returns
    -------
    bimg or bool
        True where ``a`` is false. The stdlib's prefix ``!`` is ``not``.

    Examples
    --------
    print "v" volume(not(img < 5))   // v=15.0
    print "b" not(true)   // b=false
    """
    return as_bool(a, ~boolean(a, "not"))


@primitive("and", "(bimg, bimg) -> bimg", cost="light", commutative=True)
def and_(a, b):
    """Conjunction of two boolean images, or of two booleans.

    Parameters
    ----------
    a, b : bimg or bool
        Two boolean images of the same size, or two booleans.

    Returns
    -------
    bimg or bool
        True where both are. ``and(a, b)`` and ``and(b, a)`` are the same task.
        The stdlib's infix ``&`` is ``and``.

    Examples
    --------
    print "v" volume(and(img > 4, img < 10))   // v=5.0
    print "b" and(true, false)   // b=false
    """
    same_size("and", a, b)
    return as_bool(a, np.logical_and(boolean(a, "and"), boolean(b, "and")))


@primitive("or", "(bimg, bimg) -> bimg", cost="light", commutative=True)
def or_(a, b):
    """Disjunction of two boolean images, or of two booleans.

    Parameters
    ----------
    a, b : bimg or bool
        Two boolean images of the same size, or two booleans.

    Returns
    -------
    bimg or bool
        True where either is. ``or(a, b)`` and ``or(b, a)`` are the same task.
        The stdlib's infix ``|`` is ``or``.

    Examples
    --------
    print "v" volume(or(x =. 0, y =. 0))   // v=8.0
    print "b" or(true, false)   // b=true
    """
    same_size("or", a, b)
    return as_bool(a, np.logical_or(boolean(a, "or"), boolean(b, "or")))


# -- arithmetic ------------------------------------------------------------

def operands(name, a, b):
    """(array or float32 scalar, same, geometry image) for a binary number operator."""
    if isinstance(a, Image) and isinstance(b, Image):
        same_size(name, a, b)
        return number(a, name), number(b, name), a
    if isinstance(a, Image):
        return number(a, name), f32(b), a
    return f32(a), number(b, name), b


def _arith(name, ufunc, a, b):
    u, v, geo = operands(name, a, b)
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


@primitive("+", *NN_N, cost="light")
def add(a, b):
    """Sum of two numbers, or voxel-wise sum of number images.

    Parameters
    ----------
    a, b : num or nimg
        Two numbers, two number images of the same size, or a number image
        and a number (on either side; the number is cast to float32).

    Returns
    -------
    num or nimg
        a + b: in float64 for numbers, in float32 voxel by voxel for images
        (with the geometry of the first image).

    Notes
    -----
    Image with image is VoxLogicA 1's. Number with number and image with
    number are extensions; VoxLogicA 1 writes ``.+.``, ``n +. k``, ``k .+ n``, with the same values.

    Examples
    --------
    print "s" 1 + 2 * 3   // s=7.0
    print "m" max(img + img)   // m=38.0
    print "k" max(img + 0.5)   // k=19.5
    """
    return _arith("+", np.add, a, b)


@primitive("-", *NN_N, cost="light")
def subtract(a, b):
    """Difference of two numbers, or voxel-wise difference of number images.

    Parameters
    ----------
    a, b : num or nimg
        Two numbers, two number images of the same size, or a number image
        and a number (on either side; the number is cast to float32).

    Returns
    -------
    num or nimg
        a - b: in float64 for numbers, in float32 voxel by voxel for images.

    Notes
    -----
    Image with image is VoxLogicA 1's. Number with number and image with
    number are extensions; VoxLogicA 1 writes ``.-.``, ``n -. k``, ``k .- n``, with the same values.

    Examples
    --------
    // chains group to the right: 5 - (2 - 1)
    print "d" 5 - 2 - 1   // d=4.0
    print "m" min(img - 1)   // m=-1.0
    print "r" max(10 - img)   // r=10.0
    """
    return _arith("-", np.subtract, a, b)


@primitive("*", *NN_N, cost="light")
def multiply(a, b):
    """Product of two numbers, or voxel-wise product of number images.

    Parameters
    ----------
    a, b : num or nimg
        Two numbers, two number images of the same size, or a number image
        and a number (on either side; the number is cast to float32).

    Returns
    -------
    num or nimg
        a × b: in float64 for numbers, in float32 voxel by voxel for images.

    Notes
    -----
    Image with image is VoxLogicA 1's. Number with number and image with
    number are extensions; VoxLogicA 1 writes ``.*.``, ``n *. k``, ``k .* n``, with the same values.

    Examples
    --------
    print "p" 6 * 7   // p=42.0
    print "m" max(img * img)   // m=361.0
    """
    return _arith("*", np.multiply, a, b)


@primitive("/", *NN_N, cost="light")
def divide(a, b):
    """Quotient of two numbers, or voxel-wise quotient with ITK's rule at zero.

    Parameters
    ----------
    a, b : num or nimg
        Two numbers, two number images of the same size, or a number image
        and a number (on either side; the number is cast to float32).

    Returns
    -------
    num or nimg
        Two numbers: a / b in float64; a non-zero number over 0 gives ±inf,
        0 / 0 gives nan. Image over image, or number over image: float32
        a / b, except +3.4028235e38 (FLT_MAX) wherever
        abs(b) <= float32(0.1 × float32 epsilon), about 1.19e-8, whatever
        the sign of a. Image over number: the same as ``a /. b``, that is
        a × float32(1/b).

    Notes
    -----
    Image with image is VoxLogicA 1's. Number with number and image with
    number are extensions; VoxLogicA 1 writes ``./.``, ``n /. k``, ``k ./ n``, with the same values.

    Examples
    --------
    print "q" 1 / 4   // q=0.25
    print "h" max(img / 2)   // h=9.5
    // FLT_MAX where img is 3
    print "f" max(1 / (img - 3))   // f=3.4028234663852886e+38
    """
    if isinstance(a, Image) and not isinstance(b, Image):
        return sdiv(a, b)
    u, v, geo = operands("/", a, b)
    return geo.like(divide_flt_max(u, v), "number")


@primitive("+.", "(nimg, num) -> nimg", cost="light")
def sadd(n, k):
    """Number image plus a number: ``n +. k``.

    Parameters
    ----------
    n : nimg
        The number image.
    k : num
        The number, cast to float32.

    Returns
    -------
    nimg
        Every voxel plus float32(k), in float32.

    Examples
    --------
    print "s" max(img +. 1)   // s=20.0
    """
    return _arith("+.", np.add, n, k)


@primitive("-.", "(nimg, num) -> nimg", cost="light")
def ssub(n, k):
    """Number image minus a number: ``n -. k``.

    Parameters
    ----------
    n : nimg
        The number image.
    k : num
        The number, cast to float32.

    Returns
    -------
    nimg
        Every voxel minus float32(k), in float32.

    Examples
    --------
    print "s" min(img -. 1)   // s=-1.0
    """
    return _arith("-.", np.subtract, n, k)


@primitive("*.", "(nimg, num) -> nimg", cost="light")
def smul(n, k):
    """Number image times a number: ``n *. k``.

    Parameters
    ----------
    n : nimg
        The number image.
    k : num
        The number, cast to float32.

    Returns
    -------
    nimg
        Every voxel times float32(k), in float32.

    Examples
    --------
    print "s" max(img *. 0.5)   // s=9.5
    """
    return _arith("*.", np.multiply, n, k)


@primitive("/.", "(nimg, num) -> nimg", cost="light")
def sdiv(n, k):
    """Number image over a number: ``n /. k``.

    Parameters
    ----------
    n : nimg
        The number image.
    k : num
        The number, cast to float32.

    Returns
    -------
    nimg
        Every voxel times float32(1/k), 1/k computed in float64 (not the
        voxel divided by float32(k)); k = 0 makes 1/k infinite, so 0 /. 0 is nan.

    Examples
    --------
    print "q" max(img /. 4)   // q=4.75
    print "t" max(img /. 3)   // t=6.333333492279053
    """
    with np.errstate(all="ignore"):
        inv = np.float64(1.0) / np.float64(k)
    return _arith("/.", np.multiply, n, inv)


@primitive(".-", "(num, nimg) -> nimg", cost="light")
def ssub_left(k, n):
    """A number minus a number image: ``k .- n``.

    Parameters
    ----------
    k : num
        The number, cast to float32.
    n : nimg
        The number image.

    Returns
    -------
    nimg
        float32(k) minus every voxel, in float32.

    Examples
    --------
    print "r" min(10 .- img)   // r=-9.0
    """
    return _arith(".-", np.subtract, k, n)


@primitive("./", "(num, nimg) -> nimg", cost="light")
def sdiv_left(k, n):
    """A number over a number image: ``k ./ n``, with ITK's rule at zero.

    Parameters
    ----------
    k : num
        The number, cast to float32.
    n : nimg
        The number image.

    Returns
    -------
    nimg
        float32(k) / voxel in float32, except +3.4028235e38 (FLT_MAX) where
        abs(voxel) <= float32(0.1 × float32 epsilon), about 1.19e-8.

    Examples
    --------
    print "i" min(1 ./ (img +. 1))   // i=0.05000000074505806
    print "f" max(1 ./ img)   // f=3.4028234663852886e+38
    """
    v = number(n, "./")
    return n.like(divide_flt_max(f32(k), v), "number")


@primitive("abs", "(nimg) -> nimg", cost="light")
def abs_(n):
    """Voxel-wise absolute value.

    Parameters
    ----------
    n : nimg
        A number image.

    Returns
    -------
    nimg
        abs(voxel) at every voxel.

    Examples
    --------
    print "a" max(abs(img -. 30))   // a=30.0
    """
    return n.like(np.abs(number(n, "abs")), "number")


# -- masks -----------------------------------------------------------------

@primitive("mask", "(nimg, bimg) -> nimg", cost="light")
def mask(n, b):
    """A number image where a boolean image is true, 0 elsewhere.

    Parameters
    ----------
    n : nimg
        The number image.
    b : bimg
        The mask, of the same size.

    Returns
    -------
    nimg
        The voxel of ``n`` where ``b`` is true, 0 where it is false.

    Examples
    --------
    print "m" max(mask(img, x =. 0))   // m=15.0
    """
    same_size("mask", n, b)
    arr = number(n, "mask")
    return n.like(np.where(boolean(b, "mask"), arr, np.float32(0)), "number")
