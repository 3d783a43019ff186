"""Builtins: the registry, one module per family of primitives, and the
built-in ImgQL libraries.

Importing this package registers every family (the ``simpleitk`` namespace
is filled lazily, on first lookup) and offers ``stdlib.imgql`` and
``RegionCalculus.imgql`` through :meth:`Registry.library`.
"""
from importlib import resources

from .registry import REGISTRY, Primitive, Registry, primitive
from . import (scalars, sequences, io, images, comparisons, statistics, colour,  # noqa: E402,F401
               spatial, simpleitk)  # (register on import)


def _reader(filename: str):
    return lambda: resources.files(__name__).joinpath(filename).read_text(encoding="utf-8")


for _name in ("stdlib", "RegionCalculus"):
    REGISTRY.add_library(_name, _reader(f"{_name}.imgql"))

__all__ = ["REGISTRY", "Primitive", "Registry", "primitive"]
