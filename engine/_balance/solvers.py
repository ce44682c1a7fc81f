"""Matching solvers for one similarity block S (n x m), compiled with Numba.

Each solver maximises the sum of matched similarities over matchings of size min(n, m) and
returns `(total, bound, status)`:
- `total`: the sum of the matched entries of S (the matching's value);
- `bound`: an upper bound on the optimum minus `total` (0 for the exact solver), from a dual
  certificate; divide by min(n, m) for a bound in mean similarity;
- `status`: 0 when solved, 1 when the auction hit its bid cap (the caller re-solves exactly).

The row side is always the smaller one: callers pass `S.T` when n > m (a strided view, no copy).
The CUDA twins in `kernels/balance_match.cu` follow the same steps.
"""

from __future__ import annotations

import numpy as np
from numba import njit

INF = np.inf
ARR_BIDS_PER_ROW = 10  # the start's bid budget, per row


@njit(cache=True, nogil=True)
def lsap_max(S):
    """Exact maximum-weight matching of the rows of S (n <= m) into its columns.

    Shortest augmenting paths with row/column potentials (Jonker-Volgenant as refined by
    Crouse, the algorithm behind scipy's linear_sum_assignment), on costs -S: one Dijkstra-like
    search per row not settled by the greedy start, O(n^2 m).
    """
    n, m = S.shape
    return lsap_max_into(S, lsap_work(n, m))


@njit(cache=True, nogil=True)
def lsap_work(n, m):
    """Scratch for `lsap_max_into` sized for blocks up to n x m: callers solving many blocks
    allocate it once (for small blocks the allocations cost as much as the search)."""
    return (np.empty(n), np.empty(m), np.empty(m), np.empty(m, np.int64),
            np.empty(n, np.int64), np.empty(m, np.int64), np.empty(n, np.bool_),
            np.empty(m, np.bool_), np.empty(m, np.int64))


@njit(cache=True, nogil=True)
def lsap_max_into(S, work):
    """`lsap_max` with its scratch passed in (from `lsap_work`, any size >= S's)."""
    n, m = S.shape
    u = work[0][:n]
    v = work[1][:m]
    spc = work[2][:m]
    path = work[3][:m]
    col4row = work[4][:n]
    row4col = work[5][:m]
    seen_row = work[6][:n]
    seen_col = work[7][:m]
    remaining = work[8][:m]
    path[:] = -1
    # Start with augmenting row reduction (Jonker & Volgenant), which is a forward auction
    # with eps = 0: a free row takes its best column at prices p, raising that column's price
    # to its second best, and displaces the owner. Each assigned row's column stays its best,
    # columns never bid on keep p = 0: with v = -p the state the searches below require,
    # usually with far fewer rows left to route. Ties make zero raises, hence the bid budget.
    price = spc
    price[:] = 0.0
    # v is free until the start ends: it holds the bidders' row values meanwhile.
    _auction_phase(S, 0.0, price, row4col, col4row, remaining, ARR_BIDS_PER_ROW * n, v)
    for j in range(m):
        v[j] = -price[j]
    # Row potentials u_i = min_j (c_ij - v_j) with c = -S: feasible, and tight on every
    # assigned edge.
    for i in range(n):
        best = -INF
        for j in range(m):
            if S[i, j] + v[j] > best:
                best = S[i, j] + v[j]
        u[i] = -best
    for cur in range(n):
        if col4row[cur] != -1:
            continue
        for j in range(m):
            remaining[j] = m - 1 - j
            spc[j] = INF
            seen_col[j] = False
        seen_row[:] = False
        n_remaining = m
        min_val = 0.0
        i = cur
        sink = -1
        while sink == -1:
            seen_row[i] = True
            lowest = INF
            index = -1
            for it in range(n_remaining):
                j = remaining[it]
                r = min_val - S[i, j] - u[i] - v[j]
                if r < spc[j]:
                    path[j] = i
                    spc[j] = r
                # Ties prefer a free column: it ends the search sooner.
                if spc[j] < lowest or (spc[j] == lowest and row4col[j] == -1):
                    lowest = spc[j]
                    index = it
            min_val = lowest
            j = remaining[index]
            if row4col[j] == -1:
                sink = j
            else:
                i = row4col[j]
            seen_col[j] = True
            n_remaining -= 1
            remaining[index] = remaining[n_remaining]
        u[cur] += min_val
        for r_ in range(n):
            if seen_row[r_] and r_ != cur:
                u[r_] += min_val - spc[col4row[r_]]
        for j in range(m):
            if seen_col[j]:
                v[j] -= min_val - spc[j]
        j = sink
        while True:
            i = path[j]
            row4col[j] = i
            nxt = col4row[i]
            col4row[i] = j
            j = nxt
            if i == cur:
                break
    total = 0.0
    for i in range(n):
        total += S[i, col4row[i]]
    return total, 0.0, 0


@njit(cache=True, nogil=True)
def _auction_phase(S, eps, price, owner, assigned, stack, max_bids, values):
    """Forward (Gauss-Seidel) auction from the given prices until every row holds a column.

    `values` is scratch of m entries. Returns the number of bids made, or -1 when `max_bids`
    ran out.
    """
    n, m = S.shape
    owner[:] = -1
    n_free = n
    for i in range(n):
        assigned[i] = -1
        stack[i] = n - 1 - i
    bids = 0
    while n_free > 0:
        if bids >= max_bids:
            return -1
        n_free -= 1
        i = stack[n_free]
        best, second, best_j = _best_two(S[i], price, values)
        incr = eps if m == 1 else best - second + eps
        price[best_j] += incr
        prev = owner[best_j]
        owner[best_j] = i
        assigned[i] = best_j
        if prev >= 0:
            assigned[prev] = -1
            stack[n_free] = prev
            n_free += 1
        bids += 1
    return bids


@njit(cache=True, nogil=True)
def _best_two(row, price, values):
    """(largest, second largest, first column of the largest) of row - price, which is also
    written to `values`.

    Bids are nearly all of the exact solver's time. A scan keeping the best two in branches
    mispredicts whenever a new maximum turns up; here four lanes each keep their best two
    with branch-free selects, merged at the end, and the best's column is found afterwards.
    """
    m = row.shape[0]
    t0 = t1 = t2 = t3 = -INF  # each lane's best ...
    s0 = s1 = s2 = s3 = -INF  # ... and second best
    j = 0
    while j + 4 <= m:
        a = row[j] - price[j]
        b = row[j + 1] - price[j + 1]
        c = row[j + 2] - price[j + 2]
        d = row[j + 3] - price[j + 3]
        values[j] = a
        values[j + 1] = b
        values[j + 2] = c
        values[j + 3] = d
        lo = a if a < t0 else t0
        s0 = lo if lo > s0 else s0
        t0 = a if a > t0 else t0
        lo = b if b < t1 else t1
        s1 = lo if lo > s1 else s1
        t1 = b if b > t1 else t1
        lo = c if c < t2 else t2
        s2 = lo if lo > s2 else s2
        t2 = c if c > t2 else t2
        lo = d if d < t3 else t3
        s3 = lo if lo > s3 else s3
        t3 = d if d > t3 else t3
        j += 4
    while j < m:
        a = row[j] - price[j]
        values[j] = a
        lo = a if a < t0 else t0
        s0 = lo if lo > s0 else s0
        t0 = a if a > t0 else t0
        j += 1
    # The best of the lanes' bests; the second is the best of the lanes' seconds and of
    # their bests bar one copy of the best.
    s0 = s1 if s1 > s0 else s0
    s2 = s3 if s3 > s2 else s2
    second = s2 if s2 > s0 else s0
    lo = t0 if t0 < t1 else t1
    hi = t0 if t0 > t1 else t1
    lo2 = t2 if t2 < t3 else t3
    hi2 = t2 if t2 > t3 else t3
    best = hi if hi > hi2 else hi2
    other = hi2 if hi > hi2 else hi
    second = lo if lo > second else second
    second = lo2 if lo2 > second else second
    second = other if other > second else second
    best_j = 0
    while values[best_j] != best:
        best_j += 1
    return best, second, best_j


@njit(cache=True, nogil=True)
def dual_gap(S, price, total):
    """Dual value minus `total`: sum_i max_j (S_ij - p_j) + sum_j p_j - total (p >= 0)."""
    n, m = S.shape
    dual = 0.0
    for j in range(m):
        dual += price[j]
    for i in range(n):
        best = -INF
        for j in range(m):
            val = S[i, j] - price[j]
            if val > best:
                best = val
        dual += best
    return max(dual - total, 0.0)


@njit(cache=True, nogil=True)
def auction_max(S, eps, max_bids, scale):
    """Auction (Bertsekas) with an eps-optimality guarantee: total >= optimum - n * eps.

    Prices start at 0 and only rise, so columns left unmatched (n < m) keep price 0: with one
    eps that is the asymmetric eps-complementary-slackness condition, hence the bound. With
    `scale` and a square block, eps is scaled down from the similarity range (prices carried
    across phases), which is only valid for square problems, so rectangular ones use one eps.
    """
    n, m = S.shape
    price = np.zeros(m)
    owner = np.empty(m, np.int64)
    assigned = np.empty(n, np.int64)
    stack = np.empty(n, np.int64)
    values = np.empty(m)
    cur_eps = eps
    if scale and n == m and n > 1:
        cur_eps = max(eps, (S.max() - S.min()) / 4.0)
    while True:
        if _auction_phase(S, cur_eps, price, owner, assigned, stack, max_bids, values) < 0:
            return 0.0, INF, 1
        if cur_eps <= eps:
            break
        cur_eps = max(eps, cur_eps / 6.0)
    total = 0.0
    for i in range(n):
        total += S[i, assigned[i]]
    return total, dual_gap(S, price, total), 0


@njit(cache=True, nogil=True)
def greedy_max(S):
    """Greedy matching by mutual-best rounds, equal to sorted-edge greedy.

    Edges are totally ordered by (value desc, row asc, column asc). Each round every free row
    picks its best free column and every free column its best free row; mutual choices are
    matched. The largest free edge is always mutual, and matching locally dominant edges gives
    the same matching as taking edges in sorted order. The bound is the row-maximum sum (and
    for square blocks the column-maximum sum, whichever is smaller) minus the total.
    """
    n, m = S.shape
    row_match = np.full(n, -1, np.int64)
    col_used = np.zeros(m, np.bool_)
    best_col = np.empty(n, np.int64)
    best_row = np.empty(m, np.int64)
    n_matched = 0
    while n_matched < n:
        for i in range(n):
            if row_match[i] >= 0:
                continue
            best = -INF
            bj = -1
            for j in range(m):
                if not col_used[j] and S[i, j] > best:
                    best = S[i, j]
                    bj = j
            best_col[i] = bj
        for j in range(m):
            if col_used[j]:
                continue
            best = -INF
            bi = -1
            for i in range(n):
                if row_match[i] < 0 and S[i, j] > best:
                    best = S[i, j]
                    bi = i
            best_row[j] = bi
        for i in range(n):
            if row_match[i] < 0:
                j = best_col[i]
                if best_row[j] == i:
                    row_match[i] = j
                    col_used[j] = True
                    n_matched += 1
    total = 0.0
    upper_rows = 0.0
    for i in range(n):
        total += S[i, row_match[i]]
        upper_rows += S[i].max()
    upper = upper_rows
    if n == m:
        upper_cols = 0.0
        for j in range(m):
            upper_cols += S[:, j].max()
        upper = min(upper, upper_cols)
    return total, max(upper - total, 0.0), 0
