"""Synthetic images: determinism, content, files."""
import os

import numpy as np
import pytest
import SimpleITK as sitk
from scipy import ndimage as ndi

from voxlogica_nb import data
from voxlogica_nb.primitives import REGISTRY


def load(path):
    return REGISTRY["load"].dispatch([path])(path)


def test_shapes_deterministic_and_seeded():
    a, b = data.shapes(seed=3), data.shapes(seed=3)
    assert a == b
    assert not np.array_equal(a.array, data.shapes(seed=4).array)


def test_shapes_picture():
    img = data.shapes()
    assert img.kind == "colour" and img.components == 3 and img.size == data.SHAPES_SIZE
    arr = img.array
    assert arr.min() >= 0 and arr.max() <= 255
    assert np.array_equal(arr, np.rint(arr))
    truth = data.shapes_truth()
    union = np.zeros(img.shape, bool)
    for name, mask in truth.items():
        m = mask.array.astype(bool)
        assert m.sum() > 300, name
        assert not (m[0].any() or m[-1].any() or m[:, 0].any() or m[:, -1].any())
        union |= m
        # each shape has a low channel (not grey) and the expected dominant one
        mean = arr[m].mean(axis=0)
        assert mean.min() < 100
        assert int(np.argmax(mean)) == {"disc": 0, "square": 1, "triangle": 2}[name]
    background = arr[~union]
    assert background.mean() > 150
    # mostly grey, but noisy enough to have a few non-grey specks
    greyish = (background > 120).all(axis=1)
    assert greyish.mean() > 0.97 and (~greyish).sum() > 0


def test_shapes_other_size():
    img = data.shapes(size=(80, 60))
    assert img.size == (80, 60)
    assert {k: v.size for k, v in data.shapes_truth((80, 60)).items()} == {
        "disc": (80, 60), "square": (80, 60), "triangle": (80, 60)}


def test_write_shapes_round_trip(tmp_path):
    path = data.write_shapes(str(tmp_path))
    assert os.path.basename(path) == "shapes.png"
    back = load(path)
    assert back.kind == "colour"
    np.testing.assert_array_equal(back.array, data.shapes().array)


def test_phantom_deterministic():
    a, b = data.phantom(seed=1), data.phantom(seed=1)
    assert a.flair == b.flair and a.labels == b.labels
    assert not np.array_equal(a.flair.array, data.phantom(seed=2).flair.array)


def test_phantom_anatomy():
    ph = data.phantom()
    f = ph.flair.array
    assert ph.flair.size == data.PHANTOM_SMALL
    assert f.dtype == np.float32 and f.min() >= 0 and f.max() <= 1
    # background: dark, and the dark region touching the border is all air
    dark = f < 0.1
    lab, _ = ndi.label(dark, np.ones((3, 3, 3)))
    border_labels = np.unique(np.concatenate([lab[0].ravel(), lab[-1].ravel(), lab[:, 0].ravel(),
                                              lab[:, -1].ravel(), lab[:, :, 0].ravel(), lab[:, :, -1].ravel()]))
    background = np.isin(lab, border_labels[border_labels > 0])
    assert background[0, 0, 0] and not background[f.shape[0] // 2, f.shape[1] // 2, f.shape[2] // 2]
    head = ~background
    lesion, core = ph.lesion.array.astype(bool), ph.core.array.astype(bool)
    assert (core <= lesion).all() and core.any() and (lesion & ~core).any()
    assert not (lesion & background).any()
    # the lesion is the brightest tissue: core brighter than oedema, both
    # brighter than healthy head tissue on average
    healthy = head & ~lesion
    assert f[core].mean() > f[lesion & ~core].mean() + 0.1 > f[healthy].mean() + 0.2
    frac = lesion[head].mean()
    assert 0.06 < frac < 0.13, frac
    # irregular, not a ball: boundary distances from the centroid vary a lot
    zyx = np.argwhere(core ^ ndi.binary_erosion(core)) * np.array(ph.core.spacing[::-1])
    dist = np.linalg.norm(zyx - zyx.mean(axis=0), axis=1)
    assert dist.max() > 1.4 * dist.min()
    labels = ph.labels.array
    assert set(np.unique(labels)) == {0.0, 1.0, 2.0}
    assert ((labels > 0) == lesion).all() and ((labels > 1) == core).all()


def test_phantom_spacing_default_and_anisotropic():
    ph = data.phantom()
    np.testing.assert_allclose(ph.flair.spacing, (5.0, 5.0, 155.0 / 32))
    ani = data.phantom(spacing=(1.0, 1.0, 2.0))
    assert ani.flair.spacing == (1.0, 1.0, 2.0)
    assert ani.lesion.spacing == (1.0, 1.0, 2.0)
    np.testing.assert_array_equal(ani.flair.array, ph.flair.array)


def test_phantom_other_size_keeps_proportions():
    small = data.phantom((48, 48, 32)).lesion.array.mean()
    bigger = data.phantom((72, 72, 48)).lesion.array.mean()
    assert abs(small - bigger) < 0.01


def test_write_phantom(tmp_path):
    paths = data.write_phantom(str(tmp_path), spacing=(1.0, 1.5, 2.0))
    assert os.path.basename(paths["flair"]) == "phantom_flair.nii.gz"
    assert os.path.basename(paths["truth"]) == "phantom_truth.nii.gz"
    ph = data.phantom(spacing=(1.0, 1.5, 2.0))
    flair = load(paths["flair"])
    np.testing.assert_array_equal(flair.array, ph.flair.array)
    np.testing.assert_allclose(flair.spacing, (1.0, 1.5, 2.0))
    raw = sitk.ReadImage(paths["truth"])
    assert raw.GetPixelID() == sitk.sitkUInt8
    np.testing.assert_array_equal(sitk.GetArrayFromImage(raw), ph.labels.array.astype(np.uint8))


def test_rcc_pairs_are_in_their_relation():
    box = np.ones((3, 3), bool)
    for rel, (a, b) in data.rcc_pairs().items():
        near_a = ndi.binary_dilation(a, box)
        overlap, inside, touching = (a & b).any(), not (a & ~b).any(), (near_a & b).any()
        expected = {
            "dc": not touching,
            "ec": touching and not overlap,
            "po": overlap and (a & ~b).any() and (b & ~a).any(),
            "tpp": inside and (b & ~a).any() and (near_a & ~b).any(),
            "ntpp": inside and (b & ~a).any() and not (near_a & ~b).any(),
            "eq": (a == b).all(),
        }[rel]
        assert expected, rel


def test_write_rcc(tmp_path):
    path = data.write_rcc(str(tmp_path))
    back = load(path)
    np.testing.assert_array_equal(back.array, data.rcc_sheet().array)


@pytest.mark.parametrize("name,files", [
    ("quickstart", {"quickstart.imgql", "shapes.png"}),
    ("tumour", {"tumour.imgql", "phantom_flair.nii.gz", "phantom_truth.nii.gz"}),
    ("rcc", {"rcc.imgql", "rcc.png"}),
])
def test_write_demo(tmp_path, name, files):
    program = data.write_demo(name, str(tmp_path))
    assert set(os.listdir(tmp_path)) == files
    assert os.path.basename(program) == name + ".imgql"
    with open(program, encoding="utf-8") as f:
        text = f.read()
    for fname in files - {name + ".imgql"}:
        assert f'"{fname}"' in text


def test_write_demo_unknown():
    with pytest.raises(ValueError, match="unknown demo"):
        data.write_demo("nope", "x")
