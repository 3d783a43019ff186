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
    """The whole numbers from a up to b - 1.

    Parameters
    ----------
    a : num
        The first number; ``range(n)`` alone means ``range(0, n)``. A whole
        number.
    b : num
        The end, not included. A whole number; at most 10,000,000 elements.

    Returns
    -------
    seq[num]
        a, a + 1, ..., b - 1 (empty when b <= a).

    Notes
    -----
    An extension of VoxLogicA 1, for ``for`` loops.

    Examples
    --------
    print "r" range(3)   // r=[0.0, 1.0, 2.0]
    print "s" range(2, 4)   // s=[2.0, 3.0]
    """
    if b is None:
        a, b = 0.0, a
    start, stop = _int(a, "range start"), _int(b, "range end")
    if stop - start > MAX_LENGTH:
        raise PrimitiveError(f"range: {stop - start:,} elements is too many (at most {MAX_LENGTH:,})")
    return [float(i) for i in range(start, stop)]


@primitive("length", "(seq[any]) -> num", cost="cheap")
def length(s):
    """Number of elements of a sequence.

    Parameters
    ----------
    s : seq[any]
        A sequence.

    Returns
    -------
    num
        Its length.

    Examples
    --------
    print "n" length(range(2, 7))   // n=5.0
    """
    return float(len(s))


@primitive("index", "(seq[T], num) -> T", cost="cheap")
def index(s, i):
    """One element of a sequence.

    Parameters
    ----------
    s : seq[T]
        A sequence.
    i : num
        The position, counting from 0: a whole number less than the length.

    Returns
    -------
    T
        The element at position ``i``.

    Examples
    --------
    print "e" index(range(10, 20), 3)   // e=13.0
    print "m" index(for k in range(1, 4) do max(img *. k), 2)   // m=57.0
    """
    k = _int(i, "index")
    if not 0 <= k < len(s):
        raise PrimitiveError(f"index {k} out of range for a sequence of length {len(s)}")
    return s[k]
