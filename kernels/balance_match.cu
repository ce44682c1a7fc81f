// Batched bipartite matching for the balance job: one thread block per pair of users.
//
// Every pair p owns a block S of a similarity tile G (row-major, leading dimension ld):
// S = G[a_off[p] : a_off[p] + a_n[p], b_off[p] : b_off[p] + b_n[p]]. The smaller side is
// always the row side (S is the block's transpose when a_n > b_n), so each kernel matches all
// rows. Sizes vary per pair; per-pair scratch lives in ws_d / ws_i at 3*ws_off[p] / 5*ws_off[p]
// (ws_off = exclusive prefix sum of a_n + b_n): padding is storage only, never values.
// Threads of a block stride over columns or rows; reductions go through shared memory, so a
// block of 32 threads (one warp) serves small pairs and 256 the largest.
//
// Coalesced reads: each kernel first copies its block, transposed, into ws_blk at blk_off[p]
// (exclusive prefix sum of a_n * b_n) through 32 x 32 tiles of shared memory. With the block
// in both orientations, a loop whose threads take consecutive columns j reads S.at_j (rows
// contiguous) and one whose threads take consecutive rows i reads S.at_i (columns contiguous):
// consecutive threads read consecutive addresses whichever side of the pair is the larger.
//
// Kernels (same steps as engine/_balance/solvers.py):
//   balance_exact   shortest augmenting paths with potentials (scipy's algorithm): optimum.
//   balance_auction forward auction, Gauss-Seidel bids, eps-CS: total >= optimum - nr*eps;
//                   status 1 when the bid cap is hit (the host re-solves those exactly).
//   balance_greedy  mutual-best rounds, equal to sorted-edge greedy.
// Outputs per pair: out_total (sum of matched similarities), out_bound (dual certificate:
// an upper bound on optimum - total), out_status. Only steps that are sequential by nature
// (one bid of the Gauss-Seidel auction, flipping one augmenting path) run on thread 0.
//
// No headers: the file compiles with NVRTC (cupy.RawModule), nvcc, and on the host with
// kernels/host_emulation.h for the tests.

#define BM_MAXT 256
#define BM_BIG 1e300

#define BM_TILE 32

struct PairBlock {
    const double* row_base;  // S(i, j) = row_base[i * rld + j]
    const double* col_base;  // S(i, j) = col_base[j * cld + i]
    long long rld, cld;
    int nr, nc;              // nr <= nc
    // For loops whose threads take consecutive j (rows are contiguous here) ...
    __device__ double at_j(int i, int j) const { return row_base[i * rld + j]; }
    // ... and for loops whose threads take consecutive i (columns are contiguous here).
    __device__ double at_i(int i, int j) const { return col_base[j * cld + i]; }
};

// dst (cols x rows, row-major) = the transpose of src (rows x cols, leading dimension ld),
// through a shared tile: reads of src and writes of dst are both contiguous across threads
// (the padded row keeps the tile's column reads free of bank conflicts).
__device__ void stage_transposed(const double* src, long long ld, int rows, int cols,
                                 double* dst) {
    __shared__ double tile[BM_TILE][BM_TILE + 1];
    for (int r0 = 0; r0 < rows; r0 += BM_TILE)
        for (int c0 = 0; c0 < cols; c0 += BM_TILE) {
            for (int k = threadIdx.x; k < BM_TILE * BM_TILE; k += blockDim.x) {
                const int r = k / BM_TILE, c = k % BM_TILE;
                if (r0 + r < rows && c0 + c < cols) tile[r][c] = src[(r0 + r) * ld + c0 + c];
            }
            __syncthreads();
            for (int k = threadIdx.x; k < BM_TILE * BM_TILE; k += blockDim.x) {
                const int c = k / BM_TILE, r = k % BM_TILE;
                if (r0 + r < rows && c0 + c < cols)
                    dst[(long long)(c0 + c) * rows + r0 + r] = tile[r][c];
            }
            __syncthreads();
        }
}

// The block of the pair this thread block works on (blockIdx.x < n_pairs), staged in both
// orientations: G itself on one side, its transposed copy in ws_blk on the other.
__device__ PairBlock stage_pair(const double* G, long long ld, const long long* a_off,
                                const int* a_n, const long long* b_off, const int* b_n,
                                const long long* blk_off, double* ws_blk) {
    const int p = blockIdx.x;
    const double* g = G + a_off[p] * ld + b_off[p];  // a_n x b_n, leading dimension ld
    double* t = ws_blk + blk_off[p];                 // b_n x a_n, leading dimension a_n
    stage_transposed(g, ld, a_n[p], b_n[p], t);
    PairBlock S;
    if (a_n[p] <= b_n[p]) {
        S.row_base = g; S.rld = ld; S.col_base = t; S.cld = a_n[p];
        S.nr = a_n[p]; S.nc = b_n[p];
    } else {
        S.row_base = t; S.rld = a_n[p]; S.col_base = g; S.cld = ld;
        S.nr = b_n[p]; S.nc = a_n[p];
    }
    return S;
}

// Sum (IsMax false) or maximum (IsMax true) of v over the block; every thread gets it.
template <bool IsMax>
__device__ double block_reduce(double v, double* s_val) {
    const int tid = threadIdx.x;
    s_val[tid] = v;
    __syncthreads();
    for (int s = blockDim.x / 2; s > 0; s >>= 1) {
        if (tid < s) {
            const double a = s_val[tid], b = s_val[tid + s];
            s_val[tid] = IsMax ? (b > a ? b : a) : a + b;
        }
        __syncthreads();
    }
    const double out = s_val[0];
    __syncthreads();
    return out;
}

// Sum over rows of S(i, col[i]), over the block; every thread gets it.
__device__ double matched_total(const PairBlock& S, const int* col, double* s_val) {
    double part = 0.0;
    for (int i = threadIdx.x; i < S.nr; i += blockDim.x) part += S.at_i(i, col[i]);
    return block_reduce<false>(part, s_val);
}

// The arguments every kernel takes (see the top of the file).
#define BM_PAIR_PARAMS                                                                     \
    const double* __restrict__ G, long long ld, const long long* __restrict__ a_off,       \
        const int* __restrict__ a_n, const long long* __restrict__ b_off,                  \
        const int* __restrict__ b_n, const long long* __restrict__ ws_off, double* ws_d,   \
        int* ws_i, const long long* __restrict__ blk_off, double* ws_blk, double* out_total, \
        double* out_bound, int* out_status, int n_pairs

extern "C" __global__ void balance_exact(BM_PAIR_PARAMS) {
    __shared__ double s_val[BM_MAXT];
    __shared__ int s_idx[BM_MAXT];
    __shared__ int s_row, s_sink;
    __shared__ double s_min;
    const int p = blockIdx.x;
    if (p >= n_pairs) return;
    const PairBlock S = stage_pair(G, ld, a_off, a_n, b_off, b_n, blk_off, ws_blk);
    const int nr = S.nr, nc = S.nc, tid = threadIdx.x, T = blockDim.x;
    double* u = ws_d + 3 * ws_off[p];
    double* v = u + nr;
    double* spc = v + nc;  // shortest path cost to each column
    int* col4row = ws_i + 5 * ws_off[p];
    int* row4col = col4row + nr;
    int* path = row4col + nc;
    int* seen_row = path + nc;
    int* seen_col = seen_row + nr;
    // Greedy start (as the CPU solver): u_i = min_j c_ij with c = -S, v = 0, and each row
    // takes its best column while that column is free; only the other rows are routed below.
    // Rows in order, a taken column refused: the lowest row proposing a column gets it, so
    // every row proposes at once and an atomic minimum settles each column.
    for (int j = tid; j < nc; j += T) { v[j] = 0.0; row4col[j] = nr; }
    __syncthreads();
    for (int i = tid; i < nr; i += T) {
        double best = -BM_BIG;
        int best_j = 0;
        for (int j = 0; j < nc; ++j)
            if (S.at_i(i, j) > best) { best = S.at_i(i, j); best_j = j; }
        u[i] = -best;
        col4row[i] = best_j;
        atomicMin(&row4col[best_j], i);
    }
    __syncthreads();
    for (int i = tid; i < nr; i += T)
        if (row4col[col4row[i]] != i) col4row[i] = -1;
    for (int j = tid; j < nc; j += T)
        if (row4col[j] == nr) row4col[j] = -1;  // nobody proposed it, so no row reads it
    __syncthreads();
    for (int cur = 0; cur < nr; ++cur) {
        if (col4row[cur] >= 0) continue;  // settled by the greedy start
        for (int j = tid; j < nc; j += T) { spc[j] = BM_BIG; seen_col[j] = 0; }
        for (int i = tid; i < nr; i += T) seen_row[i] = 0;
        if (tid == 0) { s_row = cur; s_sink = -1; s_min = 0.0; }
        __syncthreads();
        while (true) {
            // Dijkstra step from row i: relax every unseen column, find the closest one.
            const int i = s_row;
            const double min_val = s_min;
            const double ui = u[i];
            double best = BM_BIG;
            int best_j = -1;
            for (int j = tid; j < nc; j += T) {
                if (seen_col[j]) continue;
                const double r = min_val - S.at_j(i, j) - ui - v[j];
                if (r < spc[j]) { spc[j] = r; path[j] = i; }
                // Closest; among equals a free column (ends the search), then the lowest j.
                if (best_j < 0 || spc[j] < best ||
                    (spc[j] == best && row4col[j] < 0 && row4col[best_j] >= 0)) {
                    best = spc[j];
                    best_j = j;
                }
            }
            s_val[tid] = best;
            s_idx[tid] = best_j;
            __syncthreads();
            for (int s = T / 2; s > 0; s >>= 1) {
                if (tid < s) {
                    const int jb = s_idx[tid + s], ja = s_idx[tid];
                    if (jb >= 0) {
                        const double vb = s_val[tid + s], va = s_val[tid];
                        bool take = ja < 0 || vb < va;
                        if (!take && vb == va) {
                            const bool fa = row4col[ja] < 0, fb = row4col[jb] < 0;
                            take = (fb && !fa) || (fb == fa && jb < ja);
                        }
                        if (take) { s_val[tid] = vb; s_idx[tid] = jb; }
                    }
                }
                __syncthreads();
            }
            if (tid == 0) {
                const int j = s_idx[0];
                s_min = s_val[0];
                seen_row[i] = 1;
                seen_col[j] = 1;
                if (row4col[j] < 0) s_sink = j;
                else s_row = row4col[j];
            }
            __syncthreads();
            if (s_sink >= 0) break;
        }
        // Potentials, then flip the augmenting path.
        const double min_val = s_min;
        for (int i = tid; i < nr; i += T)
            if (seen_row[i] && i != cur) u[i] += min_val - spc[col4row[i]];
        for (int j = tid; j < nc; j += T)
            if (seen_col[j]) v[j] -= min_val - spc[j];
        __syncthreads();
        if (tid == 0) {
            u[cur] += min_val;
            int j = s_sink;
            while (true) {
                const int i = path[j];
                row4col[j] = i;
                const int next = col4row[i];
                col4row[i] = j;
                j = next;
                if (i == cur) break;
            }
        }
        __syncthreads();
    }
    const double total = matched_total(S, col4row, s_val);
    if (tid == 0) {
        out_total[p] = total;
        out_bound[p] = 0.0;
        out_status[p] = 0;
    }
}

extern "C" __global__ void balance_auction(BM_PAIR_PARAMS, double eps, int bids_per_row,
                                           int scale) {
    __shared__ double s_best[BM_MAXT];
    __shared__ double s_second[BM_MAXT];
    __shared__ int s_bj[BM_MAXT];
    __shared__ int s_free, s_fail;
    __shared__ long long s_bids;
    const int p = blockIdx.x;
    if (p >= n_pairs) return;
    const PairBlock S = stage_pair(G, ld, a_off, a_n, b_off, b_n, blk_off, ws_blk);
    const int nr = S.nr, nc = S.nc, tid = threadIdx.x, T = blockDim.x;
    const long long max_bids = (long long)bids_per_row * nr;
    double* price = ws_d + 3 * ws_off[p];
    int* owner = ws_i + 5 * ws_off[p];
    int* assigned = owner + nc;
    int* stack = assigned + nr;
    for (int j = tid; j < nc; j += T) price[j] = 0.0;
    double cur_eps = eps;
    if (scale && nr == nc && nr > 1) {
        // eps-scaling (square blocks only): start from a quarter of the similarity range.
        double hi = -BM_BIG, lo = BM_BIG;
        for (int i = 0; i < nr; ++i)
            for (int j = tid; j < nc; j += T) {
                const double x = S.at_j(i, j);
                hi = x > hi ? x : hi;
                lo = x < lo ? x : lo;
            }
        hi = block_reduce<true>(hi, s_best);
        lo = -block_reduce<true>(-lo, s_best);
        cur_eps = (hi - lo) / 4.0 > eps ? (hi - lo) / 4.0 : eps;
    }
    if (tid == 0) { s_fail = 0; s_bids = 0; }
    while (true) {
        // One phase: clear the assignment, keep the prices, bid until every row holds one.
        for (int j = tid; j < nc; j += T) owner[j] = -1;
        for (int i = tid; i < nr; i += T) { assigned[i] = -1; stack[i] = nr - 1 - i; }
        if (tid == 0) { s_free = nr; s_bids = 0; }
        __syncthreads();
        while (s_free > 0 && !s_fail) {
            const int i = stack[s_free - 1];
            double best = -BM_BIG, second = -BM_BIG;
            int best_j = -1;
            for (int j = tid; j < nc; j += T) {
                const double val = S.at_j(i, j) - price[j];
                if (val > best) { second = best; best = val; best_j = j; }
                else if (val > second) second = val;
            }
            s_best[tid] = best; s_second[tid] = second; s_bj[tid] = best_j;
            __syncthreads();
            for (int s = T / 2; s > 0; s >>= 1) {
                if (tid < s) {
                    const double ba = s_best[tid], bb = s_best[tid + s];
                    const int ja = s_bj[tid], jb = s_bj[tid + s];
                    const double lower = ba < bb ? ba : bb;
                    double sec = s_second[tid] > s_second[tid + s] ? s_second[tid] : s_second[tid + s];
                    if (jb >= 0) sec = sec > lower ? sec : lower;
                    if (jb >= 0 && (ja < 0 || bb > ba || (bb == ba && jb < ja))) {
                        s_best[tid] = bb; s_bj[tid] = jb;
                    }
                    s_second[tid] = sec;
                }
                __syncthreads();
            }
            if (tid == 0) {
                const int j = s_bj[0];
                price[j] += nc == 1 ? eps : s_best[0] - s_second[0] + cur_eps;
                const int prev = owner[j];
                owner[j] = i;
                assigned[i] = j;
                s_free -= 1;
                if (prev >= 0) { assigned[prev] = -1; stack[s_free] = prev; s_free += 1; }
                s_bids += 1;
                if (s_bids >= max_bids && s_free > 0) s_fail = 1;
            }
            __syncthreads();
        }
        if (s_fail || cur_eps <= eps) break;
        cur_eps = cur_eps / 6.0 > eps ? cur_eps / 6.0 : eps;
        __syncthreads();
    }
    if (s_fail) {
        if (tid == 0) { out_total[p] = 0.0; out_bound[p] = BM_BIG; out_status[p] = 1; }
        return;
    }
    // Dual certificate: sum_j p_j + sum_i max_j (S_ij - p_j) >= optimum (prices >= 0); a
    // thread per row, then one sum over the block.
    double dual_part = 0.0;
    for (int j = tid; j < nc; j += T) dual_part += price[j];
    for (int i = tid; i < nr; i += T) {
        double best = -BM_BIG;
        for (int j = 0; j < nc; ++j) {
            const double val = S.at_i(i, j) - price[j];
            best = val > best ? val : best;
        }
        dual_part += best;
    }
    const double dual = block_reduce<false>(dual_part, s_best);
    const double total = matched_total(S, assigned, s_best);
    if (tid == 0) {
        out_total[p] = total;
        out_bound[p] = dual - total > 0.0 ? dual - total : 0.0;
        out_status[p] = 0;
    }
}

extern "C" __global__ void balance_greedy(BM_PAIR_PARAMS) {
    __shared__ double s_val[BM_MAXT];
    __shared__ int s_matched;
    const int p = blockIdx.x;
    if (p >= n_pairs) return;
    const PairBlock S = stage_pair(G, ld, a_off, a_n, b_off, b_n, blk_off, ws_blk);
    const int nr = S.nr, nc = S.nc, tid = threadIdx.x, T = blockDim.x;
    int* row_match = ws_i + 5 * ws_off[p];
    int* col_used = row_match + nr;
    int* best_col = col_used + nc;
    int* best_row = best_col + nr;
    for (int i = tid; i < nr; i += T) row_match[i] = -1;
    for (int j = tid; j < nc; j += T) col_used[j] = 0;
    if (tid == 0) s_matched = 0;
    __syncthreads();
    while (s_matched < nr) {
        // Each free row's best free column and each free column's best free row (edges
        // ordered by value desc, row asc, column asc); mutual choices are matched.
        for (int i = tid; i < nr; i += T) {
            if (row_match[i] >= 0) continue;
            double best = -BM_BIG;
            int bj = -1;
            for (int j = 0; j < nc; ++j)
                if (!col_used[j] && (bj < 0 || S.at_i(i, j) > best)) { best = S.at_i(i, j); bj = j; }
            best_col[i] = bj;
        }
        for (int j = tid; j < nc; j += T) {
            if (col_used[j]) continue;
            double best = -BM_BIG;
            int bi = -1;
            for (int i = 0; i < nr; ++i)
                if (row_match[i] < 0 && (bi < 0 || S.at_j(i, j) > best)) { best = S.at_j(i, j); bi = i; }
            best_row[j] = bi;
        }
        __syncthreads();
        for (int i = tid; i < nr; i += T) {
            if (row_match[i] >= 0) continue;
            const int j = best_col[i];
            if (best_row[j] == i) {
                row_match[i] = j;
                col_used[j] = 1;
                atomicAdd(&s_matched, 1);
            }
        }
        __syncthreads();
    }
    // Certificate: the row-maximum sum (and, square, the column-maximum sum) bounds the optimum.
    double rows = 0.0, cols = 0.0;
    for (int i = tid; i < nr; i += T) {
        double best = -BM_BIG;
        for (int j = 0; j < nc; ++j) best = S.at_i(i, j) > best ? S.at_i(i, j) : best;
        rows += best;
    }
    if (nr == nc)
        for (int j = tid; j < nc; j += T) {
            double best = -BM_BIG;
            for (int i = 0; i < nr; ++i) best = S.at_j(i, j) > best ? S.at_j(i, j) : best;
            cols += best;
        }
    double upper = block_reduce<false>(rows, s_val);
    if (nr == nc) {
        const double upper_cols = block_reduce<false>(cols, s_val);
        upper = upper_cols < upper ? upper_cols : upper;
    }
    const double total = matched_total(S, row_match, s_val);
    if (tid == 0) {
        out_total[p] = total;
        out_bound[p] = upper - total > 0.0 ? upper - total : 0.0;
        out_status[p] = 0;
    }
}
