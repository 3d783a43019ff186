"""Syntax tree of ImgQL programs. Every node knows where it was written."""
from __future__ import annotations

from collections import namedtuple

from ..plain import fields_repr


class Pos(namedtuple("Pos", "source line col")):
    """Where something was written: ``source:line:col``. Every node has one,
    so it is a named tuple (a frozen dataclass costs three times as much to
    make; ``collections``, unlike ``typing``, is loaded at start-up anyway)."""

    __slots__ = ()

    def __str__(self) -> str:
        return f"{self.source}:{self.line}:{self.col}"


class _Node:
    """A syntax tree node: its fields are its ``__slots__`` (plain classes:
    a program has one per operand, and the package imports no dataclasses)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return fields_repr(self, self.__slots__)


# -- expressions -------------------------------------------------------------
class Number(_Node):
    __slots__ = ("value", "pos")

    def __init__(self, value, pos):
        self.value = value
        self.pos = pos


class Bool(_Node):
    __slots__ = ("value", "pos")

    def __init__(self, value, pos):
        self.value = value
        self.pos = pos


class String(_Node):
    __slots__ = ("value", "pos")

    def __init__(self, value, pos):
        self.value = value
        self.pos = pos


class Call(_Node):
    """A name, bare (``args is None``) or applied; infix and prefix operators
    become calls of the operator name."""

    __slots__ = ("name", "args", "pos", "chain")

    def __init__(self, name, args, pos, chain=None):
        self.name = name
        self.args = args
        self.pos = pos
        self.chain = chain  # set on the operators of an unparenthesised chain


class Chain(_Node):
    """An unparenthesised run of operators, ``a >. 1 & b >. 1`` or ``!a & b``,
    kept so that messages can show how it groups. ``parts`` are, in written
    order, ``("pre", start, end)`` for a prefix operator, ``("in", start, end)``
    for an infix operator (with its ``[…]`` arguments) and ``("operand",
    start, end)``: offsets into ``text``, the whole source."""

    __slots__ = ("text", "parts")

    def __init__(self, text, parts):
        self.text = text
        self.parts = parts

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


class LetIn(_Node):
    __slots__ = ("name", "params", "value", "body", "pos")

    def __init__(self, name, params, value, body, pos):
        self.name = name
        self.params = params
        self.value = value
        self.body = body
        self.pos = pos


class For(_Node):
    __slots__ = ("var", "seq", "body", "pos")

    def __init__(self, var, seq, body, pos):
        self.var = var
        self.seq = seq
        self.body = body
        self.pos = pos


# -- commands ----------------------------------------------------------------
class Let(_Node):
    __slots__ = ("name", "params", "value", "pos")

    def __init__(self, name, params, value, pos):
        self.name = name
        self.params = params  # None: a value binding
        self.value = value
        self.pos = pos


class Load(_Node):
    __slots__ = ("name", "path", "pos")

    def __init__(self, name, path, pos):
        self.name = name
        self.path = path
        self.pos = pos


class Save(_Node):
    __slots__ = ("path", "value", "pos")

    def __init__(self, path, value, pos):
        self.path = path
        self.value = value
        self.pos = pos


class Print(_Node):
    __slots__ = ("label", "value", "pos")

    def __init__(self, label, value, pos):
        self.label = label
        self.value = value
        self.pos = pos


class Import(_Node):
    __slots__ = ("target", "pos")

    def __init__(self, target, pos):
        self.target = target
        self.pos = pos


class Program(_Node):
    __slots__ = ("commands", "source", "text")

    def __init__(self, commands=None, source="", text=""):
        self.commands = [] if commands is None else commands
        self.source = source
        self.text = text


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
