"""How printed values look in a notebook.

Every output is a raw MIME bundle with a ``text/plain`` line, so terminals,
nbconvert and nbval see text; numbers and sequences add a compact HTML
table; a 2D image adds its PNG; a 3D image adds the PNG of its middle axial
slice **and**, when the frontend has widgets, a slice viewer (slider over
slices, choice of axis). Bool images are drawn over the program's base image.
"""
from __future__ import annotations

import base64
import html

from ..text import format_value
from ..image import Image
from ..render import image_png, intensity_window
from .progress import WIDGET_MIME

AXES = (("axial", 0), ("coronal", 1), ("sagittal", 2))


def describe(image: Image) -> str:
    size = "×".join(map(str, image.size))
    return f"{image.kind} image {size}"


def _img_tag(png: bytes) -> str:
    return f'<img src="data:image/png;base64,{base64.b64encode(png).decode("ascii")}"/>'


def _base_for(image: Image, base):
    """The base image to draw a mask over, when it fits."""
    if image.kind != "bool" or not isinstance(base, Image) or base.kind == "bool":
        return None
    return base if base.shape == image.shape else None


def scalar_rows(items) -> dict:
    """One bundle for consecutive non-image values: ``label=value`` lines and a table."""
    lines, rows = [], []
    for label, value in items:
        text = format_value(value)
        lines.append(f"{label}={text}")
        if isinstance(value, (list, tuple)) and value and len(value) <= 64:
            cells = "".join(f"<td>{html.escape(format_value(v))}</td>" for v in value)
            shown = f"<table class='vx-seq'><tr>{cells}</tr></table>"
        else:
            shown = html.escape(text if len(text) <= 2000 else text[:1997] + "...")
        rows.append(f"<tr><th style='text-align:left'>{html.escape(label)}</th>"
                    f"<td style='text-align:left'>{shown}</td></tr>")
    return {"text/plain": "\n".join(lines),
            "text/html": f"<table class='vx-values'>{''.join(rows)}</table>"}


def image_bundle(label: str, image: Image, base=None) -> dict:
    """Static picture of an image (the middle axial slice for 3D)."""
    base = _base_for(image, base)
    png = image_png(image, base=base)
    where = ""
    if image.ndim == 3:
        n = image.shape[0]
        where = f", axial slice {n // 2} of {n}"
    over = " over the base image" if base is not None else ""
    caption = f"{label}: {describe(image)}{where}{over}"
    return {"text/plain": caption,
            "text/html": f"<div><div><b>{html.escape(label)}</b>: {html.escape(describe(image) + where + over)}"
                         f"</div>{_img_tag(png)}</div>",
            "image/png": base64.b64encode(png).decode("ascii")}


def sequence_has_images(value) -> bool:
    return isinstance(value, (list, tuple)) and any(isinstance(v, Image) for v in value)


def sequence_bundle(label: str, values, base=None) -> dict:
    """A sequence holding images: a row of small pictures with their indices."""
    cells, texts = [], []
    for i, v in enumerate(values[:32]):
        if isinstance(v, Image):
            png = image_png(v, base=_base_for(v, base))
            texts.append(describe(v))
            cells.append(f"<td style='text-align:center'>{_img_tag(png).replace('<img ', '<img width=128 ')}"
                         f"<br>{i}</td>")
        else:
            texts.append(format_value(v))
            cells.append(f"<td>{html.escape(format_value(v))}<br>{i}</td>")
    more = f" … ({len(values)} in all)" if len(values) > 32 else ""
    return {"text/plain": f"{label}=[{', '.join(texts)}]{more}",
            "text/html": f"<div><b>{html.escape(label)}</b>{html.escape(more)}"
                         f"<table><tr>{''.join(cells)}</tr></table></div>"}


class SliceViewer:
    """A 3D image (optionally a mask over a base image) with a slice slider
    and a choice of axis; :meth:`update` swaps the image and keeps both."""

    def __init__(self, label: str, image: Image, base=None):
        import ipywidgets as W

        self.label = label
        self.caption = W.HTML()
        self.picture = W.Image(format="png")
        self.axis = W.ToggleButtons(options=AXES, value=0, style={"button_width": "72px"})
        self.slider = W.IntSlider(min=0, max=1, value=0, description="slice", continuous_update=True)
        self.widget = W.VBox([self.caption, self.picture, W.HBox([self.slider, self.axis])])
        self.image = None
        self.update(image, base)
        self.slider.observe(lambda _: self.draw(), names="value")
        self.axis.observe(self._axis_changed, names="value")

    def update(self, image: Image, base=None):
        """Show ``image`` (keeping the axis and, when it still fits, the slice)."""
        first = self.image is None
        self.image, self.base = image, _base_for(image, base)
        self.window = intensity_window(image.array) if image.kind == "number" else None
        self.base_window = (intensity_window(self.base.array)
                            if self.base is not None and self.base.kind == "number" else None)
        n = image.shape[self.axis.value]
        with self.slider.hold_trait_notifications():
            self.slider.max = n - 1
            if first or self.slider.value > n - 1:
                self.slider.value = n // 2
        self.draw()

    def _axis_changed(self, change):
        n = self.image.shape[change["new"]]
        with self.slider.hold_trait_notifications():
            self.slider.max = n - 1
            self.slider.value = n // 2
        self.draw()

    def png(self) -> bytes:
        return image_png(self.image, axis=self.axis.value, index=self.slider.value, base=self.base,
                         window=self.window, base_window=self.base_window)

    def draw(self):
        over = " over the base image" if self.base is not None else ""
        axis = AXES[self.axis.value][0]
        self.caption.value = (f"<b>{html.escape(self.label)}</b>: {html.escape(describe(self.image))}"
                              f", {axis} slice {self.slider.value} of {self.image.shape[self.axis.value]}"
                              f"{over}")
        png = self.png()
        self.picture.value = png
        # Shown at its own size: a flex box would stretch it to the output's width.
        self.picture.layout.width = f"{int.from_bytes(png[16:20], 'big')}px"

    def view(self) -> dict:
        return {"model_id": self.widget.model_id, "version_major": 2, "version_minor": 0}

    def close(self):
        for w in (self.widget, self.caption, self.picture, self.axis, self.slider):
            w.close()


def needs_base(printed) -> bool:
    """Whether some printed value is drawn over the base image (a mask, or
    a sequence that may hold masks)."""
    return any(getattr(v, "kind", None) == "bool" or isinstance(v, (list, tuple)) for _, v in printed)


def group_printed(printed):
    """``(kind, [(index, label, value)])`` in order: ``"values"`` for a run of
    consecutive numbers, strings and sequences (one table), ``"picture"``
    for a 2D image or a sequence holding images, ``"volume"`` for a 3D image."""
    pending = []
    for i, (label, value) in enumerate(printed):
        if isinstance(value, Image) or sequence_has_images(value):
            if pending:
                yield "values", pending
                pending = []
            kind = "volume" if isinstance(value, Image) and value.ndim == 3 else "picture"
            yield kind, [(i, label, value)]
        else:
            pending.append((i, label, value))
    if pending:
        yield "values", pending


def value_bundles(printed, base=None, widgets=False):
    """``(bundle, viewer)`` pairs for a run's printed values, in order;
    consecutive numbers, strings and sequences share one table."""
    out = []
    for kind, items in group_printed(printed):
        if kind == "values":
            out.append((scalar_rows([(label, value) for _, label, value in items]), None))
            continue
        (_, label, value), = items
        if not isinstance(value, Image):
            out.append((sequence_bundle(label, value, base), None))
            continue
        bundle = image_bundle(label, value, base)
        viewer = None
        if widgets and kind == "volume":
            viewer = SliceViewer(label, value, base)
            bundle[WIDGET_MIME] = viewer.view()
        out.append((bundle, viewer))
    return out
