"""Smart tally on real images: decode, mismatch, unreadable, duplicate; wrong reads never match."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from fleet.inventory import Action, LabelRead, LabelReader, Outcome, TallyPolicy, decide
from fleet.inventory.tally import LABEL_PREFIX as FLEET_PREFIX
from sim.camera import LABEL_PREFIX, Camera, label_text

READER = LabelReader()


def test_prefix_is_the_same_on_both_sides() -> None:
    assert FLEET_PREFIX == LABEL_PREFIX


@pytest.mark.parametrize("fmt", ["qr", "datamatrix", "code128"])
def test_clean_and_degraded_frames_decode(fmt: str) -> None:
    cam = Camera(seed=11)
    for degraded in (False, True):
        hits = 0
        for i in range(12):
            f = cam.frame(f"C-{i:05d}", fmt, degraded=degraded)
            assert f.image.dtype == np.uint8 and f.image.shape == (360, 480)
            r = READER.read(f.image)
            assert all(lid == f"C-{i:05d}" for lid in r.load_ids)  # never another load
            hits += r.load_id == f"C-{i:05d}"
        assert hits >= (12 if not degraded else 10), (fmt, degraded, hits)


def test_frames_are_reproducible_from_the_seed() -> None:
    a = Camera(seed=3).frame("C-1", "qr")
    b = Camera(seed=3).frame("C-1", "qr")
    assert np.array_equal(a.image, b.image) and a.image_id == b.image_id


def test_match_confirms() -> None:
    r = READER.read(Camera(seed=1).frame("C-42", "datamatrix").image)
    d = decide("C-42", r)
    assert d.outcome == Outcome.MATCH and d.action == Action.CONFIRM


def test_swapped_label_stops_the_leg_with_options() -> None:
    f = Camera(seed=2).frame("C-42", "qr", swap_with="C-43")
    d = decide("C-42", READER.read(f.image))
    assert d.outcome == Outcome.MISMATCH and d.stop_leg and d.read_load_id == "C-43"
    assert d.options == ("accept", "re-read", "check-station")


def test_unreadable_is_retried_then_escalated() -> None:
    cam = Camera(seed=4)
    policy = TallyPolicy(max_attempts=3)
    outcomes = [decide("C-1", READER.read(cam.frame("C-1", "qr", blank=True).image), k, policy=policy)
                for k in (1, 2, 3)]
    assert [d.action for d in outcomes] == [Action.RETRY, Action.RETRY, Action.STOP]
    assert outcomes[-1].outcome == Outcome.ESCALATED


def test_two_different_labels_in_one_frame_are_ambiguous() -> None:
    f = Camera(seed=5).frame("C-1", "qr", degraded=False, second_label="C-2")
    r = READER.read(f.image)
    assert set(r.load_ids) == {"C-1", "C-2"}
    assert decide("C-1", r).outcome == Outcome.AMBIGUOUS


def test_the_same_label_twice_in_a_frame_still_matches() -> None:
    f = Camera(seed=6).frame("C-7", "qr", degraded=False, second_label="C-7")
    r = READER.read(f.image)
    assert r.load_ids == ("C-7",) and len(r.texts) == 2
    assert decide("C-7", r).outcome == Outcome.MATCH


def test_rfid_is_a_second_witness() -> None:
    good = LabelRead((label_text("C-1"),), ("qr",), ("C-1",))
    assert decide("C-1", good, expected_tag="E1", rfid_read="E1").detail == "label and RFID match"
    assert decide("C-1", good, expected_tag="E1", rfid_read="E2").outcome == Outcome.MISMATCH
    assert decide("C-1", good, expected_tag=None, rfid_read="E2").outcome == Outcome.MATCH  # no tag: ignored
    none = LabelRead()
    assert decide("C-1", none, 1, expected_tag="E1", rfid_read="E2").stop_leg
    assert decide("C-1", none, 1, expected_tag="E1", rfid_read="E1").action == Action.RETRY
    lenient = TallyPolicy(rfid_alone_confirms=True)
    assert decide("C-1", none, 1, expected_tag="E1", rfid_read="E1", policy=lenient).outcome == Outcome.MATCH


def test_foreign_codes_and_garbage_images_never_crash() -> None:
    for img in (None, "text", np.zeros((3, 3), np.uint8), np.zeros((100, 100), np.float64),
                np.random.default_rng(0).integers(0, 255, (200, 200), dtype=np.uint8)):
        r = READER.read(img)
        assert r.load_ids == ()
        assert decide("C-1", r).outcome == Outcome.UNREADABLE


@given(st.text(min_size=1, max_size=20), st.lists(st.text(max_size=25), max_size=4))
def test_a_wrong_read_is_never_a_match(expected: str, texts: list[str]) -> None:
    from fleet.inventory.tally import load_id_of

    ids = tuple(dict.fromkeys(i for t in texts if (i := load_id_of(t)) is not None))
    d = decide(expected, LabelRead(tuple(texts), (), ids))
    if d.outcome == Outcome.MATCH:
        assert ids == (expected,)
    assert d.action != Action.CONFIRM or ids == (expected,)


def test_label_faults_of_the_simulated_camera() -> None:
    from sim.camera import LabelFaults

    cam = Camera(seed=8)
    swapped = cam.tally_frame("C-1", "qr", LabelFaults(swap=1.0), others=("C-2",))
    assert swapped.shown == (label_text("C-2"),)
    assert decide("C-1", READER.read(swapped.image)).stop_leg or READER.read(swapped.image).load_ids == ()
    assert cam.tally_frame("C-1", "qr", LabelFaults(missing=1.0)).shown == ()
    assert cam.tally_frame("C-1", "qr").shown == (label_text("C-1"),)
