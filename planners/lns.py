"""Anytime refinement by large-neighbourhood search: lower a valid plan's sum of costs.

MAPF-LNS (Li, Chen, Harabor, Stuckey, Koenig, IJCAI 2021): repeatedly take a small
*neighbourhood* of agents, remove their paths, replan them one at a time (random order)
with space-time A* against a reservation table of everybody else's paths, and keep the
new paths only when the neighbourhood's sum of costs went down. Because each A* is
bounded by what is left of the old cost, a failed or worse replan is cut short early; an
agent whose search fails keeps its old path when the agents replanned before it left it free.

Neighbourhoods (picked by adaptive roulette, weights following the improvement each
one brought, as in MAPF-LNS / MAPF-LNS2):
- *random walk*: the most delayed agent (cost minus its own shortest distance, tabu
  until every delayed agent had a turn) and the agents met on random space-time walks
  from its path that could still lead to a cheaper path (the agents in its way);
- *intersection*: agents passing the nodes around a random node of a delayed agent's
  path, at any time;
- *random*: uniformly drawn agents.

Rules kept by every replan, the same as the checker's (`planners.validate`): moves follow
edges or wait; no two agents on a node or on nodes in each other's footprint conflict
sets; no swaps; blocked nodes and block windows respected; and the goal rule: an agent
rests on its goal from its arrival on, so nobody may cross an agent's goal later, and an
agent may only finish once nobody passes its goal (or its conflict set) afterwards.
Without rotations (`rot_on`), an improved neighbourhood is also rejected when some step
would move a ring of agents into each other's nodes.

Everything is one numba kernel over flat arrays: the reservation table is an
open-addressing hash of (time, node) -> agent with backward-shift deletion, sized once
(a plan's total entries never grow: an accepted neighbourhood is cheaper). Deterministic
for a seed when the iteration budget, not the clock, ends the search.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numba
import numpy as np
from numba import njit

from planners.pibt import is_blocked, ring_free

NEIGHBOURHOOD_SIZES = (2, 4, 8, 16, 32)  # adaptive: dense maps need small ones, open maps large
MAX_EXPANSIONS = 16_384  # per A* search: a failing search costs this much, so keep it modest
REACTION = 0.1  # adaptive weights: share of the latest improvement
HEURISTICS = ("random_walk", "intersection", "random")


@dataclass(frozen=True)
class LnsResult:
    """The refined plan and what the search did. plan: (T+1, N) int32, like the input."""

    plan: np.ndarray
    soc: int
    initial_soc: int
    iterations: int
    accepted: int
    runtime_s: float
    gains: dict[str, int]  # sum of costs removed by each neighbourhood kind
    expansions: int = 0  # A* states expanded, over every search
    failed_searches: int = 0  # searches that found no path within their bound


@njit(cache=True)
def _now():  # pragma: no cover - numba
    with numba.objmode(t="float64"):
        t = time.perf_counter()
    return t


@njit(cache=True, inline="always")
def _slot(key, mask):  # pragma: no cover - numba
    return np.int64((np.uint64(key) * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(29)) & mask


@njit(cache=True, _nrt=False)
def _get(keys, vals, key):  # pragma: no cover - numba
    """The agent booked at `key` (time * n_nodes + node) or -1."""
    mask = keys.shape[0] - 1
    s = _slot(key, mask)
    while True:
        k = keys[s]
        if k == key:
            return vals[s]
        if k == -1:
            return -1
        s = (s + 1) & mask


@njit(cache=True, _nrt=False)
def _put(keys, vals, key, a):  # pragma: no cover - numba
    mask = keys.shape[0] - 1
    s = _slot(key, mask)
    while keys[s] != -1:
        s = (s + 1) & mask
    keys[s] = key
    vals[s] = a


@njit(cache=True, _nrt=False)
def _delete(keys, vals, key):  # pragma: no cover - numba
    """Remove `key`, shifting later entries of its probe run back (no tombstones)."""
    mask = keys.shape[0] - 1
    s = _slot(key, mask)
    while keys[s] != key:
        if keys[s] == -1:
            return
        s = (s + 1) & mask
    j = s
    while True:
        j = (j + 1) & mask
        k = keys[j]
        if k == -1:
            break
        h = _slot(k, mask)
        inside = (s < h <= j) if s < j else (h > s or h <= j)
        if not inside:
            keys[s] = k
            vals[s] = vals[j]
            s = j
    keys[s] = -1


@njit(cache=True, _nrt=False)
def _book(keys, vals, paths, costs, a, n, on, visits, last):  # pragma: no cover - numba
    """Book (on) or release agent a's path; visits[v] counts bookings of node v, last[v] is
    at least the latest booked time of v (tightened lazily by `_last_visit`)."""
    for t in range(costs[a] + 1):
        v = paths[a, t]
        key = np.int64(t) * n + v
        if on:
            _put(keys, vals, key, a)
            visits[v] += 1
            if t > last[v]:
                last[v] = t
        else:
            _delete(keys, vals, key)
            visits[v] -= 1


@njit(cache=True, _nrt=False)
def _last_visit(keys, vals, v, n, visits, last, t_res):  # pragma: no cover - numba
    """The latest time anybody's path is booked on v, or -1."""
    if visits[v] == 0:
        return -1
    for t in range(min(last[v], t_res), -1, -1):
        if _get(keys, vals, np.int64(t) * n + v) != -1:
            last[v] = t
            return t
    return -1


@njit(cache=True, inline="always")
def _occupant(keys, vals, t, v, n, goal_of, active, costs):  # pragma: no cover - numba
    """Who stands on v at time t: a booked path, or an agent resting on its goal."""
    b = _get(keys, vals, np.int64(t) * n + v)
    if b != -1:
        return b
    b = goal_of[v]
    if b != -1 and active[b] and costs[b] <= t:
        return b
    return -1


@njit(cache=True, _nrt=False)
def _heap_push(hkey, hidx, size, key, idx):  # pragma: no cover - numba
    i = size
    while i > 0:
        p = (i - 1) >> 1
        if hkey[p] <= key:
            break
        hkey[i] = hkey[p]
        hidx[i] = hidx[p]
        i = p
    hkey[i] = key
    hidx[i] = idx


@njit(cache=True, _nrt=False)
def _heap_pop(hkey, hidx, size):  # pragma: no cover - numba
    top = hidx[0]
    size -= 1
    key = hkey[size]
    idx = hidx[size]
    i = 0
    while True:
        c = 2 * i + 1
        if c >= size:
            break
        if c + 1 < size and hkey[c + 1] < hkey[c]:
            c += 1
        if hkey[c] >= key:
            break
        hkey[i] = hkey[c]
        hidx[i] = hidx[c]
        i = c
    if size > 0:
        hkey[i] = key
        hidx[i] = idx
    return top


@njit(cache=True, _nrt=False)
def _astar(a, start, goal, ub, indptr, indices, cptr, cind, dist, inf, blocked, wptr, wfrom,
           wto, horizon, keys, vals, goal_of, active, costs, t_res, out, nv, nt, npar, hkey,
           hidx, skey, sstamp, stamp, max_exp, deadline, visits, last, counters):  # pragma: no cover - numba
    """Cheapest path of agent a avoiding every booked agent, of cost at most ub, into out[:].

    Returns its cost, -1 when there is none within the bound (or the expansion budget), -2
    when the deadline passed. States are (node, time); after the last booked step and the
    last window the world no longer changes, so later times fold into one.
    """
    n = indptr.shape[0] - 1
    # the earliest step a may rest on its goal: after the last time anyone passes it
    tgm = _last_visit(keys, vals, goal, n, visits, last, t_res) + 1
    for c in range(cptr[goal], cptr[goal + 1]):
        tgm = max(tgm, _last_visit(keys, vals, cind[c], n, visits, last, t_res) + 1)
    for k in range(wptr[goal], wptr[goal + 1]):
        tgm = max(tgm, wto[k])
    h0 = max(np.int64(dist[start]), np.int64(tgm))
    if dist[start] == inf or h0 > ub:
        return -1
    t_static = max(t_res + 1, horizon)
    smask = skey.shape[0] - 1
    cap = nv.shape[0]
    nv[0] = start
    nt[0] = 0
    npar[0] = -1
    used = 1
    size = 0
    _heap_push(hkey, hidx, size, h0 * 4194304 + 4194303, 0)
    size += 1
    s = _slot(np.int64(start), smask)
    while sstamp[s] == stamp and skey[s] != start:
        s = (s + 1) & smask
    sstamp[s] = stamp
    skey[s] = start
    exp = 0
    while size > 0:
        idx = _heap_pop(hkey, hidx, size)
        size -= 1
        v = nv[idx]
        t = nt[idx]
        if v == goal and t >= tgm:
            x = idx
            while x != -1:
                out[nt[x]] = nv[x]
                x = npar[x]
            return t
        exp += 1
        counters[0] += 1
        if exp > max_exp:
            return -1
        if (exp & 4095) == 0 and _now() > deadline:
            return -2
        t1 = t + 1
        tk = min(t1, t_static)
        deg = indptr[v + 1] - indptr[v]
        for e in range(deg + 1):
            u = v if e == deg else indices[indptr[v] + e]
            du = dist[u]
            if du == inf:
                continue
            hu = max(np.int64(du), np.int64(tgm - t1))
            f = t1 + hu
            if f > ub or used >= cap:
                continue
            skk = np.int64(tk) * n + u
            s = _slot(skk, smask)
            seen = False
            while sstamp[s] == stamp:
                if skey[s] == skk:
                    seen = True
                    break
                s = (s + 1) & smask
            if seen:
                continue
            if blocked[u] or (t1 < horizon and is_blocked(u, t1, blocked, wptr, wfrom, wto)):
                continue
            if _occupant(keys, vals, t1, u, n, goal_of, active, costs) != -1:
                continue
            clash = False
            for c in range(cptr[u], cptr[u + 1]):
                if _occupant(keys, vals, t1, cind[c], n, goal_of, active, costs) != -1:
                    clash = True
                    break
            if clash:
                continue
            if u != v and t < t_res + 1:
                b = _get(keys, vals, np.int64(t) * n + u)
                if b != -1 and _get(keys, vals, np.int64(t1) * n + v) == b:
                    continue  # b comes the other way along this edge
            sstamp[s] = stamp
            skey[s] = skk
            nv[used] = u
            nt[used] = t1
            npar[used] = idx
            _heap_push(hkey, hidx, size, f * 4194304 + (4194303 - t1), used)
            size += 1
            used += 1
    return -1


@njit(cache=True, _nrt=False)
def _path_free(row, cost, n, cptr, cind, keys, vals, goal_of, active, costs, visits, last,
               t_res):  # pragma: no cover - numba
    """Is this path (an agent's old one) still clear of every booked agent, goal rule included?"""
    g = row[cost]
    if _last_visit(keys, vals, g, n, visits, last, t_res) >= cost:
        return False
    for c in range(cptr[g], cptr[g + 1]):
        if _last_visit(keys, vals, cind[c], n, visits, last, t_res) >= cost:
            return False
    for t in range(cost + 1):
        v = row[t]
        if _occupant(keys, vals, t, v, n, goal_of, active, costs) != -1:
            return False
        for c in range(cptr[v], cptr[v + 1]):
            if _occupant(keys, vals, t, cind[c], n, goal_of, active, costs) != -1:
                return False
        if t > 0 and v != row[t - 1]:
            b = _get(keys, vals, np.int64(t - 1) * n + v)
            if b != -1 and _get(keys, vals, np.int64(t) * n + row[t - 1]) == b:
                return False
    return True


@njit(cache=True)
def _rings_free(paths, costs, nb, k, cptr, cind, occ_now, mark, stamp, stack):  # pragma: no cover
    """No step where a neighbourhood agent moves has a ring of agents following each other."""
    n_agents = costs.shape[0]
    t_end = 0
    for x in range(k):
        t_end = max(t_end, costs[nb[x]])
    qfrom = np.empty(n_agents, dtype=np.int32)
    qto = np.empty(n_agents, dtype=np.int32)
    for t in range(t_end):
        moved = False
        for x in range(k):
            a = nb[x]
            if t < costs[a] and paths[a, t] != paths[a, t + 1]:
                moved = True
                break
        if not moved:
            continue
        for a in range(n_agents):
            c = costs[a]
            qfrom[a] = paths[a, min(t, c)]
            qto[a] = paths[a, min(t + 1, c)]
            occ_now[qfrom[a]] = a
        ok = ring_free(qfrom, qto, occ_now, cptr, cind, mark, stamp, stack)
        for a in range(n_agents):
            occ_now[qfrom[a]] = -1
        if not ok:
            return False
    return True


@njit(cache=True, _nrt=False)
def _pick(weights):  # pragma: no cover - numba
    total = 0.0
    for w in weights:
        total += w
    r = np.random.random() * total
    for h in range(weights.shape[0]):
        r -= weights[h]
        if r <= 0.0:
            return h
    return weights.shape[0] - 1


@njit(cache=True, _nrt=False)
def _add(nb, k, in_nb, it, b, size):  # pragma: no cover - numba
    if b != -1 and in_nb[b] != it and k < size:
        in_nb[b] = it
        nb[k] = b
        k += 1
    return k


@njit(cache=True)
def _most_delayed(costs, lb, tabu):  # pragma: no cover - numba
    """The most delayed agent not yet tried (tabu), or -1 when no agent is delayed."""
    for _ in range(2):
        best = -1
        best_d = 0
        for a in range(costs.shape[0]):
            d = costs[a] - lb[a]
            if d > best_d and not tabu[a]:
                best = a
                best_d = d
        if best != -1:
            tabu[best] = True
            return best
        tabu[:] = False  # every delayed agent had its turn: start over
    return -1


@njit(cache=True)
def _random_delayed(costs, lb):  # pragma: no cover - numba
    n = costs.shape[0]
    for _ in range(64):
        a = np.random.randint(0, n)
        if costs[a] > lb[a]:
            return a
    return np.random.randint(0, n)


@njit(cache=True)
def _neighbourhood(h, size, nb, in_nb, it, paths, costs, lb, tabu, indptr, indices, dist,
                   keys, vals, goal_of, active, t_res, queue, seen_node, visits):  # pragma: no cover - numba
    """Fill nb with up to `size` agents by heuristic h; returns how many."""
    n_agents = costs.shape[0]
    n = indptr.shape[0] - 1
    k = 0
    if h == 0:  # random walks around the most delayed agent
        a = _most_delayed(costs, lb, tabu)
        if a == -1:
            return 0
        k = _add(nb, k, in_nb, it, a, size)
        ca = costs[a]
        for _walk in range(4 * size):
            if k >= size or ca == 0:
                break
            t = np.random.randint(0, ca)
            v = paths[a, t]
            for _step in range(ca - t):
                deg = indptr[v + 1] - indptr[v]
                pick = -1
                seen = 0
                for e in range(deg + 1):
                    u = v if e == deg else indices[indptr[v] + e]
                    if t + 1 + np.int64(dist[a, u]) < ca:
                        seen += 1
                        if np.random.randint(0, seen) == 0:
                            pick = u
                if pick == -1:
                    break
                t += 1
                v = pick
                b = _occupant(keys, vals, t, v, n, goal_of, active, costs)
                if b != a:
                    k = _add(nb, k, in_nb, it, b, size)
                if k >= size:
                    break
    elif h == 1:  # agents through the nodes around a node of a delayed agent's path
        a = _random_delayed(costs, lb)
        k = _add(nb, k, in_nb, it, a, size)
        if costs[a] == 0:
            return k
        t0 = np.random.randint(0, costs[a] + 1)
        v0 = paths[a, t0]
        window = 4 * size
        head = 0
        tail = 1
        queue[0] = v0
        seen_node[v0] = it
        while head < tail and k < size and head < 64:
            v = queue[head]
            head += 1
            if visits[v] > 0:
                for t in range(max(0, t0 - window), min(t_res, t0 + window) + 1):
                    b = _get(keys, vals, np.int64(t) * n + v)
                    if b != -1:
                        k = _add(nb, k, in_nb, it, b, size)
            b = goal_of[v]
            if b != -1:
                k = _add(nb, k, in_nb, it, b, size)
            for e in range(indptr[v], indptr[v + 1]):
                u = indices[e]
                if seen_node[u] != it and tail < queue.shape[0]:
                    seen_node[u] = it
                    queue[tail] = u
                    tail += 1
    else:  # random agents
        for _ in range(4 * size):
            k = _add(nb, k, in_nb, it, np.random.randint(0, n_agents), size)
            if k >= size:
                break
    return k


@njit(cache=True)
def lns_kernel(indptr, indices, cptr, cind, dist, inf, starts, goals, lb, blocked, wptr, wfrom,
               wto, horizon, paths, costs, seed, deadline, max_iters, sizes, rot_on, max_exp,
               weights):  # pragma: no cover - numba
    """Improve paths/costs in place; returns stats int64 [iterations, accepted, gains x3]."""
    np.random.seed(seed)
    n = indptr.shape[0] - 1
    n_agents = costs.shape[0]
    L = paths.shape[1]
    entries = 0
    for a in range(n_agents):
        entries += costs[a] + 1
    hcap = 1024
    while hcap < 2 * entries:
        hcap *= 2
    keys = np.full(hcap, -1, dtype=np.int64)
    vals = np.empty(hcap, dtype=np.int32)
    visits = np.zeros(n, dtype=np.int32)
    last = np.zeros(n, dtype=np.int64)
    for a in range(n_agents):
        _book(keys, vals, paths, costs, a, n, True, visits, last)
    goal_of = np.full(n, -1, dtype=np.int32)
    for a in range(n_agents):
        goal_of[goals[a]] = a
    active = np.ones(n_agents, dtype=np.bool_)
    maxdeg = 0
    maxconf = 0
    for v in range(n):
        maxdeg = max(maxdeg, indptr[v + 1] - indptr[v])
        maxconf = max(maxconf, cptr[v + 1] - cptr[v])
    cap = max_exp * (maxdeg + 1) + 1
    nv = np.empty(cap, dtype=np.int32)
    nt = np.empty(cap, dtype=np.int32)
    npar = np.empty(cap, dtype=np.int32)
    hkey = np.empty(cap, dtype=np.int64)
    hidx = np.empty(cap, dtype=np.int32)
    scap = 1024
    while scap < 2 * cap:
        scap *= 2
    skey = np.empty(scap, dtype=np.int64)
    sstamp = np.zeros(scap, dtype=np.int32)
    size = min(sizes.max(), n_agents)
    nb = np.empty(size, dtype=np.int32)
    in_nb = np.full(n_agents, -1, dtype=np.int64)
    tabu = np.zeros(n_agents, dtype=np.bool_)
    queue = np.empty(256, dtype=np.int32)
    seen_node = np.full(n, -1, dtype=np.int64)
    newp = np.empty((size, L), dtype=np.int32)
    newc = np.empty(size, dtype=np.int64)
    oldp = np.empty((size, L), dtype=np.int32)
    oldc = np.empty(size, dtype=np.int64)
    occ_now = np.full(n, -1, dtype=np.int32)
    mark = np.zeros(n_agents, dtype=np.int64)
    rstamp = np.zeros(1, dtype=np.int64)
    stack = np.empty(n_agents * (maxconf + 1) + 1, dtype=np.int32)
    stats = np.zeros(8, dtype=np.int64)
    stamp = 0
    it = 0
    total = 0
    lb_total = 0
    for a in range(n_agents):
        total += costs[a]
        lb_total += lb[a]
    while it < max_iters and total > lb_total:
        if _now() > deadline:
            break
        it += 1
        arm = _pick(weights)
        h = arm // sizes.shape[0]
        size = min(sizes[arm % sizes.shape[0]], n_agents)
        t_res = 0
        for a in range(n_agents):
            t_res = max(t_res, costs[a])
        k = _neighbourhood(h, size, nb, in_nb, it, paths, costs, lb, tabu, indptr, indices,
                           dist, keys, vals, goal_of, active, t_res, queue, seen_node, visits)
        if k < 2 and n_agents >= 2:
            k = _neighbourhood(2, size, nb, in_nb, it, paths, costs, lb, tabu, indptr, indices,
                               dist, keys, vals, goal_of, active, t_res, queue, seen_node, visits)
        if k == 0:
            break  # every agent is on its shortest path: nothing left to gain
        old = 0
        lbsum = 0
        for x in range(k):
            a = nb[x]
            old += costs[a]
            lbsum += lb[a]
            oldc[x] = costs[a]
            for t in range(costs[a] + 1):
                oldp[x, t] = paths[a, t]
            _book(keys, vals, paths, costs, a, n, False, visits, last)
            active[a] = False
        if old == lbsum:
            for x in range(k):  # nothing to gain here: put the paths back
                a = nb[x]
                _book(keys, vals, paths, costs, a, n, True, visits, last)
                active[a] = True
            continue
        for x in range(k - 1, 0, -1):  # random replanning order
            y = np.random.randint(0, x + 1)
            tmp = nb[x]
            nb[x] = nb[y]
            nb[y] = tmp
            tmc = oldc[x]
            oldc[x] = oldc[y]
            oldc[y] = tmc
            for t in range(L):
                tp = oldp[x, t]
                oldp[x, t] = oldp[y, t]
                oldp[y, t] = tp
        spent = 0
        lb_left = lbsum
        done = 0
        timed_out = False
        for x in range(k):
            a = nb[x]
            lb_left -= lb[a]
            ub = min(old - 1 - spent - lb_left, np.int64(L - 1))
            t_res = 0
            for b in range(n_agents):
                if active[b]:
                    t_res = max(t_res, costs[b])
            stamp += 1
            c = _astar(a, starts[a], goals[a], ub, indptr, indices, cptr, cind, dist[a], inf,
                       blocked, wptr, wfrom, wto, horizon, keys, vals, goal_of, active, costs,
                       t_res, newp[x], nv, nt, npar, hkey, hidx, skey, sstamp, stamp, max_exp,
                       deadline, visits, last, stats[5:])
            if c == -1 and _path_free(oldp[x], oldc[x], n, cptr, cind, keys, vals, goal_of,
                                      active, costs, visits, last, t_res):
                c = oldc[x]  # no better path: keep the old one if the others left it free
                for t in range(c + 1):
                    newp[x, t] = oldp[x, t]
            if c < 0:
                stats[7] += 1
                timed_out = c == -2
                break
            newc[x] = c
            for t in range(c + 1):
                paths[a, t] = newp[x, t]
            costs[a] = c
            _book(keys, vals, paths, costs, a, n, True, visits, last)
            active[a] = True
            spent += c
            done += 1
        accept = done == k and spent < old
        if accept and rot_on:
            accept = _rings_free(paths, costs, nb, k, cptr, cind, occ_now, mark, rstamp, stack)
        if accept:
            total -= old - spent
            stats[1] += 1
            stats[2 + h] += old - spent
            weights[arm] = REACTION * (old - spent) + (1.0 - REACTION) * weights[arm]
        else:
            weights[arm] = (1.0 - REACTION) * weights[arm]
            for x in range(done):
                _book(keys, vals, paths, costs, nb[x], n, False, visits, last)
            for x in range(k):
                a = nb[x]
                costs[a] = oldc[x]
                for t in range(oldc[x] + 1):
                    paths[a, t] = oldp[x, t]
                _book(keys, vals, paths, costs, a, n, True, visits, last)
                active[a] = True
        weights[arm] = max(weights[arm], 1e-2)
        if timed_out:
            break
    stats[0] = it
    return stats


def refine(
    indptr: np.ndarray, indices: np.ndarray, cptr: np.ndarray, cind: np.ndarray,
    dist: np.ndarray, inf: int, plan: np.ndarray, lb: np.ndarray, deadline: float,
    blocked: np.ndarray, wptr: np.ndarray, wfrom: np.ndarray, wto: np.ndarray,
    seed: int = 0, max_iterations: int | None = None, no_rotation: bool = False,
    neighbourhood_sizes: tuple[int, ...] = NEIGHBOURHOOD_SIZES,
    max_expansions: int = MAX_EXPANSIONS,
) -> LnsResult:
    """Lower the sum of costs of a valid `plan` until `deadline` (perf_counter seconds) or
    `max_iterations`. dist: per agent, steps to its goal from every node (an admissible
    A* heuristic); lb: each agent's own shortest distance. Returns a plan that is never
    costlier and keeps every rule the input kept. Conflict sets must be symmetric."""
    from planners.lacam import arrivals

    t0 = time.perf_counter()
    plan = np.ascontiguousarray(plan, dtype=np.int32)
    n_agents = plan.shape[1]
    costs = arrivals(plan).astype(np.int64)
    initial = int(costs.sum())
    if n_agents == 0 or initial == int(lb.sum()):
        return LnsResult(plan, initial, initial, 0, 0, time.perf_counter() - t0,
                         dict.fromkeys(HEURISTICS, 0))
    makespan = plan.shape[0] - 1
    # room for paths up to twice the makespan, but no more than ~64 M cells in all
    width = makespan + 1 + max(1, min(max(64, makespan), 2**26 // n_agents - makespan - 1))
    paths = np.empty((n_agents, width), dtype=np.int32)
    paths[:, : makespan + 1] = plan.T
    horizon = int(wto.max()) if wto.size else 0
    sizes = np.array(sorted({max(2, min(int(k), n_agents)) for k in neighbourhood_sizes}),
                     dtype=np.int64)
    weights = np.ones(len(HEURISTICS) * sizes.shape[0], dtype=np.float64)
    stats = lns_kernel(indptr, indices, cptr, cind, dist, dist.dtype.type(inf), plan[0].copy(),
                       plan[-1].copy(), lb.astype(np.int64), blocked, wptr, wfrom, wto, horizon,
                       paths, costs, int(seed) & 0x7FFFFFFF, float(deadline),
                       np.int64(max_iterations if max_iterations is not None else 2**62),
                       sizes, bool(no_rotation), int(max_expansions), weights)
    t_end = int(costs.max())
    if t_end > makespan and _rests_into_a_window(plan[-1], costs, makespan, t_end, wptr, wfrom, wto):
        # a longer plan keeps the agents that arrived early resting on their goals for
        # longer, into a window that opens after the input's end: keep the input instead
        return LnsResult(plan, initial, initial, int(stats[0]), 0, time.perf_counter() - t0,
                         dict.fromkeys(HEURISTICS, 0), int(stats[5]), int(stats[7]))
    idx = np.minimum(np.arange(t_end + 1)[:, None], costs[None, :])
    out = paths[np.arange(n_agents)[None, :], idx].astype(np.int32)
    return LnsResult(out, int(costs.sum()), initial, int(stats[0]), int(stats[1]),
                     time.perf_counter() - t0,
                     {name: int(stats[2 + i]) for i, name in enumerate(HEURISTICS)},
                     int(stats[5]), int(stats[7]))


def _rests_into_a_window(goals: np.ndarray, costs: np.ndarray, makespan: int, t_end: int,
                         wptr: np.ndarray, wfrom: np.ndarray, wto: np.ndarray) -> bool:
    """Would an agent rest on its goal, after `makespan` and up to `t_end`, inside a window?"""
    for i, g in enumerate(goals.tolist()):
        rest_from = max(int(costs[i]), makespan + 1)
        for k in range(int(wptr[g]), int(wptr[g + 1])):
            if int(wfrom[k]) <= t_end and int(wto[k]) > rest_from:
                return True
    return False


def symmetric_conflicts(cptr: np.ndarray, cind: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The conflict CSR closed under symmetry (u in set(v) iff v in set(u)), int32."""
    n = cptr.shape[0] - 1
    if cind.shape[0] == 0:
        return cptr, cind
    src = np.repeat(np.arange(n, dtype=np.int64), np.diff(cptr))
    pairs = np.concatenate([src * n + cind, cind.astype(np.int64) * n + src])
    pairs = np.unique(pairs)
    a, b = pairs // n, pairs % n
    keep = a != b
    a, b = a[keep], b[keep]
    ptr = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(np.bincount(a, minlength=n), out=ptr[1:])
    return ptr, b.astype(np.int32)
