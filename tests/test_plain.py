"""The plain value classes that stand in for dataclasses."""
import copy
import pickle

import pytest

from voxlogica_nb.engine.events import Event
from voxlogica_nb.engine.policy import Reuse
from voxlogica_nb.engine.scheduler import Options, Outcome
from voxlogica_nb.language.syntax import Call, Pos, Program
from voxlogica_nb.language.types import Signature, Type, parse_type


def test_frozen_values_compare_hash_pickle_and_refuse_changes():
    a, b = parse_type("seq[nimg]"), Type("seq", Type("nimg"))
    assert a == b and hash(a) == hash(b) and a != Type("seq", Type("bimg")) and a != ("seq", Type("nimg"))
    assert {a: 1}[b] == 1 and pickle.loads(pickle.dumps(a)) == a and copy.deepcopy(a) == a
    sig = Signature((a, Type("num")), Type("num"))
    assert pickle.loads(pickle.dumps(sig)) == sig and str(sig) == "(seq[nimg], num) -> num"
    assert repr(Type("num")) == "Type(name='num', elem=None)"
    with pytest.raises(AttributeError, match="immutable"):
        a.name = "bool"
    with pytest.raises(AttributeError):
        del a.elem


def test_types_are_one_object_each_also_across_pickles_and_threads():
    from concurrent.futures import ThreadPoolExecutor

    a = parse_type("seq[seq[cimg]]")
    assert a is Type("seq", Type("seq", Type("cimg"))) and a.elem is parse_type("seq[cimg]")
    assert pickle.loads(pickle.dumps(a)) is a and copy.deepcopy(a) is a and copy.copy(a) is a
    # threads making a new type at the same moment all get the same object
    names = [f"T{i}" for i in range(200)]
    with ThreadPoolExecutor(8) as pool:
        made = list(pool.map(lambda n: Type("seq", Type(n)), names * 8))
    assert all(made[i] is made[i % 200] for i in range(len(made)))


def test_records_compare_by_field_and_take_fresh_defaults():
    assert Event("start", "t1") == Event("start", "t1", "", {}) and Event("a") != Event("b")
    e, f = Event("x"), Event("y")
    e.data["k"] = 1
    assert f.data == {}  # each its own dict
    assert Outcome().printed is not Outcome().printed
    assert Options().cancel is not None and Options(force=True).force
    with pytest.raises(TypeError):
        hash(Event("x"))
    assert repr(Event("x")) == "Event(kind='x', task_id='', op='', data={})"


def test_syntax_nodes_and_named_tuples():
    pos = Pos("p", 1, 2)
    assert str(pos) == "p:1:2" and pos == ("p", 1, 2) and pos.line == 1
    c = Call("f", None, pos)
    assert c.chain is None and repr(c) == "Call(name='f', args=None, pos=Pos(source='p', line=1, col=2), chain=None)"
    assert Program().commands == [] and Program().commands is not Program().commands
    assert Reuse(True, False, True, False) == (True, False, True, False, False)
    assert Reuse(True, False, True, False).goal is False
