import pytest

from _build import shape
from voxlogica_nb.errors import VoxLogicaError
from voxlogica_nb.language.parser import parse, parse_expression, tokenize
from voxlogica_nb.language.syntax import Call, Let, Load, Print


def kinds(text):
    return [(t[0], t[1]) for t in tokenize(text)][:-1]


def test_operators_with_uppercase_letters_and_greedy_match():
    assert kinds("N a") == [("op", "N"), ("name", "a")]
    assert kinds("B+ a") == [("op", "B+"), ("name", "a")]
    assert kinds("a AND b") == [("name", "a"), ("op", "AND"), ("name", "b")]
    assert kinds("a .*.-3") == [("name", "a"), ("op", ".*.-"), ("num", "3")]
    assert kinds("x ~> y") == [("name", "x"), ("op", "~>"), ("name", "y")]


def test_names_keywords_and_qualified_names():
    assert kinds("info trueMask doThing t1_mask") == [("name", "info"), ("name", "trueMask"),
                                                      ("name", "doThing"), ("name", "t1_mask")]
    assert kinds("let in do for") == [("kw", "let"), ("kw", "in"), ("kw", "do"), ("kw", "for")]
    assert kinds("BinaryThreshold") == [("name", "BinaryThreshold")]
    assert kinds("simpleitk.Median") == [("name", "simpleitk.Median")]
    assert kinds("x .+. y") == [("name", "x"), ("op", ".+."), ("name", "y")]
    assert kinds("a +. 2") == [("name", "a"), ("op", "+."), ("num", "2")]
    # a keyword is never the first part of a qualified name
    assert kinds("in.x let.Y+") == [("kw", "in"), ("op", "."), ("name", "x"), ("kw", "let"), ("op", ".Y+")]


def test_positions_across_lines_blanks_and_comments():
    from voxlogica_nb.language.parser import _Parser

    text = 'let a = 1 // one\n\t  b2 AND "s" \r\n(x)'
    p = _Parser(text, "<t>")
    assert [(t[1], t[2], t[3], p.offset(t), p.end(t)) for t in p.toks] == [
        ("let", 1, 1, 0, 3), ("a", 1, 5, 4, 5), ("=", 1, 7, 6, 7), ("1", 1, 9, 8, 9),
        ("b2", 2, 4, 20, 22), ("AND", 2, 7, 23, 26), ("s", 2, 11, 27, 30), ("(", 3, 1, 33, 34),
        ("x", 3, 2, 34, 35), (")", 3, 3, 35, 36), ("", 3, 4, 36, 36)]
    assert all(text[p.offset(t):p.end(t)].strip('"') == t[1] for t in p.toks)
    assert tokenize("x  \n  ")[-1][2:4] == (1, 2)  # end of input just after the last token


def test_numbers_strings_comments():
    assert kinds('3 2. 0.86 1e-5 "C:\\img\\a.nii" // comment') == [
        ("num", "3"), ("num", "2."), ("num", "0.86"), ("num", "1e-5"), ("str", "C:\\img\\a.nii")]
    assert kinds("\u0663 1\u0663") == [("num", "\u0663"), ("num", "1\u0663")]  # decimal digits of any script
    with pytest.raises(VoxLogicaError, match="unexpected character '²'"):
        tokenize("x²")


def test_right_grouping_and_prefix_operators():
    assert shape(parse_expression("a - b - c")) == ("-", "a", ("-", "b", "c"))
    assert shape(parse_expression("a & b | c")) == ("&", "a", ("|", "b", "c"))
    assert shape(parse_expression("!a & b")) == ("!", ("&", "a", "b"))
    assert shape(parse_expression("(!a) & b")) == ("&", ("!", "a"), "b")
    assert shape(parse_expression("N B+ a")) == ("N", ("B+", "a"))


def test_signed_numbers_only_in_operand_position():
    assert shape(parse_expression("f(-1)")) == ("f", -1.0)
    assert shape(parse_expression("x-1")) == ("-", "x", 1.0)
    assert shape(parse_expression("x - -1")) == ("-", "x", -1.0)
    assert shape(parse_expression("-3 + 1")) == ("+", -3.0, 1.0)
    # a sign apart from its digits is a prefix operator
    assert shape(parse_expression("- 3")) == ("-", 3.0)
    assert shape(parse_expression("f(-\n   1)")) == ("f", ("-", 1.0))  # (same column as the sign's end)


def test_extra_infix_arguments_and_operator_calls():
    assert shape(parse_expression("a ~[3, 20] b")) == ("~", "a", "b", 3.0, 20.0)
    assert shape(parse_expression("+(1, 2)")) == ("+", 1.0, 2.0)
    assert shape(parse_expression("+ (1, 2) * 3")) == ("*", ("+", 1.0, 2.0), 3.0)
    # one argument: a prefix taking the rest, as VoxLogicA 1 reads it
    assert shape(parse_expression("!(a) & b")) == ("!", ("&", "a", "b"))
    assert shape(parse_expression("f (x, y)")) == ("f", "x", "y")


def test_let_in_and_for_extend_right():
    e = parse_expression("let x = 1 in x + 5")
    assert shape(e) == ("let", "x", 1.0, ("+", "x", 5.0))
    e = parse_expression("for i in range(0, 3) do i * 2")
    assert shape(e) == ("for", "i", ("range", 0.0, 3.0), ("*", "i", 2.0))
    assert shape(parse_expression("1 + let y = 2 in y")) == ("+", 1.0, ("let", "y", 2.0, "y"))


def test_commands_and_positions():
    prog = parse('let f(x) = x + 1\nload img = "a.nii"\nprint "v"   f(2)\nlet &(a,b) = and(a,b)', "p.imgql")
    let, load, pr, op = prog.commands
    assert isinstance(let, Let) and let.params == ["x"]
    assert isinstance(load, Load) and load.path == "a.nii" and (load.pos.line, load.pos.col) == (2, 1)
    assert isinstance(pr, Print) and (pr.value.pos.line, pr.value.pos.col) == (3, 13)
    assert op.name == "&" and op.params == ["a", "b"]
    assert pr.value.pos.source == "p.imgql"


@pytest.mark.parametrize("text, line, col, words", [
    ("let y = let z = 2 in", 1, 21, "expected an expression"),
    ("print \"x\" f()", 1, 12, "empty argument list"),
    ("print x", 1, 7, "expected a label"),
    ("let a = (1 + 2", 1, 15, "expected `)`"),
    ("let a = 1\n  foo", 2, 3, "expected a command"),
    ('print "s" "unterminated', 1, 11, "unterminated string"),
    ("let a = 1 § 2", 1, 11, "unexpected character"),
    ("let a = 2²", 1, 10, "unexpected character '²'"),  # a digit to str.isdigit, not a number
])
def test_syntax_errors_point_at_the_cause(text, line, col, words):
    with pytest.raises(VoxLogicaError) as info:
        parse(text, "prog")
    err = info.value
    assert (err.line, err.col) == (line, col)
    assert words in err.message
    rendered = str(err).splitlines()
    assert rendered[0].startswith(f"prog:{line}:{col}: ")
    assert rendered[2].index("^") - 2 == col - 1  # caret under the column


def test_long_chains_do_not_exhaust_the_stack():
    text = "print \"s\" " + " + ".join(["1"] * 5000)
    prog = parse(text)
    depth, e = 0, prog.commands[0].value
    while isinstance(e, Call) and e.args:
        e = e.args[1]
        depth += 1
    assert depth == 4999
