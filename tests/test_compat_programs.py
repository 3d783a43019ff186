"""Constructs found in ImgQL programs written for VoxLogicA 1, each reduced
statically (no image is read) and checked against the task graph or the
parse it must give."""
import pytest

from _build import shape
from voxlogica_nb import Session
from voxlogica_nb.language.parser import parse_expression


def reduce(text):
    return Session().reduce(text, "<compat>")


# VoxLogicA 1 reads numbers with FParsec's pfloat, which also takes a
# fraction without an integer part (".5", "-.5") where an operand is expected.
@pytest.mark.parametrize("text, expected", [
    ("1 .+. .5", (".+.", 1.0, 0.5)),
    ("f(.25)", ("f", 0.25)),
    ("-.5 .+. 1", (".+.", -0.5, 1.0)),
    ("+.5", 0.5),
    (".5e1", 5.0),
    ("x -.5", ("-.", "x", 5.0)),      # after an operand: the operator -. applied to 5
    ("x +. .5", ("+.", "x", 0.5)),
])
def test_fraction_without_integer_part(text, expected):
    assert shape(parse_expression(text)) == expected


def test_fraction_without_integer_part_in_a_program():
    def saved_task(fractions):
        [effect] = reduce('load img = "flair.nii.gz"\n'
                          f'let hI = percentiles(intensity(img), tt, {fractions[0]}) >. {fractions[1]}\n'
                          'save "hI.nii.gz" hI\n').effects
        assert (effect.kind, effect.target) == ("save", "hI.nii.gz")
        return effect.task

    task = saved_task((".5", ".95"))
    # task ids are content hashes: the same task as with the numbers written out
    assert task.id == saved_task(("0.5", "0.95")).id
    assert task.id != saved_task(("0.5", "0.9")).id and task.id != saved_task(("0.6", "0.95")).id

    def consts(t, op=None):
        """Constant arguments of the applications (of ``op``, or of any) under ``t``."""
        found, stack = set(), [t]
        while stack:
            u = stack.pop()
            if u.kind == "apply" and op in (None, u.op):
                found |= {a.value for a in u.args if a.kind == "const"}
            stack.extend(u.args)
        return found

    assert consts(task, "percentiles") == {0.5}
    assert consts(task) == {"flair.nii.gz", 0.5, 0.95}


def test_a_dot_before_a_spaced_number_is_still_a_prefix_operator():
    assert shape(parse_expression(". 5")) == (".", 5.0)
    assert shape(parse_expression(".5.")) == (".", 5.0)  # "5." is a number, ".5." is not
