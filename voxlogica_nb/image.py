"""Image values: numpy voxels plus ITK geometry.

``array`` is in SimpleITK's index order (z, y, x for 3D; y, x for 2D), with a
trailing component axis for colour images. ``spacing``, ``origin`` and
``direction`` are in ITK (x, y, z) order, as SimpleITK reports them.

Kinds and voxel types:

* ``"number"`` — float32
* ``"bool"`` — uint8 holding 0/1
* ``"colour"`` — float32 with 3 (RGB) or 4 (RGBA) components
"""
from __future__ import annotations

from .lazy import LazyModule

np = LazyModule("numpy", globals(), "np")  # imported on first use

KINDS = {"number": "float32", "bool": "uint8", "colour": "float32"}  # numpy dtype names


class Image:
    """An image. A two-valued number image (what thresholds make) may hold
    only its mask and its two values (:meth:`two_valued`): comparisons with
    a number then read the mask, and ``array`` is made on first use."""

    __slots__ = ("_array", "spacing", "origin", "direction", "kind", "_levels", "_range")
    _GEOMETRY = ("spacing", "origin", "direction", "kind")  # pickled with the voxels or the mask

    def __init__(self, array, kind="number", spacing=None, origin=None, direction=None):
        if kind not in KINDS:
            raise ValueError(f"image kind must be one of {sorted(KINDS)}, not {kind!r}")
        array = np.asarray(array)
        if array.dtype != KINDS[kind]:
            array = array.astype(KINDS[kind])
        ndim = array.ndim - (1 if kind == "colour" else 0)
        if ndim not in (2, 3):
            raise ValueError(f"images are 2D or 3D, got {ndim} spatial axes")
        if kind == "colour" and array.shape[-1] not in (3, 4):
            raise ValueError(f"colour images have 3 or 4 components, got {array.shape[-1]}")
        self._array = array
        self._levels = self._range = None
        self.kind = kind
        self.spacing = tuple(float(s) for s in (spacing if spacing is not None else (1.0,) * ndim))
        self.origin = tuple(float(s) for s in (origin if origin is not None else (0.0,) * ndim))
        if direction is None:
            direction = tuple(np.eye(ndim).ravel())
        self.direction = tuple(float(d) for d in direction)

    @classmethod
    def two_valued(cls, mask, inside: float, outside: float, like: "Image") -> "Image":
        """The number image that is ``inside`` where ``mask`` (a numpy bool
        array) is true and ``outside`` elsewhere, with ``like``'s geometry,
        held as the mask until its voxels are read."""
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != like.shape:
            raise ValueError(f"mask of shape {mask.shape} for an image of shape {like.shape}")
        mask.flags.writeable = False  # shared with the masks comparisons give
        img = cls.__new__(cls)
        img._array, img._range, img.kind = None, None, "number"
        img._levels = (mask, float(np.float32(inside)), float(np.float32(outside)))
        img.spacing, img.origin, img.direction = like.spacing, like.origin, like.direction
        return img

    @property
    def array(self):
        """The voxels (a numpy array; see the module's docstring)."""
        arr = self._array
        if arr is None:
            arr = self._array = self._materialize()
        return arr

    def _materialize(self):
        mask, inside, outside = self._levels
        if not all(v.is_integer() and abs(v) < 1 << 24 for v in (inside, outside)):
            return np.where(mask, np.float32(inside), np.float32(outside))
        out = mask.astype(np.float32)  # 0/1, then scaled: exact for these integers and
        if inside - outside != 1:  # a third of np.where's time
            out *= np.float32(inside - outside)
        if outside:
            out += np.float32(outside)
        return out

    @property
    def levels(self):
        """``(mask, inside, outside)`` of a two-valued image whose voxels
        have not been made yet, else None."""
        return self._levels if self._array is None else None

    @property
    def held(self):
        """The numpy array this image keeps in memory (the mask while the
        voxels of a two-valued image have not been made)."""
        return self._array if self._array is not None else self._levels[0]

    def value_range(self):
        """(least, greatest) voxel value as floats, NaN voxels ignored; None
        if there is none. Each is computed once per image (images do not
        change): see :meth:`extreme`."""
        lo = self.extreme(0)
        return None if lo is None else (lo, self.extreme(1))

    def extreme(self, which: int):
        """The least (``which`` 0) or greatest (1) voxel value as a float,
        NaN voxels ignored; None if there is none. Kept once computed."""
        if self._range is None:
            self._range = [None, None]  # None: not computed yet; (): there is none
        if self._range[which] is None:
            self._range[which] = self._find_extreme(which)
        found = self._range[which]
        return None if found == () else found

    def _find_extreme(self, which: int):
        pick = min if which == 0 else max
        if self._array is None:  # from the mask: the voxels are not made
            mask, inside, outside = self._levels
            present = [v for v, there in ((inside, mask.any()), (outside, not mask.all())) if there and v == v]
            return pick(present) if present else ()
        arr = self._array
        reduce_ = np.min if which == 0 else np.max
        if arr.size and np.isnan(m := reduce_(arr)):
            arr = arr[~np.isnan(arr)]  # NaN voxels are left out
            m = reduce_(arr) if arr.size else None
        return float(m) if arr.size else ()

    # -- geometry -----------------------------------------------------------
    @property
    def ndim(self) -> int:
        return self.held.ndim - (1 if self.kind == "colour" else 0)

    @property
    def size(self) -> tuple[int, ...]:
        """Size in ITK (x, y, z) order."""
        shape = self.held.shape[: self.ndim]
        return tuple(int(s) for s in reversed(shape))

    @property
    def shape(self) -> tuple[int, ...]:
        """Spatial shape in numpy (z, y, x) order."""
        return self.held.shape[: self.ndim]

    @property
    def dtype(self) -> str:
        """The numpy type name of the voxels (see :data:`KINDS`)."""
        return KINDS[self.kind]

    @property
    def components(self) -> int:
        return self.held.shape[-1] if self.kind == "colour" else 1

    def same_geometry(self, other: "Image") -> bool:
        return (
            self.shape == other.shape
            and np.allclose(self.spacing, other.spacing)
            and np.allclose(self.origin, other.origin)
            and np.allclose(self.direction, other.direction)
        )

    def like(self, array, kind=None) -> "Image":
        """A new image with this geometry and the given voxels."""
        return Image(array, kind or self.kind, self.spacing, self.origin, self.direction)

    # -- SimpleITK ----------------------------------------------------------
    def to_sitk(self):
        import SimpleITK as sitk

        img = sitk.GetImageFromArray(self.array, isVector=self.kind == "colour")
        img.SetSpacing(self.spacing)
        img.SetOrigin(self.origin)
        img.SetDirection(self.direction)
        return img

    @classmethod
    def from_sitk(cls, img, kind=None) -> "Image":
        import SimpleITK as sitk

        arr = sitk.GetArrayFromImage(img)
        ncomp = img.GetNumberOfComponentsPerPixel()
        if kind is None:
            if ncomp in (3, 4):
                kind = "colour"
            elif ncomp == 1:
                kind = "number"
            else:
                raise ValueError(f"images with {ncomp} components are not supported (1, 3 or 4)")
        return cls(arr, kind, img.GetSpacing(), img.GetOrigin(), img.GetDirection())

    # -- misc ---------------------------------------------------------------
    @property
    def nbytes(self) -> int:
        """Bytes held in memory (see :attr:`held`)."""
        return int(self.held.nbytes)

    def __eq__(self, other):
        return (
            isinstance(other, Image)
            and self.kind == other.kind
            and self.same_geometry(other)
            and np.array_equal(self.array, other.array, equal_nan=self.kind != "bool")
        )

    __hash__ = None

    def __getstate__(self):  # a two-valued image whose voxels are not made: its mask
        state = {k: getattr(self, k) for k in self._GEOMETRY}
        if self._array is None:
            state["levels"] = self._levels
        else:
            state["array"] = self._array
        return state

    def __setstate__(self, state):
        self._array = self._levels = self._range = None
        for k, v in state.items():
            object.__setattr__(self, {"array": "_array", "levels": "_levels"}.get(k, k), v)

    def __repr__(self) -> str:
        size = "×".join(map(str, self.size))
        extra = f", {self.components} components" if self.kind == "colour" else ""
        return f"<{self.kind} image {size}{extra}, spacing {self.spacing}>"

    def _repr_png_(self):
        """PNG picture for Jupyter: the image if 2D, its middle axial slice
        if 3D (see :mod:`voxlogica_nb.render`); None if it has no voxels."""
        if 0 in self.shape:
            return None
        from .render import image_png

        return image_png(self)

    def _repr_html_(self) -> str:
        """The picture of :meth:`_repr_png_` inline, with a caption line."""
        import base64
        import html

        size = "×".join(map(str, self.size))
        caption = f"{self.kind} image {size}"
        if self.kind == "colour":
            caption += f", {self.components} components"
        caption += ", spacing " + " × ".join(f"{s:g}" for s in self.spacing)
        if self.ndim == 3:
            caption += f", axial slice {self.shape[0] // 2} of {self.shape[0]}"
        caption = html.escape(caption)
        png = self._repr_png_()
        img = ""
        if png is not None:
            data = base64.b64encode(png).decode("ascii")
            img = f'<img src="data:image/png;base64,{data}" alt="{caption}"><br>'
        return f'<div>{img}<span style="font-size:smaller">{caption}</span></div>'
