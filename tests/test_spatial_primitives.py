"""Spatial builtins: hand-made cases, brute-force references and SimpleITK cross-checks."""
import itertools
from functools import partial

import numpy as np
import pytest
import SimpleITK as sitk

import _build
from _build import F32, call
from voxlogica_nb.errors import PrimitiveError
from voxlogica_nb.image import Image
from voxlogica_nb.primitives import spatial

NO_CONTOUR = F32(1.8446743e19)  # sqrt(FLT_MAX) in float32
# images of these tests have their origin at 2 on every axis
boo = partial(_build.boo, origin=2.0)
num = partial(_build.num, origin=2.0)


def random_mask(shape, p, seed):
    return (np.random.default_rng(seed).random(shape) < p).astype(np.uint8)


# -- near / interior -------------------------------------------------------

def test_near_by_hand_at_corner_and_centre():
    b = np.zeros((4, 5), np.uint8)
    b[0, 0] = 1
    b[2, 3] = 1
    r = call("near", boo(b, (0.5, 3.0)))
    assert r.array.tolist() == [
        [1, 1, 0, 0, 0],
        [1, 1, 1, 1, 1],
        [0, 0, 1, 1, 1],
        [0, 0, 1, 1, 1],
    ]
    assert r.spacing == (0.5, 3.0) and r.origin == (2.0, 2.0)


@pytest.mark.parametrize("shape", [(7, 9), (5, 6, 7), (1, 4, 4), (2, 1, 3)])
def test_near_matches_simpleitk_dilation(shape):
    b = random_mask(shape, 0.1, 1)
    ref = sitk.DilateObjectMorphology(sitk.GetImageFromArray(b), [1] * len(shape), sitk.sitkBox, 1.0)
    assert np.array_equal(call("near", boo(b)).array, sitk.GetArrayFromImage(ref))


def test_interior_edge_erodes_nothing():
    full = np.ones((3, 4), np.uint8)
    assert call("interior", boo(full)).array.tolist() == full.tolist()
    b = np.ones((4, 5), np.uint8)
    b[3, 0] = 0
    assert call("interior", boo(b)).array.tolist() == [
        [1, 1, 1, 1, 1],
        [1, 1, 1, 1, 1],
        [0, 0, 1, 1, 1],
        [0, 0, 1, 1, 1],
    ]
    assert call("interior", boo(np.zeros((2, 2)))).array.sum() == 0


@pytest.mark.parametrize("shape", [(8, 6), (6, 5, 7)])
def test_interior_is_not_near_not_and_matches_simpleitk(shape):
    b = random_mask(shape, 0.8, 2)
    r = call("interior", boo(b)).array
    dual = call("not", call("near", call("not", boo(b)))).array
    assert np.array_equal(r, dual)
    # BinaryErode's default treats outside the image as foreground
    ref = sitk.BinaryErode(sitk.GetImageFromArray(b), [1] * len(shape), sitk.sitkBox)
    assert np.array_equal(r, sitk.GetArrayFromImage(ref))


# -- components ------------------------------------------------------------

def test_through_by_hand_diagonal_connectivity():
    b2 = [[1, 0, 0, 1],
          [0, 1, 0, 1],
          [0, 0, 0, 0],
          [1, 1, 0, 0]]
    b1 = [[0, 0, 0, 0],
          [0, 1, 0, 0],  # touches the diagonal component only
          [0, 0, 1, 0],  # outside b2: reaches nothing
          [0, 0, 0, 0]]
    r = call("through", boo(b1), boo(b2))
    assert r.array.tolist() == [[1, 0, 0, 0],
                                [0, 1, 0, 0],
                                [0, 0, 0, 0],
                                [0, 0, 0, 0]]
    assert call("through", boo(np.ones((4, 4))), boo(b2)).array.tolist() == np.array(b2).tolist()
    assert call("through", boo(np.zeros((4, 4))), boo(b2)).array.sum() == 0


def test_through_3d_matches_component_union():
    b2 = random_mask((6, 7, 8), 0.35, 3)
    b1 = random_mask((6, 7, 8), 0.02, 4)
    labels = sitk.GetArrayFromImage(sitk.ConnectedComponent(sitk.GetImageFromArray(b2), True))
    hit = set(labels[(b1 > 0) & (labels > 0)].tolist())
    expected = np.isin(labels, list(hit)) & (labels > 0)
    assert np.array_equal(call("through", boo(b1), boo(b2)).array.astype(bool), expected)


def test_lcc_numbers_in_raster_order_first_axis_fastest():
    # array rows are y, columns x: the component at (x=2, y=0) comes first in
    # ITK raster order although (x=0, y=1) has the smaller x.
    b = [[0, 0, 1, 0],
         [1, 0, 0, 0],
         [1, 0, 0, 1]]
    r = call("lcc", boo(b))
    assert r.kind == "number" and r.array.dtype == F32
    assert r.array.tolist() == [[0, 0, 1, 0],
                                [2, 0, 0, 0],
                                [2, 0, 0, 3]]


@pytest.mark.parametrize("shape", [(6, 7, 8), (30, 20)])
def test_lcc_matches_simpleitk(shape):
    b = random_mask(shape, 0.3, 5)
    ref = sitk.GetArrayFromImage(sitk.ConnectedComponent(sitk.GetImageFromArray(b), True))
    assert np.array_equal(call("lcc", boo(b)).array, ref.astype(F32))


def test_maxvol_largest_ties_and_empty():
    b = [[1, 1, 0, 1],
         [0, 0, 0, 1],
         [1, 0, 0, 1]]
    assert call("maxvol", boo(b)).array.tolist() == [[0, 0, 0, 1],
                                                     [0, 0, 0, 1],
                                                     [0, 0, 0, 1]]
    tie = [[1, 1, 0, 1],
           [0, 0, 0, 1],
           [1, 0, 0, 0]]
    assert call("maxvol", boo(tie)).array.tolist() == [[1, 1, 0, 1],
                                                       [0, 0, 0, 1],
                                                       [0, 0, 0, 0]]
    assert call("maxvol", boo(np.zeros((2, 3, 2)))).array.sum() == 0
    assert call("maxvol", boo(np.ones((2, 3, 2)))).array.sum() == 12


# -- dt --------------------------------------------------------------------

def brute_dt(b, spacing):
    """Signed distance per the language spec, by exhaustive search."""
    b = np.asarray(b, bool)
    sp = np.array(spacing[::-1], float)
    shape = b.shape
    contour = np.zeros(shape, bool)
    for p in np.argwhere(b):
        for off in itertools.product((-1, 0, 1), repeat=b.ndim):
            q = p + off
            if all(0 <= q[i] < shape[i] for i in range(b.ndim)) and not b[tuple(q)]:
                contour[tuple(p)] = True
    cpts, bpts = np.argwhere(contour), np.argwhere(b)
    out = np.zeros(shape)
    for p in itertools.product(*map(range, shape)):
        if b[p]:
            out[p] = -np.sqrt((((cpts - p) * sp) ** 2).sum(1)).min() if len(cpts) else -np.inf
        else:
            out[p] = np.sqrt((((bpts - p) * sp) ** 2).sum(1)).min() if len(bpts) else np.inf
    return out, contour


def test_dt_by_hand_edge_is_not_background():
    # left half true: the contour is column x=1 only, not the image edge
    b = np.zeros((3, 4), np.uint8)
    b[:, :2] = 1
    r = call("dt", boo(b, (2.0, 1.0)))
    assert r.kind == "number" and r.array.dtype == F32
    assert r.array.tolist() == [[-2.0, 0.0, 2.0, 4.0]] * 3
    assert np.all(np.signbit(r.array[:, 1]))  # -0.0 on the contour
    assert r.spacing == (2.0, 1.0)


@pytest.mark.parametrize("shape,spacing,seed", [
    ((6, 7), (1.0, 1.0), 1),
    ((5, 8), (0.5, 2.0), 2),
    ((4, 5, 6), (1.0, 1.3, 2.5), 3),
    ((3, 6, 4), (0.7, 0.7, 3.0), 4),
])
def test_dt_matches_brute_force(shape, spacing, seed):
    b = random_mask(shape, 0.45, seed)
    r = call("dt", boo(b, spacing)).array
    expected, contour = brute_dt(b, spacing)
    assert np.allclose(r, expected, rtol=1e-6, atol=1e-6)
    assert np.all(np.signbit(r[contour])) and np.all(r[contour] == 0)
    assert np.all(r[b == 0] > 0) and np.all(r[(b > 0) & ~contour] < 0)


def test_dt_without_contour():
    assert np.all(call("dt", boo(np.zeros((3, 4)))).array == NO_CONTOUR)
    assert np.all(call("dt", boo(np.ones((2, 3, 4)))).array == -NO_CONTOUR)


# -- crossCorrelation ------------------------------------------------------

def brute_cross_correlation(radii, a, b, fb, m1, m2, k, points=None):
    """VoxLogicA 1's crossCorrelation, voxel by voxel (radii in numpy axis order)."""
    nbins = int(k)
    delta = (m2 - m1) / nbins

    def hist(values):
        h = [0] * nbins
        for v in values:
            v = float(v)
            if m1 <= v < m2:
                h[int((v - m1) / delta)] += 1
        return h

    h2 = hist(b[fb.astype(bool)])
    avg2 = sum(h2) / nbins
    sd2 = np.sqrt(sum((n - avg2) ** 2 for n in h2))
    out = np.zeros(a.shape, F32)
    for p in points or itertools.product(*map(range, a.shape)):
        box = tuple(slice(max(0, c - r), c + r + 1) for c, r in zip(p, radii))
        h1 = hist(a[box].ravel())
        avg1 = sum(h1) / nbins
        den1 = sum((n - avg1) ** 2 for n in h1)
        if den1 == 0 and sd2 == 0:
            out[p] = 1.0
        elif den1 == 0 or sd2 == 0:
            out[p] = 0.0
        else:
            acc = 0.0
            for n1, n2 in zip(h1, h2):
                acc += (n1 - avg1) * (n2 - avg2)
            out[p] = acc / (np.sqrt(den1) * sd2)
    return out


@pytest.mark.parametrize("seed", range(6))
def test_cross_correlation_matches_brute_force(seed):
    rng = np.random.default_rng(seed)
    shape = tuple(rng.integers(3, 8, size=2 + seed % 2))
    spacing = tuple(float(s) for s in rng.choice([0.7, 1.0, 2.0], size=len(shape)))
    rad = float(rng.choice([1.0, 1.5, 2.0]))
    a = rng.integers(0, 6, size=shape).astype(F32)
    b = rng.integers(0, 6, size=shape).astype(F32)
    fb = (rng.random(shape) < 0.6).astype(np.uint8)
    k, m1, m2 = float(rng.integers(2, 6)), 0.0, 5.0  # value 5 is exactly m2: not counted
    radii = [max(round(rad / s), 1) for s in spacing][::-1]
    expected = brute_cross_correlation(radii, a, b, fb, m1, m2, k)
    args = (rad, Image(a, "number", spacing), Image(b, "number", spacing), Image(fb, "bool", spacing), m1, m2, k)
    r = call("crossCorrelation", *args)
    assert r.array.dtype == F32 and r.spacing == spacing
    assert np.allclose(r.array, expected, rtol=0, atol=2e-7)


def test_cross_correlation_large_volume_sampled():
    # big enough to be processed in several slabs along z: check voxels on
    # both sides of every plane boundary and at the image edges
    rng = np.random.default_rng(9)
    shape = (40, 80, 90)
    a = rng.integers(0, 8, size=shape).astype(F32)
    b = rng.integers(0, 8, size=shape).astype(F32)
    fb = np.ones(shape, np.uint8)
    spacing = (1.0, 1.0, 1.0)
    r = spatial.crossCorrelation(2.0, num(a, spacing), num(b, spacing), boo(fb, spacing), 0.0, 8.0, 8.0).array
    points = [(z, y, x) for z in range(shape[0]) for (y, x) in ((0, 0), (40, 45), (79, 89), (1, 88))]
    expected = brute_cross_correlation([2, 2, 2], a, b, fb, 0.0, 8.0, 8.0, points)
    for p in points:
        assert abs(r[p] - expected[p]) <= 2e-7, p


def test_cross_correlation_radius_rounds_half_to_even():
    rng = np.random.default_rng(7)
    a = rng.integers(0, 4, size=(9, 9)).astype(F32)
    fb = np.ones((9, 9), np.uint8)
    spacing = (1.0, 2.0)  # rad 2.5: x half-size round(2.5) = 2, y round(1.25) = 1
    r = spatial.crossCorrelation(2.5, num(a, spacing), num(a, spacing), boo(fb, spacing), 0.0, 4.0, 4.0)
    assert np.allclose(r.array, brute_cross_correlation([1, 2], a, a, fb, 0.0, 4.0, 4.0), atol=2e-7)
    # a radius below half a voxel still uses half-size 1
    r = spatial.crossCorrelation(0.4, num(a), num(a), boo(fb), 0.0, 4.0, 4.0)
    assert np.allclose(r.array, brute_cross_correlation([1, 1], a, a, fb, 0.0, 4.0, 4.0), atol=2e-7)


def test_cross_correlation_flat_histograms():
    ones = boo(np.ones((4, 4)))
    outside = num(np.full((4, 4), 7.0))  # no value in [0, 3): all-zero, flat histograms
    zeros = num(np.zeros((4, 4)))        # local histograms [n, 0, 0]: never flat
    varied = num(np.arange(16).reshape(4, 4) % 3)  # global histogram [6, 5, 5]
    # both flat -> 1
    assert np.all(spatial.crossCorrelation(1.0, outside, outside, ones, 0.0, 3.0, 3.0).array == 1)
    # only the global one flat -> 0
    assert np.all(spatial.crossCorrelation(1.0, zeros, outside, ones, 0.0, 3.0, 3.0).array == 0)
    # only the local one flat -> 0
    assert np.all(spatial.crossCorrelation(1.0, outside, varied, ones, 0.0, 3.0, 3.0).array == 0)
    # by hand: local [0, 0, n] against global [6, 5, 5] (mean 16/3):
    # num = n·(5 - 16/3) = -n/3; den = sqrt(2n²/3)·sqrt(2/3) = 2n/3 -> -0.5
    twos = num(np.full((4, 4), 2.0))
    assert np.all(spatial.crossCorrelation(1.0, twos, varied, ones, 0.0, 3.0, 3.0).array == F32(-0.5))
    # fb restricts the global histogram only: over the voxels of value 2 it is
    # [0, 0, 5], the same shape as every local [0, 0, n] -> 1 (not -0.5)
    only_twos = boo(np.arange(16).reshape(4, 4) % 3 == 2)
    r = spatial.crossCorrelation(1.0, twos, varied, only_twos, 0.0, 3.0, 3.0).array
    assert np.all(r == 1)


def test_cross_correlation_bad_bins():
    with pytest.raises(PrimitiveError, match="crossCorrelation"):
        spatial.crossCorrelation(1.0, num([[1.0]]), num([[1.0]]), boo([[1]]), 0.0, 1.0, 0.5)


# -- otsu ------------------------------------------------------------------

def test_otsu_bimodal_and_masked():
    rng = np.random.default_rng(8)
    low = rng.integers(0, 3, size=40)
    high = rng.integers(10, 13, size=40)
    values = np.concatenate([low, high]).astype(F32).reshape(8, 10)
    everything = boo(np.ones((8, 10)))
    r = call("otsu", num(values), everything, 64.0)
    assert r.array.tolist() == (values >= 10).astype(np.uint8).tolist()
    # restricted to the high voxels only, the threshold moves inside 10..12
    # and voxels outside the mask are false whatever their value
    mask = (values >= 10).astype(np.uint8)
    mask[0] = 0
    r = call("otsu", num(values), boo(mask), 64.0).array.astype(bool)
    assert not r[0].any() and not r[values < 10].any()
    assert r[(values == 12) & (mask > 0)].all() and not r[(values == 10)].any()


def test_otsu_empty_mask_is_an_error():
    with pytest.raises(PrimitiveError, match="otsu"):
        call("otsu", num([[1.0, 2.0]]), boo([[0, 0]]), 16.0)


def test_spatial_kind_errors():
    with pytest.raises(PrimitiveError, match="near"):
        spatial.near(num([[1.0]]))
    with pytest.raises(PrimitiveError, match="sizes"):
        spatial.through(boo([[1, 0]]), boo([[1], [0]]))
