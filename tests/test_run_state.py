"""The run's state transitions, driven by hand: no threads, no store, no executor."""
import numpy as np
import pytest

import voxlogica_nb as vx
from voxlogica_nb.engine.memory import MISSING, Account, Holdings
from voxlogica_nb.engine.policy import reuse
from voxlogica_nb.engine.scheduler import Options
from voxlogica_nb.engine.state import DONE, FAILED, INFLIGHT, PENDING, READY_LOAD, RunState, Sources
from voxlogica_nb.engine.failures import Failure

PROGRAM = 'let m = not(img)\nprint "v" volume(m)\nprint "w" volume(m) + 1'


class FakeSources(Sources):
    def __init__(self, recent=(), flying=(), stored=()):
        self.values, self.flying, self.stored_ids = dict(recent), set(flying), set(stored)

    def recent(self, task_id):
        return self.values.get(task_id, MISSING)

    def in_flight(self, task_id):
        return task_id in self.flying

    def stored(self, task_id):
        return task_id in self.stored_ids


def reduced(program=PROGRAM):
    s = vx.Session(no_cache=True)
    s.bind("img", np.zeros((4, 5), bool))
    return s.reduce(program)


def state_for(effects, sources=None, **opts):
    st = RunState(Options(**opts), sources or FakeSources(), Holdings(Account()))
    st.add_effects(effects)
    st.plan([e.task for e in effects])
    return st


def tasks(effects):
    volume = effects[0].task
    not_ = volume.args[0]
    plus = effects[1].task
    return volume, not_, plus


def test_planning_links_depth_first_and_only_leaves_are_ready():
    effects = reduced().effects
    st = state_for(effects)
    volume, not_, plus = tasks(effects)
    assert st.state[volume.id] == PENDING and st.state[not_.id] == PENDING and st.state[plus.id] == PENDING
    assert st.pending[volume.id] == 1 and st.pending[not_.id] == 0 and st.pending[plus.id] == 1
    assert st.rank[volume.id] < st.rank[not_.id]  # a task ranks before its arguments
    assert st.peek_ready(set()) is not_ and not st.inline
    assert st.planned == [2, 0]  # `not` and `volume`; the cheap `+` is not counted
    assert st.refs[volume.id] == 1 and st.refs[not_.id] == 1  # `volume(m)` is one task, met twice


def test_completion_wakes_dependents_and_drops_what_no_one_needs():
    effects = reduced().effects
    st = state_for(effects)
    volume, not_, plus = tasks(effects)
    st.pop_ready()
    mask = vx.Image(np.ones((4, 5), bool))
    st.complete(not_, mask)
    assert st.peek_ready(set()) is volume and st.memory.bytes == mask.array.nbytes > 0
    st.pop_ready()
    st.complete(volume, 20.0)
    assert not_.id not in st.values and st.memory.bytes == 0  # its only consumer read it
    assert volume.id in st.values  # pinned by the first print
    assert list(st.inline) == [plus]  # cheap: runs in the loop's thread
    st.complete(st.inline.popleft(), 21.0)
    assert st.values[plus.id] == 21.0 and st.state[plus.id] == DONE


def test_reuse_sources_classify_tasks():
    effects = reduced().effects
    volume, not_, plus = tasks(effects)
    st = state_for(effects, FakeSources(recent={volume.id: 7.0}))
    assert st.state[volume.id] == DONE and st.values[volume.id] == 7.0 and not_.id not in st.state
    assert list(st.inline) == [plus] and st.from_memory == 1
    st = state_for(effects, FakeSources(stored={volume.id}))
    assert st.state[volume.id] == READY_LOAD and st.planned == [0, 1] and not_.id not in st.state
    st = state_for(effects, FakeSources(flying={volume.id}))
    assert st.state[volume.id] == INFLIGHT and list(st.inline) == [volume]
    st = state_for(effects, FakeSources(stored={not_.id}))
    assert st.state[not_.id] == PENDING  # light tasks are not read from the store


def test_force_recomputes_goals_but_reuses_what_they_need():
    effects = reduced('let m = not(img)\nprint "v" volume(m)').effects
    volume, not_ = effects[0].task, effects[0].task.args[0]
    st = state_for(effects, FakeSources(recent={volume.id: 7.0, not_.id: "m"}), force=True)
    assert st.state[volume.id] == PENDING and st.state[not_.id] == DONE


def test_a_failure_fails_dependents_upstream_and_spares_the_rest():
    effects = reduced('let m = not(img)\nprint "v" volume(m)\nprint "x" volume(img)').effects
    st = state_for(effects)
    volume, not_ = effects[0].task, effects[0].task.args[0]
    other = effects[1].task
    roots = st.fail(not_, Failure(not_, "not: broken"))
    assert [t for t, _ in roots] == [not_]
    assert st.state[volume.id] == FAILED and st.failures[volume.id].root is roots[0][1]
    assert st.state[other.id] == PENDING


def test_a_loop_expands_into_its_elements_and_gathers_them():
    effects = reduced('print "s" for i in range(0, 3) do i + 1').effects
    loop = effects[0].task
    st = state_for(effects)
    rng = loop.args[0]
    assert list(st.inline) == [rng]
    st.inline.popleft()
    st.complete(rng, [0.0, 1.0, 2.0])
    assert list(st.inline) == [loop]
    st.inline.popleft()
    table = vx.Session(no_cache=True).table  # any table can instantiate the body
    roots = [table.instantiate(loop.body, loop.level, table.const(float(i))) for i in range(3)]
    st.expand(loop, roots)
    assert rng.id not in st.values  # the loop no longer needs its sequence
    assert st.pending[loop.id] == 3 and len(st.inline) == 3
    for r, v in zip(roots, (1.0, 2.0, 3.0)):
        st.inline.remove(r)
        st.complete(r, v)
    assert list(st.inline) == [loop] and [st.values[r.id] for r in st.gathers[loop.id]] == [1.0, 2.0, 3.0]


def test_dropped_value_needed_again_is_obtained_afresh():
    effects = reduced('print "v" volume(img)').effects
    volume = effects[0].task
    st = state_for(effects)
    st.pop_ready()
    st.complete(volume, 3.0)
    st.pinned.discard(volume.id)
    st.drop(volume.id)
    st.sources = FakeSources(stored={volume.id})
    st.visit(volume)
    assert st.state[volume.id] == READY_LOAD


@pytest.mark.parametrize("cost,goal,no_cache,force,expected", [
    ("heavy", False, False, False, (True, True, True, True)),
    ("light", False, False, False, (True, True, False, False)),
    ("cheap", False, False, False, (False, False, False, False)),
    ("cheap", True, False, False, (True, True, True, True)),
    ("heavy", True, False, True, (False, False, False, True)),
    ("heavy", False, True, False, (False, True, False, False)),
])
def test_one_reuse_policy(cost, goal, no_cache, force, expected):
    effects = reduced('print "v" volume(img)').effects
    t = effects[0].task
    t.cost = cost
    try:
        decision = reuse(t, goal, Options(force=force, no_cache=no_cache))
        assert tuple(decision)[:4] == expected and decision.goal == (goal and expected[3])
    finally:
        t.cost = "heavy"
