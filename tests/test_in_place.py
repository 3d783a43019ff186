"""Loops with a cheap body are evaluated in place, with the values, messages
and failures the loop has when expanded into tasks."""
from __future__ import annotations

import numpy as np
import pytest

import voxlogica_nb as vx
from voxlogica_nb.image import Image
from voxlogica_nb.engine import in_place
from voxlogica_nb.primitives.registry import report


@pytest.fixture
def expanded(monkeypatch):
    """Run a program with loops always expanded into tasks."""
    def run(program):
        with monkeypatch.context() as m:
            m.setattr(in_place, "evaluate", lambda t, values: None)
            return vx.Session(no_cache=True).run(program)
    return run


BODIES = [
    "(i + 1) * 2 - 1 + i / 2",
    "i",  # the variable itself
    "k * i + k",  # a value computed before the loop
    "3 + 4",  # no use of the variable
    "i <= 3",  # booleans
    "for j in range(0, i) do i * j",  # a loop inside: expanded
    "let z = i * i in z + z",
]


@pytest.mark.parametrize("body", BODIES)
def test_values_are_those_of_the_expanded_loop(body, expanded):
    program = f'let k = 2.5\nprint "v" for i in range(0, 7) do {body}\n'
    r = vx.Session(no_cache=True).run(program)
    assert r.ok and r["v"] == expanded(program)["v"]


def test_a_cheap_body_makes_no_task_per_element():
    s = vx.Session(no_cache=True)
    r = s.run('print "v" for i in range(0, 1000) do (i + 1) * 2')
    assert r["v"] == [(i + 1) * 2.0 for i in range(1000)]
    assert len(s.table) < 50  # the program's own tasks; expanded, 3,000 more
    assert r.stats["computed"] >= 2000  # each addition and product counts as computed


def test_a_body_with_work_worth_keeping_is_expanded():
    s = vx.Session(no_cache=True)
    s.bind("img", np.arange(12, dtype=np.float32).reshape(3, 4))
    r = s.run('print "v" for i in range(0, 50) do volume(img >. i)')  # image work: tasks
    assert r["v"] == [float(max(0, 11 - i)) for i in range(50)] and len(s.table) > 100


def test_elements_that_are_not_scalars_expand_the_loop():
    @vx.primitive("(num) -> seq[nimg]", name="cl_images", cost="cheap")
    def cl_images(n):
        return [Image(np.full((2, 2), k, np.float32)) for k in range(int(n))]

    s = vx.Session(no_cache=True)
    r = s.run('print "v" for x in cl_images(3) do max(x) + 1')
    assert r["v"] == [1.0, 2.0, 3.0] and any(t.op == "index" for t in s.table.tasks.values())


def test_a_failure_is_that_of_the_task_with_its_position(expanded):
    @vx.primitive("(num) -> num", name="cl_picky", cost="cheap")
    def cl_picky(x):
        if x == 3:
            raise ValueError("three is not allowed")
        return x

    program = 'print "v" for i in range(0, 5) do 1 + cl_picky(i)\n'
    r, e = vx.Session(no_cache=True).run(program), expanded(program)
    assert not r.ok and [(f.op, f.message, f.where) for f in r.failures] == \
        [(f.op, f.message, f.where) for f in e.failures] == [("cl_picky", "ValueError: three is not allowed",
                                                             "1:39")]


def test_what_a_primitive_reports_is_located_as_when_expanded(expanded):
    @vx.primitive("(num) -> num", name="cl_chatty", cost="cheap")
    def cl_chatty(x):
        if x == 2:
            report("two is odd")
        return x * 10

    program = 'print "v" for i in range(0, 4) do cl_chatty(i)\n'
    r, e = vx.Session(no_cache=True).run(program), expanded(program)
    assert r["v"] == e["v"] == [0.0, 10.0, 20.0, 30.0]
    assert r.warnings == e.warnings and len(r.warnings) == 1 and "two is odd" in r.warnings[0]


def test_a_stored_run_and_a_goal_inside_are_unchanged(tmp_path):
    program = 'let xs = for i in range(0, 20) do i * 3\nprint "v" xs\nprint "w" 4 * 3\n'
    first = vx.Session(cache_dir=str(tmp_path)).run(program)
    again = vx.Session(cache_dir=str(tmp_path)).run(program)
    assert first["v"] == again["v"] == [3.0 * i for i in range(20)] and again["w"] == 12.0
    assert again.stats["cached"] == 1  # the goal "w", the task of element 4's body too


# -- cheap scalar tasks computed while planning ---------------------------------

@pytest.fixture
def scheduled(monkeypatch):
    """Run a program with every cheap scalar task scheduled as a task."""
    def run(program, **kw):
        with monkeypatch.context() as m:
            m.setattr(in_place.Scalars, "value", lambda self, t: in_place.MISSING)
            return vx.Session(no_cache=True, **kw).run(program)
    return run


def chain(n):
    return "let x0 = 1\n" + "".join(f"let x{i} = x{i - 1} * 1.5 - {i}\n" for i in range(1, n)) + \
        f'print "v" x{n - 1}\nprint "w" x{n // 2}\n'


def test_a_chain_of_numbers_is_computed_while_planning(monkeypatch, scheduled):
    from voxlogica_nb.engine.scheduler import Run

    started = []
    real = Run.start_cheap
    monkeypatch.setattr(Run, "start_cheap", lambda self, t, args: started.append(t) or real(self, t, args))
    r = vx.Session(no_cache=True).run(chain(3000))
    assert started == []  # none went through the scheduler
    e = scheduled(chain(3000))
    assert len(started) > 3000  # (the fixture leaves start_cheap counting)
    assert (r["v"], r["w"]) == (e["v"], e["w"]) and r.stats["computed"] == e.stats["computed"]


def test_numbers_that_wait_for_an_image_go_through_the_scheduler():
    s = vx.Session(no_cache=True)
    s.bind("img", np.arange(12, dtype=np.float32).reshape(3, 4))
    program = 'let m = max(img)\nlet a = (m * 2) + 1\nprint "a" a - volume(img >. a / 4)\nprint "b" 2 * 3\n'
    r = s.run(program)
    assert r["a"] == 23.0 - 6.0 and r["b"] == 6.0  # 6 voxels above 5.75


def test_a_failure_and_a_report_in_a_chain_are_those_of_the_tasks(scheduled):
    @vx.primitive("(num) -> num", name="cl_strict", cost="cheap")
    def cl_strict(x):
        if x > 5:
            raise ValueError("too big")
        if x == 3:
            report("three")
        return x + 1

    program = ('let a = cl_strict(2)\nlet b = cl_strict(a) + 1\nlet c = cl_strict(b + 2)\nprint "b" b\n'
               'print "c" c\nprint "d" 1 + cl_strict(4 + 3)\n')
    r, e = vx.Session(no_cache=True).run(program), scheduled(program)
    assert r["b"] == e["b"] == 5.0
    # (in the order found, which depends on what was ready first)
    assert sorted((f.op, f.message, f.where) for f in r.failures) == \
        sorted((f.op, f.message, f.where) for f in e.failures) == [("cl_strict", "ValueError: too big", "3:9"),
                                                                   ("cl_strict", "ValueError: too big", "6:15")]
    assert r.warnings == e.warnings and len(r.warnings) == 1 and "three" in r.warnings[0]


def test_a_goal_computed_while_planning_is_stored(tmp_path):
    program = 'let a = 2 * 21\nprint "a" a + 0.5\n'
    first = vx.Session(cache_dir=str(tmp_path)).run(program)
    again = vx.Session(cache_dir=str(tmp_path)).run(program)
    assert first["a"] == again["a"] == 42.5
    assert first.stats["computed"] == 2 and again.stats["computed"] == 0 and again.stats["cached"] == 1
