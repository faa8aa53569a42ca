import pytest
from hypothesis import given
from hypothesis import strategies as st

from fleet.domain import (
    IllegalTransition,
    Leg,
    LegKind,
    LegState,
    Order,
    OrderState,
    transition_leg,
    transition_order,
)
from fleet.domain.order import TERMINAL_ORDER_STATES, leg_moves, order_moves


def test_happy_path_of_a_coil_order():
    o = Order(id="o1", source="S1-01", destination="DOCK1", load_type="coil", weight_kg=20000)
    for target in (OrderState.QUEUED, OrderState.ASSIGNED, OrderState.IN_PROGRESS, OrderState.HANDED_OFF,
                   OrderState.ASSIGNED, OrderState.IN_PROGRESS, OrderState.DONE):
        o = transition_order(o, target, 1.0)
    assert o.terminal


def test_illegal_transition_is_refused_clearly():
    o = transition_order(Order(id="o1", source="A", destination="B"), OrderState.CANCELLED, 0.0, "by WMS")
    with pytest.raises(IllegalTransition, match="'o1' cannot go from 'cancelled' to 'queued'"):
        transition_order(o, OrderState.QUEUED, 1.0)


def test_loaded_leg_cannot_silently_reopen():
    leg = Leg(id="l1", order_id="o1", kind=LegKind.AGV, source="A", destination="B")
    leg = transition_leg(leg, LegState.ASSIGNED, 0.0, "agv1")
    assert leg.machine_id == "agv1"
    assert transition_leg(leg, LegState.OPEN, 1.0).machine_id is None
    leg = transition_leg(transition_leg(leg, LegState.TO_PICKUP, 1.0), LegState.LOADED, 2.0)
    with pytest.raises(IllegalTransition):
        transition_leg(leg, LegState.OPEN, 3.0)


@given(st.lists(st.sampled_from(list(OrderState)), max_size=30))
def test_random_walks_follow_the_table(targets):
    o = Order(id="o", source="A", destination="B")
    table = order_moves()
    for t in targets:
        if t in table[o.state]:
            o = transition_order(o, t, 0.0)
        else:
            with pytest.raises(IllegalTransition):
                transition_order(o, t, 0.0)
    assert all(not table[s] for s in TERMINAL_ORDER_STATES)


@given(st.lists(st.sampled_from(list(LegState)), max_size=30))
def test_leg_random_walks_follow_the_table(targets):
    leg = Leg(id="l", order_id=None, kind=LegKind.AGV, source="A", destination="C")
    table = leg_moves()
    for t in targets:
        if t in table[leg.state]:
            leg = transition_leg(leg, t, 0.0, "m")
        else:
            with pytest.raises(IllegalTransition):
                transition_leg(leg, t, 0.0)


def test_charge_and_park_legs_may_finish_without_a_load():
    for kind in (LegKind.CHARGE, LegKind.PARK):
        leg = transition_leg(Leg(id="c", order_id=None, kind=kind, source="A", destination="CHG1"), LegState.ASSIGNED, 0.0, "agv1")
        assert transition_leg(leg, LegState.DONE, 1.0).state == LegState.DONE
    agv = transition_leg(Leg(id="a", order_id="o", kind=LegKind.AGV, source="A", destination="B"), LegState.ASSIGNED, 0.0, "agv1")
    with pytest.raises(IllegalTransition):
        transition_leg(agv, LegState.DONE, 1.0)
