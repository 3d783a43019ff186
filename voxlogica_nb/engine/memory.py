"""Memory: the engine's budget, what values and tasks weigh, and an LRU.

One number bounds the memory an engine uses for values: ``memory_bytes``
(``Engine(memory_bytes=...)``, else ``$VOXLOGICA_MEMORY`` — bytes, ``"2G"``,
``"512M"`` or a share of RAM such as ``"25%"`` — else a quarter of the
machine's RAM). It bounds

* what the runs hold: values alive in runs plus the estimated output and
  working set of the tasks they have started (:class:`Account`); a task
  starts only when its estimate fits (or when its run has nothing else
  running, so a task larger than the budget still runs, alone);
* the :class:`LRU` of recent values kept across runs, which gives way to
  running tasks.
"""
from __future__ import annotations

import os
import re
import sys
import threading
from collections import OrderedDict

MISSING = object()  # "no value here", from the LRU and from every store
SCALARS = frozenset((float, int, bool, str, type(None)))  # values that hold no array

ENV = "VOXLOGICA_MEMORY"
DEFAULT_SHARE = 0.25  # of the machine's RAM
MIN_BUDGET = 256 << 20

# Bytes per voxel of a task's result, by result type (``img``: kind known
# only at run time; numbers are float32, booleans uint8, colour 4 x float32).
VOXEL_BYTES = {"bimg": 1, "nimg": 4, "img": 4, "cimg": 16}
# Temporary memory a task needs while it runs, in float32 voxels of its
# largest image argument (or result), per cost class: voxel-wise operations
# make about one temporary; distance maps, components, statistics several.
WORKING_SET = {"cheap": 0, "light": 1, "heavy": 3}

_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def physical_memory() -> int | None:
    """Total RAM in bytes, or None where the system does not say."""
    try:
        return int(os.sysconf("SC_PHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, ValueError, OSError):
        return None


def parse_memory(text, ram: int | None = None) -> int:
    """``"2G"`` → 2147483648; ``"25%"`` → a quarter of ``ram``; plain bytes."""
    if isinstance(text, (int, float)):
        return int(text)
    s = str(text).strip().upper()
    if s.endswith("%"):
        ram = physical_memory() if ram is None else ram
        if ram is None:
            raise ValueError(f"cannot take {text!r} of an unknown amount of RAM")
        return int(ram * float(s[:-1]) / 100)
    m = re.fullmatch(r"([0-9]*\.?[0-9]+)\s*([KMGT]?)(?:I?B)?", s)
    if not m:
        raise ValueError(f"not a memory size: {text!r} (e.g. 4G, 512M, 25%)")
    return int(float(m.group(1)) * _UNITS[m.group(2)])


def default_budget() -> int:
    """``$VOXLOGICA_MEMORY`` if set, else a quarter of RAM (at least 256 MB)."""
    env = os.environ.get(ENV)
    if env:
        try:
            return max(1, parse_memory(env))
        except ValueError:
            pass  # an unreadable setting falls back to the default
    ram = physical_memory()
    if ram is None:
        return 2 << 30
    return max(MIN_BUDGET, int(ram * DEFAULT_SHARE))


def _ndarray():
    """numpy's array type, or None while numpy is not imported (then no
    value is an array: this module never imports numpy itself)."""
    np = sys.modules.get("numpy")
    return getattr(np, "ndarray", None)


def _root(arr):
    """The object owning an array's memory (views keep it alive)."""
    ndarray = _ndarray()
    base = arr
    while isinstance(base, ndarray) and base.base is not None:
        base = base.base
    return base


def buffers(value, out=None) -> list:
    """``[(owner id, bytes)]`` of the array memory a value keeps alive; views
    of one array share its owner, so each buffer is counted once."""
    if out is None:
        out = []
    ndarray = _ndarray()
    if ndarray is None:
        return out
    arr = getattr(value, "held", None)  # an image's array, or what stands for it
    if not isinstance(arr, ndarray):
        arr = value if isinstance(value, ndarray) else None
    if arr is not None:
        root = _root(arr)
        size = root.nbytes if isinstance(root, ndarray) else arr.nbytes
        out.append((id(root), int(size)))
    elif isinstance(value, (list, tuple)):
        for v in value:
            buffers(v, out)
    return out


def value_bytes(value) -> int:
    nbytes = getattr(value, "nbytes", None)
    if isinstance(nbytes, int):
        return nbytes
    ndarray = _ndarray()
    if ndarray is not None and isinstance(value, ndarray):
        return int(value.nbytes)
    if isinstance(value, (list, tuple)):
        return 64 + sum(value_bytes(v) for v in value)
    return sys.getsizeof(value)


def voxels(value) -> int:
    """Number of voxels of an image (0 for anything else)."""
    arr = getattr(value, "held", None)
    ndarray = _ndarray() if arr is not None else None
    if ndarray is not None and isinstance(arr, ndarray) and hasattr(value, "shape"):
        n = 1
        for s in value.shape:
            n *= int(s)
        return n
    return 0


class Account:
    """Bytes the runs of one engine hold or have reserved (thread-safe)."""

    def __init__(self):
        self.used = 0
        self._lock = threading.Lock()

    def add(self, n: int) -> None:
        with self._lock:
            self.used += n


class LRU:
    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self.bytes = 0
        self._items: OrderedDict = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key):
        with self._lock:
            item = self._items.get(key)
            if item is None:
                return MISSING
            self._items.move_to_end(key)
            return item[0]

    def __contains__(self, key):
        return key in self._items

    def keys(self) -> list:
        with self._lock:
            return list(self._items)

    def put(self, key, value):
        size = value_bytes(value)
        if size > self.max_bytes:
            return
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self.bytes -= old[1]
            self._items[key] = (value, size)
            self.bytes += size
            self._trim(self.max_bytes)

    def trim(self, max_bytes: int) -> None:
        """Drop least recently used values until at most ``max_bytes`` remain."""
        with self._lock:
            self._trim(max(0, max_bytes))

    def _trim(self, limit):
        while self.bytes > limit and self._items:
            _, (_, s) = self._items.popitem(last=False)
            self.bytes -= s

    def clear(self):
        with self._lock:
            self._items.clear()
            self.bytes = 0

    def __len__(self):
        return len(self._items)


class Holdings:
    """The array memory one run's values keep alive, counted once per
    buffer (views of one array share it) and added to the engine's
    :class:`Account` as it changes. ``peak``: the most held at once;
    ``typical``: voxels of the largest image held so far."""

    def __init__(self, account: Account):
        self.account = account
        self.held: dict = {}  # task id -> [(buffer owner, bytes)]
        self.owners: dict = {}  # buffer owner -> [values using it, bytes]
        self.bytes = 0
        self.peak = 0
        self.typical = 0

    def hold(self, tid, value) -> None:
        found = buffers(value)
        if not found:
            return
        self.release(tid)
        self.held[tid] = found
        added = 0
        for owner, size in found:
            entry = self.owners.get(owner)
            if entry is None:
                self.owners[owner] = [1, size]
                added += size
            else:
                entry[0] += 1
        if added:
            self.bytes += added
            self.account.add(added)
            self.peak = max(self.peak, self.bytes)
        self.typical = max(self.typical, voxels(value))

    def release(self, tid) -> None:
        found = self.held.pop(tid, None)
        if not found:
            return
        freed = 0
        for owner, _size in found:
            entry = self.owners[owner]
            entry[0] -= 1
            if entry[0] == 0:
                del self.owners[owner]
                freed += entry[1]
        if freed:
            self.bytes -= freed
            self.account.add(-freed)

    def clear(self) -> None:
        """The run is over: what it held is no longer counted."""
        self.account.add(-self.bytes)
        self.bytes = 0
        self.held.clear()
        self.owners.clear()
