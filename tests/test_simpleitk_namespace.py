"""The simpleitk namespace: registration, signatures, conversions, errors."""
import numpy as np
import pytest
import SimpleITK as sitk

from _build import call
from voxlogica_nb.errors import PrimitiveError
from voxlogica_nb.image import Image
from voxlogica_nb.language.types import parse_type, resolve
from voxlogica_nb.primitives import REGISTRY
from voxlogica_nb.primitives import simpleitk as ns


def prim(name):
    p = REGISTRY.lookup(f"simpleitk.{name}")
    assert p is not None, name
    return p


def spot(shape=(5, 6, 7), spacing=(1.0, 2.0, 3.0)):
    arr = np.zeros(shape, np.float32)
    arr[2, 3, 3] = 10.0
    return Image(arr, "number", spacing=spacing, origin=(1.0, 2.0, 3.0))


def types(*names):
    return [parse_type(n) for n in names]


def test_namespace_registered_lazily_and_populated():
    assert REGISTRY.has_namespace("simpleitk")
    for name in ("Median", "BinaryThreshold", "DiscreteGaussian", "OtsuThreshold", "ConnectedComponent",
                 "SignedMaurerDistanceMap", "Add", "MinimumMaximum", "ReadImage", "WriteImage"):
        assert prim(name).namespace == "simpleitk"
    names = {p.short_name for p in REGISTRY.all() if p.namespace == "simpleitk"}
    assert len(names) > 200
    assert "GetArrayFromImage" not in names and "Show" not in names
    assert not any("_" in n for n in names)


def test_lookup_through_opened_namespace():
    assert REGISTRY.lookup("Median", opened=("simpleitk",)) is prim("Median")


def test_version_and_cost():
    p = prim("Median")
    assert p.version == "sitk-" + sitk.Version_VersionString()
    assert all(o.cost == "heavy" for o in p.overloads)
    assert p.pure and not prim("WriteImage").pure


def test_signatures_checked_statically():
    sigs = prim("Median").signatures
    assert resolve(sigs, types("nimg")) == parse_type("img")
    assert resolve(sigs, types("bimg", "num")) == parse_type("img")
    assert resolve(sigs, types("nimg", "seq[num]")) == parse_type("img")
    assert resolve(sigs, types("num")) is None  # not an image
    assert resolve(sigs, types("nimg", "num", "num")) is None  # too many arguments
    assert resolve(prim("MinimumMaximum").signatures, types("nimg")) == parse_type("seq[num]")
    assert resolve(prim("Hash").signatures, types("nimg")) == parse_type("str")
    # a required second image
    assert resolve(prim("Add").signatures, types("nimg")) is None
    assert resolve(prim("Add").signatures, types("nimg", "nimg")) == parse_type("img")
    assert resolve(prim("Add").signatures, types("num", "nimg")) == parse_type("img")


def test_prototype_parsing_reads_defaults():
    (proto,) = ns.prototypes("BinaryThreshold")
    assert [p.name for p in proto.params] == ["image1", "lowerThreshold", "upperThreshold", "insideValue",
                                              "outsideValue"]
    assert [p.kind for p in proto.params] == ["image", "float", "float", "int", "int"]
    assert proto.required == 1
    protos = ns.prototypes("OtsuThreshold")
    assert sorted(p.required for p in protos) == [1, 2]
    # a hand-written wrapper documented by annotations
    (dg,) = ns.prototypes("DiscreteGaussian")
    assert [p.kind for p in dg.params][:2] == ["image", "vector"]


def test_median_matches_simpleitk_and_keeps_geometry():
    img = spot()
    out = call("simpleitk.Median", img, [1.0, 1.0, 1.0])
    expected = sitk.GetArrayFromImage(sitk.Median(img.to_sitk(), [1, 1, 1]))
    assert out.kind == "number" and out.array.dtype == np.float32
    np.testing.assert_array_equal(out.array, expected)
    assert out.spacing == img.spacing and out.origin == img.origin
    # a single number is a radius along every axis
    assert call("simpleitk.Median", img, 1.0) == out


def test_vector_argument_changes_result():
    arr = np.zeros((9, 9, 9), np.float32)
    arr[4, 4, 4] = 1.0
    img = Image(arr, "bool")
    box = call("simpleitk.BinaryDilate", img, [1.0, 1.0, 1.0], "sitkBox")
    assert box.array.sum() == 27.0
    flat = call("simpleitk.BinaryDilate", img, [1.0, 1.0, 0.0], "Box")
    assert flat.array.sum() == 9.0
    cross = call("simpleitk.BinaryDilate", img, 1.0, "sitkCross")
    assert cross.array.sum() == 7.0
    assert call("simpleitk.BinaryDilate", img, 1.0, float(sitk.sitkCross)) == cross


def test_bool_image_goes_as_uint8_and_result_is_number():
    arr = np.zeros((6, 6), np.uint8)
    arr[1:3, 1:3] = 1
    arr[3:5, 3:5] = 1
    labels = call("simpleitk.ConnectedComponent", Image(arr, "bool"), True)
    assert labels.kind == "number"
    assert set(np.unique(labels.array)) == {0.0, 1.0}  # diagonal touch, fully connected: one component
    labels4 = call("simpleitk.ConnectedComponent", Image(arr, "bool"), False)
    assert set(np.unique(labels4.array)) == {0.0, 1.0, 2.0}


def test_threshold_result_is_number_0_1():
    img = spot()
    out = call("simpleitk.BinaryThreshold", img, 5.0, 20.0, 1.0, 0.0)
    assert out.kind == "number"
    assert out.array.sum() == 1.0 and out.array[2, 3, 3] == 1.0


def test_two_overloads_by_argument_kind():
    img = spot()
    mask = Image((img.array > 0).astype(np.uint8), "bool", img.spacing, img.origin)
    assert call("simpleitk.Add", img, 2.0).array.max() == 12.0
    assert call("simpleitk.Add", 2.0, img).array.min() == 2.0
    assert call("simpleitk.Add", img, img).array.max() == 20.0
    masked = call("simpleitk.Mask", img, mask)
    np.testing.assert_array_equal(masked.array, img.array)


def test_tuple_result_is_a_sequence():
    assert call("simpleitk.MinimumMaximum", spot()) == [0.0, 10.0]


def test_colour_image_round_trip():
    rgb = Image(np.random.default_rng(0).uniform(0, 255, (4, 5, 3)).astype(np.float32), "colour")
    out = call("simpleitk.Cast", rgb, "sitkVectorFlo32" if False else "sitkVectorFloat32")
    assert out.kind == "colour" and out.components == 3
    np.testing.assert_array_equal(out.array, rgb.array)


def test_integer_parameter_must_be_whole():
    with pytest.raises(PrimitiveError, match=r"simpleitk.Median: parameter `radius` must be a whole number"):
        call("simpleitk.Median", spot(), 1.5)


def test_unknown_enum_name():
    with pytest.raises(PrimitiveError, match="unknown SimpleITK constant 'Blob'"):
        call("simpleitk.BinaryDilate", spot(), 1.0, "Blob")


def test_simpleitk_error_is_one_line_naming_the_function():
    with pytest.raises(PrimitiveError) as e:
        call("simpleitk.Add", spot(), Image(np.zeros((2, 2), np.float32)))
    msg = str(e.value)
    assert msg.startswith("simpleitk.Add: ") and "\n" not in msg and ".cxx" not in msg


def test_unsupported_component_count_in_result():
    assert call("simpleitk.Gradient", spot()).kind == "colour"  # 3 components in 3D
    two_d = Image(np.zeros((4, 4), np.float32), "number")
    with pytest.raises(PrimitiveError, match="2 components"):
        call("simpleitk.Gradient", two_d)


def test_read_and_write_image(tmp_path):
    img = spot()
    path = str(tmp_path / "sub" / "a.nii.gz")
    assert call("simpleitk.WriteImage", img, path) is img
    back = call("simpleitk.ReadImage", path)
    assert back == img
    fp = prim("ReadImage").fingerprint(path)
    assert fp == REGISTRY["load"].fingerprint(path) and fp.startswith("sha256:")
    with pytest.raises(PrimitiveError, match="no such file"):
        call("simpleitk.ReadImage", str(tmp_path / "none.nii"))


def test_doc_names_parameters():
    assert "radius" in prim("Median").doc
    assert prim("Median").summary


BOUNDS = [(0.0, 255.0), (-1.0, 1.0), (0.1, 0.1), (1 / 3, 2 / 3), (-np.inf, 0.5), (0.5, np.inf), (1e39, 1e40),
          (-1e40, 1e40), (2.0, 2.0)]


@pytest.mark.parametrize("lower,upper", BOUNDS)
@pytest.mark.parametrize("values", [(), (7, 3), (0, 255), (255, 0)], ids=["defaults", "7-3", "0-255", "255-0"])
@pytest.mark.parametrize("specials", [True, False], ids=["nan-inf", "finite"])
def test_binary_threshold_in_numpy_equals_simpleitk(lower, upper, values, specials):
    import SimpleITK as sitk

    rng = np.random.default_rng(4)
    arr = rng.normal(0, 1, (5, 7, 9)).astype(np.float32)
    arr.flat[:12] = [np.nan, np.inf, -np.inf, 0.0, -0.0, 1.0, 2.0, np.float32(1 / 3), np.float32(2 / 3),
                     np.float32(0.1), 255.0, 1e38]
    if not specials:  # a finite range, [-0.95, 0.95]: bounds beyond it skip a comparison
        arr = np.clip(arr, np.float32(-0.95), np.float32(0.95))
        arr.flat[0] = np.nan
    img = Image(arr, "number", (0.5, 1.0, 2.0), (1.0, 2.0, 3.0))
    args = (lower, upper, *values) if values else ((lower, upper) if lower <= upper else ())
    got = call("simpleitk.BinaryThreshold", img, *args)
    ref = sitk.BinaryThreshold(img.to_sitk(), *args)
    np.testing.assert_array_equal(got.array, sitk.GetArrayFromImage(ref).astype(np.float32))
    assert got.kind == "number" and got.array.dtype == np.float32
    assert (got.spacing, got.origin, got.direction) == (img.spacing, img.origin, img.direction)


def test_binary_threshold_leaves_what_numpy_does_not_do_to_simpleitk(monkeypatch):
    import SimpleITK as sitk

    calls = []
    real = sitk.BinaryThreshold
    monkeypatch.setattr(sitk, "BinaryThreshold", lambda *a: calls.append(a) or real(*a))
    img = spot()
    call("simpleitk.BinaryThreshold", img, 5.0, 20.0)
    assert calls == []  # a number image: numpy
    mask = Image((img.array > 0).astype(np.uint8), "bool")
    out = call("simpleitk.BinaryThreshold", mask, 1.0, 1.0)  # a boolean image: SimpleITK
    assert len(calls) == 1 and out.array.sum() == 1.0
    with pytest.raises(PrimitiveError, match="BinaryThreshold"):  # SimpleITK's own refusal
        call("simpleitk.BinaryThreshold", img, 3.0, 2.0)
    assert len(calls) == 2
