"""Numbers and booleans: the dotted scalar operators of VoxLogicA 1 and the
undotted extensions on plain numbers and booleans.

All numbers are float64. The undotted names (``+``, ``<``, ``and``…) also
take images; those overloads, and the documentation of each undotted name,
are in :mod:`.images` and :mod:`.comparisons`.
"""
from __future__ import annotations

import math

from .registry import primitive

NN_N = "(num, num) -> num"
NN_B = "(num, num) -> bool"
BB_B = "(bool, bool) -> bool"


def _div(a: float, b: float) -> float:
    # IEEE division: x/0 is ±inf, 0/0 is nan (Python would raise).
    if b == 0.0:
        if a == 0.0 or math.isnan(a):
            return math.nan
        return math.copysign(math.inf, a) * math.copysign(1.0, b)
    return a / b


def _doc(summary: str, params: str, result: str, returns: str, example: str) -> str:
    return (f"{summary}\n\nParameters\n----------\n{params}\n\nReturns\n-------\n{result}\n"
            f"    {returns}\n\nExamples\n--------\n{example}\n")


_NUMS = "a, b : num\n    The operands (float64)."
_BOOLS = "a, b : bool\n    The operands."

# (dotted name, undotted name or None, signature, function, doc)
_TABLE = (
    (".+.", "+", NN_N, lambda a, b: a + b, _doc(
        "Sum of two numbers.", _NUMS, "num", "a + b in float64.",
        'print "s" 1 .+. 2   // s=3.0')),
    (".-.", "-", NN_N, lambda a, b: a - b, _doc(
        "Difference of two numbers.", _NUMS, "num", "a - b in float64.",
        '// chains group to the right: 5 .-. (2 .-. 1)\nprint "d" 5 .-. 2 .-. 1   // d=4.0')),
    (".*.", "*", NN_N, lambda a, b: a * b, _doc(
        "Product of two numbers.", _NUMS, "num", "a × b in float64.",
        'print "p" 6 .*. 7   // p=42.0')),
    ("./.", "/", NN_N, _div, _doc(
        "Quotient of two numbers, IEEE style.", _NUMS, "num",
        "a / b in float64; a non-zero number over 0 gives ±inf, 0 / 0 gives nan.",
        'print "q" 1 ./. 4   // q=0.25\nprint "inf" 1 ./. 0   // inf=inf')),
    (".=.", "==", NN_B, lambda a, b: a == b, _doc(
        "Whether two numbers are equal.", _NUMS, "bool", "a == b (nan equals nothing).",
        'print "e" 2 .=. 2   // e=true')),
    (None, "!=", NN_B, lambda a, b: a != b, ""),
    (".<=.", "<=", NN_B, lambda a, b: a <= b, _doc(
        "Whether a <= b.", _NUMS, "bool", "a <= b.", 'print "le" 2 .<=. 2   // le=true')),
    (".<.", "<", NN_B, lambda a, b: a < b, _doc(
        "Whether a < b.", _NUMS, "bool", "a < b.", 'print "lt" 2 .<. 2   // lt=false')),
    (".>=.", ">=", NN_B, lambda a, b: a >= b, _doc(
        "Whether a >= b.", _NUMS, "bool", "a >= b.", 'print "ge" 3 .>=. 2   // ge=true')),
    (".>.", ">", NN_B, lambda a, b: a > b, _doc(
        "Whether a > b.", _NUMS, "bool", "a > b.", 'print "gt" 1 .>. 2   // gt=false')),
    (".&.", None, BB_B, lambda a, b: a and b, _doc(
        "Boolean and.", _BOOLS, "bool", "True when both are.", 'print "a" true .&. false   // a=false')),
    (".|.", None, BB_B, lambda a, b: a or b, _doc(
        "Boolean or.", _BOOLS, "bool", "True when either is.", 'print "o" true .|. false   // o=true')),
    ("!.", None, "(bool) -> bool", lambda a: not a, _doc(
        "Boolean not (a prefix operator).", "a : bool\n    The operand.", "bool", "not a.",
        'print "n" !. false   // n=true')),
)

for _dotted, _plain, _sig, _fn, _text in _TABLE:
    if _dotted:
        primitive(_dotted, _sig, cost="cheap", doc=_text)(_fn)
    if _plain:  # documented with its image overloads
        primitive(_plain, _sig, cost="cheap")(_fn)

primitive("and", BB_B, cost="cheap", commutative=True)(lambda a, b: a and b)
primitive("or", BB_B, cost="cheap", commutative=True)(lambda a, b: a or b)
primitive("not", "(bool) -> bool", cost="cheap")(lambda a: not a)
