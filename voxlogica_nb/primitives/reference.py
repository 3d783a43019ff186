"""The builtin reference, generated from the registry.

``docs/reference.md`` and ``voxlogica primitives NAME`` show the same
entries: a builtin's signatures as the registry knows them (with each
overload's cost class), its docstring (scikit-image style: summary,
Parameters, Returns, Notes, Examples) and its version; then the ImgQL
libraries (stdlib, RegionCalculus) as their definitions.

A docstring's Examples section is ImgQL that the tests run after
:data:`PRELUDE`, on the image :func:`write_example_image` writes; a
trailing ``// label=value`` comment is what ``print`` shows there.

Regenerate the file: ``python -m voxlogica_nb.primitives.reference --write``.
"""
from __future__ import annotations

import argparse
import difflib
import re
import sys
from dataclasses import dataclass

from .registry import REGISTRY, Primitive

PRELUDE = 'load img = "img.nii.gz"'
DEFAULT_OUTPUT = "docs/reference.md"

SECTIONS = (
    ("scalars", "Numbers and booleans",
     "Numbers are float64. The dotted operators are VoxLogicA 1's; the undotted `+ - * / and or not` "
     "and `< <= > >= == !=` also take images and are documented with them, below."),
    ("images", "Images, voxel by voxel",
     "Numbers meeting voxels are cast to float32 first. Results keep the geometry of the first "
     "image argument; two images in one operation must have the same size, and colour and grey "
     "images never mix."),
    ("comparisons", "Comparisons", "A number image compared with a number gives a boolean image."),
    ("statistics", "Statistics", "Numbers computed from all the voxels of an image, and ranks."),
    ("colour", "Colour", "Colour images have 3 (RGB) or 4 (RGBA) float32 components per voxel."),
    ("spatial", "Spatial operators",
     "Neighbourhoods are full boxes (8-connected in 2D, 26-connected in 3D) and ignore spacing, "
     "except in `dt` and `crossCorrelation`, which work in mm."),
    ("sequences", "Sequences",
     "Extensions of VoxLogicA 1: `for NAME in SEQ do EXPR` gives a sequence; `print` shows all "
     "its elements."),
    ("io", "Input and output", "Reading images, writing files, showing values."),
)

HEADER = """\
# ImgQL builtin reference

Generated from the primitive registry by
`python -m voxlogica_nb.primitives.reference --write`: edit the docstrings,
not this file. `voxlogica primitives NAME` prints one entry.

**Types.** `num` (float64), `bool`, `str`, `nimg` (number image, float32
voxels), `bimg` (boolean image), `cimg` (colour image, RGB or RGBA), `img`
(an image whose kind is known only at run time, as `load` gives), `seq[T]`
(a sequence), `any`; `T` is a type variable. Each signature line ends with
the overload's cost class: *cheap* runs inline; *light* (voxel-wise work)
runs on the worker pool and is recomputed rather than stored, unless printed
or saved; *heavy* is stored and claimed across processes. The version
enters the identity of every task that applies the builtin.

**Grouping.** There is no operator precedence: infix chains group to the
right (`1 + 2 * 3` is 7) and a prefix operator takes everything to its
right. Operators are also called like functions: `+(a, b)`.

**Examples** run as written after

```imgql
{prelude}
```

where `img.nii.gz` is a 2D grey image of 5×4 voxels (x = 0..4 along the
first axis, y = 0..3 along the second, spacing 1 mm) whose voxel (x, y)
holds x + 5·y, from 0 to 19. A trailing `// label=value` comment shows what
`print` gives. The first `load` sets the base image, whose geometry `tt`,
`ff`, `bconstant`, `constant`, `border`, `x`, `y` and `z` take.
"""


# -- docstrings --------------------------------------------------------------

def sections(doc: str) -> dict[str, str]:
    """A scikit-image style docstring split by section: ``""`` holds the
    summary and description, then ``"Parameters"``, ``"Returns"``, …"""
    out: dict[str, list[str]] = {"": []}
    current, lines, i = "", doc.splitlines(), 0
    while i < len(lines):
        under = lines[i + 1].strip() if i + 1 < len(lines) else ""
        if lines[i].strip() and len(under) >= 3 and set(under) == {"-"}:
            current = lines[i].strip()
            out[current] = []
            i += 2
            continue
        out[current].append(lines[i])
        i += 1
    return {k: "\n".join(v).strip("\n") for k, v in out.items()}


def example(prim: Primitive) -> str:
    """The ImgQL of a primitive's Examples section ("" when it has none)."""
    return sections(prim.doc).get("Examples", "")


def expected_prints(text: str) -> dict[str, str]:
    """``label -> printed text`` stated by ``print "label" … // label=text`` lines."""
    out = {}
    for line in text.splitlines():
        m = re.match(r'\s*print\s+"([^"]*)"', line)
        if m:
            said = re.search(r"//\s*" + re.escape(m.group(1)) + r"=(.*)$", line)
            if said:
                out[m.group(1)] = said.group(1).strip()
    return out


def _items(text: str) -> list[str]:
    """Markdown bullets of a Parameters / Returns section."""
    items: list[list] = []
    for line in text.splitlines():
        if line.strip() and not line[0].isspace():
            items.append([line.strip(), []])
        elif line.strip() and items:
            items[-1][1].append(line.strip())
    out = []
    for head, body in items:
        name, sep, kind = head.partition(" : ")
        label = f"`{name}` ({kind})" if sep else f"`{head}`"
        out.append(f"* {label}: {' '.join(body)}" if body else f"* {label}")
    return out


def _body(doc: str) -> list[str]:
    parts = sections(doc)
    out = [parts[""]] if parts[""] else []
    for title, text in parts.items():
        if not title or not text:
            continue
        if title == "Examples":
            out.append("**Examples**\n\n```imgql\n" + text + "\n```")
        elif title in ("Parameters", "Returns", "Yields", "Raises"):
            out.append(f"**{title}**\n\n" + "\n".join(_items(text)))
        else:
            out.append(f"**{title}**\n\n{text}")
    return out


def _facts(prim: Primitive) -> str:
    facts = [f"Version {prim.version}"]
    if prim.commutative:
        facts.append("commutative: `f(a, b)` and `f(b, a)` are the same task")
    if prim.base:
        facts.append("the last image argument may be left out: it is then the base image")
    if not prim.pure:
        facts.append("an effect: never served from the store, run in program order")
    if prim.fingerprint is not None:
        facts.append("the content of the files it reads enters the task identity")
    return "*" + "; ".join(facts) + ".*"


def _signatures(prim: Primitive) -> str:
    lines = [f"{prim.name}{o.signature}" for o in prim.overloads]
    width = max(map(len, lines))
    costs = [o.cost for o in prim.overloads]
    return "\n".join(f"{line.ljust(width)}   {cost}" for line, cost in zip(lines, costs))


def _builtin_entry(prim: Primitive) -> str:
    parts = [f"### `{prim.name}`", "```text\n" + _signatures(prim) + "\n```", *_body(prim.doc), _facts(prim)]
    return "\n\n".join(parts) + "\n"


# -- the ImgQL libraries -------------------------------------------------------

def _paragraphs(comment: list[str]) -> list[str]:
    """Comment lines joined into paragraphs (an empty ``//`` line separates them)."""
    text = "\n".join(comment)
    return [" ".join(p.split()) for p in text.split("\n\n") if p.strip()]


@dataclass
class Definitions:
    """Consecutive ``let`` lines of a library and the comment above them."""

    library: str
    section: str
    comment: list
    lets: list

    @property
    def names(self) -> list[str]:
        return [re.match(r"let\s+([^\s(]+)(?:\(|\s+=)", line).group(1) for line in self.lets]

    def render(self) -> str:
        head = ", ".join(f"`{n}`" for n in self.names)
        parts = [f"### {head}"]
        parts.extend(_paragraphs(self.comment))
        parts.append("```imgql\n" + "\n".join(self.lets) + "\n```")
        parts.append(f"*Defined in ImgQL by {self.library}.imgql.*")
        return "\n\n".join(parts) + "\n"


def definitions(name: str, text: str) -> tuple[list[str], list[Definitions]]:
    """A library's introduction (its first comment, as paragraphs) and its groups of definitions."""
    intro: list[str] = []
    groups: list[Definitions] = []
    section, comment, current = "", [], None
    for raw in text.splitlines() + [""]:
        line = raw.strip()
        if line.startswith("let "):
            if current is None:
                current = Definitions(name, section, comment, [])
                groups.append(current)
                comment = []
            current.lets.append(line)
            continue
        current = None
        if line.startswith("// ----"):
            section, comment = line.strip("/- "), []
        elif line.startswith("//"):
            comment.append(line[2:].strip())
        elif comment and not groups and not section:
            intro.extend(_paragraphs(comment))
            comment = []
    return intro, groups


def library_groups(registry=REGISTRY) -> dict[str, Definitions]:
    """Every name a built-in ImgQL library defines, with its group."""
    out: dict[str, Definitions] = {}
    for lib in registry.libraries():
        for group in definitions(lib, registry.library(lib))[1]:
            for n in group.names:
                out.setdefault(n, group)
    return out


def _render_library(lib: str, text: str) -> list[str]:
    intro, groups = definitions(lib, text)
    title = "Standard library" if lib == "stdlib" else f"{lib} library"
    out, section = ["\n\n".join([f"## {title}", *intro]) + "\n"], ""
    for group in groups:
        if group.section != section:
            section = group.section
            out.append(f"## {title}: {section}\n")
        out.append(group.render())
    return out


# -- entry points --------------------------------------------------------------

def _default_namespace(registry) -> list[Primitive]:
    return [registry.lookup(name) for name in sorted(registry.names())]  # loads no namespace


def builtins(registry=REGISTRY) -> list[Primitive]:
    """The builtins of the default namespace by name (not user primitives)."""
    return [p for p in _default_namespace(registry) if p.builtin]


def entry(name: str, registry=REGISTRY) -> str:
    """The reference entry of a builtin (``near``, ``simpleitk.Median``) or
    of a library definition (``mayReach``); KeyError if there is none."""
    prim = registry.lookup(name)
    if prim is not None:
        return _builtin_entry(prim)
    group = library_groups(registry).get(name)
    if group is None:
        raise KeyError(name)
    return group.render()


def close_names(name: str, registry=REGISTRY) -> list[str]:
    """Known names that look like ``name`` (for "did you mean")."""
    known = [p.name for p in _default_namespace(registry)] + list(library_groups(registry))
    ns = name.partition(".")[0]
    if "." in name and registry.has_namespace(ns):
        known += [p.name for p in registry.all() if p.namespace == ns]
    same_case = [k for k in known if k.lower() == name.lower()]
    close = difflib.get_close_matches(name, known, n=5, cutoff=0.6)
    return same_case + [k for k in close if k not in same_case]


def listing(namespace: str = "", registry=REGISTRY) -> str:
    """One line per primitive of ``namespace``: name, signatures, version, summary."""
    if namespace:
        prims = [p for p in registry.all() if p.namespace == namespace]
    else:
        prims = _default_namespace(registry)
    lines = []
    for prim in prims:
        sigs = " | ".join(str(s) for s in prim.signatures)
        summary = f"  — {prim.summary}" if prim.summary else ""
        lines.append(f"{prim.name}  {sigs}  v{prim.version}{summary}")
    if not namespace:
        for ns in registry.namespaces():
            lines.append(f"(namespace {ns} — list with `voxlogica primitives {ns}`)")
        for lib in registry.libraries():
            names = [n for g in definitions(lib, registry.library(lib))[1] for n in g.names]
            lines.append(f"({lib}, in ImgQL: {' '.join(names)})")
        lines.append("(one entry in full: `voxlogica primitives NAME`)")
    return "\n".join(lines)


def render(registry=REGISTRY) -> str:
    """The whole reference (the text of ``docs/reference.md``)."""
    prims = builtins(registry)
    by_module: dict[str, list[Primitive]] = {}
    for prim in prims:
        by_module.setdefault(prim.module.rpartition(".")[2], []).append(prim)
    parts = [HEADER.format(prelude=PRELUDE)]
    known = [s[0] for s in SECTIONS]
    extra = [(m, m, "") for m in sorted(by_module) if m not in known]
    for module, title, intro in (*SECTIONS, *extra):
        group = by_module.get(module, [])
        if group:
            index = " ".join(f"`{p.name}`" for p in group)
            parts.append("\n\n".join([f"## {title}", *([intro] if intro else []), index]) + "\n")
            parts.extend(_builtin_entry(p) for p in group)
    for lib in registry.libraries():
        parts.extend(_render_library(lib, registry.library(lib)))
    return "\n".join(parts)


def write_example_image(folder) -> str:
    """Write ``img.nii.gz`` (the examples' image: 5×4 voxels, value x + 5·y)
    into ``folder``; returns its path."""
    import os

    import numpy as np
    import SimpleITK as sitk

    path = os.path.join(os.fspath(folder), "img.nii.gz")
    voxels = np.arange(20, dtype=np.float32).reshape(4, 5)  # numpy order (y, x)
    sitk.WriteImage(sitk.GetImageFromArray(voxels), path)
    return path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Print or write the ImgQL builtin reference.")
    parser.add_argument("--write", nargs="?", const=DEFAULT_OUTPUT, default=None, metavar="PATH",
                        help=f"write it to PATH (default {DEFAULT_OUTPUT}) instead of printing it")
    args = parser.parse_args(argv)
    text = render()
    if args.write is None:
        sys.stdout.write(text)
    else:
        with open(args.write, "w", encoding="utf-8") as f:
            f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
