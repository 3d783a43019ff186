"""The ``simpleitk`` namespace: SimpleITK's procedural filters as primitives.

``import "simpleitk"`` (or a qualified call such as ``simpleitk.Median(img, 2)``)
fills the namespace on first use with every procedural function of the
installed SimpleITK whose parameters can be expressed in ImgQL: names such as
``simpleitk.Median``, ``simpleitk.BinaryThreshold``, ``simpleitk.OtsuThreshold``,
``simpleitk.DiscreteGaussian``.

Calls are positional, as in ImgQL; trailing parameters with C++ defaults
may be left out. Signatures come from SimpleITK's own documentation of each
function (the SWIG docstrings' C++ prototypes, or the Python annotations for
the few hand-written wrappers) and are checked before anything runs.

Arguments:

* images (number, boolean or colour) become SimpleITK images: number →
  32-bit float, boolean → 8-bit unsigned 0/1, colour → vector of 32-bit float;
* numbers go to ``double`` parameters as floats and to integer parameters
  as ints (a fractional value there is an error);
* vector parameters (radius, variance, …) take a sequence of numbers, or a
  single number repeated for every axis of the first image argument
  (``simpleitk.Median(img, 2)`` is a radius of 2 voxels along each axis);
* enumeration parameters (kernel type, pixel type, …) take the SimpleITK
  constant's name as a string (``"sitkBox"``, or just ``"Box"``) or its
  numeric value.

Results:

* **every single-component image becomes a number image** (float32), whatever
  its pixel type — binary filters (``BinaryThreshold``, ``OtsuThreshold``,
  ``BinaryDilate``…) give numbers 0/1 (or their inside/outside values) and
  label filters give label numbers; compare with a number (``>. 0``) to get
  a boolean image. This keeps the result type independent of values, so it
  is known before anything runs;
* 3 or 4 components become a colour image; other component counts are errors;
* numbers → numbers, booleans → booleans, tuples and vectors → sequences,
  strings → strings.

Every primitive is ``heavy`` and its version is ``sitk-<SimpleITK version>``,
so upgrading SimpleITK invalidates stored results. Errors raised by SimpleITK
become one-line messages naming the function.

``simpleitk.ReadImage(path)`` reads like ``load`` (with the file's content in
the task identity); ``simpleitk.WriteImage(img, path)`` is an effect like
``save``.
"""
from __future__ import annotations

import itertools
import math
import os
import re

from ..errors import PrimitiveError
from ..image import Image
from ..plain import Frozen
from .registry import REGISTRY

NAMESPACE = "simpleitk"
MAX_SIGNATURES_PER_ARITY = 64

# Functions that are not image filters, or that the package covers otherwise.
EXCLUDED = {
    "GetArrayFromImage", "GetArrayViewFromImage", "GetImageFromArray", "Show",
    "ReadImage", "WriteImage", "ReadTransform", "WriteTransform",
    "GetPixelIDValueAsString", "GetPixelIDValueFromString",
}

_INT_TYPES = {"uint8_t", "int8_t", "uint16_t", "int16_t", "uint32_t", "int32_t", "uint64_t", "int64_t",
              "unsigned int", "int", "unsigned long", "long", "unsigned char", "char", "size_t",
              "unsigned short", "short", "itk::simple::PixelIDValueType"}
_FLOAT_TYPES = {"double", "float"}
_VECTOR_TYPES = {"VectorUInt32": "int", "VectorInt32": "int", "VectorUInt8": "int", "VectorUInt16": "int",
                 "VectorInt64": "int", "VectorUInt64": "int", "VectorInt8": "int", "VectorInt16": "int",
                 "VectorDouble": "float", "VectorFloat": "float", "VectorBool": "bool"}
_STRING_TYPES = {"std::string", "std::string const &", "std::string const", "itk::simple::PathType const &",
                 "itk::simple::PathType"}


class Param(Frozen):
    """``kind``: image | float | int | bool | vector | enum | string;
    ``elem``: a vector's element kind (int | float | bool)."""

    __slots__ = ("name", "kind", "ctype", "optional", "elem")

    def __init__(self, name: str, kind: str, ctype: str, optional: bool, elem: str = ""):
        self._set(name, kind, ctype, optional, elem)


class Proto(Frozen):
    """One C++ overload of a SimpleITK function (``result``: image | num |
    bool | seq | string)."""

    __slots__ = ("params", "result")

    def __init__(self, params: "tuple[Param, ...]", result: str):
        self._set(params, result)

    @property
    def required(self) -> int:
        return sum(1 for p in self.params if not p.optional)


def sitk_version() -> str:
    import SimpleITK as sitk

    return sitk.Version_VersionString()


# ---------------------------------------------------------------------------
# Reading the prototypes
# ---------------------------------------------------------------------------

def _split_top(text: str) -> list[str]:
    parts, depth, cur = [], 0, []
    for ch in text:
        if ch in "<([{":
            depth += 1
        elif ch in ">)]}":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    if "".join(cur).strip():
        parts.append("".join(cur))
    return parts


def _param_kind(ctype: str):
    ctype = " ".join(ctype.split())
    if ctype == "Image":
        return "image", ""
    if ctype in _FLOAT_TYPES:
        return "float", ""
    if ctype in _INT_TYPES:
        return "int", ""
    if ctype == "bool" or ctype == "bool const":
        return "bool", ""
    if ctype in _VECTOR_TYPES:
        return "vector", _VECTOR_TYPES[ctype]
    if ctype in _STRING_TYPES:
        return "string", ""
    if ctype.startswith("itk::simple::") and (ctype.endswith("Enum") or ctype.endswith("Type")
                                              or "::" in ctype[len("itk::simple::"):]):
        return "enum", ""
    return None, ""


def _result_kind(ctype: str):
    ctype = " ".join(ctype.replace(";", "").split())
    if ctype == "Image":
        return "image"
    if ctype in _FLOAT_TYPES or ctype in _INT_TYPES:
        return "num"
    if ctype == "bool":
        return "bool"
    if ctype in _VECTOR_TYPES or ctype.startswith(("std::vector", "Tuple", "VectorDouble")):
        return "seq"
    if ctype in ("std::string",):
        return "string"
    return None


def _prototypes_from_doc(name: str, doc: str) -> list[Proto] | None:
    """C++ prototypes ``Name(T a, U b=default) -> R`` found in a docstring."""
    protos = []
    for m in re.finditer(rf"(?<![\w.]){re.escape(name)}\s*\(", doc):
        start = m.end()
        depth, i = 1, start
        while i < len(doc) and depth:
            if doc[i] == "(":
                depth += 1
            elif doc[i] == ")":
                depth -= 1
            i += 1
        if depth:
            continue
        inner = " ".join(doc[start:i - 1].split())
        rest = doc[i:i + 80]
        rm = re.match(r"\s*->\s*([\w:<>]+)", rest)
        result = _result_kind(rm.group(1)) if rm else "image"
        params, ok = [], True
        for part in _split_top(inner):
            decl, eq, _default = part.partition("=")
            decl = decl.strip()
            if not decl:
                continue
            pieces = decl.rsplit(" ", 1)
            if len(pieces) != 2:
                ok = False
                break
            ctype, pname = pieces
            kind, elem = _param_kind(ctype)
            optional = bool(eq)
            if kind is None:
                if optional:
                    break  # stop before an unsupported optional parameter
                ok = False
                break
            params.append(Param(pname.strip("&* "), kind, " ".join(ctype.split()), optional, elem))
        if not ok or result is None:
            continue
        protos.append(Proto(tuple(params), result))
    return protos or None


def _prototypes_from_annotations(fn) -> list[Proto] | None:
    """For the hand-written Python wrappers (DiscreteGaussian, MinimumMaximum…)."""
    import inspect
    import typing

    import SimpleITK as sitk

    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return None
    params = []
    for p in sig.parameters.values():
        if p.kind not in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            break
        ann = p.annotation
        optional = p.default is not p.empty
        if ann is sitk.Image or ann == "Image":
            kind, elem = "image", ""
        elif ann is float:
            kind, elem = "float", ""
        elif ann is int:
            kind, elem = "int", ""
        elif ann is bool:
            kind, elem = "bool", ""
        elif typing.get_origin(ann) in (list, tuple) and typing.get_args(ann)[:1] in ((float,), (int,)):
            kind, elem = "vector", "float" if typing.get_args(ann)[0] is float else "int"
        else:
            if optional:
                break
            return None
        params.append(Param(p.name, kind, str(ann), optional, elem))
    ret = sig.return_annotation
    if ret is sitk.Image:
        result = "image"
    elif ret in (float, int):
        result = "num"
    elif ret is bool:
        result = "bool"
    elif typing.get_origin(ret) in (list, tuple):
        result = "seq"
    else:
        return None
    return [Proto(tuple(params), result)]


def prototypes(name: str) -> list[Proto] | None:
    import SimpleITK as sitk

    fn = getattr(sitk, name)
    doc = fn.__doc__ or ""
    return _prototypes_from_doc(name, doc) or _prototypes_from_annotations(fn)


def candidate_names() -> list[str]:
    """Procedural SimpleITK functions: capitalised module-level functions
    (not classes, not the module's utilities)."""
    import inspect

    import SimpleITK as sitk

    out = []
    for n in dir(sitk):
        if not n[:1].isupper() or "_" in n or n in EXCLUDED:
            continue
        obj = getattr(sitk, n)
        if inspect.isclass(obj) or not callable(obj):
            continue
        out.append(n)
    return out


# ---------------------------------------------------------------------------
# Signatures
# ---------------------------------------------------------------------------

_ALTERNATIVES = {
    "image": ("img", "bimg"),
    "float": ("num",),
    "int": ("num",),
    "bool": ("bool",),
    "vector": ("seq[num]", "num"),
    "enum": ("str", "num"),
    "string": ("str",),
}
_RESULT_TYPES = {"image": "img", "num": "num", "bool": "bool", "seq": "seq[num]", "string": "str"}


def signatures_for(protos: list[Proto]) -> list[str]:
    out: list[str] = []
    for proto in protos:
        result = _RESULT_TYPES[proto.result]
        for arity in range(proto.required, len(proto.params) + 1):
            params = proto.params[:arity]
            alts = [_ALTERNATIVES[p.kind] if p.kind != "vector" or p.elem != "bool" else ("seq[bool]",)
                    for p in params]
            if math.prod(len(a) for a in alts) > MAX_SIGNATURES_PER_ARITY:
                alts = [a if len(a) == 1 else ("any",) for a in alts]
            for combo in itertools.product(*alts):
                text = f"({', '.join(combo)}) -> {result}"
                if text not in out:
                    out.append(text)
    return out


# ---------------------------------------------------------------------------
# Conversions at run time
# ---------------------------------------------------------------------------

def _whole(value, what):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise PrimitiveError(f"{what} must be a number, got {value!r}")
    if not math.isfinite(value) or value != int(value):
        raise PrimitiveError(f"{what} must be a whole number, got {value!r}")
    return int(value)


def _enum(value, param: Param, what):
    import SimpleITK as sitk

    if isinstance(value, str):
        owners = [sitk]
        m = re.match(r"itk::simple::(\w+)::", param.ctype)
        if m and hasattr(sitk, m.group(1)):
            owners.insert(0, getattr(sitk, m.group(1)))
        for owner in owners:
            for candidate in (value, "sitk" + value):
                v = getattr(owner, candidate, None)
                if isinstance(v, int) and not isinstance(v, bool):
                    return v
        raise PrimitiveError(f"{what}: unknown SimpleITK constant {value!r}")
    return _whole(value, what)


def _dimension(args) -> int:
    for a in args:
        if isinstance(a, Image):
            return a.ndim
    return 3


def _matches(proto: Proto, args) -> bool:
    if not proto.required <= len(args) <= len(proto.params):
        return False
    for p, a in zip(proto.params, args):
        if p.kind == "image":
            ok = isinstance(a, Image)
        elif p.kind in ("float", "int"):
            ok = isinstance(a, (int, float)) and not isinstance(a, bool)
        elif p.kind == "bool":
            ok = isinstance(a, bool)
        elif p.kind == "vector":
            ok = isinstance(a, (list, tuple)) or (isinstance(a, (int, float)) and not isinstance(a, bool))
        elif p.kind == "enum":
            ok = isinstance(a, str) or (isinstance(a, (int, float)) and not isinstance(a, bool))
        else:  # string
            ok = isinstance(a, str)
        if not ok:
            return False
    return True


def _convert_arg(p: Param, a, dim: int, what: str):
    what = f"{what}: parameter `{p.name}`"
    if p.kind == "image":
        return a.to_sitk()
    if p.kind == "float":
        return float(a)
    if p.kind == "int":
        return _whole(a, what)
    if p.kind == "bool":
        return bool(a)
    if p.kind == "vector":
        items = list(a) if isinstance(a, (list, tuple)) else [a] * dim
        if p.elem == "int":
            return [_whole(v, what) for v in items]
        if p.elem == "bool":
            return [bool(v) for v in items]
        return [float(v) for v in items]
    if p.kind == "enum":
        return _enum(a, p, what)
    return str(a)


def convert_result(value, what: str):
    import SimpleITK as sitk

    if isinstance(value, sitk.Image):
        ncomp = value.GetNumberOfComponentsPerPixel()
        if value.GetDimension() not in (2, 3):
            raise PrimitiveError(f"{what} gave a {value.GetDimension()}D image; only 2D and 3D images are supported")
        if ncomp == 1:
            kind = "number"
        elif ncomp in (3, 4):
            kind = "colour"
        else:
            raise PrimitiveError(f"{what} gave an image with {ncomp} components per voxel "
                                 f"(only 1, 3 or 4 are supported)")
        if "complex" in value.GetPixelIDTypeAsString():
            raise PrimitiveError(f"{what} gave a complex-valued image, which is not supported")
        arr = sitk.GetArrayFromImage(value).astype("float32", copy=False)
        return Image(arr, kind, value.GetSpacing(), value.GetOrigin(), value.GetDirection())
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        return value
    if isinstance(value, (list, tuple)):
        return [convert_result(v, what) for v in value]
    raise PrimitiveError(f"{what} gave a {type(value).__name__}, which ImgQL cannot represent")


def _binary_threshold(proto: Proto, args, dim: int, what: str):
    """``BinaryThreshold`` of a number image in numpy, voxel for voxel as
    SimpleITK computes it: the bounds cast to the pixel type (float32), both
    inclusive, NaN outside, inside/outside values as the filter's uint8
    output. None when SimpleITK should handle the call (another image kind,
    bounds the filter refuses, values outside uint8)."""
    import numpy as np

    img = args[0]
    if not isinstance(img, Image) or img.kind != "number":
        return None
    given = [_convert_arg(p, a, dim, what) for p, a in zip(proto.params[1:], args[1:])]
    lower, upper, inside, outside = given + [0.0, 255.0, 1, 0][len(given):]
    if not (lower <= upper and 0 <= inside <= 255 and 0 <= outside <= 255):
        return None
    with np.errstate(over="ignore"):  # a bound beyond float32 becomes +-inf, as a C++ cast does
        lo, hi = np.float32(lower), np.float32(upper)
    v = img.array
    # A bound beyond the voxels' range excludes none of them (NaN voxels
    # fail both comparisons): one pass over the volume instead of two.
    least, greatest = img.value_range() or (np.inf, -np.inf)
    if least >= lo:
        mask = v <= hi
    else:
        mask = v >= lo
        if greatest > hi:
            mask &= v <= hi
    return Image.two_valued(mask, inside, outside, img)


# Filters simple enough to compute in numpy, equal voxel for voxel (tests
# check against SimpleITK): no copy of the volume into SimpleITK and back,
# which costs more than these filters themselves.
_IN_NUMPY = {"BinaryThreshold": _binary_threshold}


def make_function(name: str, protos: list[Proto]):
    qualified = f"{NAMESPACE}.{name}"

    def call(*args):
        import SimpleITK as sitk

        proto = next((p for p in protos if _matches(p, args)), None)
        if proto is None:
            got = ", ".join(type(a).__name__ if not isinstance(a, Image) else f"{a.kind} image" for a in args)
            raise PrimitiveError(f"{qualified}: no SimpleITK overload takes ({got})")
        dim = _dimension(args)
        if name in _IN_NUMPY:
            result = _IN_NUMPY[name](proto, args, dim, qualified)
            if result is not None:
                return result
        converted = [_convert_arg(p, a, dim, qualified) for p, a in zip(proto.params, args)]
        try:
            result = getattr(sitk, name)(*converted)
        except RuntimeError as exc:
            from .io import sitk_message

            msg = sitk_message(exc)
            if "convert vector" in msg:
                lengths = [len(a) for p, a in zip(proto.params, args)
                           if p.kind == "vector" and isinstance(a, (list, tuple))]
                msg += f" (vector arguments need one value per image axis, {dim} here; got {lengths})"
            raise PrimitiveError(f"{qualified}: {msg}") from None
        except (TypeError, ValueError, NotImplementedError) as exc:
            msg = " ".join(str(exc).split())
            raise PrimitiveError(f"{qualified}: SimpleITK refused the arguments ({msg[:300]})") from None
        return convert_result(result, qualified)

    call.__name__ = name
    call.__qualname__ = qualified
    return call


def _doc(name: str, protos: list[Proto]) -> str:
    import SimpleITK as sitk

    text = (getattr(sitk, name).__doc__ or "").strip()
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    prose = [ln for ln in lines if not ln.startswith(name) and "->" not in ln]
    summary = prose[0] if prose else f"SimpleITK's {name} filter."
    protos_text = "\n".join(
        f"    {name}(" + ", ".join(p.name + ("?" if p.optional else "") for p in proto.params) + ")"
        for proto in protos)
    return f"{summary}\n\nSimpleITK's procedural `{name}` (positional arguments; `?` marks optional ones):\n{protos_text}"


# ---------------------------------------------------------------------------
# The namespace loader
# ---------------------------------------------------------------------------

def _read_fingerprint(path, *_ignored):
    from .io import file_digest

    return file_digest(path) if isinstance(path, str) else None


def load_namespace(registry) -> None:
    """Register ``simpleitk.<Name>`` for every supported procedural function."""
    version = "sitk-" + sitk_version()
    for name in candidate_names():
        protos = prototypes(name)
        if not protos:
            continue
        sigs = signatures_for(protos)
        if not sigs:
            continue
        # A filter computed in numpy is one pass over the voxels, as light as
        # a comparison: recomputed rather than stored (its mask costs more to
        # write than to make). The others are heavy until measured otherwise.
        cost = "light" if name in _IN_NUMPY else "heavy"
        registry.primitive(f"{NAMESPACE}.{name}", *sigs, cost=cost, version=version,
                           doc=_doc(name, protos))(make_function(name, protos))

    def read_image(path):
        """Read an image file (as `load` does)."""
        from .io import read_image as _read

        return _read(path, who=f"{NAMESPACE}.ReadImage")

    registry.primitive(f"{NAMESPACE}.ReadImage", "(str) -> img", cost="heavy", version=version,
                       fingerprint=_read_fingerprint,
                       doc="Read an image file (as `load` does).")(read_image)

    def write_image(img, path):
        """Write an image to a file with SimpleITK (pixel types as `save`)."""
        from .io import sitk_message, write_volume, WRITERS, _extension

        writer = WRITERS.get(_extension(path))
        if writer is None or writer is WRITERS.get(".json"):
            writer = write_volume
        parent = os.path.dirname(path)
        if parent:
            os.makedirs(parent, exist_ok=True)
        try:
            writer(path, img)
        except RuntimeError as exc:
            raise PrimitiveError(f"{NAMESPACE}.WriteImage: {sitk_message(exc)}") from None
        return img

    registry.primitive(f"{NAMESPACE}.WriteImage", "(img, str) -> img", "(bimg, str) -> bimg",
                       cost="heavy", version=version, pure=False,
                       doc="Write an image to a file (an effect, like `save`).")(write_image)


REGISTRY.namespace_loader(NAMESPACE, load_namespace)
