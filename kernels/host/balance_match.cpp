// Host build of kernels/balance_match.cu through host_emulation.h, for tests without a GPU.
// Each entry point launches one kernel over `n_pairs` blocks of `block` threads.
#include "../host_emulation.h"
#include "../balance_match.cu"

#define BM_ARGS                                                                          \
    const double *G, long long ld, const long long *a_off, const int *a_n,               \
        const long long *b_off, const int *b_n, const long long *ws_off, double *ws_d,   \
        int *ws_i, double *out_total, double *out_bound, int *out_status, int n_pairs
#define BM_PASS G, ld, a_off, a_n, b_off, b_n, ws_off, ws_d, ws_i, out_total, out_bound, \
        out_status, n_pairs

extern "C" void host_balance_exact(unsigned block, BM_ARGS) {
    emu::launch(balance_exact, n_pairs, block, BM_PASS);
}

extern "C" void host_balance_auction(unsigned block, BM_ARGS, double eps, int bids_per_row,
                                     int scale) {
    emu::launch(balance_auction, n_pairs, block, BM_PASS, eps, bids_per_row, scale);
}

extern "C" void host_balance_greedy(unsigned block, BM_ARGS) {
    emu::launch(balance_greedy, n_pairs, block, BM_PASS);
}
