"""What the tests build and run, shared: images, calls of builtins through the
registry, expression shapes, stores, a recorder of warnings, and Python
subprocesses (the ``procs`` fixture of ``conftest.py``)."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np

from voxlogica_nb.image import Image
from voxlogica_nb.language.syntax import Call, For, LetIn, Number, String
from voxlogica_nb.primitives import REGISTRY

F32 = np.float32


# -- images --------------------------------------------------------------------------

def _per_axis(value, ndim, default):
    """``value`` for each of ``ndim`` axes: a tuple as it is, one number for
    every axis, a mapping {dimension: tuple} (other dimensions: the default)."""
    if isinstance(value, dict):
        value = value.get(ndim)
    if value is None:
        return (default,) * ndim
    if isinstance(value, (int, float)):
        return (float(value),) * ndim
    return tuple(value)


def image(a, kind="number", spacing=None, origin=None) -> Image:
    """An image of the array ``a`` (converted to the kind's type). ``spacing``
    and ``origin``: a tuple, one number for every axis, or a mapping
    {dimension: tuple}; None (or a dimension not in the mapping): 1 and 0."""
    a = np.asarray(a, F32 if kind == "number" else np.uint8 if kind == "bool" else None)
    ndim = a.ndim - (1 if kind == "colour" else 0)
    return Image(a, kind, _per_axis(spacing, ndim, 1.0), _per_axis(origin, ndim, 0.0))


def num(a, spacing=None, origin=None) -> Image:
    """A number image (float32) of ``a``; geometry as for ``image``."""
    return image(a, "number", spacing, origin)


def boo(a, spacing=None, origin=None) -> Image:
    """A bool image (uint8) of ``a``; geometry as for ``image``."""
    return image(a, "bool", spacing, origin)


# -- builtins, called as the engine calls them -------------------------------------------

def call(name, *args):
    """The builtin ``name`` (qualified names included, e.g. ``simpleitk.Median``)
    called on ``args`` through the registry: the overload their types select."""
    prim = REGISTRY.lookup(name)
    assert prim is not None, f"no builtin {name!r}"
    return prim.dispatch(list(args))(*args)


def save(path, value):
    """``save`` to ``path`` (a str or a Path), as a program's save does."""
    return call("save", str(path), value)


# -- programs ---------------------------------------------------------------------------

def shape(e):
    """Compact nested form of an expression: ('op', args...) / literal."""
    if isinstance(e, Call):
        return e.name if e.args is None else (e.name, *map(shape, e.args))
    if isinstance(e, (Number, String)):
        return e.value
    if isinstance(e, LetIn):
        return ("let", e.name, shape(e.value), shape(e.body))
    if isinstance(e, For):
        return ("for", e.var, shape(e.seq), shape(e.body))
    return e.value


# -- stores -----------------------------------------------------------------------------

def store_of(kind, folder):
    """A disk store in ``folder``/cache (``kind`` "disk") or a memory store ("memory")."""
    from voxlogica_nb.engine.diskstore import DiskStore
    from voxlogica_nb.engine.store import MemoryStore

    return DiskStore(folder / "cache") if kind == "disk" else MemoryStore()


class Recorder:
    """A ``warn`` callable that keeps the messages it is given."""

    def __init__(self):
        self.messages = []

    def __call__(self, msg, *args, **kwargs):
        self.messages.append(str(msg))


# -- Python subprocesses ------------------------------------------------------------------

def run_python(code, *args, env=None, timeout=60) -> subprocess.CompletedProcess:
    """``python -c code args...`` run to its end; output captured as text."""
    return subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True,
                          env=env, timeout=timeout)


class Processes:
    """Python subprocesses started by a test, with text pipes; the ``procs``
    fixture kills those still running when the test ends."""

    def __init__(self):
        self.started = []

    def python(self, code, *args, stdin=subprocess.DEVNULL, env=None) -> subprocess.Popen:
        """``python -c code args...``."""
        return self._start(["-c", code, *map(str, args)], stdin, env)

    def script(self, path, *args, python_args=(), env=None) -> subprocess.Popen:
        """``python [python_args] path args...``."""
        return self._start([*python_args, str(path), *map(str, args)], subprocess.DEVNULL, env)

    def _start(self, argv, stdin, env):
        p = subprocess.Popen([sys.executable, *argv], stdin=stdin, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env=env)
        self.started.append(p)
        return p

    @staticmethod
    def finish(p, timeout=30):
        """(the JSON of its last line of output, its stderr), once it has exited with 0."""
        out, err = p.communicate(timeout=timeout)
        assert p.returncode == 0, err
        return json.loads(out.strip().splitlines()[-1]), err

    def result(self, p, timeout=30):
        """The JSON of its last line of output, once it has exited with 0."""
        return self.finish(p, timeout)[0]

    @staticmethod
    def kill(p):
        """Kill it (SIGKILL) if it still runs, and collect it."""
        if p.poll() is None:
            p.kill()
        if p.stdin is not None and p.stdin.closed:
            p.stdin = None
        p.communicate(timeout=10)

    def kill_all(self):
        for p in self.started:
            self.kill(p)


# -- the store's records, wherever they live ----------------------------------------
# A small value's record is a row of the store's SQLite table, or a record
# file (a large value's record always is; a small one's when the table is off).

def raw_record(store, tid):
    """The JSON text of ``tid``'s record in ``store`` (a DiskStore); None if absent."""
    import os
    import sqlite3
    from contextlib import closing

    js = store.objects / tid[:2] / (tid + ".json")
    if js.exists():
        return js.read_text()
    if not os.path.exists(store.records.path):
        return None
    with closing(sqlite3.connect(store.records.path)) as db:
        row = db.execute("SELECT record FROM records WHERE id=?", (tid,)).fetchone()
    return row and row[0]


def damage_record(store, tid, text):
    """Replace ``tid``'s record with ``text`` where it lives."""
    import sqlite3
    from contextlib import closing

    js = store.objects / tid[:2] / (tid + ".json")
    if js.exists():
        js.write_text(text)
        return
    with closing(sqlite3.connect(store.records.path)) as db, db:
        assert db.execute("UPDATE records SET record=? WHERE id=?", (text, tid)).rowcount == 1


def all_records(store):
    """{task id: record dict} of every committed value in ``store``."""
    import os
    import sqlite3
    from contextlib import closing

    out = {}
    if os.path.exists(store.records.path):
        with closing(sqlite3.connect(store.records.path)) as db:
            out.update((tid, json.loads(text)) for tid, text in db.execute("SELECT id, record FROM records"))
    for js in store.objects.glob("*/*.json"):
        out[js.name[:-5]] = json.loads(js.read_bytes())
    return out

