"""File helpers shared by the store, the claims and the input fingerprints:
atomic writes, walks of sharded folders, unlocking.

Files are created with ``O_EXCL | O_NOFOLLOW`` (a planted file or symlink is
never written through) and with the mode asked for; a missing shard folder
is created on demand.
"""
from __future__ import annotations

import fcntl
import itertools
import os

__all__ = ["AtomicFile", "write_atomic", "create", "shards", "walk", "unlock_close", "unlink", "unique_tag"]

NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | NOFOLLOW
_tags = [os.urandom(5).hex(), itertools.count()]


def _new_tags():
    _tags[:] = [os.urandom(5).hex(), itertools.count()]


os.register_at_fork(after_in_child=_new_tags)


def unique_tag() -> str:
    """A part of a file name that no other thread or process uses: a random
    prefix per process and a counter (no system call, unlike a random tag)."""
    return f"{_tags[0]}{next(_tags[1]):x}"


def create(path: str, file_mode: int = 0o600, dir_mode: int = 0o700) -> int:
    """A descriptor of a new file (it must not exist), open for writing."""
    try:
        return os.open(path, _NEW_FILE, file_mode)
    except FileNotFoundError:
        os.makedirs(os.path.dirname(path), mode=dir_mode, exist_ok=True)
        return os.open(path, _NEW_FILE, file_mode)


class AtomicFile:
    """A file written under a temporary name beside ``path`` (``.NAME.TAG.tmp``)
    and renamed to ``path`` by :meth:`commit`, so readers see all of it or
    nothing. Used as a context manager it commits when the block ends
    normally and removes the temporary file when it raises."""

    __slots__ = ("path", "tmp", "fd", "size")

    def __init__(self, path, file_mode: int = 0o600, dir_mode: int = 0o700):
        self.path = os.fspath(path)
        head, name = os.path.split(self.path)
        self.tmp = os.path.join(head, f".{name}.{unique_tag()}.tmp")
        self.fd = create(self.tmp, file_mode, dir_mode)
        self.size = 0

    def write(self, data) -> int:
        view = memoryview(data).cast("B")
        n = len(view)
        while view:
            view = view[os.write(self.fd, view):]
        self.size += n
        return n

    def tell(self) -> int:
        return self.size

    def flush(self) -> None:
        pass

    def commit(self, keep_open: bool = False):
        """Rename the file into place; with ``keep_open`` return its descriptor
        (the caller closes it), else close it first."""
        fd, self.fd = self.fd, None
        try:
            if not keep_open:
                os.close(fd)  # a delayed write error (NFS) surfaces here
            os.replace(self.tmp, self.path)
        except BaseException:
            if keep_open:
                os.close(fd)
            unlink(self.tmp)
            raise
        return fd if keep_open else None

    def abort(self) -> None:
        fd, self.fd = self.fd, None
        close_quietly(fd)
        unlink(self.tmp)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, *exc):
        if exc_type is None:
            self.commit()
        else:
            self.abort()
        return False


def write_atomic(path, data: bytes, file_mode: int = 0o600, dir_mode: int = 0o700) -> None:
    """Replace ``path`` by a file holding ``data``, atomically."""
    with AtomicFile(path, file_mode, dir_mode) as f:
        f.write(data)


def unlink(path) -> bool:
    """Remove a file; False if it was not there or could not be removed."""
    try:
        os.unlink(path)
        return True
    except OSError:
        return False


def shards(top) -> list:
    """The shard folders (two-character names) of ``top``, as ``os.DirEntry``;
    [] if ``top`` cannot be read."""
    try:
        with os.scandir(top) as it:
            return [e for e in it if len(e.name) == 2 and e.is_dir(follow_symlinks=False)]
    except OSError:
        return []


def walk(top):
    """Yield (shard folder path, [os.DirEntry of its files]) for each shard
    of ``top``; a shard that cannot be read is skipped."""
    for shard in shards(top):
        try:
            with os.scandir(shard.path) as it:
                entries = list(it)
        except OSError:
            continue
        yield shard.path, entries


def close_quietly(fd) -> None:
    """Close ``fd`` (None: nothing), ignoring a failing close."""
    if fd is None:
        return
    try:
        os.close(fd)
    except OSError:
        pass


def unlock_close(fd) -> None:
    """Unlock and close ``fd`` (None: nothing); closing releases the lock even
    if the unlock failed, and a failing close is ignored."""
    if fd is None:
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_UN)
    except OSError:
        pass
    finally:
        close_quietly(fd)
