"""Static types of ImgQL values and primitive signatures.

Types are small immutable objects, one object per type:

* ``num`` (float64), ``bool``, ``str``
* ``nimg`` number image, ``bimg`` bool image, ``cimg`` colour image,
  ``img`` an image whose kind is known only at run time (what ``load`` gives)
* ``seq[T]`` a sequence of T
* ``any`` anything (no static check)
* ``T``, ``U`` type variables inside a signature

A signature is written as text, ``"(nimg, num) -> bimg"``, and parsed once.

Only ``seq`` nests; the functions here walk nested sequence types with
loops (the reducer bounds how deep programs may nest them, since printing
and storing nested sequences recurse).
"""
from __future__ import annotations

import re
from ..plain import Frozen

_TYPES: dict = {}  # (name, elem) -> the type
SCALARS = ("num", "bool", "str")
IMAGES = ("nimg", "bimg", "cimg", "img")
NAMES = SCALARS + IMAGES + ("any",)


class Type(Frozen):
    """A type; there is one object per type (``Type("num") is NUM``), so
    types compare and hash by identity: the reducer keys its caches on the
    argument types of every application."""

    __slots__ = ("name", "elem")

    def __new__(cls, name: str, elem: "Type | None" = None):
        key = (name, elem)
        t = _TYPES.get(key)
        if t is None:
            t = object.__new__(cls)
            t._set(name, elem)  # name: one of NAMES, "seq", or a type variable (uppercase)
            t = _TYPES.setdefault(key, t)  # (atomic: threads agree on one object)
        return t

    def __init__(self, name: str, elem: "Type | None" = None):
        pass  # (set once, by __new__)

    __eq__ = object.__eq__
    __hash__ = object.__hash__

    def __str__(self) -> str:
        n, t = _unwrap(self)
        return "seq[" * n + t.name + "]" * n

    @property
    def is_var(self) -> bool:
        return self.name[:1].isupper()

    @property
    def is_image(self) -> bool:
        return self.name in IMAGES


NUM, BOOL, STR = Type("num"), Type("bool"), Type("str")
NIMG, BIMG, CIMG, IMG = Type("nimg"), Type("bimg"), Type("cimg"), Type("img")
ANY = Type("any")


def seq(elem: Type) -> Type:
    return Type("seq", elem)


def _unwrap(t: Type) -> tuple[int, Type]:
    """How many ``seq`` wrap ``t``, and the type inside them."""
    n = 0
    while t.name == "seq":
        n, t = n + 1, t.elem
    return n, t


# Human names for messages.
DESCRIPTIONS = {
    "num": "number", "bool": "boolean", "str": "string",
    "nimg": "number image", "bimg": "boolean image", "cimg": "colour image",
    "img": "image", "any": "any value",
}


def describe(t: Type) -> str:
    n, t = _unwrap(t)
    return "sequence of " * n + DESCRIPTIONS.get(t.name, t.name)


class Signature(Frozen):
    __slots__ = ("params", "result")

    def __init__(self, params: "tuple[Type, ...]", result: Type):
        self._set(params, result)

    def __str__(self) -> str:
        return f"({', '.join(map(str, self.params))}) -> {self.result}"


_TOKEN = re.compile(r"\s*(->|[(),\[\]]|[A-Za-z_]+)")


def parse_type(text: str) -> Type:
    t, rest = _parse_type(_tokens(text))
    if rest:
        raise ValueError(f"bad type {text!r}")
    return t


def parse_signature(text: str) -> Signature:
    toks = _tokens(text)
    if not toks or toks[0] != "(":
        raise ValueError(f"bad signature {text!r}")
    toks = toks[1:]
    params = []
    while toks[0] != ")":
        t, toks = _parse_type(toks)
        params.append(t)
        if toks[0] == ",":
            toks = toks[1:]
    if toks[1] != "->":
        raise ValueError(f"bad signature {text!r}")
    result, rest = _parse_type(toks[2:])
    if rest:
        raise ValueError(f"bad signature {text!r}")
    return Signature(tuple(params), result)


def _tokens(text: str) -> list[str]:
    out, pos = [], 0
    text = text.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            raise ValueError(f"bad type text {text!r}")
        out.append(m.group(1))
        pos = m.end()
    return out


def _parse_type(toks: list[str]) -> tuple[Type, list[str]]:
    name = toks[0]
    if name == "seq" and len(toks) > 1 and toks[1] == "[":
        elem, rest = _parse_type(toks[2:])
        if not rest or rest[0] != "]":
            raise ValueError("unclosed seq[")
        return seq(elem), rest[1:]
    if name not in NAMES and not name[:1].isupper():
        raise ValueError(f"unknown type {name!r}")
    return Type(name), toks[1:]


def accepts(param: Type, arg: Type, binding: dict) -> bool:
    """Whether an argument of static type ``arg`` may be passed for ``param``.

    ``img`` (an image of unknown kind) is accepted where a number or colour
    image is expected and checked at run time; ``any`` is accepted
    everywhere. Type variables bind in ``binding``.
    """
    while param.name == "seq" and arg.name == "seq":
        param, arg = param.elem, arg.elem
    if param.is_var:
        bound = binding.get(param.name)
        if bound is None or bound == ANY:
            binding[param.name] = arg
            return True
        return accepts(bound, arg, binding) or accepts(arg, bound, {})
    if param == ANY or arg == ANY:
        return True
    if param.name == "seq" or arg.name == "seq":
        return False
    if param == arg:
        return True
    if arg == IMG:
        return param in (NIMG, CIMG)
    if param == IMG:
        return arg in (NIMG, CIMG)
    return False


def substitute(t: Type, binding: dict) -> Type:
    n, t = _unwrap(t)
    if t.is_var:
        t = binding.get(t.name, ANY)
    for _ in range(n):
        t = seq(t)
    return t


def resolve(signatures, args: list[Type]) -> Type | None:
    """Result type of a call with argument types ``args``, or None.

    Several matching signatures (possible when an argument is ``any`` or
    ``img``) give their common result, else ``any``.
    """
    results = []
    for sig in signatures:
        if len(sig.params) != len(args):
            continue
        binding: dict = {}
        if all(accepts(p, a, binding) for p, a in zip(sig.params, args)):
            results.append(substitute(sig.result, binding))
            if not any(a in (ANY, IMG) or a.name == "seq" and a.elem == ANY for a in args):
                break
    if not results:
        return None
    first = results[0]
    return first if all(r == first for r in results) else ANY


def value_type(value) -> Type:
    """The type of a run-time Python value (used for sequence elements)."""
    if isinstance(value, bool):
        return BOOL
    if isinstance(value, (int, float)):
        return NUM
    if isinstance(value, str):
        return STR
    if isinstance(value, (list, tuple)):
        return seq(value_type(value[0]) if value else ANY)
    kind = getattr(value, "kind", None)
    return {"number": NIMG, "bool": BIMG, "colour": CIMG}.get(kind, ANY)
