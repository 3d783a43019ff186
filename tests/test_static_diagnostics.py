"""Static diagnostics: every error of a program at once, each located;
imports that are not found say where they were looked for; type errors in
unparenthesised operator chains show how the chain groups."""
import numpy as np
import pytest

import voxlogica_nb as vx
from voxlogica_nb.errors import MAX_ERRORS, VoxLogicaError
from voxlogica_nb.language.parser import parse, parse_expression
from voxlogica_nb.language.reducer import Reducer
from voxlogica_nb.primitives import REGISTRY


def errors_of(text, source="p"):
    with pytest.raises(VoxLogicaError) as info:
        Reducer(REGISTRY).reduce_program(text, source)
    return info.value


def heads(err):
    return [(e.line, e.col, e.message) for e in err.errors]


# -- all static errors, each located ---------------------------------------------
THREE = ('let a = 1\n'
         'print "x" foo(1)\n'
         'let g(x) = x\n'
         'print "g" g(1, 2)\n'
         'print "e" 1 .+. true\n')


def test_every_static_error_is_reported_with_its_position():
    err = errors_of(THREE)
    assert heads(err) == [
        (2, 11, "unknown name `foo`"),
        (4, 11, "`g` takes 1 argument (x), got 2"),
        (5, 13, "type error: `.+.` expects (number, number), got (number, boolean)"),
    ]
    # the first error's fields, as before
    assert (err.line, err.col, err.message) == (2, 11, "unknown name `foo`")
    assert err.errors[0].hint == "" and "did you mean" not in str(err.errors[0])
    lines = str(err).splitlines()
    assert lines[0] == "p:2:11: unknown name `foo`"
    assert lines[3] == "p:4:11: `g` takes 1 argument (x), got 2"
    assert lines[6].startswith("p:5:13: type error: `.+.`")
    assert lines[7:9] == ['  print "e" 1 .+. true', "  " + " " * 12 + "^"]
    assert lines[-1] == "3 errors"
    assert err.render() == str(err)
    assert err._render_traceback_() == lines
    # one error alone renders as it always did
    (one,) = errors_of('print "x" foo(1)').errors
    assert str(one).splitlines() == ['p:1:11: unknown name `foo`', '  print "x" foo(1)', "  " + " " * 10 + "^"]


def test_a_failed_definition_does_not_cascade():
    err = errors_of('let a = foo(1)\n'
                    'let b = a + 1\n'  # uses a: skipped silently
                    'let f(x) = x + b\n'
                    'print "b" f(2)\n'  # uses b through f: skipped silently
                    'print "c" bar\n'
                    'load c = "nosuchfile.png"\n'
                    'print "d" range(1, 2, 3)\n')
    assert [(line, msg) for line, _, msg in heads(err)] == [
        (1, "unknown name `foo`"),
        (5, "unknown name `bar`"),
        (7, "`range` takes 1 or 2 arguments, got 3"),
    ]


def test_failed_definitions_bind_nothing_and_later_uses_are_located():
    s = vx.Session(no_cache=True)
    s.run("let a = 1\nlet b = 2")
    with pytest.raises(VoxLogicaError):
        s.run('let a = nope\nlet h(x) = x + a\nlet ok = 5\nlet b = oops', "<cell>")
    assert s.value("a") == 1.0 and s.value("b") == 2.0  # the earlier bindings stay
    assert s.value("ok") == 5.0
    # h was defined over the failed `a`: calling it later is an error at the call
    with pytest.raises(VoxLogicaError) as info:
        s.run('print "h" h(1)', "<next>")
    err = info.value
    assert (err.source_name, err.line, err.col) == ("<next>", 1, 11)
    assert "`a` has no value: its definition failed" in err.message and "<cell>:2:16" in err.message


def test_at_most_MAX_ERRORS_are_reported():
    text = "\n".join(f'print "x{i}" nothing{i}' for i in range(MAX_ERRORS + 10))
    err = errors_of(text)
    assert len(err.errors) == MAX_ERRORS
    assert [e.line for e in err.errors] == list(range(1, MAX_ERRORS + 1))
    assert str(err).splitlines()[-1] == (f"{MAX_ERRORS} errors; stopped at line {MAX_ERRORS + 1}: "
                                         "the rest was not checked")


def test_syntax_errors_resume_at_the_next_command():
    with pytest.raises(VoxLogicaError) as info:
        parse('let a = (1 + 2\n'
              'print "ok" 1\n'
              'print "b" 1 +\n'
              'load c = "c.png"\n'
              'print nolabel\n', "s")
    err = info.value
    assert [(e.line, e.col) for e in err.errors] == [(2, 1), (4, 1), (5, 7)]
    assert "expected `)`" in err.errors[0].message
    assert "expected an expression" in err.errors[1].message
    assert "expected a label" in err.errors[2].message
    assert str(err).splitlines()[-1] == "3 errors"


def test_cli_prints_every_error_and_exits_2(run_cli):
    code, out, err = run_cli(THREE)
    assert code == 2
    assert out == ""
    for line, col in ((2, 11), (4, 11), (5, 13)):
        assert f"prog.imgql:{line}:{col}: " in err
    assert err.splitlines()[-1] == "3 errors"


# -- imports ---------------------------------------------------------------------
def test_import_not_found_says_where_it_looked(in_tmp):
    err = errors_of('import "x.imgql"')
    assert err.message == 'cannot import "x.imgql": no such file (looked in ./x.imgql and the standard library)'
    err = errors_of('import "lib/nosuch"')
    assert err.message == ('cannot import "lib/nosuch": no such file (looked in ./lib/nosuch, '
                           './lib/nosuch.imgql and the standard library)')
    err = errors_of('import "nosuch"')
    assert "no such file or namespace (looked in ./nosuch, ./nosuch.imgql and the standard library)" in err.message
    assert "primitives" not in str(err) and str(in_tmp) not in str(err)
    # found in the current folder: imported
    (in_tmp / "mine.imgql").write_text("let twice(x) = x * 2")
    assert vx.run('import "mine.imgql"\nprint "t" twice(4)', no_cache=True)["t"] == 8.0


def test_names_a_failed_import_would_define_are_not_reported():
    err = errors_of('import "mylib.imgql"\nprint "a" myfunction(1)\nlet z = 1 .+. true')
    assert [e.line for e in err.errors] == [1, 3]


# -- how operator chains group ------------------------------------------------------
def images():
    s = vx.Session(no_cache=True)
    s.bind("a", np.zeros((3, 4)))
    s.bind("b", np.ones((3, 4)))
    return s


def test_type_error_in_a_chain_shows_its_grouping():
    with pytest.raises(VoxLogicaError) as info:
        images().reduce('let m = a >. 1 & b >. 1', "p")
    err = info.value
    assert (err.line, err.col) == (1, 16)
    assert err.hint == "`a >. 1 & b >. 1` groups as `a >. (1 & (b >. 1))`; write `(a >. 1) & (b >. 1)`"
    assert str(err).splitlines()[0].endswith(
        "(`a >. 1 & b >. 1` groups as `a >. (1 & (b >. 1))`; write `(a >. 1) & (b >. 1)`)")
    with pytest.raises(VoxLogicaError) as info:
        vx.run('print "x" 1 < 2 & 3 < 4')
    assert info.value.hint == "`1 < 2 & 3 < 4` groups as `1 < (2 & (3 < 4))`; write `(1 < 2) & (3 < 4)`"
    # the parenthesised program is accepted
    assert images().reduce('let m = (a >. 1) & (b >. 1)').defined == ["m"]


def test_grouping_hints_for_prefix_operators_function_bodies_and_usual_groupings():
    with pytest.raises(VoxLogicaError) as info:
        vx.run('print "z" ! 1 + 2')
    assert info.value.hint == "`! 1 + 2` groups as `!(1 + 2)`"
    with pytest.raises(VoxLogicaError) as info:
        vx.run('let g(x) = x .+. 1 .*. true\nprint "w" g(1)')
    err = info.value
    assert (err.line, err.col) == (1, 20)
    # grouped as the usual precedence would: no rewrite suggested
    assert err.hint == "`x .+. 1 .*. true` groups as `x .+. (1 .*. true)`"
    with pytest.raises(VoxLogicaError) as info:
        vx.run('print "y" (1 < 2) & 3')
    assert info.value.hint == ""  # no chain: nothing to explain
    with pytest.raises(VoxLogicaError) as info:
        vx.run('print "q" ' + " + ".join(["1"] * 50) + " + true")
    assert info.value.hint == "operators written one after another group to the right: parenthesise"


def test_syntax_tree_marks_unparenthesised_chains():
    e = parse_expression("a >. 1 & b >. 1")
    chain = e.chain
    assert chain is not None and e.args[1].chain is chain and e.args[1].args[1].chain is chain
    assert chain.written() == "a >. 1 & b >. 1"
    assert chain.grouped() == "a >. (1 & (b >. 1))"
    assert chain.conventional() == "(a >. 1) & (b >. 1)"
    assert parse_expression("a - b - c").chain.conventional() == "(a - b) - c"
    assert parse_expression("a ~[1, 2] b | N c").chain.grouped() == "a ~[1, 2] (b | N c)"
    assert parse_expression("a & !b | c").chain.grouped() == "a & !(b | c)"
    e = parse_expression("(a >. 1) & (b >. 1)")
    assert e.chain is None and e.args[0].chain is None
    assert parse_expression("a & b").chain is None
