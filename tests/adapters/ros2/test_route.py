"""`Route`: how the ROS 2 gateway follows an order with node actions (pure, no DDS)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from adapters.ros2.route import KEEP_STATES, Route
from fleet.domain.commands import (
    Action,
    ActionState,
    ActionStatus,
    ActionType,
    BlockingType,
    MovementCommand,
    RouteNode,
)

PICK = Action("leg1-pick", ActionType.PICK, params={"orderId": "o1"})
DROP = Action("leg1-drop", ActionType.DROP)


def order(xs: list[float], actions: dict[int, tuple[Action, ...]], *, order_id: str = "o",
          update: int = 0, first_seq: int = 0, released: int | None = None) -> MovementCommand:
    released = len(xs) if released is None else released
    nodes = tuple(RouteNode(f"n{int(x)}", first_seq + 2 * i, x, 0.0, i < released,
                            actions=actions.get(i, ())) for i, x in enumerate(xs))
    return MovementCommand(f"{order_id}/{update}", "amr-1", order_id, update, nodes, ())


def status(r: Route, action_id: str) -> ActionStatus:
    return r.states[action_id].status


def test_the_path_stops_at_each_blocking_action_until_the_robot_reports_it_done() -> None:
    r = Route()
    assert r.load(order([0, 2, 4, 6, 8], {1: (PICK,), 3: (DROP,)}))
    assert status(r, "leg1-pick") == ActionStatus.WAITING
    assert r.reach(0.05, 0.0, 0.3) and r.last.node_id == "n0"
    assert [n.node_id for n in r.path()] == ["n2"]  # held at the pick's node
    assert r.due(stopped=True, now_s=1.0) == []  # not there yet
    assert not r.reach(4.0, 0.0, 0.3)  # a node beyond the hold does not count
    assert r.reach(2.1, 0.0, 0.3) and r.path() == []
    assert r.due(stopped=False, now_s=2.0) == []  # a blocking action waits until it stands still
    [p] = r.due(stopped=True, now_s=2.0)
    assert p.action is PICK and p.node_id == "n2"
    assert r.due(stopped=True, now_s=2.5) == []  # handed over once
    assert r.report([ActionState("leg1-pick", "pick", ActionStatus.RUNNING)])
    assert r.path() == []
    assert r.report([ActionState("leg1-pick", "pick", ActionStatus.FINISHED)])
    assert [n.node_id for n in r.path()] == ["n4", "n6"]
    assert r.reach(6.0, 0.0, 0.3) and r.last.node_id == "n6"
    assert [p.action for p in r.due(True, 3.0)] == [DROP]
    assert r.remaining_ids() == ("n8",)


def test_a_path_that_comes_back_is_not_done_while_the_robot_has_not_left() -> None:
    r = Route()
    r.load(order([0, 2, 0], {}))
    r.reach(0.0, 0.0, 0.3)
    assert r.at == 0 and not r.reach(0.0, 0.0, 0.3)  # n0 again at index 2: not yet
    assert r.reach(2.0, 0.0, 0.3) and r.reach(0.1, 0.0, 0.3) and r.at == 2


def test_nodes_passed_between_two_poses_are_skipped_over() -> None:
    r = Route()
    r.load(order([0, 2, 4, 6], {}))
    r.reach(0.0, 0.0, 0.3)
    assert r.reach(4.1, 0.0, 0.3) and r.last.node_id == "n4"


def test_an_update_keeps_the_nodes_not_yet_driven_and_adds_its_own() -> None:
    r = Route()
    r.load(order([0, 2, 4], {}, released=2))
    assert [n.node_id for n in r.nodes] == ["n0", "n2"]
    r.reach(0.0, 0.0, 0.3)
    assert r.load(order([2, 4, 6], {2: (DROP,)}, update=1, first_seq=2))  # stitched at n2
    assert [n.node_id for n in r.nodes] == ["n0", "n2", "n4", "n6"] and r.at == 0
    assert [n.node_id for n in r.path()] == ["n2", "n4", "n6"]
    assert not r.load(order([2, 4, 6], {}, update=1, first_seq=2))  # the same update again


def test_a_new_order_fails_what_the_old_one_left_undone() -> None:
    r = Route()
    r.load(order([0, 2], {1: (PICK,)}))
    r.load(order([0, 4], {}, order_id="p"))
    assert status(r, "leg1-pick") == ActionStatus.FAILED and "replaced" in r.states["leg1-pick"].result
    assert r.at == -1 and r.hold() == 1


def test_cancel_stops_at_the_next_node_and_fails_actions_not_handed_over() -> None:
    r = Route()
    r.load(order([0, 2, 4, 6], {3: (DROP,)}))
    r.reach(0.0, 0.0, 0.3)
    r.cancel(driving=True)
    assert [n.node_id for n in r.nodes] == ["n0", "n2"]
    assert status(r, "leg1-drop") == ActionStatus.FAILED


def test_an_action_the_robot_never_acknowledges_fails_after_the_timeout() -> None:
    r = Route()
    r.load(order([0], {0: (PICK,)}))
    r.reach(0.0, 0.0, 0.3)
    r.due(True, 10.0)
    assert not r.overdue(20.0, 30.0)
    assert r.overdue(41.0, 30.0) and status(r, "leg1-pick") == ActionStatus.FAILED


def test_a_finished_action_stays_finished_and_old_reports_are_ignored() -> None:
    r = Route()
    r.load(order([0], {0: (PICK,)}))
    r.report([ActionState("leg1-pick", "pick", ActionStatus.FINISHED)])
    assert not r.report([ActionState("leg1-pick", "pick", ActionStatus.RUNNING)])
    assert not r.report([ActionState("long-ago", "drop", ActionStatus.FINISHED)])
    assert status(r, "leg1-pick") == ActionStatus.FINISHED


def test_non_blocking_actions_do_not_hold_the_path() -> None:
    park = Action("park", ActionType.INIT_POSITION, BlockingType.NONE)
    r = Route()
    r.load(order([0, 2, 4], {1: (park,)}))
    assert r.hold() == 2
    r.reach(2.0, 0.0, 0.3)
    assert [p.action for p in r.due(stopped=False, now_s=0.0)] == [park]


@given(st.lists(st.sampled_from(["RUNNING", "FINISHED", "FAILED", "WAITING"]), max_size=60))
def test_reports_keep_the_state_list_bounded_and_waiting_actions_kept(statuses: list[str]) -> None:
    r = Route()
    r.load(order([0, 2], {1: (DROP,)}))
    for i, s in enumerate(statuses):
        r.instant(Action(f"i{i}", ActionType.START_PAUSE))
        r.report([ActionState(f"i{i}", "startPause", ActionStatus(s))])
    assert "leg1-drop" in r.states
    open_ = sum(s.status not in (ActionStatus.FINISHED, ActionStatus.FAILED) for s in r.states.values())
    assert len(r.states) <= max(KEEP_STATES, open_)
