"""Windowed prioritized planning: each agent books a space-time path in a reservation table.

For small fleets on lane graphs (a site's 30 AGVs), one-step rules like PIBT cannot
see that an agent must wait in a side branch for an oncoming one to pass (footprint
conflict sets reach over junctions). Here agents plan in turn with space-time A*
over a window of H steps, avoiding every node and footprint already reserved by the
agents before them, and waiting where waiting is wise (Silver, "Cooperative
Pathfinding", 2005; windowed as in Li et al., "Lifelong Multi-Agent Path Finding in
Large-Scale Warehouses", AAAI 2021). An agent that reaches its goal books it to the
window's end; one that cannot reach it in the window ends as close as it can.

Every agent's current node is booked for steps 0 to `hold_steps` up front, so an agent
planned early never drives into one planned later before that one had time to dodge. `no_rotation`
forbids cyclic following (agents moving into each other's vacated nodes around a
ring, directly or through conflict sets), which delay-robust execution cannot release.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def _book(occ, foot, cptr, cind, t, v, a, delta):  # pragma: no cover - numba
    if delta > 0:
        occ[t, v] = a
    elif occ[t, v] == a:
        occ[t, v] = -1
    for c in range(cptr[v], cptr[v + 1]):
        foot[t, cind[c]] += delta


@njit(cache=True)
def _cyclic(a, v, u, t, occ, cptr, cind, out, planned, stack):  # pragma: no cover - numba
    """Would agent a moving v->u at t->t+1 close a ring of agents following each other?"""
    n = 0
    # agents a would follow: whoever is on u or on a node in conflict with u at t
    o = occ[t, u]
    if o != -1 and o != a:
        stack[n] = u
        n += 1
    for c in range(cptr[u], cptr[u + 1]):
        x = cind[c]
        o = occ[t, x]
        if o != -1 and o != a and n < stack.shape[0]:
            stack[n] = x
            n += 1
    steps = 0
    while n > 0:
        n -= 1
        x = stack[n]
        if x == v:
            return True
        j = occ[t, x]
        if j == -1 or not planned[j]:
            continue
        w = out[t + 1, j]
        if w == x:
            continue  # j waits: a cannot enter anyway
        steps += 1
        if steps > 64:
            return True  # long dependency chains: be conservative
        if w == v:
            return True
        o = occ[t, w]
        if o != -1 and o != j and n < stack.shape[0]:
            stack[n] = w
            n += 1
        for c in range(cptr[w], cptr[w + 1]):
            y = cind[c]
            if y == v:
                return True
            o = occ[t, y]
            if o != -1 and o != j and n < stack.shape[0]:
                stack[n] = y
                n += 1
    return False


@njit(cache=True)
def _heap_push(hk, hv, ht, size, key, v, t):  # pragma: no cover - numba
    i = size
    hk[i] = key
    hv[i] = v
    ht[i] = t
    while i > 0:
        p = (i - 1) >> 1
        if hk[p] <= hk[i]:
            break
        hk[p], hk[i] = hk[i], hk[p]
        hv[p], hv[i] = hv[i], hv[p]
        ht[p], ht[i] = ht[i], ht[p]
        i = p
    return size + 1


@njit(cache=True)
def _heap_pop(hk, hv, ht, size):  # pragma: no cover - numba
    v = hv[0]
    t = ht[0]
    size -= 1
    hk[0] = hk[size]
    hv[0] = hv[size]
    ht[0] = ht[size]
    i = 0
    while True:
        lft = 2 * i + 1
        if lft >= size:
            break
        m = lft
        if lft + 1 < size and hk[lft + 1] < hk[lft]:
            m = lft + 1
        if hk[i] <= hk[m]:
            break
        hk[m], hk[i] = hk[i], hk[m]
        hv[m], hv[i] = hv[i], hv[m]
        ht[m], ht[i] = ht[i], ht[m]
        i = m
    return v, t, size


@njit(cache=True)
def plan_window(indptr, indices, cptr, cind, dist, slots, inf, pos, goals, order, horizon,
                blocked, no_rotation, hold_steps, out, failed):  # pragma: no cover - numba
    """Book paths for the agents in `order`; out[t, a] is agent a's node at step t.

    An agent that finds no path (boxed in by the bookings of those before it) waits at
    step 1, which its up-front booking keeps safe, and is flagged in `failed`: the rows
    after step 1 are then only a proposal, the caller replans next step with it first.
    Returns how many agents failed. blocked nodes may not be entered (one may stay on one).
    """
    n_nodes = indptr.shape[0] - 1
    n_agents = pos.shape[0]
    hz = horizon
    occ = np.full((hz + 1, n_nodes), -1, dtype=np.int32)
    foot = np.zeros((hz + 1, n_nodes), dtype=np.int32)
    last = np.full(n_nodes, -1, dtype=np.int32)  # last step some agent books the node
    seen = np.zeros((hz + 1, n_nodes), dtype=np.int32)  # search stamp: no reset per agent
    par = np.empty((hz + 1, n_nodes), dtype=np.int32)
    planned = np.zeros(n_agents, dtype=np.bool_)
    stack = np.empty(256, dtype=np.int32)
    cap = 1024
    hk = np.empty(cap, dtype=np.int64)
    hv = np.empty(cap, dtype=np.int32)
    ht = np.empty(cap, dtype=np.int32)
    n_failed = 0
    for a in range(n_agents):
        failed[a] = False
        _book(occ, foot, cptr, cind, 0, pos[a], a, 1)
        for t in range(1, min(hz, hold_steps) + 1):
            _book(occ, foot, cptr, cind, t, pos[a], a, 1)
    for x in range(n_agents):
        a = order[x]
        row = slots[a]
        g = goals[a]
        s = pos[a]
        for t in range(1, min(hz, hold_steps) + 1):
            _book(occ, foot, cptr, cind, t, s, a, -1)
        stamp = x + 1  # fresh search
        size = 0
        h0 = np.int64(dist[row, s])
        size = _heap_push(hk, hv, ht, size, h0 * (hz + 2) + hz, s, 0)
        seen[0, s] = stamp
        par[0, s] = -1
        end_v = -1
        end_t = -1
        while size > 0:
            v, t, size = _heap_pop(hk, hv, ht, size)
            if (v == g and t > last[g]) or t == hz:
                end_v = v
                end_t = t
                break
            for k in range(indptr[v], indptr[v + 1] + 1):
                u = v if k == indptr[v + 1] else indices[k]
                t1 = t + 1
                if seen[t1, u] == stamp:
                    continue
                if u != v and blocked[u]:
                    continue
                o = occ[t1, u]
                if o != -1 and o != a:
                    continue
                if foot[t1, u] > 0:
                    continue
                if u != v:
                    j = occ[t, u]
                    if j != -1 and j != a and occ[t1, v] == j:
                        continue  # swap
                    if no_rotation and _cyclic(a, v, u, t, occ, cptr, cind, out, planned, stack):
                        continue
                du = dist[row, u]
                if du == inf and dist[row, v] != inf:
                    continue
                seen[t1, u] = stamp
                par[t1, u] = v
                if size + 1 >= cap:
                    cap *= 2
                    nk = np.empty(cap, dtype=np.int64)
                    nv = np.empty(cap, dtype=np.int32)
                    nt = np.empty(cap, dtype=np.int32)
                    nk[:size] = hk[:size]
                    nv[:size] = hv[:size]
                    nt[:size] = ht[:size]
                    hk, hv, ht = nk, nv, nt
                f = np.int64(t1) + np.int64(du)
                size = _heap_push(hk, hv, ht, size, f * (hz + 2) + (hz - t1), u, t1)
        if end_v == -1:
            n_failed += 1
            failed[a] = True
            for t in range(hz + 1):
                out[t, a] = s
            if hz >= 1:
                _book(occ, foot, cptr, cind, 1, s, a, 1)
            planned[a] = True
            continue
        # walk back, then wait at the end to the window's close
        v = end_v
        for t in range(end_t, -1, -1):
            out[t, a] = v
            v = par[t, v]
        for t in range(end_t + 1, hz + 1):
            out[t, a] = end_v
        for t in range(1, hz + 1):
            _book(occ, foot, cptr, cind, t, out[t, a], a, 1)
        for t in range(hz + 1):
            w = out[t, a]
            if t > last[w]:
                last[w] = t
            for c in range(cptr[w], cptr[w + 1]):
                if t > last[cind[c]]:
                    last[cind[c]] = t
        planned[a] = True
    return n_failed
