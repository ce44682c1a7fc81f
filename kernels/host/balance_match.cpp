// Host build of kernels/balance_match.cu through host_emulation.h, for tests without a GPU.
// Each entry point launches one kernel over `n_pairs` blocks of `block` threads.
#include "../host_emulation.h"
#include "../balance_match.cu"

#define BM_PASS G, ld, a_off, a_n, b_off, b_n, ws_off, ws_d, ws_i, blk_off, ws_blk, out_total, \
        out_bound, out_status, n_pairs

extern "C" void host_balance_exact(unsigned block, BM_PAIR_PARAMS) {
    emu::launch(balance_exact, n_pairs, block, BM_PASS);
}

extern "C" void host_balance_auction(unsigned block, BM_PAIR_PARAMS, double eps,
                                     int bids_per_row, int scale) {
    emu::launch(balance_auction, n_pairs, block, BM_PASS, eps, bids_per_row, scale);
}

extern "C" void host_balance_greedy(unsigned block, BM_PAIR_PARAMS) {
    emu::launch(balance_greedy, n_pairs, block, BM_PASS);
}
