"""A save whose file already holds its value (written by an earlier run,
untouched since) is not written again, and its value is not even loaded."""
import os

import numpy as np
import pytest

import voxlogica_nb as vx
from voxlogica_nb.primitives import fingerprints


@pytest.fixture
def program(tmp_path, monkeypatch):
    monkeypatch.setattr(fingerprints, "RACY_SECONDS", 0.0)  # files count as settled at once
    img = tmp_path / "in.nii.gz"
    from voxlogica_nb import data

    data.write_phantom(str(tmp_path), size=(16, 16, 8))
    os.replace(tmp_path / "phantom_flair.nii.gz", img)
    out = tmp_path / "out.nii.gz"
    return (f'load a = "{img}"\nlet m = intensity(a) >. 0.5\nsave "{out}" m\nprint "v" volume(m)'), out


def saves_of(prog, store):
    seen = []
    r = vx.run(prog, cache_dir=store, observers=[lambda ev: ev.kind == "save" and seen.append(ev.data)])
    assert r.ok, r.failures
    return r, seen


def test_an_unchanged_saved_file_is_left_alone(program, tmp_path):
    prog, out = program
    store = str(tmp_path / "store")
    _, first = saves_of(prog, store)
    assert first == [{"path": str(out)}]
    written = os.stat(out)
    r, again = saves_of(prog, store)
    assert again == [{"path": str(out), "unchanged": True}] and r.saved == [str(out)]
    assert os.stat(out).st_mtime_ns == written.st_mtime_ns and os.stat(out).st_ino == written.st_ino
    assert r.stats["computed"] == 0 and r.stats["cached"] == 1  # the printed volume only: the mask is not loaded


@pytest.mark.parametrize("change", ["delete", "overwrite", "other value", "force", "no cache"])
def test_a_changed_file_or_another_value_is_written_again(program, tmp_path, change):
    prog, out = program
    store = str(tmp_path / "store")
    saves_of(prog, store)
    options = {}
    if change == "delete":
        os.remove(out)
    elif change == "overwrite":
        with open(out, "ab") as f:
            f.write(b"x")
    elif change == "other value":
        prog = prog.replace(">. 0.5", ">. 0.6")
    elif change == "force":
        options["force"] = True
    else:
        options["no_cache"] = True
    seen = []
    r = vx.run(prog, cache_dir=store, observers=[lambda ev: ev.kind == "save" and seen.append(ev.data)], **options)
    assert r.ok and seen == [{"path": str(out)}]
    import SimpleITK as sitk

    arr = sitk.GetArrayFromImage(sitk.ReadImage(str(out)))  # the program's mask again
    assert float(np.count_nonzero(arr)) == r["v"] > 0


@pytest.mark.parametrize("touch", [False, True])
def test_a_file_just_written_is_left_alone_only_while_its_bytes_are_those_written(program, tmp_path,
                                                                                   monkeypatch, touch):
    """Within the racy window (a run right after another process's) the
    file's identity is not enough: its bytes are compared with those written."""
    monkeypatch.setattr(fingerprints, "RACY_SECONDS", 3600.0)  # every file is racy
    # timestamps too coarse to see the change below (as on some file systems)
    monkeypatch.setattr(fingerprints, "identity", lambda st: f"{st.st_dev}-{st.st_ino}-{st.st_size}")
    prog, out = program
    store = str(tmp_path / "store")
    saves_of(prog, store)
    written = os.stat(out)
    if touch:  # same size, same identity: only the bytes differ
        data = bytearray(out.read_bytes())
        data[-9] ^= 0xFF
        out.write_bytes(bytes(data))
        os.utime(out, ns=(written.st_atime_ns, written.st_mtime_ns))
    fingerprints._memory.clear()  # as a new process: from the records on disk
    r, again = saves_of(prog, store)
    if touch:
        assert again == [{"path": str(out)}]
    else:
        assert again == [{"path": str(out), "unchanged": True}] and r.stats["computed"] == 0
        assert os.stat(out).st_mtime_ns == written.st_mtime_ns
