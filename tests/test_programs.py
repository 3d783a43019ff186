"""Whole programs: the packaged examples on synthetic data, simpleitk calls."""
import os

import numpy as np
import pytest
import SimpleITK as sitk
from scipy import ndimage as ndi

import voxlogica_nb as vl
from voxlogica_nb import data

# Optional real images: a `shared/data` folder beside the repository, or
# $VOXLOGICA_SAMPLE_DATA; the tests that use them skip when it is absent.
REAL = os.environ.get("VOXLOGICA_SAMPLE_DATA") or os.path.join(
    os.path.dirname(os.path.abspath(__file__)), os.pardir, os.pardir, "shared", "data")


def run_file(path):
    with open(path, encoding="utf-8") as f:
        r = vl.run(f.read(), source_name=os.path.basename(path), no_cache=True, jobs=2)
    assert r.ok, r.failures
    return r


def read(path):
    return sitk.GetArrayFromImage(sitk.ReadImage(path))


def test_quickstart_keeps_every_shape_and_no_background(in_tmp):
    r = run_file(data.write_demo("quickstart", "."))
    truth = {k: v.array.astype(bool) for k, v in data.shapes_truth().items()}
    union = np.logical_or.reduce(list(truth.values()))
    things = read("output/03_things.png") > 0
    for name, mask in truth.items():
        assert things[mask].mean() > 0.95, name  # corners of the triangle may be rounded off
        assert things[ndi.binary_erosion(mask, np.ones((3, 3), bool), iterations=2)].all(), name
    # nothing of the background beyond a one-pixel rim around the shapes
    rim = ndi.binary_dilation(union, np.ones((3, 3), bool))
    assert not (things & ~rim).any()
    assert r["pieces"] == 3.0
    assert r["items"] == float(things.sum())
    # the noisy background had grey-looking specks the smoothing removed
    greyish = read("output/01_greyish.png") > 0
    background = read("output/02_background.png") > 0
    assert (~greyish & ~union).any() and not (background & union).any()
    # the masked picture: original colours on the items, black elsewhere
    masked = read("output/04_masked.png")
    original = data.shapes().array.astype(np.uint8)
    assert (masked[things] == original[things]).all()
    assert (masked[~things] == 0).all()


def test_tumour_example_high_dice(in_tmp):
    r = run_file(data.write_demo("tumour", "."))
    assert r["dice_tumour"] > 0.95
    assert r["dice_gtv"] > 0.95
    gtv = read("out/gtv.nii.gz")
    truth = data.phantom().lesion.array.astype(bool)
    dice = 2 * (gtv.astype(bool) & truth).sum() / (gtv.sum() + truth.sum())
    assert abs(dice - r["dice_gtv"]) < 1e-9


@pytest.mark.parametrize("seed", [1, 2])
def test_tumour_example_other_seeds(in_tmp, seed):
    data.write_demo("tumour", ".", seed=seed)
    r = run_file("tumour.imgql")
    assert r["dice_tumour"] > 0.9 and r["dice_gtv"] > 0.9


def test_tumour_example_fails_without_the_lesion(in_tmp):
    # the same program on a scan whose lesion is painted over with healthy
    # tissue finds no tumour matching the truth: the Dice really measures it
    data.write_demo("tumour", ".")
    ph = data.phantom()
    flair = ph.flair.array.copy()
    flair[ph.lesion.array.astype(bool)] = 0.45
    img = ph.flair.like(flair).to_sitk()
    sitk.WriteImage(img, "phantom_flair.nii.gz")
    r = run_file("tumour.imgql")
    assert r["dice_tumour"] < 0.3


def test_simpleitk_in_a_program(in_tmp):
    data.write_phantom(".")
    r = vl.run('''
import "simpleitk"
load scan = "phantom_flair.nii.gz"
let med = simpleitk.Median(scan, 1)
let med2 = Median(scan, for i in range(3) do 1)
let bright = simpleitk.BinaryThreshold(scan, 0.8, 1.0, 1, 0) >. 0
print "same" volume(med =. 0) .=. volume(med2 =. 0)
print "bright" volume(bright)
print "truth" volume(scan >=. 0.8)
print "mm" simpleitk.MinimumMaximum(scan)
save "med.nii.gz" med
''', no_cache=True, jobs=1)
    assert r.ok, r.failures
    flair = data.phantom().flair
    expected = sitk.GetArrayFromImage(sitk.Median(flair.to_sitk(), [1, 1, 1]))
    np.testing.assert_array_equal(read("med.nii.gz"), expected)
    assert r["same"] is True
    assert r["bright"] == r["truth"] > 0
    assert r["mm"] == [float(flair.array.min()), float(flair.array.max())]


def test_simpleitk_static_errors_before_running(in_tmp):
    with pytest.raises(vl.VoxLogicaError, match="Median"):
        vl.run('import "simpleitk"\nprint "x" simpleitk.Median(1, 2)', no_cache=True)
    with pytest.raises(vl.VoxLogicaError):
        vl.run('print "x" simpleitk.NoSuchFilter(1)', no_cache=True)


def test_simpleitk_vector_of_wrong_length(in_tmp):
    data.write_phantom(".")
    r = vl.run('load scan = "phantom_flair.nii.gz"\n'
               'print "x" simpleitk.Median(scan, range(1, 3))', no_cache=True)
    assert not r.ok
    msg = str(r.failures[0])
    assert "simpleitk.Median" in msg and "one value per image axis, 3 here; got [2]" in msg


def test_simpleitk_runtime_error_is_reported(in_tmp):
    data.write_phantom(".")
    r = vl.run('load scan = "phantom_flair.nii.gz"\n'
               'print "x" simpleitk.ConnectedComponent(scan)', no_cache=True)
    assert not r.ok
    assert "simpleitk.ConnectedComponent" in str(r.failures[0])


def test_load_missing_file_fails_at_run_time(in_tmp):
    r = vl.run('load scan = "missing.nii.gz"\nprint "v" volume(scan >. 0)', no_cache=True)
    assert not r.ok
    assert r.failures[0].op == "load"
    assert "no such file 'missing.nii.gz'" in str(r.failures[0])


def test_changed_input_file_is_not_served_stale(in_tmp, tmp_path_factory):
    cache = str(tmp_path_factory.mktemp("store"))
    arr = np.zeros((8, 8), np.uint8)
    arr[2:4, 2:4] = 1
    sitk.WriteImage(sitk.GetImageFromArray(arr), "m.png")
    program = 'load m = "m.png"\nprint "v" volume(m >. 0)'
    assert vl.run(program, cache_dir=cache)["v"] == 4.0
    arr[2:6, 2:6] = 1
    sitk.WriteImage(sitk.GetImageFromArray(arr), "m.png")
    assert vl.run(program, cache_dir=cache)["v"] == 16.0


def test_second_image_of_other_size_is_an_error(in_tmp):
    sitk.WriteImage(sitk.GetImageFromArray(np.zeros((4, 5), np.uint8)), "a.png")
    sitk.WriteImage(sitk.GetImageFromArray(np.zeros((4, 6), np.uint8)), "b.png")
    r = vl.run('load a = "a.png"\nload b = "b.png"\nprint "v" volume(b >. 0)', no_cache=True)
    assert not r.ok
    assert "6×4" in str(r.failures[0]) and "5×4" in str(r.failures[0])


def test_load_expression_in_a_loop(in_tmp):
    for i in range(3):
        arr = np.zeros((6, 7 + i), np.uint8)
        arr[: i + 1, 0] = 1
        sitk.WriteImage(sitk.GetImageFromArray(arr), f"img{i}.png")
    r = vl.run('print "v" for f in dir(".", "img*.png") do volume(load(f) >. 0)', no_cache=True)
    assert r.ok, r.failures
    assert r["v"] == [1.0, 2.0, 3.0]


@pytest.mark.skipif(not os.path.isdir(REAL), reason="real sample images not available")
def test_quickstart_on_the_original_picture(in_tmp):
    with open(data.example_path("quickstart"), encoding="utf-8") as f:
        text = f.read().replace('"shapes.png"', f'"{REAL}/three_coloured_items.png"')
    r = vl.run(text, no_cache=True, jobs=2)
    assert r.ok, r.failures
    assert r["pieces"] == 3.0


@pytest.mark.skipif(not os.path.isdir(REAL), reason="real sample images not available")
def test_rcc_on_the_original_sheet(in_tmp):
    rows = {1: ("dc", 0), 2: ("ec", 40), 3: ("tpp", 80), 4: ("ntpp", 120), 5: ("po", 160), 6: ("eq", 200)}
    lines = ['import "RegionCalculus"', f'load img = "{REAL}/example-rcc8d.png"',
             "let left = green(img) =. 255", "let right = red(img) =. 255"]
    for i, (_, v) in rows.items():
        lines.append(f"let row{i} = blue(img) =. {v}")
        for rel in ("dc", "ec", "tpp", "ntpp", "po", "eq"):
            lines.append(f'print "r{i}_{rel}" {rel}(row{i} & left, row{i} & right)')
    r = vl.run("\n".join(lines), no_cache=True)
    assert r.ok, r.failures
    for i, (rel, _) in rows.items():
        holding = [x for x in ("dc", "ec", "tpp", "ntpp", "po", "eq") if r[f"r{i}_{x}"]]
        assert holding == [rel], (i, holding)
