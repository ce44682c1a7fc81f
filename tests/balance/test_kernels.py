"""kernels/balance_match.cu: compiled with nvcc where it is installed (NVRTC compiles every
kernel everywhere, CI included: tests/test_kernels_nvrtc.py), and run on the host through
kernels/host_emulation.h (one host thread per CUDA thread, real barriers), against scipy."""

from __future__ import annotations

import ctypes
import shutil
import subprocess

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment

from engine import kernels
from engine._balance.kernel_batches import solve_batched
from engine._balance.solvers import auction_max
from engine._balance.tiles import normalise, tile_pairs


@pytest.mark.parametrize("path", kernels.sources(), ids=lambda p: p.name)
def test_every_kernel_compiles_with_nvcc(path, tmp_path):
    nvcc = shutil.which("nvcc")
    if nvcc is None:
        pytest.skip("nvcc not installed (tests/test_kernels_nvrtc.py compiles with NVRTC)")
    out = tmp_path / (path.stem + ".ptx")
    res = subprocess.run([nvcc, "-std=c++17", "-ptx", str(path), "-o", str(out)],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert out.stat().st_size > 0


@pytest.fixture(scope="module")
def host_lib(tmp_path_factory):
    gxx = shutil.which("g++")
    if gxx is None:
        pytest.skip("g++ not installed")
    src = kernels.KERNEL_DIR / "host" / "balance_match.cpp"
    lib = tmp_path_factory.mktemp("host") / "balance_match_host.so"
    res = subprocess.run([gxx, "-std=c++20", "-O1", "-shared", "-fPIC", "-pthread", "-Wall",
                          "-Werror", str(src), "-o", str(lib)], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    return ctypes.CDLL(str(lib))


def host_launcher(lib):
    """`launch(kernel, block, grid, args)` for kernel_batches, calling the host build."""
    def convert(a):
        if isinstance(a, np.ndarray):
            return ctypes.c_void_p(a.ctypes.data)
        if isinstance(a, np.int64):
            return ctypes.c_longlong(int(a))
        if isinstance(a, np.int32):
            return ctypes.c_int(int(a))
        if isinstance(a, np.float64):
            return ctypes.c_double(float(a))
        raise TypeError(type(a))

    def launch(kernel, block, grid, args):
        assert int(args[14]) == grid  # n_pairs: one block per pair
        getattr(lib, f"host_{kernel}")(ctypes.c_uint(block), *[convert(a) for a in args])

    return launch


def cluster_tile(rows_per_user, dim=6, seed=0, round_to=None, same=False):
    """A cluster's unit rows and every pair's offsets into its (single) similarity tile."""
    rng = np.random.default_rng(seed)
    n = sum(rows_per_user)
    X = rng.standard_normal((n, dim))
    if same:
        X[:] = X[0]
    Xn = normalise(np, X)
    if round_to is not None:  # coarse values make exact ties common
        G = np.round(Xn @ Xn.T, round_to)
    else:
        G = Xn @ Xn.T
    row_start = np.concatenate([[0], np.cumsum(rows_per_user)])
    return np.ascontiguousarray(G), tile_pairs(row_start, 0, len(rows_per_user) - 1)


def blocks_of(G, tp):
    for p in range(len(tp.a_n)):
        yield G[tp.a_off[p]:tp.a_off[p] + tp.a_n[p], tp.b_off[p]:tp.b_off[p] + tp.b_n[p]]


def scipy_total(S):
    r, c = linear_sum_assignment(S, maximize=True)
    return S[r, c].sum()


def greedy_total(S):
    """Sorted-edge greedy with edges ordered by (value desc, row asc, column asc)."""
    if S.shape[0] > S.shape[1]:
        S = S.T
    taken_r, taken_c, total = set(), set(), 0.0
    for _, i, j in sorted((-S[i, j], i, j) for i in range(S.shape[0]) for j in range(S.shape[1])):
        if i not in taken_r and j not in taken_c:
            taken_r.add(i)
            taken_c.add(j)
            total += S[i, j]
    return total


CASES = {
    "random": dict(rows_per_user=[3, 7, 1, 12, 5, 9, 2], seed=1),
    "ties": dict(rows_per_user=[4, 6, 6, 3, 8], seed=2, round_to=1),
    "identical vectors": dict(rows_per_user=[5, 3, 5, 1], seed=3, same=True),
    "1 x n and n x 1": dict(rows_per_user=[1, 20, 1, 33], seed=4),
    "above block size": dict(rows_per_user=[260, 2, 3], seed=5, dim=4),
    # Both orientations with several 32 x 32 staging tiles, partial at both edges.
    "transposed, several tiles": dict(rows_per_user=[70, 40, 33, 5, 41], seed=7, dim=5),
}


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("method", ["exact", "auction", "greedy"])
def test_host_build_matches_references(host_lib, case, method):
    G, tp = cluster_tile(**CASES[case])
    total, bound, status = solve_batched(np, host_launcher(host_lib), G, tp.a_off, tp.a_n,
                                         tp.b_off, tp.b_n, method, 1e-3, 10**6, True)
    assert not status.any()
    for p, S in enumerate(blocks_of(G, tp)):
        opt = scipy_total(S)
        k = min(S.shape)
        if method == "exact":
            assert total[p] == pytest.approx(opt, abs=1e-9)
            assert bound[p] == 0
        elif method == "auction":
            assert -1e-9 <= opt - total[p] <= bound[p] + 1e-9
            assert bound[p] <= k * 1e-3 + 1e-9
            # Same bids in the same order as the Numba solver: the same matching.
            want, want_bound, _ = auction_max(S if S.shape[0] <= S.shape[1] else S.T,
                                              1e-3, 10**6, True)
            assert total[p] == pytest.approx(want, abs=1e-9)
            assert bound[p] == pytest.approx(want_bound, abs=1e-9)
        else:
            assert total[p] == pytest.approx(greedy_total(S), abs=1e-9)
            assert -1e-9 <= opt - total[p] <= bound[p] + 1e-9


@pytest.mark.parametrize("method", ["exact", "auction", "greedy"])
def test_transposed_blocks_give_identical_results(host_lib, method):
    # The same pairs read from G and from G's transpose: each block's orientation flips
    # (staged through the shared-memory transpose on one side, read in place on the other),
    # the matrix the kernel solves does not, so every output is bit-identical.
    G, tp = cluster_tile(**CASES["transposed, several tiles"])
    unequal = tp.a_n != tp.b_n
    args = (tp.a_off[unequal], tp.a_n[unequal], tp.b_off[unequal], tp.b_n[unequal])
    flipped = (args[2], args[3], args[0], args[1])
    launch = host_launcher(host_lib)
    want = solve_batched(np, launch, G, *args, method, 1e-3, 10**6, True)
    got = solve_batched(np, launch, np.ascontiguousarray(G.T), *flipped, method, 1e-3, 10**6,
                        True)
    assert (tp.a_n[unequal] > tp.b_n[unequal]).any() and (tp.a_n[unequal] < tp.b_n[unequal]).any()
    for w, g in zip(want, got, strict=True):
        np.testing.assert_array_equal(g, w)


def test_auction_at_bid_cap_falls_back_to_exact(host_lib):
    G, tp = cluster_tile(rows_per_user=[6, 8, 7, 9], seed=6)
    total, bound, status = solve_batched(np, host_launcher(host_lib), G, tp.a_off, tp.a_n,
                                         tp.b_off, tp.b_n, "auction", 1e-6, 1, False)
    assert status.sum() >= 3  # one bid per row rarely settles a block: most hit the cap
    for p, S in enumerate(blocks_of(G, tp)):
        if status[p]:
            assert total[p] == pytest.approx(scipy_total(S), abs=1e-9)
            assert bound[p] == 0
        else:
            assert -1e-9 <= scipy_total(S) - total[p] <= bound[p] + 1e-9


@pytest.mark.gpu
@pytest.mark.parametrize("method", ["exact", "auction", "greedy"])
def test_gpu_kernels_equal_cpu_solvers(gpu, cpu, method):
    from engine._balance.groups import build_groups
    from engine._balance.matching import MatchOptions, match_pairs

    rng = np.random.default_rng(8)
    n = 4000
    cluster = rng.integers(0, 5, n)
    user = rng.integers(0, 60, n)
    emb = rng.standard_normal((n, 32)).astype(np.float32)
    groups = build_groups(cluster, user, emb)
    options = MatchOptions(method=method, tile_elements=200_000)  # several tiles per cluster
    got = match_pairs(groups, gpu, options)
    want = match_pairs(groups, cpu, options)
    np.testing.assert_array_equal(got.user1, want.user1)
    np.testing.assert_allclose(got.sim, want.sim, atol=1e-9)
    np.testing.assert_allclose(got.bound, want.bound, atol=1e-9)
