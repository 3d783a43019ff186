"""PNG pictures of images, for display in Jupyter.

Number images are drawn grey through an intensity window, colour images as
they are (values 0..255), bool images as a red mask, either alone on black
or over the picture of a base image. A 3D image is shown one slice at a
time.

Orientation of the slices of a 3D image, with ``array`` in (z, y, x) order:

* axis 0 (axial): rows follow y downwards, columns follow x rightwards;
* axis 1 (coronal): rows follow z *upwards*, columns follow x rightwards;
* axis 2 (sagittal): rows follow z *upwards*, columns follow y rightwards.

With ITK's LPS patient coordinates and an identity direction (x towards
the patient's left, y posterior, z superior), this is the radiological
convention: anterior at the top of axial slices, the patient's left on the
viewer's right, the top of the head up in coronal and sagittal slices, the
face to the left in sagittal slices. The direction cosines are not applied:
the voxel grid is shown as stored.

Only numpy and the standard library are used.
"""
from __future__ import annotations

import math
import struct
import zlib

import numpy as np

from .image import Image

MASK_COLOUR = (255.0, 0.0, 0.0)  # red
MASK_ALPHA = 0.5
MAX_SAMPLE = 1 << 18  # voxels used to estimate a window: ample for display
VIEWS = ("axial", "coronal", "sagittal")


def encode_png(pixels: np.ndarray) -> bytes:
    """Encode 8-bit pixels as a PNG file.

    Parameters
    ----------
    pixels : ndarray of uint8
        Shape (H, W) for grey, (H, W, 3) for RGB or (H, W, 4) for RGBA.

    Returns
    -------
    bytes
        The PNG file (one IDAT chunk, every row with filter type 0).

    Raises
    ------
    ValueError
        If the dtype is not uint8, the shape is not one of the above or the
        picture is empty.
    """
    pixels = np.asarray(pixels)
    if pixels.dtype != np.uint8:
        raise ValueError(f"PNG pixels must be uint8, not {pixels.dtype}")
    if pixels.ndim == 3 and pixels.shape[2] == 1:
        pixels = pixels[..., 0]
    if pixels.ndim == 2:
        colour_type, channels = 0, 1
    elif pixels.ndim == 3 and pixels.shape[2] in (3, 4):
        colour_type, channels = (2, 3) if pixels.shape[2] == 3 else (6, 4)
    else:
        raise ValueError(f"PNG pixels must be (H, W), (H, W, 3) or (H, W, 4), not {pixels.shape}")
    height, width = pixels.shape[:2]
    if height == 0 or width == 0:
        raise ValueError("cannot encode an empty picture as PNG")
    rows = np.zeros((height, 1 + width * channels), np.uint8)  # column 0: filter type 0
    rows[:, 1:] = pixels.reshape(height, width * channels)
    header = struct.pack(">IIBBBBB", width, height, 8, colour_type, 0, 0, 0)
    return b"".join((
        b"\x89PNG\r\n\x1a\n",
        _chunk(b"IHDR", header),
        _chunk(b"IDAT", zlib.compress(rows.tobytes(), 6)),
        _chunk(b"IEND", b""),
    ))


def _chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(data, zlib.crc32(kind))
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def intensity_window(array, lo: float = 1.0, hi: float = 99.0) -> tuple[float, float]:
    """Robust display range of a number image.

    Parameters
    ----------
    array : ndarray or Image
        The voxels (an :class:`~voxlogica_nb.image.Image` is read through
        its ``array``).
    lo, hi : float
        Percentiles (0..100) of the finite voxels giving the range.

    Returns
    -------
    (float, float)
        ``(low, high)`` with ``low < high``. When the percentiles coincide,
        the minimum and maximum of the finite voxels are used instead; for a
        constant image with value ``v`` the result is ``(v, v + 1)``; with
        no finite voxel, ``(0, 1)``.

    Notes
    -----
    The percentiles are estimated on an evenly strided sample of at most
    :data:`MAX_SAMPLE` (262 144) voxels, so the result is deterministic and
    fast on large volumes.
    """
    flat = np.asarray(getattr(array, "array", array)).reshape(-1)
    step = max(1, -(-flat.size // MAX_SAMPLE))
    sample = flat[::step]
    sample = sample[np.isfinite(sample)]
    if sample.size:
        low, high = (float(v) for v in np.percentile(sample, [lo, hi]))
        if high > low:
            return low, high
    # degenerate percentiles: look at every voxel, a small region may matter
    finite = flat[np.isfinite(flat)]
    if finite.size == 0:
        return 0.0, 1.0
    low, high = float(finite.min()), float(finite.max())
    return (low, high) if high > low else (low, low + 1.0)


def _check_view(image, axis: int, index):
    """The index of the slice to show (None for a 2D image)."""
    if image.ndim == 2:
        return None
    if axis not in (0, 1, 2):
        raise ValueError(f"axis must be 0 (axial), 1 (coronal) or 2 (sagittal), not {axis!r}")
    n = image.shape[axis]
    if index is None:
        return n // 2
    index = int(index)
    if not -n <= index < n:
        raise IndexError(f"slice {index} is out of range for {n} {VIEWS[axis]} slices")
    return index % n


def slice_of(image, axis: int = 0, index: int | None = None) -> np.ndarray:
    """The 2D slice of an image, in display orientation.

    Parameters
    ----------
    image : Image
        A 2D or 3D image.
    axis : int
        Numpy axis across which to cut a 3D image: 0 axial (z), 1 coronal
        (y), 2 sagittal (x). Ignored for a 2D image.
    index : int, optional
        The slice along ``axis``; the middle one (``n // 2``) by default.
        Negative values count from the end.

    Returns
    -------
    ndarray
        A view of ``image.array``: (rows, columns), plus the component axis
        for a colour image. For a 2D image, ``image.array`` itself. Rows of
        coronal and sagittal slices are flipped so that z grows upwards (see
        the module docstring).
    """
    index = _check_view(image, axis, index)
    arr = image.array
    if index is None:
        return arr
    if axis == 0:
        return arr[index]
    if axis == 1:
        return arr[:, index][::-1]
    return arr[:, :, index][::-1]


def spacing_of(image, axis: int = 0) -> tuple[float, float]:
    """Physical (horizontal, vertical) pixel size of a slice view.

    Parameters
    ----------
    image : Image
        A 2D or 3D image; ``spacing`` is in ITK (x, y, z) order.
    axis : int
        As in :func:`slice_of`.

    Returns
    -------
    (float, float)
        ``(sx, sy)`` for a 2D image or an axial slice, ``(sx, sz)`` for a
        coronal slice, ``(sy, sz)`` for a sagittal slice.
    """
    sp = image.spacing
    if image.ndim == 2:
        return sp[0], sp[1]
    _check_view(image, axis, None)
    return {0: (sp[0], sp[1]), 1: (sp[0], sp[2]), 2: (sp[1], sp[2])}[axis]


def _grey(values: np.ndarray, window) -> np.ndarray:
    """uint8 (H, W, 3) grey picture; NaN black, infinities clipped."""
    low, high = (float(w) for w in window)
    if not high > low:
        high = low + 1.0
    with np.errstate(invalid="ignore", over="ignore"):
        scaled = (values.astype(np.float64) - low) * (255.0 / (high - low))
    grey = np.nan_to_num(np.clip(scaled, 0.0, 255.0), nan=0.0)
    return np.repeat(np.rint(grey).astype(np.uint8)[..., None], 3, axis=2)


def _outline(mask: np.ndarray) -> np.ndarray:
    """Mask pixels with a 4-neighbour outside the mask (the picture's edge
    does not count as outside)."""
    p = np.pad(mask, 1, mode="edge")
    inner = p[:-2, 1:-1] & p[2:, 1:-1] & p[1:-1, :-2] & p[1:-1, 2:]
    return mask & ~inner


def to_rgb(image, axis: int = 0, index: int | None = None, base=None, window=None,
           base_window=None) -> np.ndarray:
    """The RGB picture of one slice of an image, one pixel per voxel.

    Parameters
    ----------
    image : Image
        A 2D or 3D image of any kind.
    axis, index : int
        The slice of a 3D image, as in :func:`slice_of`.
    base : Image, optional
        For a bool ``image`` only: a picture to draw the mask over. Used
        when its spatial shape equals the image's; otherwise ignored.
    window : (float, float), optional
        For a number ``image``: the values drawn black and white. By default
        :func:`intensity_window` of the *whole* image, so that all slices of
        a volume share it. Ignored for other kinds.
    base_window : (float, float), optional
        The same, for a number ``base``.

    Returns
    -------
    ndarray of uint8, shape (H, W, 3)

    Notes
    -----
    * number: grey between the window's bounds; NaN black, infinities
      clipped to black or white.
    * colour: values clipped to 0..255 and rounded, NaN black; an alpha
      component is dropped.
    * bool (nonzero is true): over a base, the mask is red at 50 % opacity
      and its outline fully red, so thin masks stay visible; a colour
      base is drawn in grey (luminance) so the mask stands out on red
      objects too; without a base, red on black. A bool base is drawn
      white on black.
    """
    values = slice_of(image, axis, index)
    if image.kind == "number":
        return _grey(values, window if window is not None else intensity_window(image.array))
    if image.kind == "colour":
        rgb = np.clip(np.nan_to_num(values[..., :3], nan=0.0), 0.0, 255.0)
        return np.rint(rgb).astype(np.uint8)
    mask = values != 0
    if isinstance(base, Image) and base.shape == image.shape:
        if base.kind == "bool":
            picture = _grey(slice_of(base, axis, index) != 0, (0.0, 1.0))
        else:
            picture = to_rgb(base, axis, index, window=base_window)
            if base.kind == "colour":  # grey, so the red mask stands out even on red objects
                grey = picture.astype(np.float32) @ np.float32([0.299, 0.587, 0.114])
                picture = np.repeat(grey[..., None], 3, axis=-1)
        out = picture.astype(np.float32)
        out[mask] = (1.0 - MASK_ALPHA) * out[mask] + MASK_ALPHA * np.float32(MASK_COLOUR)
        out[_outline(mask)] = MASK_COLOUR
        return np.rint(out).astype(np.uint8)
    out = np.zeros(mask.shape + (3,), np.uint8)
    out[mask] = MASK_COLOUR
    return out


def upscale(pixels: np.ndarray, spacing2d=(1.0, 1.0), min_size: int = 256,
            max_size: int = 768) -> np.ndarray:
    """Nearest-neighbour resampling to a displayable size and the physical aspect.

    Parameters
    ----------
    pixels : ndarray
        (H, W) or (H, W, C) picture at voxel resolution.
    spacing2d : (float, float)
        Physical (horizontal, vertical) size of a pixel, as from
        :func:`spacing_of`.
    min_size, max_size : int
        The shorter side is made at least ``min_size`` pixels, where this
        keeps the longer side at most ``max_size``; the longer side never
        exceeds ``max_size`` (large pictures are reduced).

    Returns
    -------
    ndarray
        The resampled picture, same dtype. Pixels along the axis of finer
        spacing are repeated a whole number of times when the picture is
        enlarged; the other axis is stretched by the spacing ratio.
    """
    h, w = pixels.shape[:2]
    if h == 0 or w == 0:
        return pixels
    sx, sy = (abs(float(s)) for s in spacing2d)
    if not (math.isfinite(sx) and math.isfinite(sy) and sx > 0 and sy > 0):
        sx = sy = 1.0
    unit = min(sx, sy)
    base_h, base_w = h * sy / unit, w * sx / unit  # size at the physical aspect
    grow = min_size / min(base_h, base_w)
    shrink = max_size / max(base_h, base_w)
    scale = math.ceil(grow) if grow > 1 else 1.0
    if scale > shrink:
        scale = math.floor(shrink) if shrink >= 1 else shrink
    out_h = max(1, round(base_h * scale))
    out_w = max(1, round(base_w * scale))
    if (out_h, out_w) == (h, w):
        return pixels
    rows = ((np.arange(out_h) + 0.5) * (h / out_h)).astype(np.intp)
    cols = ((np.arange(out_w) + 0.5) * (w / out_w)).astype(np.intp)
    return pixels[rows[:, None], cols[None, :]]


def image_png(image, axis: int = 0, index: int | None = None, base=None, window=None,
              base_window=None) -> bytes:
    """PNG bytes of an image: a 2D picture, or one slice of a 3D image.

    Parameters are those of :func:`to_rgb`; the picture is then resampled by
    :func:`upscale` with the slice's :func:`spacing_of` and encoded by
    :func:`encode_png`.

    Returns
    -------
    bytes
        An RGB PNG file.
    """
    rgb = to_rgb(image, axis, index, base=base, window=window, base_window=base_window)
    return encode_png(upscale(rgb, spacing_of(image, axis)))
