"""Builtins: the registry and one module per family of primitives.

Importing this package registers every family (the ``simpleitk`` namespace
is filled lazily, on first lookup).
"""
from .registry import REGISTRY, Primitive, Registry, primitive
from . import scalars, sequences, io, images, spatial, simpleitk  # noqa: E402,F401  (register on import)

__all__ = ["REGISTRY", "Primitive", "Registry", "primitive"]
