"""PIBT, Priority Inheritance with BackTracking (Okumura et al., AIJ 2022): one step for all agents.

Agents are planned in priority order; an agent that wants a node occupied by an
unplanned agent lends it its priority, and that agent must then move away
(recursively) or the first one tries its next-best node. This module holds the
per-agent kernel that both the one-shot LaCAM search (`planners.lacam`) and the
lifelong planner (`planners.lifelong`) call to build a configuration.

Extensions over the textbook version, each off when unused so grids pay nothing:
- footprint conflicts: taking node u also forbids every node in u's conflict set
  and lends priority to the agents standing there;
- blocked nodes (a mask) and blocked time windows (per-node CSR of [from, to));
- the swap technique of LaCAM* (Okumura, IJCAI 2023) for corridors and trees,
  used on graphs where every edge has its reverse;
- a station queue (`hold`): an agent does not push another agent off the goal
  they share, it waits next to it.

Scratch arrays `occ_now` / `occ_next` (node -> agent or -1) are owned by the caller
and left all -1 between calls. Agents' candidate lists live in per-agent rows of
`cand` / `keyb` so the recursion allocates nothing.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, inline="always")
def is_blocked(u, t, blocked, wptr, wfrom, wto):  # pragma: no cover - numba
    """Node u may not be occupied at time t (permanent mask or a window)."""
    if blocked[u]:
        return True
    for k in range(wptr[u], wptr[u + 1]):  # noqa: SIM110 - numba has no any() over generators
        if wfrom[k] <= t and t < wto[k]:
            return True
    return False


@njit(cache=True, inline="always")
def _dead_end_goal(u, indptr, occ_now, goals):  # pragma: no cover - numba
    """A dead-end node held by the agent whose goal it is: nobody can be pulled into it."""
    if indptr[u + 1] - indptr[u] != 1:
        return False
    k = occ_now[u]
    return k != -1 and goals[k] == u


@njit(cache=True, inline="always")
def _swap_required(pusher, puller, v_pusher0, v_puller0, indptr, indices, dist, drow,
                   occ_now, goals):  # pragma: no cover - numba
    """Walk the corridor ahead: do the two agents have to pass each other through it?"""
    v_pusher = v_pusher0
    v_puller = v_puller0
    rp = drow[pusher]
    rq = drow[puller]
    tmp = -1
    while dist[rp, v_puller] < dist[rp, v_pusher]:
        n = indptr[v_puller + 1] - indptr[v_puller]
        for k in range(indptr[v_puller], indptr[v_puller + 1]):
            u = indices[k]
            if u == v_pusher or _dead_end_goal(u, indptr, occ_now, goals):
                n -= 1
            else:
                tmp = u
        if n >= 2:
            return False  # a side branch: they can pass there
        if n <= 0:
            break
        v_pusher = v_puller
        v_puller = tmp
    return (dist[rq, v_pusher] < dist[rq, v_puller]) and (
        dist[rp, v_pusher] == 0 or dist[rp, v_puller] < dist[rp, v_pusher]
    )


@njit(cache=True, inline="always")
def _swap_possible(v_pusher0, v_puller0, indptr, indices, occ_now, goals):  # pragma: no cover
    """Simulate pulling backwards: is there a branch to swap in before a dead end?"""
    v_pusher = v_pusher0
    v_puller = v_puller0
    tmp = -1
    while v_puller != v_pusher0:
        n = indptr[v_puller + 1] - indptr[v_puller]
        for k in range(indptr[v_puller], indptr[v_puller + 1]):
            u = indices[k]
            if u == v_pusher or _dead_end_goal(u, indptr, occ_now, goals):
                n -= 1
            else:
                tmp = u
        if n >= 2:
            return True
        if n <= 0:
            return False
        v_pusher = v_puller
        v_puller = tmp
    return False


@njit(cache=True, inline="always")
def _swap_partner(i, best, indptr, indices, dist, drow, goals, qfrom, qto,
                  occ_now):  # pragma: no cover - numba
    """The agent i should swap with (pull behind it), or -1."""
    v = qfrom[i]
    j = occ_now[best]
    if (j != -1 and j != i and qto[j] == -1
            and _swap_required(i, j, v, qfrom[j], indptr, indices, dist, drow, occ_now, goals)
            and _swap_possible(qfrom[j], v, indptr, indices, occ_now, goals)):
        return j
    if best != v:
        for k in range(indptr[v], indptr[v + 1]):
            u = indices[k]
            a = occ_now[u]
            if (a != -1 and best != qfrom[a]
                    and _swap_required(a, i, v, best, indptr, indices, dist, drow, occ_now, goals)
                    and _swap_possible(best, v, indptr, indices, occ_now, goals)):
                return a
    return -1


@njit(cache=True, inline="always")
def _prepare(i, indptr, indices, dist, drow, goals, qfrom, qto, occ_now, swap_on, cand,
             keyb):  # pragma: no cover - numba
    """Fill cand[i] with i's candidate nodes, best first; returns (count, swap partner)."""
    v = qfrom[i]
    row = drow[i]
    nk = 0
    for e in range(indptr[v], indptr[v + 1]):
        u = indices[e]
        cand[i, nk] = u
        keyb[i, nk] = dist[row, u] + np.random.random()
        nk += 1
    cand[i, nk] = v
    keyb[i, nk] = dist[row, v] + np.random.random()
    nk += 1
    for a in range(1, nk):  # insertion sort: at most a handful of candidates
        cu = cand[i, a]
        ck = keyb[i, a]
        b = a - 1
        while b >= 0 and keyb[i, b] > ck:
            cand[i, b + 1] = cand[i, b]
            keyb[i, b + 1] = keyb[i, b]
            b -= 1
        cand[i, b + 1] = cu
        keyb[i, b + 1] = ck
    swap_agent = -1
    if swap_on:
        swap_agent = _swap_partner(i, cand[i, 0], indptr, indices, dist, drow, goals, qfrom,
                                   qto, occ_now)
        if swap_agent != -1:
            for a in range(nk // 2):
                tmpc = cand[i, a]
                cand[i, a] = cand[i, nk - 1 - a]
                cand[i, nk - 1 - a] = tmpc
    return nk, swap_agent


_NEXT, _AFTER_PUSH, _CONFLICTS, _AFTER_CONFLICT = 0, 1, 2, 3


@njit(cache=True, inline="always")
def _stay_last(i, v, nk, cand, keyb):  # pragma: no cover - numba
    """Move the candidate 'stay on v' to the end of agent i's list."""
    k = 0
    while k < nk and cand[i, k] != v:
        k += 1
    while k < nk - 1:
        cand[i, k] = cand[i, k + 1]
        keyb[i, k] = keyb[i, k + 1]
        k += 1
    cand[i, nk - 1] = v


@njit(cache=True, _nrt=False)
def pibt_agent(root, t, indptr, indices, cptr, cind, has_conf, dist, drow, inf, goals,
               qfrom, qto, occ_now, occ_next, blocked, wptr, wfrom, wto, stay_blocked_ok,
               swap_on, hold, cand, keyb, frames, spur, spur_now,
               spur_enter, rot_on, mark, stamp, stack, retries, failed):  # pragma: no cover - numba
    """Plan agent `root` (and whoever it pushes); False when it had to stay although pushed.

    Spurs (dead-end branches, `spur[v]` >= 0) admit one agent at a time: nobody enters a
    spur while an agent is in it (`spur_now` counts them) or another enters this step
    (`spur_enter` holds that agent), so two agents never meet head-on in a dead end.
    Pass spur all -1 to switch this off (one-shot search does: it is complete anyway).
    rot_on forbids rings of agents following each other within the step (`closes_ring`).

    The priority-inheritance recursion runs on an explicit stack (`frames`, int32 (N, 5):
    agent, candidate index, phase, conflict cursor, swap partner) so chains of thousands of
    agents need no native stack. t is the time of the *next* configuration (for windows);
    stay_blocked_ok lets an agent already on a blocked node stay (lifelong); in one-shot
    plans a blocked node may not be occupied at all.

    retries > 0 (lifelong planning): a *pushed* agent with nowhere to go is left unplanned
    instead of being pinned where it stands, up to `retries` times per agent (`failed`, int32
    per agent, counts them; the caller zeroes it per configuration). With footprints its way
    out is often shut only by the pusher's own claim (the nodes around a junction, or a queue
    nose to tail), which the pusher withdraws when the push fails; pinned, it would wait the
    whole step although it could move once the pusher stays. Left unplanned, it is planned
    later (pushed again, or as a root) against the claims that really stand, and as a root
    it tries staying last: it was asked to make way, so it moves if it can (an idle agent
    would otherwise stay on its own goal, and a follower through a junction block, which
    can never move together with its leader, would wait behind it for ever).
    """
    sp = 0
    nk, sw = _prepare(root, indptr, indices, dist, drow, goals, qfrom, qto, occ_now, swap_on,
                      cand, keyb)
    if retries > 0 and failed[root] > 0:
        _stay_last(root, qfrom[root], nk, cand, keyb)  # asked to make way: it moves if it can
    frames[0, 0] = root
    frames[0, 1] = -1
    frames[0, 2] = _NEXT
    frames[0, 3] = nk
    frames[0, 4] = sw
    sp = 1
    ret = False
    while sp > 0:
        f = sp - 1
        i = frames[f, 0]
        v = qfrom[i]
        phase = frames[f, 2]
        if phase in (_AFTER_PUSH, _AFTER_CONFLICT):
            u = cand[i, frames[f, 1]]
            if not ret:
                if occ_next[u] == i:
                    occ_next[u] = -1
                su = spur[u]
                if su != -1 and spur_enter[su] == i:
                    spur_enter[su] = -1
                qto[i] = -1
                frames[f, 2] = _NEXT
                continue
            if phase == _AFTER_PUSH:
                frames[f, 2] = _CONFLICTS
                frames[f, 3] = cptr[u]
                continue
            frames[f, 2] = _CONFLICTS
            continue
        if phase == _CONFLICTS:
            u = cand[i, frames[f, 1]]
            pushed = False
            if has_conf:
                for c in range(frames[f, 3], cptr[u + 1]):
                    a = occ_now[cind[c]]
                    if a != -1 and a != i and qto[a] == -1:
                        frames[f, 3] = c + 1
                        frames[f, 2] = _AFTER_CONFLICT
                        nk2, sw2 = _prepare(a, indptr, indices, dist, drow, goals, qfrom, qto,
                                            occ_now, swap_on, cand, keyb)
                        frames[sp, 0] = a
                        frames[sp, 1] = -1
                        frames[sp, 2] = _NEXT
                        frames[sp, 3] = nk2
                        frames[sp, 4] = sw2
                        sp += 1
                        pushed = True
                        break
            if pushed:
                continue
            # success: i moves to u
            sw = frames[f, 4]
            if (sw != -1 and frames[f, 1] == 0 and qto[sw] == -1 and occ_next[v] == -1
                    and not is_blocked(v, t, blocked, wptr, wfrom, wto)):
                occ_next[v] = sw  # pull the partner into the node i leaves
                qto[sw] = v
            sp -= 1
            ret = True
            continue
        # phase _NEXT: try the next candidate; frames[f, 3] holds the count until chosen
        k = frames[f, 1] + 1
        row = drow[i]
        dv = dist[row, v]
        nk = _count(i, indptr, qfrom)
        chosen = -1
        while k < nk:
            u = cand[i, k]
            if occ_next[u] != -1:
                k += 1
                continue
            if u != v:
                if is_blocked(u, t, blocked, wptr, wfrom, wto):
                    k += 1
                    continue
                if dist[row, u] == inf and dv != inf:
                    k += 1
                    continue  # never step where the goal is out of reach (one-way lanes)
                if hold and u == goals[i]:
                    h = occ_now[u]
                    if h != -1 and goals[h] == u:
                        k += 1
                        continue  # the station is taken by an agent that wants it: queue
                su = spur[u]
                if su != -1 and su != spur[v] and (spur_now[su] > 0 or spur_enter[su] != -1):
                    k += 1
                    continue  # a dead end someone else is in or entering
            elif not stay_blocked_ok and is_blocked(u, t, blocked, wptr, wfrom, wto):
                k += 1
                continue
            j = occ_now[u]
            if j != -1 and j != i and qto[j] == v:
                k += 1
                continue  # swap conflict
            if rot_on and u != v and closes_ring(i, u, qfrom, qto, occ_now, cptr, cind, mark,
                                                 stamp, stack):
                k += 1
                continue
            if has_conf:
                bad = False
                for c in range(cptr[u], cptr[u + 1]):
                    o = occ_next[cind[c]]
                    if o != -1 and o != i:
                        bad = True
                        break
                if bad:
                    k += 1
                    continue
            chosen = u
            break
        frames[f, 1] = k
        if chosen == -1:
            if retries > 0 and f > 0 and failed[i] < retries:
                failed[i] += 1  # pushed and stuck: unplanned again (the pusher tries elsewhere)
                qto[i] = -1
            else:
                occ_next[v] = i  # nowhere to go: stay (the pusher will try elsewhere)
                qto[i] = v
            sp -= 1
            ret = False
            continue
        u = chosen
        occ_next[u] = i
        qto[i] = u
        su = spur[u]
        if su != -1 and su != spur[v]:
            spur_enter[su] = i
        if u == v:
            sp -= 1
            ret = True
            continue
        j = occ_now[u]
        if j != -1 and qto[j] == -1:
            frames[f, 2] = _AFTER_PUSH
            nk2, sw2 = _prepare(j, indptr, indices, dist, drow, goals, qfrom, qto, occ_now,
                                swap_on, cand, keyb)
            frames[sp, 0] = j
            frames[sp, 1] = -1
            frames[sp, 2] = _NEXT
            frames[sp, 3] = nk2
            frames[sp, 4] = sw2
            sp += 1
            continue
        frames[f, 2] = _CONFLICTS
        frames[f, 3] = cptr[u]
    return ret


@njit(cache=True, _nrt=False)
def pibt_order(order, t, indptr, indices, cptr, cind, has_conf, dist, drow, inf, goals, qfrom,
               qto, occ_now, occ_next, blocked, wptr, wfrom, wto, stay_blocked_ok, swap_on, hold,
               cand, keyb, frames, spur, spur_now, spur_enter, rot_on, mark, stamp,
               stack):  # pragma: no cover - numba
    """`pibt_agent` for every agent not yet placed (qto -1), in `order`; False as soon as one
    had to stay although pushed. One call per configuration: numba counts references of
    every array argument at each call, which for one call per agent cost a third of the time
    (this function and `pibt_agent` are compiled without reference counting; they allocate
    nothing)."""
    for x in range(order.shape[0]):
        a = order[x]
        if qto[a] == -1 and not pibt_agent(
                a, t, indptr, indices, cptr, cind, has_conf, dist, drow, inf, goals, qfrom, qto,
                occ_now, occ_next, blocked, wptr, wfrom, wto, stay_blocked_ok, swap_on, hold,
                cand, keyb, frames, spur, spur_now, spur_enter, rot_on, mark, stamp, stack, 0,
                stack):  # no push retries (one-shot search backtracks itself): `failed` unused
            return False
    return True


@njit(cache=True, inline="always")
def _count(i, indptr, qfrom):  # pragma: no cover - numba
    v = qfrom[i]
    return indptr[v + 1] - indptr[v] + 1


@njit(cache=True, _nrt=False)
def closes_ring(i, u, qfrom, qto, occ_now, cptr, cind, mark, stamp, stack):  # pragma: no cover
    """Would i entering u close a ring of agents each waiting for the next to move away?

    i entering u waits for whoever stands on u or on a node in conflict with u; a planned,
    moving agent there waits in turn for the occupants of its own target. A ring cannot be
    released step by step by delay-robust execution, so it is refused.
    """
    stamp[0] += 1
    st = stamp[0]
    n = 0
    a = occ_now[u]
    if a != -1 and a != i:
        stack[n] = a
        n += 1
    for c in range(cptr[u], cptr[u + 1]):
        a = occ_now[cind[c]]
        if a != -1 and a != i and n < stack.shape[0]:
            stack[n] = a
            n += 1
    while n > 0:
        n -= 1
        j = stack[n]
        if mark[j] == st:
            continue
        mark[j] = st
        w = qto[j]
        if w == -1 or w == qfrom[j]:
            continue
        a = occ_now[w]
        if a == i:
            return True
        if a != -1 and a != j and n < stack.shape[0]:
            stack[n] = a
            n += 1
        for c in range(cptr[w], cptr[w + 1]):
            a = occ_now[cind[c]]
            if a == i:
                return True
            if a != -1 and a != j and n < stack.shape[0]:
                stack[n] = a
                n += 1
    return False


@njit(cache=True, _nrt=False)
def ring_free(qfrom, qto, occ_now, cptr, cind, mark, stamp, stack):  # pragma: no cover
    """No ring of followers in the step qfrom -> qto (occ_now filled from qfrom)."""
    for i in range(qto.shape[0]):
        if qto[i] != qfrom[i] and closes_ring(i, qto[i], qfrom, qto, occ_now, cptr, cind,
                                              mark, stamp, stack):
            return False
    return True


@njit(cache=True, _nrt=False)
def footprint_ok(qto, cptr, cind, occ_next):  # pragma: no cover - numba
    """Every agent's next node is clear of the others' conflict sets (occ_next filled)."""
    for i in range(qto.shape[0]):
        u = qto[i]
        for c in range(cptr[u], cptr[u + 1]):
            o = occ_next[cind[c]]
            if o != -1 and o != i:
                return False
    return True


@njit(cache=True)
def seed_rng(seed):  # pragma: no cover - numba
    """Seed numba's generator (separate from numpy's) so runs repeat exactly."""
    np.random.seed(seed)
