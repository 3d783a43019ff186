"""The region connection calculus library on drawn pairs of regions."""
import numpy as np
import pytest
import SimpleITK as sitk

import voxlogica_nb as vl
from voxlogica_nb import data
from voxlogica_nb.primitives import REGISTRY

RELATIONS = ("p", "pp", "pi", "ppi", "o", "po", "dr", "eq", "dc", "ec", "tpp", "ntpp", "tppi", "ntppi")
RCC8 = ("dc", "ec", "po", "tpp", "ntpp", "tppi", "ntppi", "eq")

# Which relations hold for a pair in each RCC8 relation (a R b).
EXPECTED = {
    "dc": {"dc", "dr"},
    "ec": {"ec", "dr"},
    "po": {"po", "o"},
    "tpp": {"tpp", "p", "pp", "o"},
    "ntpp": {"ntpp", "p", "pp", "o"},
    "eq": {"eq", "p", "pi", "o"},
}
INVERSE = {"tpp": "tppi", "ntpp": "ntppi", "p": "pi", "pp": "ppi", "pi": "p", "ppi": "pp", "tppi": "tpp",
           "ntppi": "ntpp"}


def write(name, arr):
    sitk.WriteImage(sitk.GetImageFromArray(arr.astype(np.uint8)), name)


def relations(a_file, b_file, swap=False):
    first, second = ("b", "a") if swap else ("a", "b")
    prints = "\n".join(f'print "{rel}" {rel}({first}, {second})' for rel in RELATIONS)
    program = (f'import "RegionCalculus"\nload ia = "{a_file}"\nload ib = "{b_file}"\n'
               f"let a = ia >. 0\nlet b = ib >. 0\n{prints}\n")
    r = vl.run(program, no_cache=True, jobs=1)
    assert r.ok, r.failures
    return {rel for rel in RELATIONS if r[rel] is True}, r


def test_library_file_shape():
    text = REGISTRY.library("RegionCalculus")
    code = [ln for ln in text.splitlines() if ln.strip() and not ln.strip().startswith("//")]
    assert all(ln.startswith("let ") for ln in code)
    assert {ln.split()[1].split("(")[0] for ln in code} == set(RELATIONS)


@pytest.mark.parametrize("rel", sorted(EXPECTED))
def test_relations_on_drawn_pairs(in_tmp, rel):
    a, b = data.rcc_pairs()[rel]
    write("a.png", a)
    write("b.png", b)
    holding, r = relations("a.png", "b.png")
    assert holding == EXPECTED[rel]
    # RCC8 relations are jointly exhaustive and pairwise disjoint
    assert sum(r[x] is True for x in RCC8) == 1
    assert all(isinstance(r[x], bool) for x in RELATIONS)


@pytest.mark.parametrize("rel", ["tpp", "ntpp", "ec", "po"])
def test_inverse_relations(in_tmp, rel):
    a, b = data.rcc_pairs()[rel]
    write("a.png", a)
    write("b.png", b)
    holding, _ = relations("a.png", "b.png", swap=True)
    assert holding == {INVERSE.get(x, x) for x in EXPECTED[rel]}


def test_empty_region_is_in_no_relation(in_tmp):
    a = np.zeros((10, 10), bool)
    b = np.zeros((10, 10), bool)
    b[2:5, 2:5] = True
    write("a.png", a)
    write("b.png", b)
    holding, _ = relations("a.png", "b.png")
    assert holding == set()


def test_diagonal_contact_in_3d_is_external_connection(in_tmp):
    # 26-connectivity: regions meeting only at a corner are connected
    a = np.zeros((6, 6, 6), bool)
    b = np.zeros((6, 6, 6), bool)
    a[1:3, 1:3, 1:3] = True
    b[3:5, 3:5, 3:5] = True
    write("a.nii.gz", a)
    write("b.nii.gz", b)
    holding, _ = relations("a.nii.gz", "b.nii.gz")
    assert holding == {"ec", "dr"}
    b2 = np.zeros_like(b)
    b2[4:6, 4:6, 4:6] = True
    write("b.nii.gz", b2)
    holding, _ = relations("a.nii.gz", "b.nii.gz")
    assert holding == {"dc", "dr"}


def test_rcc_example_program(in_tmp):
    program = data.write_demo("rcc", ".")
    with open(program, encoding="utf-8") as f:
        r = vl.run(f.read(), source_name=program, no_cache=True, jobs=1)
    assert r.ok, r.failures
    for label in ("row1_dc", "row2_ec", "row3_po", "row4_tpp", "row5_ntpp", "row6_eq"):
        assert r[label] is True, label
    assert r["row1_ec"] is False
