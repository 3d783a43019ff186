"""Input fingerprints remembered by file identity, across processes."""
from __future__ import annotations

import hashlib
import os
import time

import pytest

from _build import run_python
from voxlogica_nb.primitives import fingerprints as fp


@pytest.fixture
def remembered(tmp_path, monkeypatch):
    monkeypatch.setattr(fp, "_memory", {})
    monkeypatch.setattr(fp, "_folder", None)
    fp.use_folder(tmp_path / "fingerprints")
    return tmp_path


def settled(path, seconds_ago=10.0):
    """Give a file an mtime in the past, as an input written a while ago."""
    t = time.time() - seconds_ago
    os.utime(path, (t, t))


def content_reads(monkeypatch):
    """Count how many files are hashed (opened for reading in binary)."""
    reads = []
    real_open = open

    def counting(file, mode="r", *a, **k):
        if mode == "rb":
            reads.append(os.fspath(file))
        return real_open(file, mode, *a, **k)

    monkeypatch.setattr("builtins.open", counting)
    return reads


def test_digest_is_the_content_sha256(remembered):
    f = remembered / "a.bin"
    f.write_bytes(b"hello")
    assert fp.file_digest(str(f)) == "sha256:" + hashlib.sha256(b"hello").hexdigest()
    assert fp.file_digest(str(remembered / "nope")) == "missing"
    assert fp.file_digest(str(remembered)) == "not-a-file"


def test_same_size_edit_with_the_same_mtime_is_noticed(remembered):
    f = remembered / "scan.bin"
    f.write_bytes(b"AAAA")
    settled(f)
    before = fp.file_digest(str(f))
    st = os.stat(f)
    f.write_bytes(b"BBBB")  # same size …
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))  # … and the same mtime, to the nanosecond
    assert fp.file_digest(str(f)) == "sha256:" + hashlib.sha256(b"BBBB").hexdigest() != before


def test_a_fresh_file_is_not_remembered(remembered):
    f = remembered / "new.bin"
    f.write_bytes(b"AAAA")  # modified just now: could change again within the same tick
    fp.file_digest(str(f))
    assert fp._memory == {} and not (remembered / "fingerprints").exists()


def test_one_changed_input_among_many_is_the_only_one_read(remembered, monkeypatch):
    files = []
    for i in range(200):
        f = remembered / f"in{i:03d}.bin"
        f.write_bytes(os.urandom(64))
        settled(f)
        files.append(str(f))
    first = [fp.file_digest(f) for f in files]
    monkeypatch.setattr(fp, "_memory", {})  # a new process: only the disk remembers
    with open(files[7], "r+b") as h:
        h.write(b"changed!")
    settled(files[7])
    reads = content_reads(monkeypatch)
    again = [fp.file_digest(f) for f in files]
    assert reads == [files[7]]
    assert again[:7] == first[:7] and again[8:] == first[8:] and again[7] != first[7]


def test_a_new_process_reuses_remembered_digests(remembered):
    f = remembered / "big.bin"
    f.write_bytes(b"x" * 1000)
    settled(f)
    digest = fp.file_digest(str(f))
    code = ("import builtins, sys\n"
            "from voxlogica_nb.primitives import fingerprints as fp\n"
            "fp.use_folder(sys.argv[1])\n"
            "real = builtins.open\n"
            "def guard(p, mode='r', *a, **k):\n"
            "    assert mode != 'rb', 'content read again'\n"
            "    return real(p, mode, *a, **k)\n"
            "builtins.open = guard\n"
            "print(fp.file_digest(sys.argv[2]))\n")
    done = run_python(code, remembered / "fingerprints", f)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == digest


def test_corrupt_entry_is_ignored(remembered, monkeypatch):
    f = remembered / "a.bin"
    f.write_bytes(b"data")
    settled(f)
    digest = fp.file_digest(str(f))
    entry = fp._entry(fp.identity(os.stat(f)))
    with open(entry, "w") as h:
        h.write("garbage")
    monkeypatch.setattr(fp, "_memory", {})
    assert fp.file_digest(str(f)) == digest
