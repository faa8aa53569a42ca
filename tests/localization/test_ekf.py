"""The compiled filter: motion model, batch independence, verdicts, recovery rules."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from fleet.localization import Fusion, Odometry, UwbFix, ekf
from fleet.localization.track import Tracks

PARAMS = ekf.default_params()
NO_SNAP = (np.zeros((0, 5)), np.zeros((0, 5, 5)), np.zeros((0, 1 + ekf.AUX)))


def _run(tracks, rows, kinds, stamps, z, r):
    n = len(rows)
    verdict, nis = np.zeros(n, dtype=np.int64), np.zeros(n)
    ekf.fuse_batch(*tracks.arrays(), np.asarray(rows, dtype=np.int64),
                   np.asarray(kinds, dtype=np.int64), np.asarray(stamps, dtype=float),
                   np.asarray(z, dtype=float), np.asarray(r, dtype=float), PARAMS, verdict, nis,
                   *NO_SNAP)
    return verdict, nis


def test_ctrv_prediction_follows_the_circle():
    m = np.array([0.0, 0.0, 0.0, 1.0, 0.5])
    p = np.eye(5) * 1e-4
    m2, p2 = ekf.predicted(m, p, 2.0, PARAMS)
    r = 1.0 / 0.5
    assert np.allclose(m2[:3], [r * math.sin(1.0), r * (1 - math.cos(1.0)), 1.0], atol=1e-9)
    assert np.all(np.linalg.eigvalsh(p2) > 0) and p2[0, 0] > p[0, 0]
    straight, _ = ekf.predicted(np.array([1.0, 2.0, math.pi / 2, 2.0, 0.0]), p, 1.5, PARAMS)
    assert np.allclose(straight[:2], [1.0, 5.0], atol=1e-9)


def test_jacobian_matches_finite_differences():
    """Propagating a small perturbation agrees with the covariance's linear map."""
    m = np.array([1.0, 2.0, 0.3, 1.2, 0.4])
    eps = 1e-6
    params = ekf.default_params(sigma_accel=0.0, sigma_yaw_accel=0.0, sigma_walk=0.0,
                                sigma_heading_walk=0.0, max_dt=1.0)
    base, _ = ekf.predicted(m, np.zeros((5, 5)), 0.1, params)
    jac = np.zeros((5, 5))
    for k in range(5):
        d = m.copy()
        d[k] += eps
        jac[:, k] = (ekf.predicted(d, np.zeros((5, 5)), 0.1, params)[0] - base) / eps
    e0 = np.zeros((5, 5))
    e0[0, 0] = 1.0
    for k in range(5):
        p = np.zeros((5, 5))
        p[k, k] = 1.0
        _, p2 = ekf.predicted(m, p, 0.1, params)
        assert np.allclose(p2, np.outer(jac[:, k], jac[:, k]), atol=1e-4)


def test_machines_in_one_batch_do_not_interact():
    rng = np.random.default_rng(0)
    n = 300
    rows = rng.integers(0, 3, n)
    stamps = np.sort(rng.uniform(0, 10, n))
    kinds = rng.integers(0, 2, n)
    z = np.zeros((n, 4))
    z[:, 0] = rng.normal(0, 0.1, n) + np.where(kinds == 1, rows * 10.0, 1.0)
    z[:, 1] = rng.normal(0, 0.1, n)
    r = np.tile(np.diag([0.01, 0.01]), (n, 1, 1))
    together = Tracks(3)
    for _ in range(3):
        together.add()
    _run(together, rows, kinds, stamps, z, r)
    for machine in range(3):
        alone = Tracks(1)
        alone.add()
        sel = rows == machine
        _run(alone, np.zeros(sel.sum()), kinds[sel], stamps[sel], z[sel], r[sel])
        assert np.allclose(alone.means[0], together.means[machine], atol=1e-12)
        assert np.allclose(alone.covs[0], together.covs[machine], atol=1e-12)


def test_late_and_invalid_verdicts_change_nothing():
    tr = Tracks(1)
    tr.add()
    r = np.diag([0.01, 0.01])[None]
    v, _ = _run(tr, [0], [1], [5.0], [[1.0, 2.0, 0, 0]], r)
    assert v[0] == ekf.Verdict.ACCEPTED
    before = tr.snapshot(0)
    v, _ = _run(tr, [0], [1], [4.0], [[1.0, 2.0, 0, 0]], r)
    assert v[0] == ekf.Verdict.LATE
    v, _ = _run(tr, [0], [1], [6.0], [[np.nan, 2.0, 0, 0]], r)
    assert v[0] == ekf.Verdict.INVALID
    v, _ = _run(tr, [0], [2], [6.0], [[1.0, 1.0, 2.0, 0]], np.diag([0.0, 1.0])[None])
    assert v[0] == ekf.Verdict.INVALID
    after = tr.snapshot(0)
    for a, b in zip(before, after, strict=True):
        assert np.array_equal(a, b)


def test_position_sigma_is_the_largest_eigenvalue():
    rng = np.random.default_rng(2)
    covs = np.zeros((20, 5, 5))
    for k in range(20):
        a = rng.normal(size=(5, 5))
        covs[k] = a @ a.T
    got = ekf.position_sigma(covs)
    want = np.sqrt([np.linalg.eigvalsh(c[:2, :2]).max() for c in covs])
    assert np.allclose(got, want)


def test_heading_is_learned_from_travel():
    f = Fusion(None)
    for k in range(200):
        t = k * 0.02
        f.ingest(Odometry("m", t, t, 1.0, 0.0))
        if k % 5 == 0:  # driving north-west
            f.ingest(UwbFix("m", t, t, -t * math.sqrt(0.5), t * math.sqrt(0.5), 0.004, 0.0, 0.004))
    p = f.pose("m", 4.0)
    assert abs(p.heading - 3 * math.pi / 4) < 0.1
    assert p.cov[2, 2] < 0.3**2


def test_kidnapped_machine_is_found_again():
    """Fixes that consistently disagree with a confident track restart it."""
    f = Fusion(None)
    for k in range(300):
        t = k * 0.02
        f.ingest(Odometry("m", t, t, 0.0, 0.0))
        if k % 5 == 0:
            x = 5.0 if t < 3.0 else 15.0  # carried away by a forklift at t = 3 s
            f.ingest(UwbFix("m", t, t, x, 0.0, 0.0025, 0.0, 0.0025))
    p = f.pose("m", 6.0)
    assert math.hypot(p.x - 15.0, p.y) < 0.1
    assert f.rejections()["m"]["uwb"]["gated"] >= 7


def test_speed_step_is_followed():
    f = Fusion(None)
    t = 0.0
    for k in range(250):
        t = k * 0.02
        v = 1.5 if t < 4.0 else 0.0  # emergency stop at t = 4 s
        f.ingest(Odometry("m", t, t, v, 0.0))
        if k % 5 == 0:
            f.ingest(UwbFix("m", t, t, 1.5 * min(t, 4.0), 0.0, 0.0025, 0.0, 0.0025))
    assert abs(f.pose("m", t).speed) < 0.1


def test_tracks_grow_and_keep_rows():
    tr = Tracks(2)
    rows = [tr.add() for _ in range(5)]
    assert rows == [0, 1, 2, 3, 4] and tr.capacity >= 5
    r = np.diag([0.01, 0.01])[None]
    _run(tr, [4], [1], [1.0], [[7.0, 8.0, 0, 0]], r)
    tr.add()
    tr.add()
    tr.add()
    tr.add()
    assert tr.capacity >= 9 and np.allclose(tr.means[4, :2], [7.0, 8.0])


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 2), st.floats(0.001, 0.5), st.floats(-30, 30),
                          st.floats(-30, 30), st.floats(1e-4, 10.0)), min_size=1, max_size=60))
def test_covariance_stays_symmetric_positive(seq):
    tr = Tracks(1)
    tr.add()
    t = 0.0
    for kind, dt, a, b, var in seq:
        t += dt
        z = [[a, b, 0.0, 0.0]] if kind != 2 else [[abs(a) + 0.1, 1.0, 2.0, 1.5]]
        _run(tr, [0], [kind], [t], z, np.diag([var, var])[None])
    p = tr.covs[0]
    assert np.allclose(p, p.T)
    assert np.linalg.eigvalsh(p).min() > -1e-9
    assert np.isfinite(tr.means[0]).all()
