"""Image loading and saving through real files."""
import os
import time
import warnings
from functools import partial

import numpy as np
import pytest
import SimpleITK as sitk

from _build import call, save
from voxlogica_nb.errors import PrimitiveError
from voxlogica_nb.image import Image
from voxlogica_nb.primitives import REGISTRY
from voxlogica_nb.primitives import io

load = partial(call, "load")


def fingerprint(path):
    return REGISTRY["load"].fingerprint(path)


def grey(shape=(4, 5, 6), spacing=(0.5, 1.0, 2.0), seed=0):
    arr = np.random.default_rng(seed).normal(size=shape).astype(np.float32)
    return Image(arr, "number", spacing=spacing, origin=(1.0, 2.0, 3.0)[: len(shape)])


@pytest.mark.parametrize("ext", [".nii", ".nii.gz", ".mha", ".nrrd"])
def test_volume_round_trip_numbers(tmp_path, ext):
    img = grey()
    path = str(tmp_path / ("a" + ext))
    save(path, img)
    back = load(path)
    assert back.kind == "number"
    assert back.array.dtype == np.float32
    assert back.size == (6, 5, 4)
    np.testing.assert_array_equal(back.array, img.array)
    np.testing.assert_allclose(back.spacing, img.spacing)
    np.testing.assert_allclose(back.origin, img.origin)
    assert sitk.ReadImage(path).GetPixelID() == sitk.sitkFloat32


@pytest.mark.parametrize("ext", [".nii.gz", ".mha", ".nrrd"])
def test_volume_bool_is_uint8_01(tmp_path, ext):
    arr = np.zeros((3, 4, 5), np.uint8)
    arr[1, 2, 3] = 1
    path = str(tmp_path / ("b" + ext))
    save(path, Image(arr, "bool"))
    raw = sitk.ReadImage(path)
    assert raw.GetPixelID() == sitk.sitkUInt8
    np.testing.assert_array_equal(sitk.GetArrayFromImage(raw), arr)
    back = load(path)
    assert back.kind == "number"  # files carry numbers; `>. 0` makes them boolean
    assert back.array.sum() == 1.0


@pytest.mark.parametrize("ext", [".nii.gz", ".mha", ".nrrd"])
def test_volume_colour_round_trip(tmp_path, ext):
    arr = np.random.default_rng(1).uniform(0, 300, (5, 6, 3)).astype(np.float32)
    path = str(tmp_path / ("c" + ext))
    save(path, Image(arr, "colour"))
    raw = sitk.ReadImage(path)
    assert raw.GetNumberOfComponentsPerPixel() == 3
    assert raw.GetPixelID() == sitk.sitkVectorFloat32
    back = load(path)
    assert back.kind == "colour"
    np.testing.assert_array_equal(back.array, arr)


def test_png_colour_round_trip(tmp_path):
    arr = np.random.default_rng(2).integers(0, 256, (7, 9, 3)).astype(np.float32)
    path = str(tmp_path / "c.png")
    save(path, Image(arr, "colour"))
    back = load(path)
    assert back.kind == "colour" and back.components == 3
    assert back.size == (9, 7)
    np.testing.assert_array_equal(back.array, arr)


def test_png_rgba_round_trip(tmp_path):
    arr = np.random.default_rng(3).integers(0, 256, (4, 5, 4)).astype(np.float32)
    path = str(tmp_path / "c.png")
    save(path, Image(arr, "colour"))
    back = load(path)
    assert back.components == 4
    np.testing.assert_array_equal(back.array, arr)


def test_png_bool_as_0_255(tmp_path):
    arr = np.zeros((6, 8), np.uint8)
    arr[2:4, 3:6] = 1
    path = str(tmp_path / "m.png")
    save(path, Image(arr, "bool"))
    raw = sitk.GetArrayFromImage(sitk.ReadImage(path))
    assert raw.dtype == np.uint8
    np.testing.assert_array_equal(raw, arr * 255)


def test_png_numbers_rounded_and_clipped_with_warning(tmp_path):
    arr = np.array([[-3.0, 0.4, 0.6, 254.4], [255.6, 400.0, 17.5, 100.0]], np.float32)
    path = str(tmp_path / "n.png")
    with pytest.warns(UserWarning, match="clipped"):
        save(path, Image(arr, "number"))
    raw = sitk.GetArrayFromImage(sitk.ReadImage(path))
    np.testing.assert_array_equal(raw, [[0, 0, 1, 254], [255, 255, 18, 100]])


def test_png_in_range_numbers_no_warning(tmp_path):
    arr = np.array([[0.0, 12.2], [200.0, 255.0]], np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        save(str(tmp_path / "n.png"), Image(arr, "number"))
    raw = sitk.GetArrayFromImage(sitk.ReadImage(str(tmp_path / "n.png")))
    np.testing.assert_array_equal(raw, [[0, 12], [200, 255]])


@pytest.mark.parametrize("ext", [".bmp", ".jpg"])
def test_other_8bit_formats(tmp_path, ext):
    arr = np.full((6, 6), 128.0, np.float32)
    path = str(tmp_path / ("g" + ext))
    save(path, Image(arr, "number"))
    back = load(path)
    assert back.size == (6, 6)
    assert abs(float(back.array.mean()) - 128.0) < 2.0


def test_8bit_formats_refuse_3d(tmp_path):
    with pytest.raises(PrimitiveError, match="2D") as e:
        save(str(tmp_path / "v.png"), grey())
    assert "\n" not in str(e.value)
    assert not os.path.exists(tmp_path / "v.png")


def test_save_non_image_to_image_file(tmp_path):
    with pytest.raises(PrimitiveError, match="only images"):
        save(str(tmp_path / "x.nii.gz"), 3.0)


def test_save_creates_parent_folders(tmp_path):
    path = str(tmp_path / "deep" / "er" / "x.nii.gz")
    save(path, grey())
    assert os.path.isfile(path)


def test_load_missing_file_error_is_one_line(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(PrimitiveError) as e:
        load("nothere.nii.gz")
    assert str(e.value) == "load: no such file 'nothere.nii.gz'"


def test_load_unreadable_format(tmp_path):
    path = tmp_path / "junk.png"
    path.write_text("not an image")
    with pytest.raises(PrimitiveError, match="cannot read") as e:
        load(str(path))
    assert "\n" not in str(e.value)
    assert "junk.png" in str(e.value)


def test_load_folder_is_an_error(tmp_path):
    with pytest.raises(PrimitiveError, match="folder"):
        load(str(tmp_path))


def test_load_two_component_image_is_an_error(tmp_path):
    img = sitk.GetImageFromArray(np.zeros((4, 5, 2), np.float32), isVector=True)
    path = str(tmp_path / "two.mha")
    sitk.WriteImage(img, path)
    with pytest.raises(PrimitiveError, match="2 components"):
        load(path)


def test_load_converts_integer_types_to_float32(tmp_path):
    arr = np.arange(24, dtype=np.int16).reshape(2, 3, 4) - 5
    path = str(tmp_path / "i.nii.gz")
    sitk.WriteImage(sitk.GetImageFromArray(arr), path)
    back = load(path)
    assert back.array.dtype == np.float32
    np.testing.assert_array_equal(back.array, arr.astype(np.float32))


def test_load_drops_unit_axes(tmp_path):
    arr = np.arange(12, dtype=np.float32).reshape(1, 3, 4)  # z of size 1
    img = sitk.GetImageFromArray(arr)
    img.SetSpacing((0.5, 0.7, 3.0))
    path = str(tmp_path / "slice.nii.gz")
    sitk.WriteImage(img, path)
    back = load(path)
    assert back.ndim == 2 and back.size == (4, 3)
    np.testing.assert_allclose(back.spacing, (0.5, 0.7))
    np.testing.assert_array_equal(back.array, arr[0])


def test_load_keeps_2d_with_unit_axis(tmp_path):
    arr = np.arange(4, dtype=np.float32).reshape(1, 4)
    path = str(tmp_path / "row.mha")
    sitk.WriteImage(sitk.GetImageFromArray(arr), path)
    back = load(path)
    assert back.size == (4, 1)


def test_load_with_base_same_size(tmp_path):
    a, b = grey(seed=1), grey(seed=2)
    pa, pb = str(tmp_path / "a.nii.gz"), str(tmp_path / "b.nii.gz")
    save(pa, a)
    save(pb, b)
    base = load(pa)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        second = load(pb, base)
    np.testing.assert_array_equal(second.array, b.array)


def test_load_with_base_other_size_is_error(tmp_path):
    pa, pb = str(tmp_path / "a.nii.gz"), str(tmp_path / "b.nii.gz")
    save(pa, grey((4, 5, 6)))
    save(pb, grey((4, 5, 7)))
    base = load(pa)
    with pytest.raises(PrimitiveError) as e:
        load(pb, base)
    msg = str(e.value)
    assert "7×5×4" in msg and "6×5×4" in msg and "\n" not in msg


def test_load_with_base_other_geometry_warns_and_adopts_base(tmp_path):
    pa, pb = str(tmp_path / "a.nii.gz"), str(tmp_path / "b.nii.gz")
    save(pa, grey(spacing=(1.0, 1.0, 1.0)))
    other = grey(spacing=(2.0, 2.0, 2.0), seed=5)
    save(pb, other)
    base = load(pa)
    with pytest.warns(UserWarning, match="geometry"):
        second = load(pb, base)
    assert second.spacing == base.spacing and second.origin == base.origin
    np.testing.assert_array_equal(second.array, other.array)


def test_load_signatures():
    prim = REGISTRY["load"]
    assert [str(s) for s in prim.signatures] == ["(str) -> img", "(str, img) -> img"]
    assert prim.pure and prim.fingerprint is not None


def test_fingerprint_is_content_digest(tmp_path):
    path = tmp_path / "a.nii.gz"
    save(str(path), grey(seed=1))
    fp1 = fingerprint(str(path))
    assert fp1 == fingerprint(str(path))
    copy = tmp_path / "copy.nii.gz"
    copy.write_bytes(path.read_bytes())
    assert fingerprint(str(copy)) == fp1  # same bytes, same fingerprint
    time.sleep(0.01)
    save(str(path), grey(seed=2))
    fp2 = fingerprint(str(path))
    assert fp2 != fp1


def test_fingerprint_changes_when_same_size_content_changes(tmp_path):
    path = tmp_path / "raw.mha"
    path.write_bytes(b"a" * 100)
    fp1 = fingerprint(str(path))
    st = os.stat(path)
    path.write_bytes(b"b" * 100)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    assert fingerprint(str(path)) != fp1


def test_fingerprint_of_missing_file_does_not_raise(tmp_path):
    assert fingerprint(str(tmp_path / "nope.nii")) == "missing"
    assert REGISTRY["load"].fingerprint(None) is None


def test_fingerprint_relative_to_cwd(tmp_path, monkeypatch):
    save(str(tmp_path / "a.nii.gz"), grey())
    monkeypatch.chdir(tmp_path)
    assert fingerprint("a.nii.gz") == fingerprint(str(tmp_path / "a.nii.gz"))
    assert load("a.nii.gz").size == (6, 5, 4)


def test_writers_registered():
    for ext in (".nii", ".nii.gz", ".mha", ".nrrd", ".png", ".jpg", ".bmp", ".json"):
        assert ext in io.WRITERS
