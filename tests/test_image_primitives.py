"""Voxel-wise image builtins: expected values worked out by hand or with SimpleITK."""
from functools import partial

import numpy as np
import pytest
import SimpleITK as sitk

import _build
from _build import F32, call
from voxlogica_nb.errors import PrimitiveError
from voxlogica_nb.image import Image
from voxlogica_nb.primitives import REGISTRY, images

FLT_MAX = F32(3.4028235e38)
SPACING2 = (0.5, 2.0)
ORIGIN2 = (1.0, -3.0)
# 2D images of these tests have this geometry, 3D ones the default
num = partial(_build.num, spacing={2: SPACING2}, origin={2: ORIGIN2})
boo = partial(_build.boo, spacing={2: SPACING2}, origin={2: ORIGIN2})


def same_geometry(result, source):
    assert result.spacing == source.spacing
    assert result.origin == source.origin
    assert result.direction == source.direction


def sitk_array(img):
    return sitk.GetArrayFromImage(img)


# -- base-image builtins ---------------------------------------------------

def test_tt_ff_bconstant_constant_keep_geometry():
    base = num([[1, 2, 3], [4, 5, 6]])
    t = call("tt", base)
    assert t.kind == "bool" and t.array.dtype == np.uint8
    assert t.array.tolist() == [[1, 1, 1], [1, 1, 1]]
    same_geometry(t, base)
    assert call("ff", base).array.tolist() == [[0, 0, 0], [0, 0, 0]]
    assert call("bconstant", True, base).array.sum() == 6
    assert call("bconstant", False, boo([[1, 0]])).array.tolist() == [[0, 0]]
    c = call("constant", 0.1, base)
    assert c.kind == "number" and c.array.dtype == F32
    assert np.all(c.array == F32(0.1))
    same_geometry(c, base)


def test_base_builtins_are_marked_base_and_take_bool_base():
    for name in ("tt", "ff", "bconstant", "constant", "border", "x", "y", "z"):
        assert REGISTRY[name].base, name
    b = boo([[1, 0], [0, 0]])
    assert call("tt", b).array.tolist() == [[1, 1], [1, 1]]
    assert call("constant", 2.5, b).array.tolist() == [[2.5, 2.5], [2.5, 2.5]]


def test_base_builtins_on_colour_image_use_spatial_shape():
    col = Image(np.zeros((2, 3, 3), F32), "colour")
    assert call("tt", col).array.shape == (2, 3)
    assert call("x", col).array.tolist() == [[0, 1, 2], [0, 1, 2]]


def test_border_2d_and_3d():
    b = call("border", num(np.zeros((4, 5))))
    expected = np.ones((4, 5), np.uint8)
    expected[1:3, 1:4] = 0
    assert np.array_equal(b.array, expected)
    b3 = call("border", num(np.zeros((3, 4, 5))))
    # only the centre line (z=1, y in 1..2, x in 1..3) is off the border
    assert b3.array.sum() == 3 * 4 * 5 - 1 * 2 * 3
    assert b3.array[1, 1:3, 1:4].sum() == 0
    assert b3.array[0].all() and b3.array[:, :, 4].all()


def test_coordinates_follow_itk_axis_order():
    base = num(np.zeros((2, 3)))  # size 3 (x) × 2 (y)
    assert call("x", base).array.tolist() == [[0, 1, 2], [0, 1, 2]]
    assert call("y", base).array.tolist() == [[0, 0, 0], [1, 1, 1]]
    assert call("z", base).array.tolist() == [[0, 0, 0], [0, 0, 0]]
    base3 = num(np.zeros((4, 2, 3)))
    zz = call("z", base3).array
    assert zz.dtype == F32
    assert zz[:, 0, 0].tolist() == [0, 1, 2, 3]
    assert call("x", base3).array[3, 1].tolist() == [0, 1, 2]
    assert call("y", base3).array[2, :, 2].tolist() == [0, 1]
    # spacing and origin are ignored
    same_geometry(call("x", base), base)


# -- booleans --------------------------------------------------------------

def test_not_and_or():
    a = boo([[1, 0], [1, 0]])
    b = boo([[1, 1], [0, 0]])
    assert call("not", a).array.tolist() == [[0, 1], [0, 1]]
    assert call("and", a, b).array.tolist() == [[1, 0], [0, 0]]
    assert call("or", a, b).array.tolist() == [[1, 1], [1, 0]]
    assert REGISTRY["and"].commutative and REGISTRY["or"].commutative
    assert call("and", True, False) is False  # scalar overload still there
    same_geometry(call("or", a, b), a)


def test_different_sizes_are_an_error_naming_both():
    # sizes in ITK (x, y) order: a 3-row, 1-column array is 1×3
    with pytest.raises(PrimitiveError, match=r"and: .*2×2.*1×3"):
        call("and", boo([[1, 0], [1, 0]]), boo([[1], [0], [1]]))
    with pytest.raises(PrimitiveError, match="3×2"):
        call("+", num(np.zeros((2, 3))), num(np.zeros((2, 2))))


def test_colour_and_grey_do_not_mix():
    # a colour value reaching a number-image builtin (a loaded image is only
    # known to be colour at run time): the function itself rejects it
    col = Image(np.ones((2, 2, 3), F32), "colour")
    with pytest.raises(PrimitiveError, match="colour"):
        images.add(col, num(np.ones((2, 2))))
    with pytest.raises(PrimitiveError, match="colour"):
        images.add(col, 1.0)
    with pytest.raises(PrimitiveError, match="colour"):
        images.mask(col, boo(np.ones((2, 2))))
    with pytest.raises(PrimitiveError, match="number image"):
        images.abs_(col)


# -- arithmetic ------------------------------------------------------------

def test_image_arithmetic_float32():
    a = num([[1.5, -2.0], [3.0, 0.1]])
    b = num([[0.5, 4.0], [-3.0, 0.2]])
    s = call("+", a, b)
    assert s.array.dtype == F32
    assert s.array.tolist() == [[2.0, 2.0], [0.0, F32(F32(0.1) + F32(0.2))]]
    assert call("-", a, b).array.tolist() == [[1.0, -6.0], [6.0, F32(F32(0.1) - F32(0.2))]]
    assert call("*", a, b).array.tolist() == [[0.75, -8.0], [-9.0, F32(F32(0.1) * F32(0.2))]]
    same_geometry(s, a)


def test_scalar_image_operators_cast_to_float32():
    a = num([[1.0, 2.0], [0.0, -4.0]])
    assert call("+.", a, 0.1).array.tolist() == [[F32(1) + F32(0.1), F32(2) + F32(0.1)], [F32(0.1), F32(-4) + F32(0.1)]]
    assert call("-.", a, 1.0).array.tolist() == [[0.0, 1.0], [-1.0, -5.0]]
    assert call("*.", a, 3.0).array.tolist() == [[3.0, 6.0], [0.0, -12.0]]
    assert call(".-", 1.0, a).array.tolist() == [[0.0, -1.0], [1.0, 5.0]]
    # undotted forms with a number on either side
    assert call("+", 1.0, a).array.tolist() == [[2.0, 3.0], [1.0, -3.0]]
    assert call("-", a, 1.0).array.tolist() == [[0.0, 1.0], [-1.0, -5.0]]
    assert call("-", 1.0, a).array.tolist() == [[0.0, -1.0], [1.0, 5.0]]
    assert call("*", 2.0, a).array.tolist() == [[2.0, 4.0], [0.0, -8.0]]
    assert call("+", 1.0, 2.0) == 3.0  # the scalar overload is untouched


def test_sdiv_multiplies_by_float32_of_reciprocal():
    a = num([[9.0, 1.0], [-9.0, 0.0]])
    r = call("/.", a, 10.0).array
    expected = np.array([[9.0, 1.0], [-9.0, 0.0]], F32) * F32(1.0 / 10.0)
    assert np.array_equal(r, expected)
    # this case tells the two rules apart: 9 × float32(0.1) != 9 / float32(10)
    assert r[0, 0] != F32(9.0) / F32(10.0)
    assert r[0, 0] == F32(0.90000004)
    assert np.array_equal(call("/", a, 10.0).array, expected)


def test_sdiv_by_zero_is_ieee():
    r = call("/.", num([[2.0, -2.0, 0.0]]), 0.0).array
    assert r[0, 0] == np.inf and r[0, 1] == -np.inf and np.isnan(r[0, 2])


def test_image_division_flt_max_rule_matches_itk():
    thr = F32(1.1920929e-08)
    d = np.array([[2.0, 0.0, -0.0, 1e-8, -1e-8, thr, -thr, np.nextafter(thr, F32(1)), 1e-30, np.nan, 4.0, 1e-45]], F32)
    a = np.array([[-3.0] * d.shape[1]], F32)
    ours = call("/", num(a), num(d)).array
    itk = sitk_array(sitk.Divide(sitk.GetImageFromArray(a), sitk.GetImageFromArray(d)))
    assert np.array_equal(ours, itk, equal_nan=True)
    # by hand: negative dividend, tiny divisor -> +FLT_MAX
    assert ours[0, 1] == FLT_MAX and ours[0, 4] == FLT_MAX and ours[0, 6] == FLT_MAX
    assert ours[0, 0] == F32(-1.5) and ours[0, 10] == F32(-0.75)
    assert ours[0, 7] == F32(-3.0) / np.nextafter(thr, F32(1))
    assert np.isnan(ours[0, 9])


def test_number_over_image_flt_max_rule():
    d = np.array([[0.0, 4.0, 1e-9, -2.0, np.nan]], F32)
    ours = call("./", 3.0, num(d)).array
    itk = sitk_array(sitk.Divide(3.0, sitk.GetImageFromArray(d)))
    assert np.array_equal(ours, itk, equal_nan=True)
    assert ours[0, :4].tolist() == [FLT_MAX, 0.75, FLT_MAX, -1.5]
    assert np.array_equal(call("/", 3.0, num(d)).array, ours, equal_nan=True)


def test_abs_max_min():
    a = num([[-3.5, 2.0], [np.nan, -0.0]])
    r = call("abs", a).array
    assert r[0].tolist() == [3.5, 2.0] and np.isnan(r[1, 0]) and r[1, 1] == 0.0
    mx, mn = call("max", a), call("min", a)
    assert type(mx) is float and type(mn) is float
    assert (mx, mn) == (2.0, -3.5)
    assert call("max", num([[0.1]])) == float(F32(0.1))


# -- comparisons -----------------------------------------------------------

def test_comparisons_with_float32_cast():
    k = 0.1
    above = np.nextafter(F32(k), F32(1))
    a = num([[F32(k), above], [0.0, np.nan]])
    assert call(">", a, k).array.tolist() == [[0, 1], [0, 0]]
    assert call(">=", a, k).array.tolist() == [[1, 1], [0, 0]]
    assert call("<", a, k).array.tolist() == [[0, 0], [1, 0]]
    assert call("<=", a, k).array.tolist() == [[1, 0], [1, 0]]
    assert call("==", a, k).array.tolist() == [[1, 0], [0, 0]]
    assert call("!=", a, k).array.tolist() == [[0, 1], [1, 1]]
    # number on the left: k < n
    assert call("<", k, a).array.tolist() == [[0, 1], [0, 0]]
    assert call(">=", k, a).array.tolist() == [[1, 0], [1, 0]]
    r = call(">", a, k)
    assert r.kind == "bool" and r.array.dtype == np.uint8
    same_geometry(r, a)


def test_dotted_comparisons():
    a = num([[F32(0.1), 0.5], [-1.0, np.nan]])
    assert call(".=", 0.1, a).array.tolist() == [[1, 0], [0, 0]]
    assert call("=.", a, 0.1).array.tolist() == [[1, 0], [0, 0]]
    assert call(".<=", 0.1, a).array.tolist() == [[1, 1], [0, 0]]  # n >= k
    assert call(".>=", 0.1, a).array.tolist() == [[1, 0], [1, 0]]  # n <= k


def test_between_inclusive_float32():
    a = num([[F32(0.1), 0.2, F32(0.3)], [0.31, -1.0, np.nan]])
    assert call("between", 0.1, 0.3, a).array.tolist() == [[1, 1, 1], [0, 0, 0]]
    # different in float64, equal in float32: not an error
    assert call("between", 0.1, 0.1 - 1e-12, a).array.tolist() == [[1, 0, 0], [0, 0, 0]]
    with pytest.raises(PrimitiveError, match="between"):
        call("between", 2.0, 1.0, a)


# -- masks and statistics --------------------------------------------------

def test_mask():
    a = num([[np.nan, -2.0], [3.0, -0.0]])
    m = boo([[0, 1], [0, 1]])
    r = call("mask", a, m).array
    assert r.tolist() == [[0.0, -2.0], [0.0, 0.0]]
    assert np.signbit(r[1, 1]) and not np.signbit(r[0, 0])
    same_geometry(call("mask", a, m), a)


def test_avg_sums_sequentially_in_reverse_voxel_order():
    big = F32(1e16)
    a = num([[1.0, big], [-big, 123.0]])
    m = boo([[1, 1], [1, 0]])
    # reverse order: (-big + big) + 1 = 1 exactly; any other order loses the 1
    assert call("avg", a, m) == 1.0 / 3.0
    assert float(np.sum(np.array([1.0, big, -big], np.float64))) != 1.0
    r = call("avg", num([[0.1, 0.2], [0.3, 0.4]]), boo([[1, 1], [1, 1]]))
    expected = (((float(F32(0.4)) + float(F32(0.3))) + float(F32(0.2))) + float(F32(0.1))) / 4
    assert type(r) is float and r == expected


def test_avg_empty_mask_is_an_error():
    with pytest.raises(PrimitiveError, match="avg"):
        call("avg", num([[1.0, 2.0]]), boo([[0, 0]]))


def test_volume_counts_voxels():
    assert call("volume", boo([[1, 0, 1], [1, 1, 0]])) == 4.0
    assert type(call("volume", boo([[0]] * 2))) is float
    assert call("volume", boo(np.ones((2, 3, 4)))) == 24.0


def _brute_percentiles(values, mask, c):
    out = np.full(values.shape, F32(-1), F32)
    inside = values[mask.astype(bool)]
    total = F32(len(inside))
    for idx in zip(*np.nonzero(mask)):
        v = values[idx]
        less = sum(1 for w in inside if w < v)
        equal = sum(1 for w in inside if w == v)
        out[idx] = (F32(less) + F32(c) * F32(equal)) / total
    return out


@pytest.mark.parametrize("c", [0.0, 0.5, 1.0, 0.3])
def test_percentiles_integer_values(c):
    rng = np.random.default_rng(4)
    values = rng.integers(-3, 5, size=(6, 7)).astype(F32)
    mask = (rng.random((6, 7)) < 0.6).astype(np.uint8)
    r = call("percentiles", num(values), boo(mask), c)
    assert np.array_equal(r.array, _brute_percentiles(values, mask, c))
    assert np.all(r.array[mask == 0] == -1)


def test_percentiles_fractional_values_and_signed_zero_3d():
    rng = np.random.default_rng(5)
    values = rng.choice(np.array([0.1, 0.25, -0.0, 0.0, 1e-7, 3.3], F32), size=(3, 4, 5))
    mask = (rng.random((3, 4, 5)) < 0.7).astype(np.uint8)
    r = call("percentiles", num(values), boo(mask), 0.5)
    assert np.array_equal(r.array, _brute_percentiles(values, mask, 0.5))


def test_percentiles_by_hand_and_empty_mask():
    values = num([[10.0, 20.0, 20.0], [30.0, 5.0, 20.0]])
    mask = boo([[1, 1, 1], [1, 0, 1]])
    r = call("percentiles", values, mask, 0.5).array
    # 5 masked voxels: 10 (0 below, 1 equal), 20 (1 below, 3 equal), 30 (4 below)
    assert r.tolist() == [[F32(0.1), F32(0.5), F32(0.5)], [F32(0.9), -1.0, F32(0.5)]]
    empty = call("percentiles", values, boo(np.zeros((2, 3))), 0.5).array
    assert np.all(empty == -1)


# -- colour ----------------------------------------------------------------

def _colour(components):
    rng = np.random.default_rng(6)
    return Image(rng.integers(0, 256, size=(3, 4, components)).astype(F32), "colour", (0.5, 0.25))


def test_intensity_matches_simpleitk_formula():
    col = _colour(3)
    comp = [sitk.GetImageFromArray(np.ascontiguousarray(col.array[..., i])) for i in range(3)]
    ref = sitk.Add(sitk.Multiply(0.2126, comp[0]),
                   sitk.Add(sitk.Multiply(0.7152, comp[1]), sitk.Multiply(0.0722, comp[2])))
    r = call("intensity", col)
    assert r.kind == "number"
    assert np.array_equal(r.array, sitk_array(ref))
    same_geometry(r, col)
    grey = num([[1.5, 2.0]])
    assert call("intensity", grey).array.tolist() == [[1.5, 2.0]]


def test_channels_and_alpha():
    col = _colour(4)
    assert np.array_equal(call("red", col).array, col.array[..., 0])
    assert np.array_equal(call("green", col).array, col.array[..., 1])
    assert np.array_equal(call("blue", col).array, col.array[..., 2])
    assert np.array_equal(call("alpha", col).array, col.array[..., 3])
    rgb = _colour(3)
    a = call("alpha", rgb)
    assert a.array.shape == (3, 4) and np.all(a.array == 255)
    same_geometry(a, rgb)
    with pytest.raises(PrimitiveError, match="red"):
        call("red", num([[1.0]]))


def test_rgb_rgba_compose_without_clamping():
    r, g, b, a = num([[300.0]]), num([[-5.0]]), num([[0.5]]), num([[7.0]])
    c = call("rgb", r, g, b)
    assert c.kind == "colour" and c.array.tolist() == [[[300.0, -5.0, 0.5]]]
    same_geometry(c, r)
    c4 = call("rgba", r, g, b, a)
    assert c4.components == 4 and c4.array.tolist() == [[[300.0, -5.0, 0.5, 7.0]]]
    assert call("green", c4).array.tolist() == [[-5.0]]
    with pytest.raises(PrimitiveError):
        call("rgb", r, g, num([[1.0, 2.0]]))


def test_every_builtin_has_a_summary():
    for name in ("tt", "constant", "border", "x", "+.", "/.", "./", ".=", "between", "mask",
                 "avg", "volume", "percentiles", "intensity", "red", "alpha", "rgb"):
        assert REGISTRY[name].summary, name
