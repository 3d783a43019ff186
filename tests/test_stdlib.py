"""The standard library, run as ImgQL, against direct numpy/scipy definitions."""
import numpy as np
import pytest
import SimpleITK as sitk
from scipy import ndimage as ndi

import voxlogica_nb as vl
from voxlogica_nb.primitives import REGISTRY

BOX = np.ones((3, 3), bool)
SPACING = (1.0, 1.0)


def draw():
    """Two 2D bool images with several components, and a number image."""
    yy, xx = np.mgrid[0:40, 0:50]
    a = ((xx - 12) ** 2 + (yy - 12) ** 2 <= 36)                      # disc
    a |= (xx >= 30) & (xx <= 44) & (yy >= 5) & (yy <= 9)            # bar
    a |= (xx >= 20) & (xx <= 24) & (yy >= 28) & (yy <= 36)          # block
    a |= (xx == 2) & (yy == 38)                                     # speck
    a |= (xx >= 42) & (xx <= 46) & (yy >= 32) & (yy <= 35)          # inside b's corner
    b = (xx >= 15) & (xx <= 35) & (yy >= 14) & (yy <= 26)           # rectangle
    b |= (xx >= 40) & (yy >= 30)                                    # corner region
    b &= ~((xx >= 22) & (xx <= 27) & (yy >= 18) & (yy <= 22))       # with a hole
    n = np.random.default_rng(7).integers(0, 6, size=a.shape).astype(np.float32) - 1.0
    return a, b, n


@pytest.fixture
def images(in_tmp):
    a, b, n = draw()
    for name, arr in (("a", a.astype(np.uint8)), ("b", b.astype(np.uint8)), ("n", n)):
        img = sitk.GetImageFromArray(arr)
        img.SetSpacing(SPACING)
        sitk.WriteImage(img, f"{name}.nii.gz")
    return a, b, n


PRELUDE = """
load ia = "a.nii.gz"
load ib = "b.nii.gz"
load n = "n.nii.gz"
let a = ia >. 0
let b = ib >. 0
"""


def run(body):
    r = vl.run(PRELUDE + body, no_cache=True, jobs=1)
    assert r.ok, r.failures
    return r


def arr(value):
    assert isinstance(value, vl.Image), value
    return value.array.astype(bool) if value.kind == "bool" else value.array


# -- references ---------------------------------------------------------------

def near(x):
    return ndi.binary_dilation(x, BOX)


def interior(x):
    return ndi.binary_erosion(x, BOX, border_value=1)


def through(b1, b2):
    lab, _ = ndi.label(b2, BOX)
    keep = np.unique(lab[b1 & b2])
    return np.isin(lab, keep[keep > 0])


def touch(a, b):
    return through(near(b), a)


def pdt(x):
    return ndi.distance_transform_edt(~x, sampling=SPACING).astype(np.float32)


def test_stdlib_is_a_library_file():
    text = REGISTRY.library("stdlib")
    code = [ln for ln in text.splitlines() if ln.strip() and not ln.strip().startswith("//")]
    assert all(ln.startswith("let ") or ln.startswith("import ") for ln in code)


def test_boolean_connectives_on_images(images):
    a, b, _ = images
    r = run('''
print "and" a & b
print "or" a | b
print "not" !a
print "minus" a \\ b
print "xor" xor(a, b)
print "prefix_swallows" !a & b
print "paren" (!a) & b
''')
    assert (arr(r["and"]) == (a & b)).all()
    assert (arr(r["or"]) == (a | b)).all()
    assert (arr(r["not"]) == ~a).all()
    assert (arr(r["minus"]) == (a & ~b)).all()
    assert (arr(r["xor"]) == (a ^ b)).all()
    assert (arr(r["prefix_swallows"]) == ~(a & b)).all()
    assert (arr(r["paren"]) == (~a & b)).all()


def test_boolean_connectives_on_booleans():
    r = vl.run('print "t1" true & false\nprint "t2" false | true\nprint "t3" !false\n'
               'print "t4" (!true) | false', no_cache=True)
    assert (r["t1"], r["t2"], r["t3"], r["t4"]) == (False, True, True, False)


def test_spatial_shorthands(images):
    a, b, _ = images
    r = run('''
print "N" N a
print "I" I a
print "Bplus" B+ a
print "through" a ~> b
print "touch" touch(a, b)
print "T" T(a, b)
print "grow" grow(a, b)
print "mayReach" mayReach(a, b)
print "surrounded" surrounded(a, b)
print "S" S(a, b)
''')
    assert (arr(r["N"]) == near(a)).all()
    assert (arr(r["I"]) == interior(a)).all()
    assert (arr(r["Bplus"]) == (near(a) & ~a)).all()
    assert (arr(r["through"]) == through(b, a)).all()
    t = touch(a, b)
    assert (arr(r["touch"]) == t).all() and (arr(r["T"]) == t).all()
    assert t.any() and (t != a).any()  # some components touch b, some do not
    assert (arr(r["grow"]) == (a | touch(b, a))).all()
    may = near(through(near(a), b) | a)
    assert (arr(r["mayReach"]) == may).all()
    s = a & ~near(through(near(~(a | b)), ~b) | ~(a | b))
    assert (arr(r["surrounded"]) == s).all() and (arr(r["S"]) == s).all()


def test_surrounded_meaning(in_tmp):
    # a ring of b around a core of a: the core is surrounded, a part outside is not
    yy, xx = np.mgrid[0:30, 0:30]
    ring = (np.maximum(abs(xx - 12), abs(yy - 12)) <= 6) & (np.maximum(abs(xx - 12), abs(yy - 12)) >= 5)
    core = np.maximum(abs(xx - 12), abs(yy - 12)) <= 4
    outside = (xx >= 24) & (yy >= 24)
    for name, x in (("a", core | outside), ("b", ring)):
        sitk.WriteImage(sitk.GetImageFromArray(x.astype(np.uint8)), f"{name}.nii.gz")
    r = vl.run('load ia = "a.nii.gz"\nload ib = "b.nii.gz"\n'
               'print "s" surrounded(ia >. 0, ib >. 0)', no_cache=True)
    assert (arr(r["s"]) == core).all()


def test_comparison_shorthands(images):
    _, _, n = images
    r = run('''
print "lt" 1 .< n
print "gt" 1 .> n
print "lt2" n <. 1
print "le2" n <=. 1
print "gt2" n >. 1
print "ge2" n >=. 1
print "eq2" n =. 1
print "mul" 3 .* n
print "add" 3 .+ n
''')
    assert (arr(r["lt"]) == (n > 1)).all()
    assert (arr(r["gt"]) == (n < 1)).all()
    assert (arr(r["lt2"]) == (n < 1)).all()
    assert (arr(r["le2"]) == (n <= 1)).all()
    assert (arr(r["gt2"]) == (n > 1)).all()
    assert (arr(r["ge2"]) == (n >= 1)).all()
    assert (arr(r["eq2"]) == (n == 1)).all()
    assert (arr(r["mul"]) == n * np.float32(3)).all()
    assert (arr(r["add"]) == n + np.float32(3)).all()


def test_distances_and_morphology(images):
    a, _, _ = images
    r = run('''
print "pdt" pdt(a)
print "geq" distgeq(2, a)
print "leq" distleq(2.5, a)
print "smooth" smoothen(a, 2)
print "erode" erode(a, 1.5)
print "dilate" dilate(a, 1.5)
print "open" imopen(a, 2)
print "close" imclose(a, 2)
''')
    p = pdt(a)
    np.testing.assert_allclose(arr(r["pdt"]), p, rtol=1e-6)
    assert (arr(r["geq"]) == (p >= 2)).all()
    assert (arr(r["leq"]) == (p <= 2.5)).all()
    inner = pdt(~a) >= 2
    smooth = pdt(inner) <= 2
    assert (arr(r["smooth"]) == smooth).all()
    # smoothing removes the speck and keeps the disc's centre
    assert not smooth[38, 2] and smooth[12, 12]
    erode = ~(pdt(~a) <= 1.5)
    dilate = p <= 1.5
    assert (arr(r["erode"]) == erode).all() and (arr(r["dilate"]) == dilate).all()
    assert erode.sum() < a.sum() < dilate.sum()
    op = pdt(~(pdt(~a) <= 2)) <= 2
    cl = ~(pdt(~(pdt(a) <= 2)) <= 2)
    assert (arr(r["open"]) == op).all() and (arr(r["close"]) == cl).all()


def cross_correlation(rad, a, b, fb, m1, m2, k, spacing=SPACING):
    """VoxLogicA's texture similarity, voxel by voxel: the Pearson correlation
    of the k-bin histogram of ``a`` over the box of half-size
    max(1, round(rad / spacing)) around each voxel (clipped to the image)
    with the histogram of ``b`` over ``fb``; bins split [m1, m2) evenly,
    other values are not counted; both histograms flat gives 1, one flat 0."""
    def hist(values):
        v = values[(values >= m1) & (values < m2)]
        return np.bincount(np.minimum(((v - m1) / ((m2 - m1) / k)).astype(int), k - 1), minlength=k)

    def flat(h):
        return (h == h[0]).all()

    g = hist(b[fb])
    half = [max(1, round(rad / sp)) for sp in spacing]
    out = np.empty(a.shape)
    for idx in np.ndindex(a.shape):
        h = hist(a[tuple(slice(max(0, i - r), i + r + 1) for i, r in zip(idx, half))])
        if flat(h) or flat(g):
            out[idx] = 1.0 if flat(h) and flat(g) else 0.0
        else:
            out[idx] = np.corrcoef(h, g)[0, 1]
    return out


def test_texture_operator_is_cross_correlation(images):
    _, _, n = images
    r = run('''
let m = abs(n)
print "op" n ~[2, 8] m
print "call" crossCorrelation(2, n, m, tt, min(m), max(m), 8)
print "other" crossCorrelation(2, n, m, tt, min(m), max(m), 4)
''')
    m = np.abs(n)
    everywhere = np.ones(n.shape, bool)
    eight = cross_correlation(2, n, m, everywhere, m.min(), m.max(), 8)
    four = cross_correlation(2, n, m, everywhere, m.min(), m.max(), 4)
    assert len(np.unique(np.round(eight, 6))) > 50  # a real texture map, not a constant
    np.testing.assert_allclose(arr(r["op"]), eight, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(arr(r["call"]), eight, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(arr(r["other"]), four, rtol=1e-5, atol=1e-6)


def test_number_helpers(images):
    a, b, n = images
    r = run('''
print "b2n" booleanToNumber(7, a)
print "norm" norm(10, n)
print "ifB_t" ifB(true, a, b)
print "ifB_f" ifB(false, a, b)
print "ifN_t" ifN(1 .<. 2, n, constant(5))
print "ifN_f" ifN(2 .<. 1, n, constant(5))
print "divZ" divZ(constant(6), n, constant(-7))
print "overlayB" overlayB(a, n, constant(9))
''')
    assert (arr(r["b2n"]) == np.where(a, 7, 0)).all()
    np.testing.assert_allclose(arr(r["norm"]), n * 10 / n.max(), rtol=1e-6)
    assert (arr(r["ifB_t"]) == a).all() and (arr(r["ifB_f"]) == b).all()
    assert (arr(r["ifN_t"]) == n).all() and (arr(r["ifN_f"]) == 5).all()
    with np.errstate(divide="ignore"):
        expected = np.where(n != 0, np.float32(6) / n, -7)
    assert (n == 0).any() and (n != 0).any()
    np.testing.assert_allclose(arr(r["divZ"]), expected, rtol=1e-6)
    assert (arr(r["overlayB"]) == np.where(a, 9, n)).all()


def test_overlay_color(in_tmp):
    from voxlogica_nb import data

    data.write_shapes(".", size=(40, 30))
    disc = data.shapes_truth((40, 30))["disc"].array.astype(bool)
    sitk.WriteImage(sitk.GetImageFromArray(disc.astype(np.uint8)), "disc.png")
    r = vl.run('load img = "shapes.png"\nload d = "disc.png"\n'
               'print "o" overlayColor(d >. 0, img, 255, 0, 128)', no_cache=True)
    out, src = arr(r["o"]), data.shapes(size=(40, 30)).array
    assert r["o"].kind == "colour"
    assert (out[disc] == [255, 0, 128]).all()
    assert (out[~disc] == src[~disc]).all()


def test_emptiness_and_inclusion(images):
    r = run('''
print "e1" emptyB(a & !a)
print "e2" emptyB(a)
print "ne" nemptyB(a)
print "eq1" eqB(a, a | (a & b))
print "eq2" eqB(a, b)
print "neq" neqB(a, b)
print "leq1" leqB(a & b, b)
print "leq2" leqB(a, b)
''')
    assert [r[k] for k in ("e1", "e2", "ne", "eq1", "eq2", "neq", "leq1", "leq2")] == [
        True, False, True, True, False, True, True, False]


def test_connected_component_helpers(images):
    a, b, _ = images
    lab_b, _ = ndi.label(b, BOX)
    r = run('''
print "maskCC" maskCC(a, b)
print "maxCC" maxCC(a & b, b)
print "minCC" minCC(a & b, b)
print "minCC_out" minCC(a, b)
let one = a & b & (x <. 30)
print "one_min" minCC(one, b)
print "one_max" maxCC(one, b)
print "c_one" collect(one, b)
print "c_two" collect(a & b, b)
print "c_outside" collect(a, b)
print "c_empty" collect(a & !a, b)
''')
    assert (arr(r["maskCC"]) == np.where(a, lab_b, 0)).all()
    inter = a & b
    labels_met = np.unique(lab_b[inter])
    assert len(labels_met) == 2  # a meets both components of b
    assert r["maxCC"] == labels_met.max() and r["minCC"] == labels_met.min()
    assert r["minCC_out"] == 0.0  # a has points outside b
    assert r["one_min"] == r["one_max"] > 0
    assert (r["c_one"], r["c_two"], r["c_outside"], r["c_empty"]) == (True, False, False, True)


def test_user_let_shadows_stdlib(images):
    r = run('let touch(p, q) = p & q\nprint "t" touch(a, b)\nprint "g" grow(a, b)')
    a, b, _ = images
    assert (arr(r["t"]) == (a & b)).all()
    # grow was defined with the stdlib's touch (lexical scope)
    assert (arr(r["g"]) == (a | touch(b, a))).all()


def test_every_documented_name_is_defined():
    from voxlogica_nb.language.reducer import Reducer
    from voxlogica_nb.primitives import REGISTRY

    names = set(Reducer(REGISTRY).globals)
    documented = {"&", "|", "!", "~>", "N", "I", "B+", "\\", "mayReach", "touch", "T", "grow", "surrounded", "S",
                  ".<", ".>", "<.", "<=.", ">.", ">=.", "=.", ".*", ".+", "pdt", "distgeq", "distleq",
                  "smoothen", "~", "booleanToNumber", "norm", "ifB", "ifN", "emptyB", "nemptyB", "xor", "eqB",
                  "neqB", "leqB", "overlayB", "overlayColor", "divZ", "erode", "dilate", "imopen", "imclose",
                  "maskCC", "minCC", "maxCC", "collect"}
    missing = {n for n in documented - names if REGISTRY.lookup(n) is None}  # .< and .> are builtins
    assert not missing, missing


def test_strict_comparisons_match_voxlogica1_definitions_voxel_for_voxel():
    import numpy as np

    import voxlogica_nb as vx

    arr = np.array([[0.5, 1.0, np.nan], [2.0, 1.0000001, 0.9999999]], dtype=np.float32)
    s = vx.Session(no_cache=True)
    s.bind("img", arr)
    r = s.run('print "a" img >. 1\nprint "b" img <. 1\n'
              'print "c" volume(xor(img >. 1, (1 .<= img) & !(1 .= img)))\n'
              'print "d" volume(xor(img <. 1, (1 .>= img) & !(1 .= img)))')
    assert r.ok, r.failures
    assert r["c"] == 0.0 and r["d"] == 0.0
    assert r["a"].array.tolist() == [[False, False, False], [True, True, False]]
    assert r["b"].array.tolist() == [[True, False, False], [False, False, True]]
