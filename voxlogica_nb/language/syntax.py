"""Syntax tree of ImgQL programs. Every node knows where it was written."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple


class Pos(NamedTuple):
    """Where something was written: ``source:line:col``. Every node has one,
    so it is a named tuple (a frozen dataclass costs three times as much to
    make)."""

    source: str
    line: int
    col: int

    def __str__(self) -> str:
        return f"{self.source}:{self.line}:{self.col}"


# -- expressions -------------------------------------------------------------
@dataclass(eq=False)
class Number:
    value: float
    pos: Pos


@dataclass(eq=False)
class Bool:
    value: bool
    pos: Pos


@dataclass(eq=False)
class String:
    value: str
    pos: Pos


@dataclass(eq=False)
class Call:
    """A name, bare (``args is None``) or applied; infix and prefix operators
    become calls of the operator name."""

    name: str
    args: list | None
    pos: Pos
    chain: "Chain | None" = None  # set on the operators of an unparenthesised chain


@dataclass(eq=False)
class Chain:
    """An unparenthesised run of operators, ``a >. 1 & b >. 1`` or ``!a & b``,
    kept so that messages can show how it groups. ``parts`` are, in written
    order, ``("pre", start, end)`` for a prefix operator, ``("in", start, end)``
    for an infix operator (with its ``[…]`` arguments) and ``("operand",
    start, end)``: offsets into ``text``, the whole source."""

    text: str
    parts: list

    def _text(self, part) -> str:
        return " ".join(self.text[part[1]:part[2]].split())

    def written(self) -> str:
        return " ".join(self.text[self.parts[0][1]:self.parts[-1][2]].split())

    def grouped(self) -> str:
        """The chain with the parentheses the parser reads into it: infix
        operators group to the right, a prefix operator takes the rest."""
        parts = self.parts
        value, compound = self._text(parts[-1]), False
        i = len(parts) - 2
        while i >= 0:
            kind = parts[i][0]
            inner = f"({value})" if compound else value
            if kind == "pre":  # `!(a & b)`; no parentheses needed around it
                op = self._text(parts[i])
                value = op + (" " if any(c.isalpha() for c in op) else "") + inner
                i -= 1
                compound = False
            else:  # "in", preceded by its left operand
                value = f"{self._text(parts[i - 1])} {self._text(parts[i])} {inner}"
                i -= 2
                compound = True
        return value

    def conventional(self) -> str | None:
        """The chain grouped by the usual precedence of its operators
        (``* /`` over ``+ -`` over comparisons over ``&`` over ``|``, each
        level left to right), or None if some operator has no usual
        precedence (or the chain has prefix operators)."""
        operands, ops = [], []
        for part in self.parts:
            if part[0] == "pre":
                return None
            (operands if part[0] == "operand" else ops).append(self._text(part))
        levels = [PRECEDENCE.get(op.strip(".")) for op in ops]
        if any(level is None for level in levels):
            return None
        # shunting-yard: operands as (text, compound)
        out, stack = [(operands[0], False)], []

        def reduce_top():
            op = stack.pop()[0]
            right, left = out.pop(), out.pop()
            out.append((f"{_paren(left)} {op} {_paren(right)}", True))

        for op, level, operand in zip(ops, levels, operands[1:]):
            while stack and stack[-1][1] >= level:
                reduce_top()
            stack.append((op, level))
            out.append((operand, False))
        while stack:
            reduce_top()
        return out[0][0]


# The usual precedence of operators (dots, which mark image operands, aside).
PRECEDENCE = {"*": 5, "/": 5, "+": 4, "-": 4,
              "<": 3, "<=": 3, ">": 3, ">=": 3, "=": 3, "==": 3, "!=": 3, "<>": 3,
              "&": 2, "|": 1}


def _paren(item) -> str:
    text, compound = item
    return f"({text})" if compound else text


@dataclass(eq=False)
class LetIn:
    name: str
    params: list[str] | None
    value: object
    body: object
    pos: Pos


@dataclass(eq=False)
class For:
    var: str
    seq: object
    body: object
    pos: Pos


# -- commands ----------------------------------------------------------------
@dataclass(eq=False)
class Let:
    name: str
    params: list[str] | None  # None: a value binding
    value: object
    pos: Pos


@dataclass(eq=False)
class Load:
    name: str
    path: str
    pos: Pos


@dataclass(eq=False)
class Save:
    path: str
    value: object
    pos: Pos


@dataclass(eq=False)
class Print:
    label: str
    value: object
    pos: Pos


@dataclass(eq=False)
class Import:
    target: str
    pos: Pos


@dataclass(eq=False)
class Program:
    commands: list = field(default_factory=list)
    source: str = ""
    text: str = ""


def walk_names(node):
    """Yield every Call node of an expression (iteratively)."""
    stack = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, Call):
            yield n
            if n.args:
                stack.extend(n.args)
        elif isinstance(n, LetIn):
            stack.extend((n.value, n.body))
        elif isinstance(n, For):
            stack.extend((n.seq, n.body))
