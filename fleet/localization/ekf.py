"""The filter's arithmetic: a CTRV extended Kalman filter over struct-of-arrays state.

State per machine: [x, y, heading, speed, yaw_rate] (site frame, metres, radians,
m/s, rad/s). Constant turn rate and velocity motion; speed and yaw rate wander by
white acceleration / yaw acceleration noise. All machines of a fleet live in one
`means (N, 5)`, `covs (N, 5, 5)`, `times (N,)` array set, so one compiled call
(`fuse_batch`) updates thousands of machines without a Python loop per machine.

Measurements are encoded as rows of plain arrays (see `Kind`): a measurement with
`stamps[j] < times[row]` is *not* applied (verdict LATE) so the caller can roll back
and replay (`fleet.localization.fusion`). Nothing here raises: bad numbers come back
as a verdict.
"""

from __future__ import annotations

import math
from enum import IntEnum

import numpy as np
from numba import njit

STATE = 5
X, Y, HEADING, SPEED, YAW_RATE = range(STATE)
Z_WIDTH = 4  # measurement vector slots (see Kind)


class Kind(IntEnum):
    """How a measurement row is read: which slots of z / R mean what."""

    ODOMETRY = 0  # z = (speed, yaw_rate, -, -); R 2x2
    POSITION = 1  # z = (x, y, -, -); R 2x2 (UWB fix, RFID tag, BeiDou in site frame)
    RANGE = 2  # z = (range, anchor_x, anchor_y, anchor_z - tag_z); R[0, 0] = variance


class Verdict(IntEnum):
    ACCEPTED = 0
    GATED = 1  # innovation failed the Mahalanobis gate
    LATE = 2  # older than the machine's state: caller must replay
    INVALID = 3  # non-finite numbers or a non-positive-definite covariance
    UNINITIALIZED = 4  # cannot start a track from this kind of measurement
    RESET = 5  # accepted by re-initialising the track (gate kept failing)


# Tunables, packed into one float array so the kernels stay free of Python objects.
P_SIGMA_ACCEL, P_SIGMA_YAW_ACCEL, P_SIGMA_WALK, P_GATE2, P_GATE1, P_MAX_DT, \
    P_RESET_RUN, P_RESET_S, P_INIT_SPEED_VAR, P_ODO_RUN, P_SIGMA_HEADING_WALK, \
    P_POS_FLOOR = range(12)


def default_params(
    sigma_accel: float = 0.8,
    sigma_yaw_accel: float = 0.6,
    sigma_walk: float = 0.02,
    gate2: float = 13.8,  # chi-square, 2 dof, 99.9 %
    gate1: float = 10.8,  # chi-square, 1 dof, 99.9 %
    max_dt: float = 0.1,
    reset_run: int = 8,
    reset_s: float = 1.5,
    init_speed_var: float = 4.0,
    odo_run: int = 5,
    sigma_heading_walk: float = 0.005,
    pos_floor: float = 0.03,
) -> np.ndarray:
    """Filter tunables; `reset_run` consecutive gated position fixes over at least
    `reset_s` seconds mean the track is wrong, not the fixes: it is re-initialised;
    `odo_run` consecutive gated odometry readings widen speed and yaw rate so the
    next reading is taken; `pos_floor` (m) is added in quadrature to every position
    fix's sigma.
    `sigma_walk` (m/sqrt(s)) and `sigma_heading_walk` (rad/sqrt(s)) stand for what
    white odometry noise does not cover (wheel-radius error, gyro bias), so that the
    covariance keeps up with the real error while dead-reckoning."""
    return np.array(
        [sigma_accel, sigma_yaw_accel, sigma_walk, gate2, gate1, max_dt, reset_run, reset_s,
         init_speed_var, odo_run, sigma_heading_walk, pos_floor],
        dtype=np.float64,
    )


@njit(cache=True)
def _wrap(a: float) -> float:
    return (a + math.pi) % (2.0 * math.pi) - math.pi


@njit(cache=True)
def _predict_step(m: np.ndarray, p: np.ndarray, dt: float, params: np.ndarray) -> None:
    """One CTRV step of length dt in place: mean, Jacobian, P = F P F' + Q.

    F is the identity except rows 0, 1 (columns 2, 3, 4) and F[2, 4] = dt, so
    F P F' is done in place by row and column operations: no allocation.
    """
    x, y, th, v, w = m[0], m[1], m[2], m[3], m[4]
    s0, c0 = math.sin(th), math.cos(th)
    if abs(w) > 1e-4:
        th1 = th + w * dt
        s1, c1 = math.sin(th1), math.cos(th1)
        r = v / w
        m[0] = x + r * (s1 - s0)
        m[1] = y + r * (c0 - c1)
        f02 = r * (c1 - c0)
        f03 = (s1 - s0) / w
        f04 = -r / w * (s1 - s0) + r * dt * c1
        f12 = r * (s1 - s0)
        f13 = (c0 - c1) / w
        f14 = -r / w * (c0 - c1) + r * dt * s1
    else:
        m[0] = x + v * dt * c0
        m[1] = y + v * dt * s0
        f02 = -v * dt * s0
        f03 = dt * c0
        f04 = -0.5 * v * dt * dt * s0
        f12 = v * dt * c0
        f13 = dt * s0
        f14 = 0.5 * v * dt * dt * c0
    m[2] = _wrap(th + w * dt)
    f24 = dt
    # rows: A = F P (rows 0 and 1 read the old rows 2..4, so row 2 goes last)
    for j in range(STATE):
        p2j, p3j, p4j = p[2, j], p[3, j], p[4, j]
        p[0, j] += f02 * p2j + f03 * p3j + f04 * p4j
        p[1, j] += f12 * p2j + f13 * p3j + f14 * p4j
        p[2, j] = p2j + f24 * p4j
    # columns: P' = A F'
    for i in range(STATE):
        a2, a3, a4 = p[i, 2], p[i, 3], p[i, 4]
        p[i, 0] += f02 * a2 + f03 * a3 + f04 * a4
        p[i, 1] += f12 * a2 + f13 * a3 + f14 * a4
        p[i, 2] = a2 + f24 * a4
    # Q = sa2 ga ga' + sw2 gw gw', ga = (h2 c0, h2 s0, 0, dt, 0), gw = (0, 0, h2, 0, dt)
    sa2 = params[P_SIGMA_ACCEL] ** 2
    sw2 = params[P_SIGMA_YAW_ACCEL] ** 2
    h2 = 0.5 * dt * dt
    g0, g1, g3 = h2 * c0, h2 * s0, dt
    p[0, 0] += sa2 * g0 * g0
    p[0, 1] += sa2 * g0 * g1
    p[1, 0] += sa2 * g0 * g1
    p[1, 1] += sa2 * g1 * g1
    p[0, 3] += sa2 * g0 * g3
    p[3, 0] += sa2 * g0 * g3
    p[1, 3] += sa2 * g1 * g3
    p[3, 1] += sa2 * g1 * g3
    p[3, 3] += sa2 * g3 * g3
    p[2, 2] += sw2 * h2 * h2
    p[2, 4] += sw2 * h2 * dt
    p[4, 2] += sw2 * h2 * dt
    p[4, 4] += sw2 * dt * dt
    walk = params[P_SIGMA_WALK] ** 2 * dt
    p[0, 0] += walk
    p[1, 1] += walk
    p[2, 2] += params[P_SIGMA_HEADING_WALK] ** 2 * dt


@njit(cache=True)
def predict(m: np.ndarray, p: np.ndarray, dt: float, params: np.ndarray) -> None:
    """Propagate in place by dt seconds, in steps no longer than params[P_MAX_DT]."""
    if not dt > 0.0:
        return
    max_dt = params[P_MAX_DT]
    n = math.ceil(dt / max_dt)
    step = dt / n
    for _ in range(n):
        _predict_step(m, p, step, params)


@njit(cache=True)
def _symmetrize(p: np.ndarray) -> None:
    for i in range(STATE):
        for j in range(i + 1, STATE):
            a = 0.5 * (p[i, j] + p[j, i])
            p[i, j] = a
            p[j, i] = a
        if p[i, i] < 1e-12:
            p[i, i] = 1e-12


@njit(cache=True)
def _update_pair(m: np.ndarray, p: np.ndarray, i0: int, i1: int, z0: float, z1: float,
                 r: np.ndarray, floor: float, gate: float, out_nis: np.ndarray, k: int) -> int:
    """Linear update of two state components (H selects i0, i1), measurement noise
    r + floor * I. Returns a Verdict."""
    s00 = p[i0, i0] + r[0, 0] + floor
    s01 = p[i0, i1] + 0.5 * (r[0, 1] + r[1, 0])
    s11 = p[i1, i1] + r[1, 1] + floor
    det = s00 * s11 - s01 * s01
    if not (det > 0.0 and s00 > 0.0):
        return 3
    i00, i01, i11 = s11 / det, -s01 / det, s00 / det
    e0, e1 = z0 - m[i0], z1 - m[i1]
    nis = e0 * (i00 * e0 + i01 * e1) + e1 * (i01 * e0 + i11 * e1)
    out_nis[k] = nis
    if gate > 0.0 and nis > gate:
        return 1
    # K = P[:, (i0, i1)] S^-1 (5 x 2); P -= K [P[i0, :]; P[i1, :]], using the old rows
    r0 = (p[i0, 0], p[i0, 1], p[i0, 2], p[i0, 3], p[i0, 4])
    r1 = (p[i1, 0], p[i1, 1], p[i1, 2], p[i1, 3], p[i1, 4])
    for i in range(STATE):
        a, b = r0[i], r1[i]  # P symmetric: P[i, i0] = P[i0, i]
        k0 = a * i00 + b * i01
        k1 = a * i01 + b * i11
        m[i] += k0 * e0 + k1 * e1
        for jj in range(STATE):
            p[i, jj] -= k0 * r0[jj] + k1 * r1[jj]
    m[2] = _wrap(m[2])
    _symmetrize(p)
    return 0


@njit(cache=True)
def _update_range(m: np.ndarray, p: np.ndarray, z: np.ndarray, r: np.ndarray, gate: float,
                  out_nis: np.ndarray, k: int) -> int:
    """Range to an anchor at (z[1], z[2]) with height difference z[3]."""
    dx, dy, dz = m[0] - z[1], m[1] - z[2], z[3]
    rho = math.sqrt(dx * dx + dy * dy + dz * dz)
    if not (rho > 1e-6 and r[0, 0] > 0.0):
        return 3
    hx, hy = dx / rho, dy / rho
    ph = np.empty(STATE)
    for i in range(STATE):
        ph[i] = p[i, 0] * hx + p[i, 1] * hy
    s = hx * ph[0] + hy * ph[1] + r[0, 0]
    e = z[0] - rho
    nis = e * e / s
    out_nis[k] = nis
    if gate > 0.0 and nis > gate:
        return 1
    for i in range(STATE):
        m[i] += ph[i] / s * e
    for i in range(STATE):
        for j in range(STATE):
            p[i, j] -= ph[i] * ph[j] / s
    m[2] = _wrap(m[2])
    _symmetrize(p)
    return 0


# Columns of the per-machine bookkeeping array `aux (N, AUX)`.
A_STARTED, A_GATE_RUN, A_GATE_RUN_SINCE, A_ODO_RUN, A_HEAD_X, A_HEAD_Y = range(6)
AUX = 6
HEADING_UNKNOWN_VAR = math.pi**2
HEADING_FROM_TRAVEL_M = 1.5  # displacement that fixes the heading of a new track
HEADING_KNOWN_SIGMA = 0.3  # rad: heading sigma once learned from travel
HEADLESS_TAU_S = 0.5  # position diffusion while the heading is unknown (see _predict_headless)


@njit(cache=True)
def _start_track(m: np.ndarray, p: np.ndarray, a: np.ndarray, z: np.ndarray, r: np.ndarray,
                 params: np.ndarray) -> None:
    """Start (or restart) a track at a position fix, heading unknown, speed and yaw
    rate kept (odometry knows them). The heading is then taken from the direction of
    travel once the machine has moved HEADING_FROM_TRAVEL_M (`_learn_heading`): an
    EKF left to find a heading from pi^2 variance can lock onto a wrong one."""
    v, w = m[3], m[4]
    sv, sw = max(p[3, 3], 1e-4), max(p[4, 4], 1e-4)
    m[0], m[1], m[2] = z[0], z[1], 0.0
    p[:, :] = 0.0
    p[0, 0], p[0, 1], p[1, 0], p[1, 1] = r[0, 0], r[0, 1], r[1, 0], r[1, 1]
    p[2, 2] = HEADING_UNKNOWN_VAR
    p[3, 3] = min(sv, params[P_INIT_SPEED_VAR])
    p[4, 4] = min(sw, 1.0)
    m[3], m[4] = v, w
    a[A_HEAD_X], a[A_HEAD_Y] = z[0], z[1]


@njit(cache=True)
def _predict_headless(m: np.ndarray, p: np.ndarray, dt: float, params: np.ndarray) -> None:
    """Prediction while the heading is unknown: the machine moves, direction unknown,
    so position only diffuses (by speed^2 * dt * HEADLESS_TAU_S) and no fix may pull
    the heading (its cross-covariances stay zero) until `_learn_heading` sets it."""
    v = m[3]
    m[3] = 0.0
    predict(m, p, dt, params)
    m[3] = v
    grow = v * v * dt * HEADLESS_TAU_S
    p[0, 0] += grow
    p[1, 1] += grow
    for k in range(STATE):
        p[2, k] = 0.0
        p[k, 2] = 0.0
    p[2, 2] = HEADING_UNKNOWN_VAR


@njit(cache=True)
def _learn_heading(m: np.ndarray, p: np.ndarray, a: np.ndarray) -> None:
    """While the heading is unknown, set it from the displacement since the start."""
    if not math.isfinite(a[A_HEAD_X]):
        return
    dx, dy = m[0] - a[A_HEAD_X], m[1] - a[A_HEAD_Y]
    if dx * dx + dy * dy < HEADING_FROM_TRAVEL_M**2:
        return
    h = math.atan2(dy, dx)
    if m[3] < 0.0:  # reversing
        h += math.pi
    m[2] = _wrap(h)
    for k in range(STATE):
        p[2, k] = 0.0
        p[k, 2] = 0.0
    p[2, 2] = HEADING_KNOWN_SIGMA**2
    a[A_HEAD_X] = np.nan
    a[A_HEAD_Y] = np.nan


@njit(cache=True)
def fuse_batch(
    means: np.ndarray, covs: np.ndarray, times: np.ndarray, aux: np.ndarray,
    rows: np.ndarray, kinds: np.ndarray, stamps: np.ndarray, z: np.ndarray, r: np.ndarray,
    params: np.ndarray, verdict: np.ndarray, nis: np.ndarray,
    snap_m: np.ndarray, snap_p: np.ndarray, snap_s: np.ndarray,
) -> int:
    """Apply measurements j = 0..M-1 in order, each to machine `rows[j]`.

    State: means (N, 5), covs (N, 5, 5), times (N,) and bookkeeping aux (N, AUX).
    Each measurement first predicts its machine to `stamps[j]`, then updates. A row
    that has never had a position fix is started by its first one. Writes
    `verdict[j]` (a Verdict) and `nis[j]` (normalised innovation squared, or NaN);
    returns the number accepted. Measurements of one machine must come in stamp
    order; an older one gets LATE and changes nothing. When `snap_m` has M rows, the
    machine's state after each measurement is kept there (snap_m (M, 5), snap_p
    (M, 5, 5), snap_s (M, 1 + AUX) = time, aux) so that a late fix can roll back to
    it; pass empty arrays to skip that.
    """
    keep = snap_m.shape[0] == rows.shape[0]
    accepted = 0
    for j in range(rows.shape[0]):
        i = rows[j]
        accepted += _fuse_one(means[i], covs[i], times, aux[i], i, kinds[j], stamps[j], z[j],
                              r[j], params, verdict, nis, j)
        if keep:
            snap_m[j] = means[i]
            snap_p[j] = covs[i]
            snap_s[j, 0] = times[i]
            snap_s[j, 1:] = aux[i]
    return accepted


@njit(cache=True)
def _fuse_one(m, p, times, a, i, kind, t, zj, rj, params, verdict, nis, j) -> int:
    """One measurement of `fuse_batch`: writes verdict[j], returns 1 if accepted."""
    nis[j] = np.nan
    ok = math.isfinite(t)
    for q in range(Z_WIDTH):
        ok = ok and math.isfinite(zj[q])
    for u in range(2):
        for w in range(2):
            ok = ok and math.isfinite(rj[u, w])
    if kind == 2:
        ok = ok and rj[0, 0] > 0.0
    elif kind == 0 or kind == 1:
        ok = ok and rj[0, 0] > 0.0 and rj[1, 1] > 0.0 and rj[0, 0] * rj[1, 1] > rj[0, 1] * rj[1, 0]
    else:
        ok = False
    if not ok:  # checked before predicting, so a bad row leaves the state untouched
        verdict[j] = 3
        return 0
    gate2 = params[P_GATE2]
    if a[A_STARTED] == 0.0:
        if kind == 1:
            _start_track(m, p, a, zj, rj, params)
            a[A_STARTED] = 1.0
            a[A_GATE_RUN] = 0.0
            times[i] = t
            verdict[j] = 0
            return 1
        if kind == 0:
            if t >= times[i]:
                m[3], m[4] = zj[0], zj[1]
                p[3, 3], p[4, 4] = rj[0, 0], rj[1, 1]
                times[i] = t
                verdict[j] = 0
                return 1
            verdict[j] = 2
            return 0
        verdict[j] = 4
        return 0
    if t < times[i]:
        verdict[j] = 2
        return 0
    dt = t - times[i]
    if math.isfinite(a[A_HEAD_X]):
        _predict_headless(m, p, dt, params)
    else:
        predict(m, p, dt, params)
    times[i] = t
    if kind == 0:
        v = _update_pair(m, p, 3, 4, zj[0], zj[1], rj, 0.0, gate2, nis, j)
        if v == 1:
            # A real step in speed (e-stop, collision) must not be gated forever: after
            # a run of gated readings, widen speed / yaw rate to the innovation and apply.
            a[A_ODO_RUN] += 1.0
            if a[A_ODO_RUN] >= params[P_ODO_RUN]:
                p[3, 3] += (zj[0] - m[3]) ** 2
                p[4, 4] += (zj[1] - m[4]) ** 2
                v = _update_pair(m, p, 3, 4, zj[0], zj[1], rj, 0.0, 0.0, nis, j)
                a[A_ODO_RUN] = 0.0
                v = 5 if v == 0 else v
        elif v == 0:
            a[A_ODO_RUN] = 0.0
    elif kind == 1:
        floor = params[P_POS_FLOOR] ** 2  # clock sync and lever-arm errors no fix reports
        v = _update_pair(m, p, 0, 1, zj[0], zj[1], rj, floor, gate2, nis, j)
        if v == 1:
            if a[A_GATE_RUN] == 0.0:
                a[A_GATE_RUN_SINCE] = t
            a[A_GATE_RUN] += 1.0
            if a[A_GATE_RUN] >= params[P_RESET_RUN] and t - a[A_GATE_RUN_SINCE] >= params[P_RESET_S]:
                rf = rj.copy()
                rf[0, 0] += floor
                rf[1, 1] += floor
                _start_track(m, p, a, zj, rf, params)
                a[A_GATE_RUN] = 0.0
                v = 5
        elif v == 0:
            a[A_GATE_RUN] = 0.0
            _learn_heading(m, p, a)
    elif kind == 2:
        v = _update_range(m, p, zj, rj, params[P_GATE1], nis, j)
        if v == 0:
            _learn_heading(m, p, a)
    else:
        v = 3
    verdict[j] = v
    return 1 if (v == 0 or v == 5) else 0


@njit(cache=True)
def predicted(m: np.ndarray, p: np.ndarray, dt: float, params: np.ndarray):
    """A copy of (mean, cov) propagated by dt; the inputs are left alone."""
    m2 = m.copy()
    p2 = p.copy()
    predict(m2, p2, dt, params)
    return m2, p2


@njit(cache=True)
def position_sigma(covs: np.ndarray) -> np.ndarray:
    """sqrt of the largest eigenvalue of each 2x2 position covariance block (metres)."""
    out = np.empty(covs.shape[0])
    for i in range(covs.shape[0]):
        a, b, d = covs[i, 0, 0], covs[i, 0, 1], covs[i, 1, 1]
        half_tr = 0.5 * (a + d)
        disc = math.sqrt(max(0.25 * (a - d) ** 2 + b * b, 0.0))
        out[i] = math.sqrt(max(half_tr + disc, 0.0))
    return out

