"""Input and output: ``print``, ``save``, ``dir`` (and image ``load``).

``print`` and ``save`` are effects: never served from the store, run in
program order once their input is computed. ``save`` picks a writer by the
file's extension (see ``WRITERS``); parent folders are created.
"""
from __future__ import annotations

import glob
import hashlib
import json
import math
import os

from ..errors import PrimitiveError
from .registry import primitive


@primitive("print", "(str, any) -> any", cost="cheap", pure=False)
def print_(label, value):
    """Show ``value`` under ``label`` (the engine records and displays it)."""
    return value


def _jsonable(value):
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (bool, int, float, str)) or value is None:
        return value
    raise PrimitiveError(f"cannot save a {type(value).__name__} to .json (numbers, booleans, strings and sequences only)")


def write_json(path, value):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(_jsonable(value), f)
        f.write("\n")


# extension (lower case, with dot) -> writer(path, value); images add theirs.
WRITERS = {".json": write_json}


def _extension(path: str) -> str:
    lower = path.lower()
    if lower.endswith(".nii.gz"):
        return ".nii.gz"
    return os.path.splitext(lower)[1]


@primitive("save", "(str, any) -> any", cost="heavy", pure=False)
def save(path, value):
    """Write ``value`` to ``path``; the format follows the extension."""
    ext = _extension(path)
    writer = WRITERS.get(ext)
    if writer is None:
        known = ", ".join(sorted(WRITERS))
        raise PrimitiveError(f"cannot save to {path!r}: unknown extension {ext or '(none)'!r} (known: {known})")
    parent = os.path.dirname(path)
    if parent:
        os.makedirs(parent, exist_ok=True)
    writer(path, value)
    return value


def _listing(folder, pattern):
    return sorted(glob.glob(os.path.join(folder, pattern)))


def _dir_fingerprint(folder, pattern):
    names = "\n".join(_listing(folder, pattern))
    return hashlib.sha256(names.encode("utf-8")).hexdigest()


@primitive("dir", "(str, str) -> seq[str]", cost="cheap", fingerprint=_dir_fingerprint)
def dir_(folder, pattern):
    """Sorted paths of the files in ``folder`` whose names match the glob ``pattern``."""
    if not os.path.isdir(folder):
        raise PrimitiveError(f"dir: no such folder {folder!r}")
    return _listing(folder, pattern)
