"""Input and output: ``print``, ``save``, ``dir`` and image ``load``.

``print`` and ``save`` are effects: never served from the store, run in
program order once their input is computed. ``save`` picks a writer by the
file's extension (see ``WRITERS``); parent folders are created.
"""
from __future__ import annotations

import glob
import hashlib
import json
import math
import os

from ..errors import PrimitiveError
from . import fingerprints
from .registry import primitive, report


@primitive("print", "(str, any) -> any", cost="cheap", pure=False)
def print_(label, value):
    """Show a value under a label.

    ``print "label" expr`` is a command; ``print`` is the primitive it runs,
    an effect (never served from the store, run in program order).

    Parameters
    ----------
    label : str
        The label.
    value : any
        The value: numbers, booleans, strings and sequences print as text
        ``label=value``; in a notebook, images are shown as pictures.

    Returns
    -------
    any
        ``value``.

    Examples
    --------
    print "answer" 6 .*. 7   // answer=42.0
    """
    return value


def _jsonable(value):
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (bool, int, float, str)) or value is None:
        return value
    raise PrimitiveError(f"cannot save a {type(value).__name__} to .json (numbers, booleans, strings and sequences only)")


def write_json(path, value):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(_jsonable(value), f)
        f.write("\n")


# extension (lower case, with dot) -> writer(path, value); images add theirs.
WRITERS = {".json": write_json}


def _extension(path: str) -> str:
    lower = path.lower()
    if lower.endswith(".nii.gz"):
        return ".nii.gz"
    return os.path.splitext(lower)[1]


@primitive("save", "(str, any) -> any", cost="heavy", pure=False)
def save(path, value):
    """Write a value to a file; the format follows the extension.

    ``save "path" expr`` is a command; ``save`` is the primitive it runs, an
    effect (never served from the store, run in program order). Parent
    folders are created.

    Parameters
    ----------
    path : str
        The file. ``.nii``, ``.nii.gz``, ``.mha``, ``.mhd``, ``.nrrd``: float32
        for number images, uint8 0/1 for boolean images, vector float32 for
        colour. ``.png``, ``.jpg``, ``.jpeg``, ``.bmp``: 2D only; booleans as
        0/255, numbers rounded and clipped to 0..255 (with a warning when
        clipped). ``.json``: numbers, booleans, strings and sequences.
    value : any
        The value.

    Returns
    -------
    any
        ``value``.

    Examples
    --------
    save "bright.png" img >. 9
    save "count.json" volume(img >. 9)
    """
    ext = _extension(path)
    writer = WRITERS.get(ext)
    if writer is None:
        known = ", ".join(sorted(WRITERS))
        raise PrimitiveError(f"cannot save to {path!r}: unknown extension {ext or '(none)'!r} (known: {known})")
    parent = os.path.dirname(path)
    if parent:
        os.makedirs(parent, exist_ok=True)
    writer(path, value)
    return value


def _listing(folder, pattern):
    return sorted(glob.glob(os.path.join(folder, pattern)))


def _dir_fingerprint(folder, pattern):
    names = "\n".join(_listing(folder, pattern))
    return hashlib.sha256(names.encode("utf-8")).hexdigest()


@primitive("dir", "(str, str) -> seq[str]", cost="cheap", fingerprint=_dir_fingerprint)
def dir_(folder, pattern):
    """Sorted paths of the files of a folder whose names match a pattern.

    Parameters
    ----------
    folder : str
        The folder; a missing folder is an error.
    pattern : str
        A glob pattern (``*``, ``?``, ``[...]``).

    Returns
    -------
    seq[str]
        The matching paths, ``folder`` joined with each name, sorted.

    Notes
    -----
    An extension of VoxLogicA 1. The listing enters the task identity, so
    adding or removing a matching file gives a new task.

    Examples
    --------
    print "files" dir(".", "*.nii.gz")   // files=[./img.nii.gz]
    print "n" length(for f in dir(".", "*.nii.gz") do load(f))   // n=1.0
    """
    if not os.path.isdir(folder):
        raise PrimitiveError(f"dir: no such folder {folder!r}")
    return _listing(folder, pattern)


# ---------------------------------------------------------------------------
# Images: load and the image writers
# ---------------------------------------------------------------------------


from ..image import Image  # noqa: E402
from ..lazy import LazyModule  # noqa: E402

np = LazyModule("numpy", globals(), "np")  # imported on first use


def sitk_message(exc: BaseException) -> str:
    """The useful line of a SimpleITK exception (its text names C++ files)."""
    text = str(exc).strip()
    for line in reversed(text.splitlines()):
        line = line.strip()
        if "sitk::ERROR:" in line:
            return line.split("sitk::ERROR:", 1)[1].strip()
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return lines[-1] if lines else type(exc).__name__


def file_digest(path: str) -> str:
    """SHA-256 of a file's bytes (see :mod:`.fingerprints`: remembered by the
    file's identity, across processes)."""
    return fingerprints.file_digest(path)


def _load_fingerprint(path, *_ignored):
    # Called by the reducer with the constant path (the base image, if any,
    # is an ordinary argument task and enters the id by itself). A path known
    # only at run time comes as None: no fingerprint (never served stored).
    if not isinstance(path, str):
        return None
    return file_digest(path)


def _drop_unit_axes(img):
    """Remove axes of size 1 while the image has more than 2 dimensions."""
    import SimpleITK as sitk

    while img.GetDimension() > 2 and 1 in img.GetSize():
        size = list(img.GetSize())
        axis = max(i for i, s in enumerate(size) if s == 1)  # drop the last unit axis first
        extract = [s for s in size]
        extract[axis] = 0
        try:
            img = sitk.Extract(img, extract, [0] * len(size), sitk.ExtractImageFilter.DIRECTIONCOLLAPSETOSUBMATRIX)
        except RuntimeError:  # the remaining direction block is singular
            img = sitk.Extract(img, extract, [0] * len(size), sitk.ExtractImageFilter.DIRECTIONCOLLAPSETOIDENTITY)
    return img


def read_image(path: str, who: str = "load") -> Image:
    """Read an image file with SimpleITK into an :class:`Image` (float32
    voxels; 3/4 components become a colour image)."""
    import SimpleITK as sitk

    if not os.path.exists(path):
        raise PrimitiveError(f"{who}: no such file {path!r}")
    if os.path.isdir(path):
        raise PrimitiveError(f"{who}: {path!r} is a folder, not an image file")
    try:
        img = sitk.ReadImage(path)
    except RuntimeError as exc:
        raise PrimitiveError(f"{who}: cannot read {path!r}: {sitk_message(exc)}") from None
    ncomp = img.GetNumberOfComponentsPerPixel()
    if ncomp not in (1, 3, 4):
        raise PrimitiveError(
            f"{who}: {path!r} has {ncomp} components per voxel; only grey (1), RGB (3) and RGBA (4) images are supported")
    if "complex" in img.GetPixelIDTypeAsString():
        raise PrimitiveError(f"{who}: {path!r} has complex voxels, which are not supported")
    try:
        img = _drop_unit_axes(img)
    except RuntimeError as exc:
        raise PrimitiveError(f"{who}: cannot reshape {path!r}: {sitk_message(exc)}") from None
    if img.GetDimension() not in (2, 3):
        raise PrimitiveError(f"{who}: {path!r} is {img.GetDimension()}D; only 2D and 3D images are supported")
    arr = sitk.GetArrayViewFromImage(img)
    kind = "number" if ncomp == 1 else "colour"
    arr = np.array(arr, dtype=np.float32, copy=True)
    return Image(arr, kind, img.GetSpacing(), img.GetOrigin(), img.GetDirection())


def _size_text(size) -> str:
    return "×".join(str(s) for s in size)


def conform_to_base(img: Image, base: Image, path: str) -> Image:
    """Check a loaded image against the base image: same size required; if
    only spacing/origin/direction differ, adopt the base geometry (warning)."""
    if img.size != base.size:
        raise PrimitiveError(
            f"load: {path!r} is {_size_text(img.size)} but the base image (the first loaded) is "
            f"{_size_text(base.size)}; images of one program must have the same size")
    if not img.same_geometry(base):
        report(
            f"load: {path!r} has a different spacing/origin/direction from the base image; "
            f"using the base image's geometry")
        img = base.like(img.array, img.kind)
    return img


@primitive("load", "(str) -> img", "(str, img) -> img", cost="heavy", fingerprint=_load_fingerprint)
def load(path, base=None):
    """Read an image file.

    ``load name = "path"`` is a command: the program's first one sets the base
    image, later ones must have its size (a different spacing, origin or
    direction is replaced by the base image's, with a warning). ``load(path)``
    as an expression reads without a base image.

    Parameters
    ----------
    path : str
        Any format SimpleITK reads (``.nii``, ``.nii.gz``, ``.png``, ``.jpg``,
        ``.bmp``, ``.mha``, ``.nrrd``, ...).
    base : img, optional
        The base image the result must conform to (given by the reducer).

    Returns
    -------
    img
        Grey files as a number image (float32), 3- or 4-component files as a
        colour image; other component counts are an error. Axes of size 1 are
        dropped while the image has more than 2 dimensions. The file's content
        digest enters the task identity, so a changed file is read again.

    Examples
    --------
    load scan = "img.nii.gz"
    print "m" max(scan)   // m=19.0
    print "s" max(load("img.nii.gz"))   // s=19.0
    """
    img = read_image(path)
    if base is not None:
        img = conform_to_base(img, base, path)
    return img


def _require_image(path, value, ext) -> Image:
    if not isinstance(value, Image):
        raise PrimitiveError(
            f"cannot save a {type(value).__name__} to {ext} ({path!r}): only images go to image files; "
            f"use .json for numbers, booleans and sequences")
    return value


def _write(path, sitk_img):
    import SimpleITK as sitk

    try:
        sitk.WriteImage(sitk_img, path, True if path.lower().endswith((".gz", ".mha", ".nrrd")) else False)
    except RuntimeError as exc:
        raise PrimitiveError(f"save: cannot write {path!r}: {sitk_message(exc)}") from None


def write_volume(path, value):
    """NIfTI / MetaImage / NRRD: float32 numbers, uint8 0/1 booleans,
    vector float32 colour."""
    img = _require_image(path, value, _extension(path))
    if img.kind == "bool":
        arr = np.ascontiguousarray(img.array, dtype=np.uint8)
    else:
        arr = np.ascontiguousarray(img.array, dtype=np.float32)
    _write(path, img.like(arr).to_sitk())


def _to_uint8(arr, path):
    arr = np.asarray(arr, dtype=np.float64)
    bad = ~np.isfinite(arr)
    if bad.any() or arr.min(initial=0.0) < -0.5 or arr.max(initial=0.0) >= 255.5:
        report(
            f"save: values of the image saved to {path!r} outside 0..255 were clipped "
            f"(range {np.nanmin(arr) if not bad.all() else float('nan')}..{np.nanmax(arr) if not bad.all() else float('nan')})")
        arr = np.where(bad, 0.0, arr)
    return np.clip(np.rint(arr), 0, 255).astype(np.uint8)


def write_8bit(path, value):
    """PNG / JPEG / BMP: 2D only; booleans as 0/255; numbers (and colour
    components) rounded and clipped to 0..255, with a warning when clipped."""
    import SimpleITK as sitk

    ext = _extension(path)
    img = _require_image(path, value, ext)
    if img.ndim != 2:
        raise PrimitiveError(
            f"save: {ext} files are 2D but the image is 3D ({_size_text(img.size)}); "
            f"use .nii.gz, .mha or .nrrd for 3D images")
    if img.kind == "bool":
        arr = (img.array != 0).astype(np.uint8) * np.uint8(255)
    else:
        arr = _to_uint8(img.array, path)
    if img.kind == "colour" and ext in (".jpg", ".jpeg") and arr.shape[-1] == 4:
        arr = arr[..., :3]  # JPEG has no alpha channel
    out = sitk.GetImageFromArray(np.ascontiguousarray(arr), isVector=img.kind == "colour")
    out.SetSpacing(img.spacing)
    out.SetOrigin(img.origin)
    out.SetDirection(img.direction)
    _write(path, out)


for _ext in (".nii", ".nii.gz", ".mha", ".mhd", ".nrrd"):
    WRITERS[_ext] = write_volume
for _ext in (".png", ".jpg", ".jpeg", ".bmp"):
    WRITERS[_ext] = write_8bit
