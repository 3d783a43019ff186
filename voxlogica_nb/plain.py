"""Bases for small classes compared by their fields: what dataclasses give,
without importing :mod:`dataclasses` (its import and the building of each
class cost every start-up of the command line)."""
from __future__ import annotations

from operator import attrgetter


class Frozen:
    """Fields are the subclass's ``__slots__``; ``__init__`` sets them
    with :meth:`_set`. Equal when of the same class with equal fields;
    hashable; pickled by its fields."""

    __slots__ = ()

    def __init_subclass__(cls, **kw):
        super().__init_subclass__(**kw)
        names = cls.__slots__  # types are hashed often: fields read in C, as a tuple
        get = attrgetter(*names) if len(names) > 1 else (lambda self: (getattr(self, names[0]),))
        cls._fields = lambda self: get(self)

    def _set(self, *values) -> None:
        for name, value in zip(self.__slots__, values):
            object.__setattr__(self, name, value)

    def __setattr__(self, name, value):
        raise AttributeError(f"cannot assign to field {name!r}: {type(self).__name__} is immutable")

    def __delattr__(self, name):
        raise AttributeError(f"cannot delete field {name!r}: {type(self).__name__} is immutable")

    def __eq__(self, other):
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._fields() == other._fields()

    def __hash__(self):
        return hash(self._fields())

    def __reduce__(self):
        return type(self), self._fields()

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={getattr(self, k)!r}" for k in self.__slots__)
        return f"{type(self).__name__}({fields})"


class Record:
    """Mutable fields (named by the subclass's ``FIELDS``, set by its
    ``__init__``), compared by value; unhashable, as a dataclass is."""

    FIELDS: tuple = ()
    __hash__ = None

    def _fields(self) -> tuple:
        return tuple(getattr(self, name) for name in self.FIELDS)

    def __eq__(self, other):
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._fields() == other._fields()

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={getattr(self, k)!r}" for k in self.FIELDS)
        return f"{type(self).__name__}({fields})"
