"""Syntax tree of ImgQL programs. Every node knows where it was written."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Pos:
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
