"""Synthetic images for examples, tests and benchmarks (deterministic, offline).

Two kinds of data, both generated from a seed with numpy only:

* **Coloured shapes** — a 2D RGB picture (values 0..255) of a red disc, a
  green square and a blue triangle on a noisy grey background that touches
  the border: the input of the quick-start example (the same task as
  VoxLogicA 1's tutorial: remove the grey background, keep the coloured
  items). :func:`shapes`, :func:`shapes_truth`, :func:`write_shapes`.

* **Head phantom** — a 3D FLAIR-like volume (float32, 0..1): air (below 0.1,
  touching the border), scalp, skull, cerebrospinal fluid, grey and white
  matter, ventricles, and a lesion made of a bright irregular tumour core
  surrounded by a dimmer oedema rim, plus Gaussian noise.
  :func:`phantom`, :func:`write_phantom`.
  The ground truth file ``phantom_truth.nii.gz`` holds labels
  **0 = no lesion, 1 = oedema, 2 = tumour core**, so ``intensity(truth) >. 0``
  is the whole lesion (tumour core + oedema) — what the tumour example
  segments — and ``intensity(truth) >. 1`` the core alone.

  The anatomy is defined on a fixed virtual field of view of 240×240×155 mm
  sampled at any ``size``; ``spacing`` only sets the geometry written to the
  file (default: the field of view divided by the size, so the physical
  sizes are realistic and the example's radii in mm keep their meaning).
  Pass e.g. ``spacing=(1.0, 1.0, 2.0)`` for anisotropic voxels.

:func:`write_demo` writes an example program and its inputs to a folder
(used by ``voxlogica demo NAME``).
"""
from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from importlib import resources

import numpy as np

from .image import Image

SHAPES_SIZE = (160, 120)          # (width, height)
PHANTOM_SMALL = (48, 48, 32)      # (x, y, z) for tests
PHANTOM_LARGE = (240, 240, 155)   # BraTS-like size for benchmarks
FOV_MM = (240.0, 240.0, 155.0)    # the phantom's virtual field of view

# ---------------------------------------------------------------------------
# 2D coloured shapes
# ---------------------------------------------------------------------------

SHAPE_COLOURS = {
    "disc": (205.0, 45.0, 50.0),      # red
    "square": (55.0, 175.0, 65.0),    # green
    "triangle": (50.0, 65.0, 200.0),  # blue
}
BACKGROUND_GREY = 172.0


def _shape_masks(width: int, height: int) -> dict:
    """Boolean (height, width) masks of the three shapes, scaled to the size."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    # coordinates normalised to the reference 160×120 picture
    u = (xx + 0.5) * (160.0 / width)
    v = (yy + 0.5) * (120.0 / height)
    disc = (u - 42.0) ** 2 + (v - 44.0) ** 2 <= 24.0 ** 2
    square = (u >= 86.0) & (u <= 128.0) & (v >= 16.0) & (v <= 56.0)
    # triangle with vertices (92,106), (148,106), (120,66)
    a, b, c = (92.0, 106.0), (148.0, 106.0), (120.0, 66.0)

    def side(p, q):
        return (q[0] - p[0]) * (v - p[1]) - (q[1] - p[1]) * (u - p[0])

    s1, s2, s3 = side(a, b), side(b, c), side(c, a)
    triangle = ((s1 <= 0) & (s2 <= 0) & (s3 <= 0)) | ((s1 >= 0) & (s2 >= 0) & (s3 >= 0))
    return {"disc": disc, "square": square, "triangle": triangle}


def shapes(seed: int = 0, size: tuple = SHAPES_SIZE) -> Image:
    """A 2D RGB colour image (float32 values that are whole numbers 0..255):
    red disc, green square, blue triangle on a noisy grey background.

    The background is grey (all three channels around 172, noise σ 16 per
    channel, a gentle shading) and touches the border; the shapes are
    saturated (at least one channel far below 120) and stay away from the
    border. A few background pixels are randomly non-grey specks (the noise
    that the example's smoothing removes).
    """
    width, height = size
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    shading = 10.0 * (xx / max(width - 1, 1) - 0.5) + 6.0 * (yy / max(height - 1, 1) - 0.5)
    grey = BACKGROUND_GREY + shading + rng.normal(0.0, 4.0, (height, width))
    img = np.repeat(grey[..., None], 3, axis=2)
    img += rng.normal(0.0, 16.0, (height, width, 3))
    noise = rng.normal(0.0, 12.0, (height, width, 3))
    for name, mask in _shape_masks(width, height).items():
        colour = np.asarray(SHAPE_COLOURS[name])
        img[mask] = colour + noise[mask]
    img = np.clip(np.rint(img), 0, 255).astype(np.float32)
    return Image(img, "colour")


def shapes_truth(size: tuple = SHAPES_SIZE) -> dict:
    """The shapes' masks as bool :class:`Image` s: ``{"disc", "square", "triangle"}``."""
    width, height = size
    return {name: Image(m.astype(np.uint8), "bool") for name, m in _shape_masks(width, height).items()}


def write_shapes(folder: str, seed: int = 0, size: tuple = SHAPES_SIZE, name: str = "shapes.png") -> str:
    """Write the shapes picture as an 8-bit RGB PNG; returns its path."""
    import SimpleITK as sitk

    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, name)
    arr = shapes(seed, size).array.astype(np.uint8)
    sitk.WriteImage(sitk.GetImageFromArray(arr, isVector=True), path)
    return path


# ---------------------------------------------------------------------------
# 3D head phantom
# ---------------------------------------------------------------------------

# FLAIR-like mean intensities (0..1 before noise)
INTENSITY = {
    "air": 0.02,
    "scalp": 0.55,
    "skull": 0.20,
    "csf": 0.15,
    "grey": 0.45,
    "white": 0.37,
    "oedema": 0.66,
    "tumour": 0.86,
}
NOISE_SIGMA = 0.03
HEAD_RADII_MM = (86.0, 102.0, 68.0)


@dataclass
class Phantom:
    """A synthetic FLAIR volume with its ground truth.

    ``flair`` number image (0..1); ``labels`` number image (0 none,
    1 oedema, 2 tumour core); ``lesion`` bool image (core + oedema, the
    truth of the tumour example); ``core`` bool image (tumour core only).
    """

    flair: Image
    labels: Image
    lesion: Image
    core: Image


def _smooth_noise(rng, shape, sigma_vox):
    from scipy.ndimage import gaussian_filter

    field = gaussian_filter(rng.normal(0.0, 1.0, shape), sigma_vox, mode="nearest")
    sd = field.std()
    return field / sd if sd > 0 else field


def phantom(size: tuple = PHANTOM_SMALL, spacing: tuple | None = None, seed: int = 0) -> Phantom:
    """A head phantom of ``size`` (x, y, z) voxels; see the module docstring."""
    sx, sy, sz = (int(s) for s in size)
    if spacing is None:
        spacing = (FOV_MM[0] / sx, FOV_MM[1] / sy, FOV_MM[2] / sz)
    rng = np.random.default_rng(seed)
    # virtual mm coordinates of voxel centres, arrays in (z, y, x) order
    zc = ((np.arange(sz) + 0.5) / sz - 0.5) * FOV_MM[2]
    yc = ((np.arange(sy) + 0.5) / sy - 0.5) * FOV_MM[1]
    xc = ((np.arange(sx) + 0.5) / sx - 0.5) * FOV_MM[0]
    Z, Y, X = np.meshgrid(zc, yc, xc, indexing="ij")
    vox_mm = (FOV_MM[2] / sz, FOV_MM[1] / sy, FOV_MM[0] / sx)

    a, b, c = HEAD_RADII_MM
    r = np.sqrt((X / a) ** 2 + (Y / b) ** 2 + (Z / c) ** 2)
    # slightly irregular head outline
    r = r * (1.0 + 0.015 * _smooth_noise(rng, r.shape, [20.0 / v for v in vox_mm]))

    flair = np.full(r.shape, INTENSITY["air"])
    flair[r <= 1.0] = INTENSITY["scalp"]
    flair[r <= 0.93] = INTENSITY["skull"]
    flair[r <= 0.86] = INTENSITY["csf"]
    brain = r <= 0.83
    flair[brain] = INTENSITY["grey"]
    white = r <= 0.68
    flair[white] = INTENSITY["white"]
    # two lateral ventricles
    for side in (-1.0, 1.0):
        vent = ((X - side * 12.0) / 8.0) ** 2 + ((Y + 5.0) / 28.0) ** 2 + ((Z - 8.0) / 10.0) ** 2 <= 1.0
        flair[vent] = INTENSITY["csf"]

    # lesion: an irregular tumour core (union of jittered balls with a wavy
    # surface) inside an oedema rim of varying thickness; kept in the brain
    centre = np.array([26.0, -14.0, 6.0])  # x, y, z in mm
    core_field = np.full(r.shape, np.inf)
    for k in range(6):
        offset = rng.uniform(-11.0, 11.0, 3) if k else np.zeros(3)
        radius = rng.uniform(18.0, 24.0) if k else 25.0
        cx, cy, cz = centre + offset
        d = np.sqrt((X - cx) ** 2 + (Y - cy) ** 2 + (Z - cz) ** 2) / radius
        core_field = np.minimum(core_field, d)
    wavy = _smooth_noise(rng, r.shape, [6.0 / v for v in vox_mm])
    core = (core_field * (1.0 + 0.10 * wavy) <= 1.0) & (r <= 0.78)
    rim = 1.0 + 0.35 * (0.5 + 0.5 * np.tanh(_smooth_noise(rng, r.shape, [10.0 / v for v in vox_mm])))
    lesion = ((core_field <= 0.25 + rim) | core) & (r <= 0.80)
    oedema = lesion & ~core
    flair[oedema] = INTENSITY["oedema"]
    texture = 0.04 * _smooth_noise(rng, r.shape, [2.0 / v for v in vox_mm])
    flair[core] = INTENSITY["tumour"] + texture[core]

    flair = flair + rng.normal(0.0, NOISE_SIGMA, flair.shape)
    flair = np.clip(flair, 0.0, 1.0).astype(np.float32)
    labels = np.zeros(r.shape, np.float32)
    labels[oedema] = 1.0
    labels[core] = 2.0

    geom = dict(spacing=tuple(float(s) for s in spacing))
    return Phantom(
        flair=Image(flair, "number", **geom),
        labels=Image(labels, "number", **geom),
        lesion=Image(lesion.astype(np.uint8), "bool", **geom),
        core=Image(core.astype(np.uint8), "bool", **geom),
    )


def phantom_flair(size: tuple = PHANTOM_SMALL, spacing: tuple | None = None, seed: int = 0) -> Image:
    """The FLAIR-like volume of :func:`phantom`."""
    return phantom(size, spacing, seed).flair


def phantom_truth(size: tuple = PHANTOM_SMALL, spacing: tuple | None = None, seed: int = 0) -> Image:
    """The whole lesion (tumour core + oedema) of :func:`phantom`, a bool image."""
    return phantom(size, spacing, seed).lesion


def write_phantom(folder: str, size: tuple = PHANTOM_SMALL, spacing: tuple | None = None,
                  seed: int = 0) -> dict:
    """Write ``phantom_flair.nii.gz`` (float32) and ``phantom_truth.nii.gz``
    (uint8 labels 0/1/2) to ``folder``; returns ``{"flair": path, "truth": path}``."""
    import SimpleITK as sitk

    os.makedirs(folder, exist_ok=True)
    ph = phantom(size, spacing, seed)
    paths = {"flair": os.path.join(folder, "phantom_flair.nii.gz"),
             "truth": os.path.join(folder, "phantom_truth.nii.gz")}
    sitk.WriteImage(ph.flair.to_sitk(), paths["flair"], True)
    labels = ph.labels.like(ph.labels.array)
    truth = sitk.Cast(labels.to_sitk(), sitk.sitkUInt8)
    sitk.WriteImage(truth, paths["truth"], True)
    return paths


def write_rcc(folder: str, name: str = "rcc.png") -> str:
    """Write a small RGB sheet of region pairs for the RCC example: on each
    row, a green region (left operand) and a red region (right operand) in
    one relation; rows in order DC, EC, PO, TPP, NTPP, EQ. Returns the path."""
    import SimpleITK as sitk

    os.makedirs(folder, exist_ok=True)
    arr = rcc_sheet().array.astype(np.uint8)
    path = os.path.join(folder, name)
    sitk.WriteImage(sitk.GetImageFromArray(arr, isVector=True), path)
    return path


RCC_ROWS = ("dc", "ec", "po", "tpp", "ntpp", "eq")


def rcc_pairs(width: int = 48, height: int = 24) -> dict:
    """Pairs of bool (height, width) arrays ``(a, b)`` in each RCC relation,
    keyed by the relation name of ``RCC_ROWS`` (a in relation with b)."""
    yy, xx = np.mgrid[0:height, 0:width]

    def box(x0, x1, y0, y1):
        return (xx >= x0) & (xx <= x1) & (yy >= y0) & (yy <= y1)

    return {
        "dc": (box(4, 14, 6, 16), box(24, 34, 6, 16)),
        "ec": (box(4, 14, 6, 16), box(15, 25, 6, 16)),
        "po": (box(4, 16, 6, 16), box(12, 24, 8, 18)),
        "tpp": (box(10, 16, 8, 14), box(10, 26, 4, 18)),
        "ntpp": (box(14, 18, 9, 13), box(8, 26, 4, 18)),
        "eq": (box(8, 20, 6, 16), box(8, 20, 6, 16)),
    }


def rcc_sheet() -> Image:
    """An RGB image stacking the pairs of :func:`rcc_pairs` in rows: green
    channel 255 on the first region, red channel 255 on the second, blue
    channel = 40 × row index everywhere in the row (so rows can be selected)."""
    pairs = rcc_pairs()
    h, w = next(iter(pairs.values()))[0].shape
    out = np.zeros((h * len(RCC_ROWS), w, 3), np.float32)
    for i, rel in enumerate(RCC_ROWS):
        a, b = pairs[rel]
        block = out[i * h:(i + 1) * h]
        block[..., 1][a] = 255.0
        block[..., 0][b] = 255.0
        block[..., 2] = 40.0 * i
    return Image(out, "colour")


# ---------------------------------------------------------------------------
# Demos: an example program plus its inputs
# ---------------------------------------------------------------------------

DEMOS = {
    "quickstart": ("quickstart.imgql", "shapes"),
    "tumour": ("tumour.imgql", "phantom"),
    "rcc": ("rcc.imgql", "rcc"),
}


def example_path(name: str) -> str:
    """Path of the packaged example program ``name`` (e.g. ``"tumour"``)."""
    filename = name if name.endswith(".imgql") else name + ".imgql"
    return str(resources.files("voxlogica_nb").joinpath("examples", filename))


def write_demo(name: str, folder: str, size: tuple | None = None, seed: int = 0) -> str:
    """Write the example program ``name`` (one of :data:`DEMOS`) and its
    synthetic inputs into ``folder``; returns the program's path. Run the
    program with ``folder`` as the working directory (paths in it are
    relative)."""
    if name not in DEMOS:
        known = ", ".join(sorted(DEMOS))
        raise ValueError(f"unknown demo {name!r} (known: {known})")
    program, data = DEMOS[name]
    os.makedirs(folder, exist_ok=True)
    if data == "shapes":
        write_shapes(folder, seed, size or SHAPES_SIZE)
    elif data == "phantom":
        write_phantom(folder, size or PHANTOM_SMALL, seed=seed)
    else:
        write_rcc(folder)
    target = os.path.join(folder, program)
    shutil.copyfile(example_path(program), target)
    return target
