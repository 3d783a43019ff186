"""The builtin reference: docs/reference.md is what the registry generates,
every builtin is documented with an example, every example runs and prints
what it says, and ``voxlogica primitives NAME`` prints the same entry.
Also: the reducer gets the ImgQL libraries from the registry it is handed."""
import os
import pathlib

import pytest

import voxlogica_nb as vx
from voxlogica_nb.cli import main
from voxlogica_nb.language.reducer import Reducer
from voxlogica_nb.primitives import REGISTRY, reference
from voxlogica_nb.text import format_value

ROOT = pathlib.Path(__file__).resolve().parent.parent
NAMES = [p.name for p in reference.builtins()]


def test_reference_file_is_up_to_date():
    text = (ROOT / "docs" / "reference.md").read_text(encoding="utf-8")
    assert text == reference.render(), (
        "docs/reference.md is out of date: run `python -m voxlogica_nb.primitives.reference --write`")


def test_regenerating_writes_the_rendered_text(tmp_path):
    out = tmp_path / "reference.md"
    assert reference.main(["--write", str(out)]) == 0
    assert out.read_text(encoding="utf-8") == reference.render()


@pytest.mark.parametrize("name", NAMES)
def test_builtin_has_docstring_and_example(name):
    parts = reference.sections(REGISTRY[name].doc)
    assert parts[""], f"{name}: no summary"
    for section in ("Parameters", "Returns", "Examples"):
        assert parts.get(section), f"{name}: no {section} section"
    assert "print" in parts["Examples"] or "save" in parts["Examples"], f"{name}: the example shows nothing"


@pytest.fixture(scope="module")
def example_session(tmp_path_factory):
    folder = tmp_path_factory.mktemp("examples")
    reference.write_example_image(folder)
    cwd = os.getcwd()
    os.chdir(folder)
    try:
        yield vx.Session(no_cache=True, jobs=2)
    finally:
        os.chdir(cwd)


@pytest.mark.parametrize("name", NAMES)
def test_example_runs_and_prints_what_it_says(example_session, name):
    text = reference.example(REGISTRY[name])
    result = example_session.run(f"{reference.PRELUDE}\n{text}", f"{name} example")
    assert result.ok, result.failures
    expected = reference.expected_prints(text)
    assert set(expected) == set(result.labels), "every print states its value (and only prints do)"
    assert {label: format_value(result[label]) for label in result.labels} == expected


def test_library_definitions_are_listed():
    groups = reference.library_groups()
    for name in ("&", "~>", "mayReach", "smoothen", "collect", "dc", "ntppi"):
        assert name in groups
    assert "let mayReach(a, b) =" in reference.entry("mayReach")
    text = reference.render()
    assert "## Standard library" in text and "## RegionCalculus library" in text


# -- the command line ------------------------------------------------------------

def test_cli_prints_the_reference_entry(capsys):
    assert main(["primitives", "near"]) == 0
    assert capsys.readouterr().out == reference.entry("near")
    assert reference.entry("near") in reference.render()
    assert main(["primitives", "mayReach"]) == 0
    assert "let mayReach" in capsys.readouterr().out


def test_cli_lists_names_with_a_summary(capsys):
    assert main(["primitives"]) == 0
    out = capsys.readouterr().out
    line = next(ln for ln in out.splitlines() if ln.startswith("near "))
    assert line.endswith("— " + REGISTRY["near"].summary)
    assert "mayReach" in out and "simpleitk" in out


def test_cli_unknown_name_suggests_close_ones(capsys):
    assert main(["primitives", "nera"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "no builtin named 'nera'" in captured.err and "near" in captured.err
    assert main(["primitives", "Mayreach"]) == 2
    assert "mayReach" in capsys.readouterr().err


# -- the registry ------------------------------------------------------------------

class _Libraries:
    """REGISTRY's primitives with other ImgQL libraries."""

    def __init__(self, texts):
        self.texts = texts

    def __getattr__(self, name):
        return getattr(REGISTRY, name)

    def library(self, name):
        return self.texts.get(name)


def test_reducer_takes_libraries_from_its_registry():
    registry = _Libraries({"stdlib": "let two = 2", "Mine": "let three = 3"})
    reducer = Reducer(registry)
    assert "two" in reducer.globals and "mayReach" not in reducer.globals
    reducer.reduce_program('import "Mine"\nprint "s" two .+. three')
    assert "three" in reducer.globals
    with pytest.raises(vx.VoxLogicaError, match="no such file or namespace"):
        reducer.reduce_program('import "RegionCalculus"')


def test_builtin_docs_come_from_one_registration():
    # `+` is registered by the number and the image modules; the image one documents it
    assert REGISTRY["+"].module.endswith(".images") and "float32" in REGISTRY["+"].doc
    with pytest.raises(ValueError, match="documented by two registrations"):
        REGISTRY.primitive("+", "(str, str) -> str", cost="cheap", doc="Concatenation.")(lambda a, b: a + b)
    assert len(REGISTRY["+"].overloads) == 4
