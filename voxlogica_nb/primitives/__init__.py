"""Builtins: the registry, one module per family of primitives, and the
built-in ImgQL libraries.

Importing this package registers every family (the ``simpleitk`` namespace
is filled lazily, on first lookup) and offers ``stdlib.imgql`` and
``RegionCalculus.imgql`` through :meth:`Registry.library`.
"""
import os

from .registry import REGISTRY, Primitive, Registry, primitive
from . import (scalars, sequences, io, images, comparisons, statistics, colour,  # noqa: E402,F401
               spatial, simpleitk)  # (register on import)


def _reader(filename: str):
    path = os.path.join(os.path.dirname(__file__), filename)  # (importlib.resources costs more to import)

    def read():
        with open(path, encoding="utf-8") as f:
            return f.read()
    return read


for _name in ("stdlib", "RegionCalculus"):
    REGISTRY.add_library(_name, _reader(f"{_name}.imgql"))

__all__ = ["REGISTRY", "Primitive", "Registry", "primitive"]
