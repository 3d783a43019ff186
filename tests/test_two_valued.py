"""Two-valued number images (what thresholds make) held as their mask."""
from __future__ import annotations

import pickle

import numpy as np
import pytest

from voxlogica_nb.engine.memory import buffers, voxels
from voxlogica_nb.image import Image
from voxlogica_nb.primitives.registry import REGISTRY

import voxlogica_nb  # noqa: F401  (registers the builtins)

RNG = np.random.default_rng(7)
BASE = Image(RNG.normal(size=(4, 5, 6)).astype(np.float32), "number", (0.5, 1.0, 2.0), (1.0, 2.0, 3.0))
MASK = RNG.random((4, 5, 6)) > 0.4


def made(inside, outside, mask=MASK):
    return np.where(mask, np.float32(inside), np.float32(outside)).astype(np.float32)


@pytest.mark.parametrize("inside,outside", [(1, 0), (0, 1), (7, 3), (255, 0), (-2.5, np.nan), (0.1, 0.1)])
def test_voxels_are_made_on_first_read_and_equal_the_mask_filled_with_the_two_values(inside, outside):
    img = Image.two_valued(MASK, inside, outside, BASE)
    assert img.levels is not None and img.nbytes == MASK.nbytes  # only the mask is held
    assert img.shape == BASE.shape and img.size == BASE.size and img.dtype == "float32"
    assert (img.spacing, img.origin, img.direction) == (BASE.spacing, BASE.origin, BASE.direction)
    assert buffers(img) == [(id(img.held), MASK.nbytes)] and voxels(img) == MASK.size
    np.testing.assert_array_equal(img.array, made(inside, outside))
    assert img.levels is None and img.array.dtype == np.float32 and img.nbytes == img.array.nbytes


def test_a_pickle_holds_the_mask_while_the_voxels_are_not_made():
    img = Image.two_valued(MASK, 3, 1, BASE)
    data = pickle.dumps(img)
    full = Image(made(3, 1), "number", BASE.spacing, BASE.origin, BASE.direction)
    assert len(data) <= len(pickle.dumps(full)) - 2 * MASK.size  # a byte a voxel, not four
    back = pickle.loads(data)
    assert img.levels is not None and back.levels is not None and back.nbytes == MASK.nbytes
    assert back == img and (back.spacing, back.origin) == (BASE.spacing, BASE.origin)
    np.testing.assert_array_equal(back.array, made(3, 1))
    made_ = pickle.loads(pickle.dumps(back))  # once made, the voxels are what is pickled
    assert made_.levels is None and made_ == img
    old = Image.__new__(Image)  # a pickle written before images kept a mask
    old.__setstate__({"array": made(3, 1), "kind": "number", "spacing": BASE.spacing,
                      "origin": BASE.origin, "direction": BASE.direction})
    assert old == img and old.levels is None and old.value_range() == (1.0, 3.0)


COMPARISONS = ["=.", ".=", ".<", ".<=", ".>", ".>=", "<", "<=", ">", ">=", "==", "!="]


@pytest.mark.parametrize("name", COMPARISONS)
@pytest.mark.parametrize("k", [0.0, 1.0, 2.0, 3.0, 5.0, np.nan, np.inf, -1e40])
@pytest.mark.parametrize("inside,outside", [(1, 0), (0, 3), (2, 2)])
def test_comparisons_with_a_number_read_the_mask_and_agree_with_the_voxels(name, k, inside, outside):
    img = Image.two_valued(MASK, inside, outside, BASE)
    full = Image(made(inside, outside), "number", BASE.spacing, BASE.origin, BASE.direction)
    args = (k, img) if name.startswith(".") else (img, k)
    fn = REGISTRY[name].dispatch(list(args))
    got = fn(*args)
    assert img.levels is not None  # decided from the two values: no voxels made
    expected = fn(*[full if a is img else a for a in args])
    assert got == expected and got.kind == "bool" and got.array.dtype == np.uint8


def test_value_range_ignores_nan_and_comes_from_the_mask_when_the_voxels_are_not_made():
    arr = np.array([[np.nan, 2.0], [-3.0, np.inf]], np.float32)
    assert Image(arr).value_range() == (-3.0, np.inf)
    assert Image(np.full((2, 2), np.nan, np.float32)).value_range() is None
    assert Image(np.full((2, 2), np.inf, np.float32)).value_range() == (np.inf, np.inf)
    assert Image(np.zeros((0, 2), np.float32)).value_range() is None
    flat = Image(np.zeros((2, 2), np.float32))
    assert Image.two_valued(np.ones((2, 2), bool), 5, 1, flat).value_range() == (5.0, 5.0)
    assert Image.two_valued(np.zeros((2, 2), bool), 5, 1, flat).value_range() == (1.0, 1.0)
    mixed = Image.two_valued(np.eye(2, dtype=bool), 5, 1, flat)
    assert mixed.value_range() == (1.0, 5.0) and mixed.levels is not None
    assert Image.two_valued(np.zeros((2, 2), bool), 5, np.nan, flat).value_range() is None


def test_min_and_max_of_an_image_read_its_voxels_once():
    img = Image(BASE.array.copy())
    mn, mx = REGISTRY["min"].dispatch([img]), REGISTRY["max"].dispatch([img])
    assert mn(img) == float(BASE.array.min())
    assert img._range == [float(BASE.array.min()), None]  # max is not read until asked for
    assert mx(img) == float(BASE.array.max())
    img._range = [-1.0, 42.0]  # what they answer comes from what the image kept
    assert (mn(img), mx(img)) == (-1.0, 42.0)


def test_a_threshold_in_a_program_counts_what_numpy_counts():
    import voxlogica_nb as vx

    s = vx.Session(no_cache=True)
    s.bind("img", BASE)
    r = s.run('print "n" volume(simpleitk.BinaryThreshold(img, 0, 100, 4, 2) >. 3)\n'
              'print "m" max(simpleitk.BinaryThreshold(img, 0, 100, 4, 2))')
    assert r["n"] == float(np.count_nonzero(BASE.array >= 0)) and r["m"] == 4.0


def test_the_store_keeps_a_two_valued_image_as_its_mask(tmp_path):
    from voxlogica_nb.engine.diskstore import DiskStore

    big_mask = np.random.default_rng(3).random((64, 128, 128)) > 0.5  # 1 MB: a file of its own
    like = Image(np.zeros(big_mask.shape, np.float32))
    img = Image.two_valued(big_mask, 1, 0, like)
    store = DiskStore(tmp_path / "store")
    store.put("ab" * 32, img, {"op": "simpleitk.BinaryThreshold", "version": "1", "seconds": 0.0})
    files = [p for p in (tmp_path / "store").rglob("*.pkl")]
    assert len(files) == 1 and files[0].stat().st_size < big_mask.size * 2
    back = DiskStore(tmp_path / "store").get("ab" * 32)
    assert back.levels is not None and back == img
