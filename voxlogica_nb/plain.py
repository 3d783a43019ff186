"""Bases for small classes compared by their fields: what dataclasses give,
without importing :mod:`dataclasses` (its import and the building of each
class cost every start-up of the command line)."""
from __future__ import annotations

from operator import attrgetter


def fields_repr(obj, names) -> str:
    """``Name(field=value, ...)``, as a dataclass shows itself."""
    fields = ", ".join(f"{k}={getattr(obj, k)!r}" for k in names)
    return f"{type(obj).__name__}({fields})"


class _Fields:
    """Equal when of the same class with equal ``FIELDS``."""

    __slots__ = ()
    FIELDS: tuple = ()

    def _fields(self) -> tuple:
        return tuple(getattr(self, name) for name in self.FIELDS)

    def __eq__(self, other):
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._fields() == other._fields()

    def __repr__(self) -> str:
        return fields_repr(self, self.FIELDS)


class Frozen(_Fields):
    """Fields are the subclass's ``__slots__``; ``__init__`` sets them
    with :meth:`_set`. Immutable, hashable, pickled by its fields."""

    __slots__ = ()

    def __init_subclass__(cls, **kw):
        super().__init_subclass__(**kw)
        names = cls.FIELDS = cls.__slots__
        if len(names) > 1:  # types are hashed often: fields read in C, as a tuple
            get = attrgetter(*names)
            cls._fields = lambda self: get(self)

    def _set(self, *values) -> None:
        for name, value in zip(self.__slots__, values):
            object.__setattr__(self, name, value)

    def __setattr__(self, name, value):
        raise AttributeError(f"cannot assign to field {name!r}: {type(self).__name__} is immutable")

    def __delattr__(self, name):
        raise AttributeError(f"cannot delete field {name!r}: {type(self).__name__} is immutable")

    def __hash__(self):
        return hash(self._fields())

    def __reduce__(self):
        return type(self), self._fields()


class Record(_Fields):
    """Mutable fields (named by the subclass's ``FIELDS``, set by its
    ``__init__``); unhashable, as a dataclass is."""

    __hash__ = None
