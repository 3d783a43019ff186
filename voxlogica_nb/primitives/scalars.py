"""Numbers and booleans: the dotted scalar operators of VoxLogicA 1 and the
undotted extensions on plain numbers and booleans.

All numbers are float64. Image overloads of the undotted operators are
registered by :mod:`voxlogica_nb.primitives.images`.
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


def _define(names, sig, fn, doc):
    for name in names:
        primitive(name, sig, cost="cheap", doc=doc)(fn)


_define((".+.", "+"), NN_N, lambda a, b: a + b, "Sum of two numbers.")
_define((".-.", "-"), NN_N, lambda a, b: a - b, "Difference of two numbers.")
_define((".*.", "*"), NN_N, lambda a, b: a * b, "Product of two numbers.")
_define(("./.", "/"), NN_N, _div, "Quotient of two numbers (IEEE: by zero gives inf or nan).")
_define((".=.", "=="), NN_B, lambda a, b: a == b, "Whether two numbers are equal.")
_define(("!=",), NN_B, lambda a, b: a != b, "Whether two numbers differ.")
_define((".<=.", "<="), NN_B, lambda a, b: a <= b, "Whether a <= b.")
_define((".<.", "<"), NN_B, lambda a, b: a < b, "Whether a < b.")
_define((".>=.", ">="), NN_B, lambda a, b: a >= b, "Whether a >= b.")
_define((".>.", ">"), NN_B, lambda a, b: a > b, "Whether a > b.")
_define((".&.",), BB_B, lambda a, b: a and b, "Boolean and.")
_define((".|.",), BB_B, lambda a, b: a or b, "Boolean or.")
_define(("!.",), "(bool) -> bool", lambda a: not a, "Boolean not.")

primitive("and", BB_B, cost="cheap", commutative=True,
          doc="Conjunction of two booleans or two boolean images.")(lambda a, b: a and b)
primitive("or", BB_B, cost="cheap", commutative=True,
          doc="Disjunction of two booleans or two boolean images.")(lambda a, b: a or b)
primitive("not", "(bool) -> bool", cost="cheap",
          doc="Negation of a boolean or a boolean image.")(lambda a: not a)
