"""Modules imported on first use.

``np = LazyModule("numpy", globals(), "np")`` stands for numpy in a module
until an attribute of it is first used; then it imports numpy and puts the
real module in its place, so later uses cost nothing. A run whose values
all come from the store as numbers never imports numpy (0.1-0.2 s). The
import is the interpreter's own, so threads that race to it are safe.
"""
from __future__ import annotations

import importlib

__all__ = ["LazyModule"]


class LazyModule:
    __slots__ = ("_name", "_namespace", "_alias")

    def __init__(self, name: str, namespace: dict, alias: str):
        self._name, self._namespace, self._alias = name, namespace, alias

    def __getattr__(self, attr):
        module = importlib.import_module(self._name)
        self._namespace[self._alias] = module
        return getattr(module, attr)

    def __repr__(self):
        return f"<{self._name}, imported on first use>"
