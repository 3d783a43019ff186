import hashlib

import pytest

from voxlogica_nb.errors import VoxLogicaError
from voxlogica_nb.language.reducer import Reducer
from voxlogica_nb.language.tasks import task_id
from voxlogica_nb.primitives import REGISTRY


def reduce(text):
    r = Reducer(REGISTRY)
    return r, r.reduce_program(text)


def goal(text, i=0):
    return reduce(text)[1].effects[i].task


# Pinned ids: if one of these changes, the task-id recipe changed and the
# scheme string in voxlogica_nb.language.tasks must be bumped.
ONE = "b4714e043228ee87406f724cd5a43421fafe011ab4eb03bee3477670ebd4be40"
TWO = "824bc1a3ed5382f5c0927e49a0d3e0b018f45d26bb2c5094e14d20dd7350a0be"
ONE_PLUS_TWO = "c89ccb9054a01a7f453f2446b319890acae64b5aa94b0bb26a9c9b04b48f6d3c"
HI = "58f93a40085c96b10556512f8beb397fcde4d4e943074bb388f14431c2f35e4f"
TRUE = "b116f2275ec5e0e3e9bdbe6af168acdbb718705c16e398dbc6dbafbb34b19908"


def test_pinned_ids_follow_the_written_recipe():
    def sha(canonical):
        return hashlib.sha256(b"voxlogica-task/1\n" + canonical.encode()).hexdigest()

    assert sha('{"const":1.0,"type":"number"}') == ONE
    assert task_id({"const": 1.0, "type": "number"}) == ONE
    t = goal('print "a" 1 + 2')
    assert t.id == ONE_PLUS_TWO
    assert [a.id for a in t.args] == [ONE, TWO]
    assert goal('print "s" "hi"').id == HI
    assert goal('print "t" true').id == TRUE


def test_ids_ignore_names_spacing_comments_and_integer_spelling():
    a = goal('let x = 1\nlet y = 2.0\nprint "a" x + y')
    b = goal('print "b"   1.0+2 // same task')
    assert a.id == b.id == ONE_PLUS_TWO


def test_commutative_and_or_order_their_arguments():
    a = goal('print "a" and(true, false)')
    b = goal('print "b" and(false, true)')
    c = goal('print "c" or(false, true)')
    assert a.id == b.id
    assert c.id != a.id


def test_hash_consing_one_object_per_id():
    r, out = reduce('let f(x) = x * 2\nprint "a" f(3) + f(3)\nprint "b" f(3)')
    a, b = out.effects[0].task, out.effects[1].task
    assert a.args[0] is a.args[1] is b


def test_loop_bodies_capture_values_in_their_ids():
    r, out = reduce("let a = 1\nlet x = for i in range(0,2) do i + a\nlet a = 100\n"
                    "let y = for i in range(0,2) do i + a\nprint \"x\" x\nprint \"y\" y")
    x, y = out.effects[0].task, out.effects[1].task
    assert x.kind == y.kind == "for"
    assert x.id != y.id
    z = goal("let b = 1\nprint \"z\" for j in range(0,2) do j + b")
    assert z.id == x.id  # loop variable names do not matter


def test_function_expansion_is_memoised():
    # 2^40 call paths, 41 distinct tasks: reduces instantly only if memoised.
    lines = ["let f0(x) = x + 1"] + [f"let f{i}(x) = f{i-1}(x) + f{i-1}(x)" for i in range(1, 41)]
    r, out = reduce("\n".join(lines) + '\nprint "v" f40(1)')
    assert out.effects[0].task.op == "+"
    assert len(r.memo) <= 41


def test_lexical_scope():
    r, out = reduce("let a = 1\nlet f(x) = x + a\nlet a = 100\nprint \"f\" f(1)")
    t = out.effects[0].task
    assert [a.value for a in t.args] == [1.0, 1.0]


def test_parameter_hides_builtin():
    t = goal('let f(x) = x + 1\nprint "v" f(2)')
    assert t.args[0].value == 2.0


@pytest.mark.parametrize("text, line, col, words", [
    ('print "x" foo(1)', 1, 11, "unknown name `foo`"),
    ('let g(x) = x\nprint "g" g(1, 2)', 2, 11, "`g` takes 1 argument"),
    ('print "e" 1 .+. true', 1, 13, "`.+.` expects (number, number), got (number, boolean)"),
    ('print "r" range(1, 2, 3)', 1, 11, "`range` takes 1 or 2 arguments, got 3"),
    ('let a = 1\nprint "a" a(2)', 2, 11, "is a value, not a function"),
    ('import "nosuchthing"', 1, 1, "cannot import"),
    ('print "v" for i in 3 do i', 1, 20, "`for` needs a sequence"),
])
def test_static_errors(text, line, col, words):
    with pytest.raises(VoxLogicaError) as info:
        reduce(text)
    err = info.value
    assert (err.line, err.col) == (line, col), str(err)
    assert words in err.message


def test_did_you_mean():
    with pytest.raises(VoxLogicaError) as info:
        reduce('let value = 2\nprint "x" valeu + 1')
    assert "did you mean `value`?" in str(info.value)


def test_type_error_inside_a_function_body_names_the_builtin():
    r = Reducer(REGISTRY)
    r.reduce_program("let g(a) = a .+. 1")
    with pytest.raises(VoxLogicaError) as info:
        r.reduce_program('print "v" g(true)', "user")
    assert "`.+.`" in info.value.message


def test_no_recursion_a_function_body_sees_only_earlier_bindings():
    with pytest.raises(VoxLogicaError) as info:
        reduce('let f(x) = f(x) + 1\nprint "v" f(1)')
    assert "unknown name `f`" in info.value.message
    r, out = reduce('let f(x) = x * 10\nlet f(x) = f(x) + 1\nprint "v" f(2)')
    t = out.effects[0].task  # the second f calls the first: (2 * 10) + 1
    assert t.op == "+" and t.args[0].op == "*" and t.args[1].value == 1.0


def test_unknown_names_in_unused_functions_are_warnings():
    # VoxLogicA 1's own stdlib had such a function (maskCC used `Lcc`).
    r = Reducer(REGISTRY)
    out = r.reduce_program('let f(x) = x + undefinedName\nprint "v" 1', "p")
    (w,) = out.warnings
    assert w.startswith("p:1:16: warning: unknown name `undefinedName` in function `f`")
    assert out.effects[0].task.value == 1.0
    with pytest.raises(VoxLogicaError) as info:
        r.reduce_program('print "w" f(2)', "q")
    assert "unknown name `undefinedName`" in info.value.message


def test_reduction_pauses_the_collector_and_restores_it():
    import gc

    from voxlogica_nb.language import reducer as reducer_module
    from voxlogica_nb.primitives import REGISTRY

    seen = []
    real = reducer_module.Reducer._reduce_program

    def spy(self, text, source):
        seen.append(gc.isenabled())
        return real(self, text, source)

    r = reducer_module.Reducer(REGISTRY)
    reducer_module.Reducer._reduce_program = spy
    try:
        r.reduce_program('print "a" 1')
        with pytest.raises(VoxLogicaError):
            r.reduce_program('print "a" nope')
    finally:
        reducer_module.Reducer._reduce_program = real
    assert seen == [False, False] and gc.isenabled()


def test_a_reduced_graph_joins_the_oldest_generation_without_a_collection():
    import gc

    from voxlogica_nb.language.reducer import Reducer
    from voxlogica_nb.primitives import REGISTRY

    r = Reducer(REGISTRY)
    text = "let x0 = 1\n" + "\n".join(f"let x{i} = x{i - 1} + 1" for i in range(1, 3000))
    gc.collect()
    collections = [g["collections"] for g in gc.get_stats()]
    r.reduce_program(text)
    assert [g["collections"] for g in gc.get_stats()] == collections  # no pass over the new graph
    assert gc.get_count()[0] < 100 and gc.isenabled() and gc.get_freeze_count() == 0
    oldest = {id(o) for o in gc.get_objects(generation=2)}
    assert id(r.globals["x2999"]) in oldest

    # objects the caller froze stay frozen: the graph then goes through the young collections
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        r.reduce_program(text.replace("+ 1", "+ 2"))
        assert frozen - 100 < gc.get_freeze_count() <= frozen  # (a few may have been freed)
        assert id(r.globals["x2999"]) in {id(o) for o in gc.get_objects()}  # not frozen
    finally:
        gc.unfreeze()


def test_constants_are_one_task_per_value_and_type():
    from voxlogica_nb.language.tasks import TaskTable

    table = TaskTable()
    assert table.const(1) is table.const(1.0) and table.const(2.5) is table.const(2.5)
    assert table.const(0.0) is not table.const(-0.0) and table.const(0) is table.const(0.0)
    assert table.const(-0.0) is table.const(-0.0) and table.const(-0.0).value == 0.0
    assert table.const(True) is not table.const(1.0) and table.const(True).type.name == "bool"
    assert table.const(False) is not table.const(0.0) and table.const("1") is not table.const(1.0)
    nan = table.const(float("nan"))
    assert nan.id == table.const(float("nan")).id
    assert len({t.id for t in (table.const(0.0), table.const(-0.0), table.const(1.0), table.const(True),
                               table.const("1"), nan)}) == 6
