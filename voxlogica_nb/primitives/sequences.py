"""Sequences: ``range``, ``length``, ``index``.

``for`` is not a primitive: the reducer turns it into a task whose body is
instantiated per element at run time (see ``voxlogica_nb.language.reducer``).
"""
from __future__ import annotations

from ..errors import PrimitiveError
from .registry import primitive


MAX_LENGTH = 10_000_000  # a guard against ranges that would exhaust memory


def _int(x: float, what: str) -> int:
    if x != x or x in (float("inf"), float("-inf")) or x != int(x):
        raise PrimitiveError(f"{what} must be a whole number, got {x!r}")
    return int(x)


@primitive("range", "(num) -> seq[num]", "(num, num) -> seq[num]", cost="cheap")
def range_(a, b=None):
    """Whole numbers a, a+1, …, b-1 (``range(n)``: 0 … n-1)."""
    if b is None:
        a, b = 0.0, a
    start, stop = _int(a, "range start"), _int(b, "range end")
    if stop - start > MAX_LENGTH:
        raise PrimitiveError(f"range: {stop - start:,} elements is too many (at most {MAX_LENGTH:,})")
    return [float(i) for i in range(start, stop)]


@primitive("length", "(seq[any]) -> num", cost="cheap")
def length(s):
    """Number of elements of a sequence."""
    return float(len(s))


@primitive("index", "(seq[T], num) -> T", cost="cheap")
def index(s, i):
    """Element ``i`` of a sequence, counting from 0."""
    k = _int(i, "index")
    if not 0 <= k < len(s):
        raise PrimitiveError(f"index {k} out of range for a sequence of length {len(s)}")
    return s[k]
