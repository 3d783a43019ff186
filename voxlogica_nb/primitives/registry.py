"""The primitive registry: every builtin with its name, version and signatures.

A primitive is a Python function plus what the reducer and the engine need to
know about it:

* ``name`` — qualified name (``near``, ``.+.``, ``simpleitk.Median``).
* ``version`` — part of every task id that applies it; bump it whenever the
  function's result can change for the same inputs, so stored results of the
  old semantics are never served.
* ``signatures`` — the argument and result types accepted; overloads are
  resolved before anything runs (see :mod:`voxlogica_nb.language.types`).
* ``cost`` — ``"cheap"`` tasks (scalar arithmetic, small sequences) run inline
  in the scheduler thread; ``"light"`` tasks (voxel-wise image operations,
  milliseconds per volume) run on the worker pool; neither is stored unless
  it is a goal, since recomputing costs less than writing and reading back.
  ``"heavy"`` tasks (distance maps, components, statistics, file reads, user
  primitives) run on the pool, are stored and take part in cross-process
  claims.
* ``pure`` — impure primitives (``print``, ``save``) are effects: never served
  from the store, run in program order.
* ``commutative`` — argument ids are sorted in the task id.
* ``base`` — the primitive takes the base image as an implicit last argument
  when called with one argument fewer (``tt``, ``border``, ``constant(k)``).
* ``fingerprint`` — for primitives that read files: called with the constant
  argument values at reduction time, returns a string that enters the task id
  (a content digest), so a changed file never serves stale results.
* ``doc`` — what the name means, in scikit-image style (summary, Parameters,
  Returns, Notes, Examples); ``docs/reference.md`` is generated from it.

Every builtin is registered with :func:`primitive` (``REGISTRY.primitive``);
the public ``voxlogica_nb.primitive`` for user functions is a layer over it.

The registry also holds the text of the built-in ImgQL libraries
(``stdlib``, ``RegionCalculus``), so the reducer gets them from the registry
it is handed, not from a folder.

A primitive that has something to say without failing (values clipped on
saving, a geometry adopted on loading) calls :func:`report`: during a run
the engine turns the message into one line located at the task's source
position (``prog.imgql:9:1: save: ...``) in ``Result.warnings``; outside a
run it is an ordinary Python warning.
"""
from __future__ import annotations

import hashlib
import marshal
import sys
import threading
import warnings
from collections.abc import Callable

from ..plain import Frozen

from ..errors import PrimitiveError
from ..language.types import Signature, accepts, describe, parse_signature, value_type

COSTS = ("cheap", "light", "heavy")
_PACKAGE = __name__.split(".")[0]

_sink = threading.local()


def report(message: str) -> None:
    """A warning from a primitive: handed to the engine's sink for the task
    running in this thread, else (outside a run) ``warnings.warn``."""
    sink = getattr(_sink, "fn", None)
    if sink is None:
        warnings.warn(str(message), stacklevel=2)
    else:
        sink(str(message))


class reporting:
    """``with reporting(fn):`` — :func:`report` calls in this thread go to
    ``fn(message)`` (the engine installs one around each primitive call)."""

    __slots__ = ("fn", "previous")

    def __init__(self, fn):
        self.fn = fn

    def __enter__(self):
        self.previous = getattr(_sink, "fn", None)
        _sink.fn = self.fn
        return self

    def __exit__(self, *exc):
        _sink.fn = self.previous


def cleandoc(doc: "str | None") -> str:
    """A docstring without its indentation, as :func:`inspect.cleandoc`
    gives it (that module costs an import on every start-up)."""
    if not isinstance(doc, str):
        return ""
    lines = doc.expandtabs().split("\n")
    margin = min((len(line) - len(line.lstrip()) for line in lines[1:] if line.lstrip()), default=sys.maxsize)
    lines[0] = lines[0].lstrip()
    if margin < sys.maxsize:
        lines[1:] = [line[margin:] for line in lines[1:]]
    while lines and not lines[-1]:
        lines.pop()
    while lines and not lines[0]:
        lines.pop(0)
    return "\n".join(lines)


def source_digest(fn: Callable) -> str:
    """12 hex digits of SHA-256 of ``fn``'s source (its bytecode when the
    source is not available): user primitives add it to their version, so
    editing the function gives new task ids."""
    try:
        import inspect  # (user primitives only)

        source = inspect.getsource(fn).encode("utf-8")
    except (OSError, TypeError):
        source = marshal.dumps(fn.__code__)
    return hashlib.sha256(source).hexdigest()[:12]


class Overload(Frozen):
    __slots__ = ("signature", "fn", "cost")

    def __init__(self, signature: Signature, fn: Callable, cost: str = "heavy"):
        self._set(signature, fn, cost)


class Primitive:
    def __init__(self, name: str, overloads: "list[Overload]", version: str = "1", pure: bool = True,
                 commutative: bool = False, base: bool = False, fingerprint: "Callable | None" = None,
                 doc: str = "", module: str = ""):
        self.name = name
        self.overloads = overloads
        self.version = version
        self.pure = pure
        self.commutative = commutative
        self.base = base
        self.fingerprint = fingerprint
        self.doc = doc
        self.module = module  # where the documented registration lives (groups the reference)

    @property
    def signatures(self) -> tuple[Signature, ...]:
        return tuple(o.signature for o in self.overloads)

    @property
    def namespace(self) -> str:
        return self.name.rpartition(".")[0] if _is_qualified(self.name) else ""

    @property
    def short_name(self) -> str:
        return self.name.rpartition(".")[2] if _is_qualified(self.name) else self.name

    @property
    def summary(self) -> str:
        return self.doc.strip().splitlines()[0] if self.doc.strip() else ""

    @property
    def builtin(self) -> bool:
        """Defined by this package in the default namespace (users may not replace it)."""
        return self.namespace == "" and self.packaged

    @property
    def packaged(self) -> bool:
        """Defined by this package (builtins, and namespaces such as ``simpleitk``)."""
        return any(o.fn.__module__.startswith(_PACKAGE + ".") for o in self.overloads)

    @property
    def arities(self) -> set[int]:
        extra = 1 if self.base else 0
        return {len(s.params) - k for s in self.signatures for k in range(extra + 1)}

    def dispatch(self, values) -> Callable:
        """The implementation for these run-time values (first overload whose
        parameter types accept them)."""
        if len(self.overloads) == 1:
            return self.overloads[0].fn
        types = [value_type(v) for v in values]
        for o in self.overloads:
            if len(o.signature.params) == len(types):
                binding: dict = {}
                if all(accepts(p, t, binding) for p, t in zip(o.signature.params, types)):
                    return o.fn
        got = ", ".join(describe(t) for t in types)
        raise PrimitiveError(f"`{self.name}` cannot take ({got})")

    def __repr__(self) -> str:
        return f"<primitive {self.name} v{self.version}>"


def _is_qualified(name: str) -> bool:
    ns, dot, rest = name.partition(".")
    return bool(dot) and ns[:1].isalpha() and ns[:1].islower() and rest[:1].isalpha()


class Registry:
    """Primitives by qualified name, with lazily populated namespaces."""

    def __init__(self):
        self._prims: dict[str, Primitive] = {}
        self._loaders: dict[str, Callable[["Registry"], None]] = {}
        self._libraries: dict[str, Callable[[], str]] = {}
        self.generation = 0  # bumped on every change, so reducers drop what they resolved

    def add(self, prim: Primitive) -> Primitive:
        self._prims[prim.name] = prim
        self.generation += 1
        return prim

    def remove(self, name: str) -> Primitive | None:
        """Unregister ``name`` (e.g. before registering an edited version)."""
        prim = self._prims.pop(name, None)
        self.generation += 1
        return prim

    def primitive(self, name: str, *signatures: str, cost: str = "heavy", version: str = "1",
                  pure: bool = True, commutative: bool = False, base: bool = False,
                  fingerprint: Callable | None = None, doc: str = "") -> Callable:
        """Decorator: register ``fn`` as ``name`` for the given signature texts.

        ``cost`` defaults to ``"heavy"`` (stored and claimed: the safe choice
        for work of unknown size); cheap and light builtins say so. ``doc``
        defaults to the function's docstring.

        Registering a name again adds overloads (e.g. ``+`` on numbers in one
        module and on images in another); version and flags must agree, and
        only one of the registrations documents the name.
        """
        if not signatures:
            raise ValueError(f"primitive {name!r} needs at least one signature")
        if cost not in COSTS:
            raise ValueError(f"cost must be one of {COSTS}, not {cost!r}")
        flags = dict(version=version, pure=pure, commutative=commutative, base=base, fingerprint=fingerprint)

        def register(fn):
            overloads = [Overload(parse_signature(s), fn, cost) for s in signatures]
            text = doc or cleandoc(fn.__doc__) or ""
            existing = self._prims.get(name)
            if existing is None:
                self.add(Primitive(name, overloads, doc=text, module=fn.__module__ if text else "", **flags))
                return fn
            for key, value in flags.items():
                if getattr(existing, key) != value:
                    raise ValueError(f"primitive {name!r}: {key} differs from its first registration")
            if text and existing.doc:
                raise ValueError(f"primitive {name!r} is documented by two registrations")
            if text:
                existing.doc, existing.module = text, fn.__module__
            existing.overloads.extend(overloads)
            self.generation += 1
            return fn

        return register

    def registered(self) -> set[str]:
        """Qualified names registered so far (loads no namespace)."""
        return set(self._prims)

    def add_library(self, name: str, read: Callable[[], str]) -> None:
        """Offer an ImgQL library: ``import "name"`` gets ``read()``'s text."""
        self._libraries[name] = read

    def library(self, name: str) -> str | None:
        """The text of the built-in ImgQL library ``name`` (``"stdlib"``,
        ``"RegionCalculus"``), or None."""
        read = self._libraries.get(name)
        return None if read is None else read()

    def libraries(self) -> list[str]:
        return list(self._libraries)

    def namespace_loader(self, ns: str, loader: Callable[["Registry"], None]) -> None:
        """Register a function that fills namespace ``ns`` on first use."""
        self._loaders[ns] = loader

    def _ensure(self, ns: str) -> None:
        loader = self._loaders.pop(ns, None)
        if loader is not None:
            loader(self)

    def namespaces(self) -> list[str]:
        """Names of the primitive namespaces (``simpleitk``), loaded or not."""
        return sorted(set(self._loaders) | {p.namespace for p in self._prims.values() if p.namespace})

    def has_namespace(self, ns: str) -> bool:
        return ns in self._loaders or any(p.namespace == ns for p in self._prims.values())

    def lookup(self, name: str, opened: tuple[str, ...] = ()) -> Primitive | None:
        """Find ``name``: qualified, else in the default namespace, else in
        the opened namespaces (in order)."""
        if _is_qualified(name):
            self._ensure(name.partition(".")[0])
            return self._prims.get(name)
        prim = self._prims.get(name)
        if prim is not None:
            return prim
        for ns in opened:
            self._ensure(ns)
            prim = self._prims.get(f"{ns}.{name}")
            if prim is not None:
                return prim
        return None

    def names(self, opened: tuple[str, ...] = ()) -> list[str]:
        """Names callable unqualified with these namespaces open."""
        for ns in opened:
            self._ensure(ns)
        out = []
        for p in self._prims.values():
            if p.namespace == "":
                out.append(p.name)
            elif p.namespace in opened:
                out.append(p.short_name)
        return out

    def all(self) -> list[Primitive]:
        for ns in list(self._loaders):
            self._ensure(ns)
        return sorted(self._prims.values(), key=lambda p: p.name)

    def __contains__(self, name: str) -> bool:
        return self.lookup(name) is not None

    def __getitem__(self, name: str) -> Primitive:
        prim = self.lookup(name)
        if prim is None:
            raise KeyError(name)
        return prim


REGISTRY = Registry()
primitive = REGISTRY.primitive  # the decorator every builtin module uses
