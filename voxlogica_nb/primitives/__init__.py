"""Builtins: the registry and one module per family of primitives."""
from .registry import REGISTRY, Primitive, Registry, primitive

from . import scalars, sequences, io  # noqa: E402,F401  (register on import)

for _family in ("images", "spatial", "simpleitk"):
    try:
        __import__(f"{__name__}.{_family}")
    except ModuleNotFoundError as exc:  # family not written yet
        if exc.name != f"{__name__}.{_family}":
            raise

__all__ = ["REGISTRY", "Primitive", "Registry", "primitive"]
