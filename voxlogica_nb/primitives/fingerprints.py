"""Content digests of input files, remembered by file identity.

A task that reads a file enters its id by the file's SHA-256, so reducing a
program that loads 1,000 scans would read 1,000 files every time. Instead a
digest is reused while the file's identity — (device, inode, size, mtime_ns,
ctime_ns) — is unchanged: in memory for the process, and on disk (one small
file per identity, in a folder the engine names, normally inside the store)
for the next process.

Racy files: a file modified less than ``RACY_SECONDS`` ago may change again
within its timestamps' granularity without changing its identity, so its
digest is not remembered (as git does with its index). A change of content
always changes ``ctime``, even when ``mtime`` is set back by hand.
"""
from __future__ import annotations

import hashlib
import os
import stat
import threading
import time

from ..files import write_atomic

RACY_SECONDS = 2.0

_memory: dict = {}
_lock = threading.Lock()
_folder: str | None = None


def use_folder(path) -> None:
    """Remember digests on disk in ``path`` (created on first write); None: memory only."""
    global _folder
    _folder = None if path is None else os.fspath(path)


def identity(st: os.stat_result) -> str:
    return f"{st.st_dev}-{st.st_ino}-{st.st_size}-{st.st_mtime_ns}-{st.st_ctime_ns}"


def _entry(key: str) -> str | None:
    if _folder is None:
        return None
    name = hashlib.sha256(key.encode()).hexdigest()
    return os.path.join(_folder, name[:2], name[2:])


def _read(key, prefix="sha256:"):
    path = _entry(key)
    if path is None:
        return None
    try:
        with open(path, encoding="ascii") as f:
            stored_key, digest = f.read().split("\n")[:2]
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    return digest if stored_key == key and digest.startswith(prefix) else None


def _write(key, digest):
    path = _entry(key)
    if path is None:
        return
    try:
        write_atomic(path, f"{key}\n{digest}\n".encode("ascii"))
    except OSError:
        pass  # remembering is an optimisation: a read-only store just re-reads


def file_digest(path: str) -> str:
    """``"sha256:…"`` of a file's bytes; ``"missing"``, ``"not-a-file"`` or
    ``"unreadable"`` instead of raising (the task that reads it reports)."""
    try:
        st = os.stat(path)
    except OSError:
        return "missing"
    if not stat.S_ISREG(st.st_mode):
        return "not-a-file"
    key = identity(st)
    with _lock:
        digest = _memory.get(key)
    if digest is not None:
        return digest
    digest = _read(key)
    if digest is None:
        digest = _hash(path)
        if digest is None:
            return "unreadable"
        if time.time() - st.st_mtime < RACY_SECONDS:
            return digest  # may still change within the timestamp's granularity
        _write(key, digest)
    with _lock:
        _memory[key] = digest
    return digest


def _hash(path: str) -> str | None:
    """``"sha256:…"`` of the file's bytes as they are now, or None if unreadable."""
    h = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    except OSError:
        return None
    return "sha256:" + h.hexdigest()


# -- files a save wrote ---------------------------------------------------------
# A save records which task's value it wrote, keyed by the file's identity
# afterwards, with the digest of the bytes it wrote; a later run that would
# write the same value finds the file unchanged and skips the write (and
# loading the value, and the image library). A racy file (written less than
# RACY_SECONDS ago, by another process running the same program, say) is
# trusted only if its bytes still have that digest.


def remember_saved(path: str, task_id: str) -> None:
    """``path`` now holds ``task_id``'s value, just written."""
    try:
        st = os.stat(path)
    except OSError:
        return
    digest = _hash(path)  # (a compressed image: a read of what was just written)
    key = "saved:" + identity(st)
    with _lock:
        _memory[key] = (task_id, digest)
    _write(key, "task:" + task_id + (" " + digest if digest else ""))


def saved_task(path: str) -> str | None:
    """The task whose value a save wrote to ``path``, if the file has not
    changed since; else None."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    key = "saved:" + identity(st)
    with _lock:
        mark = _memory.get(key)
    if mark is None:
        line = _read(key, prefix="task:")
        if not line:
            return None
        task, _, digest = line[len("task:"):].partition(" ")
        mark = (task, digest or None)
    task, digest = mark
    if time.time() - st.st_mtime < RACY_SECONDS:  # it may have changed unseen: compare its bytes
        if digest is None or _hash(path) != digest:
            return None
    return task
