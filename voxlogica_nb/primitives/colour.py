"""Colour images: grey level, components, and composition from number images.

A colour image has 3 (RGB) or 4 (RGBA) float32 components per voxel; it is
what ``load`` gives for a colour file. Components are not clamped.
"""
from __future__ import annotations


from ..errors import PrimitiveError
from .images import f32, number, same_size
from .registry import primitive
from ..lazy import LazyModule

np = LazyModule("numpy", globals(), "np")  # imported on first use


@primitive("intensity", "(img) -> nimg", cost="light")
def intensity(img):
    """Grey level of an image.

    Parameters
    ----------
    img : img
        A number, boolean or colour image.

    Returns
    -------
    nimg
        A number image: its values; a boolean image: 0 and 1; a colour image:
        float32(0.2126)·r + (float32(0.7152)·g + float32(0.0722)·b), in
        float32, grouped so.

    Examples
    --------
    print "g" max(intensity(rgb(img, img, img)))   // g=19.0
    print "r" max(intensity(rgb(img, constant(0), constant(0))))   // r=4.039400100708008
    """
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


@primitive("red", "(cimg) -> nimg", cost="light")
def red(img):
    """The red component of a colour image.

    Parameters
    ----------
    img : cimg
        A colour image; a grey image is an error.

    Returns
    -------
    nimg
        Component 0 (counting from 0) of every voxel.

    Examples
    --------
    print "r" max(red(rgb(img, x, y)))   // r=19.0
    """
    return _channel(img, 0, "red")


@primitive("green", "(cimg) -> nimg", cost="light")
def green(img):
    """The green component of a colour image.

    Parameters
    ----------
    img : cimg
        A colour image; a grey image is an error.

    Returns
    -------
    nimg
        Component 1 (counting from 0) of every voxel.

    Examples
    --------
    print "g" max(green(rgb(img, x, y)))   // g=4.0
    """
    return _channel(img, 1, "green")


@primitive("blue", "(cimg) -> nimg", cost="light")
def blue(img):
    """The blue component of a colour image.

    Parameters
    ----------
    img : cimg
        A colour image; a grey image is an error.

    Returns
    -------
    nimg
        Component 2 (counting from 0) of every voxel.

    Examples
    --------
    print "b" max(blue(rgb(img, x, y)))   // b=3.0
    """
    return _channel(img, 2, "blue")


@primitive("alpha", "(img) -> nimg", cost="light")
def alpha(img):
    """The alpha component of an RGBA image; 255 for any other image.

    Parameters
    ----------
    img : img
        An image.

    Returns
    -------
    nimg
        Component 3 (counting from 0) of an RGBA image; 255 everywhere for an
        RGB, number or boolean image.

    Examples
    --------
    print "a" max(alpha(rgba(img, x, y, constant(7))))   // a=7.0
    print "o" max(alpha(rgb(img, x, y)))   // o=255.0
    """
    if img.kind == "colour" and img.components == 4:
        return _channel(img, 3, "alpha")
    return img.like(np.full(img.shape, np.float32(255), np.float32), "number")


def _compose(name, *chans):
    same_size(name, *chans)
    arrays = [number(c, name) for c in chans]
    return chans[0].like(np.stack(arrays, axis=-1), "colour")


@primitive("rgb", "(nimg, nimg, nimg) -> cimg", cost="light")
def rgb(r, g, b):
    """Colour image from three number images.

    Parameters
    ----------
    r, g, b : nimg
        The red, green and blue components, of the same size.

    Returns
    -------
    cimg
        The RGB image (values are not clamped).

    Examples
    --------
    print "g" max(green(rgb(img, x, y)))   // g=4.0
    """
    return _compose("rgb", r, g, b)


@primitive("rgba", "(nimg, nimg, nimg, nimg) -> cimg", cost="light")
def rgba(r, g, b, a):
    """Colour image with alpha from four number images.

    Parameters
    ----------
    r, g, b, a : nimg
        The red, green, blue and alpha components, of the same size.

    Returns
    -------
    cimg
        The RGBA image (values are not clamped).

    Examples
    --------
    print "a" min(alpha(rgba(img, x, y, img +. 1)))   // a=1.0
    """
    return _compose("rgba", r, g, b, a)
