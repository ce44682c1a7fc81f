"""The batched clustering equals the plain message-by-message reference, to the bit."""

from __future__ import annotations

import numpy as np
import pytest

from engine._stream.online import OnlineClustering, ZeroVectorError
from tests.stream.reference import Reference, ref_sum, unit

DAY = 86_400 * 10**9


def run_both(backend, emb, times, batch_size, threshold=0.22, cap=1000, window_days=None,
             screen=None):
    """Ours equals the reference; on the CPU with both the float32 and the pivot screens
    (pivot bounds from the first centroid on), unless `screen` names one."""
    ref = Reference(emb.shape[1], threshold, cap, window_days)
    expected = ref.run(emb, times)
    if screen is None and not backend.gpu:
        run_both(backend, emb, times, batch_size, threshold, cap, window_days, "float32")
        screen = "pivot"
    oc = OnlineClustering(backend, emb.shape[1], threshold, cap, window_days, batch_size,
                          screen_kind=screen or "float32", pivot_min_clusters=1)
    got = oc.assign(emb, times)
    np.testing.assert_array_equal(got.cluster, expected[0])
    np.testing.assert_array_equal(got.new_cluster, expected[2])
    np.testing.assert_array_equal(got.confidence, expected[1])  # same arithmetic: same bits
    c = oc.centroids
    assert c.size == len(ref.n)
    np.testing.assert_allclose(c.vectors[: c.size], ref.C, rtol=0, atol=1e-6)
    assert np.array_equal(c.vectors[: c.size], ref.C)
    np.testing.assert_array_equal(c.counts[: c.size], ref.n)
    np.testing.assert_array_equal(c.last_seen[: c.size], ref.last)
    return got, oc


def topic_stream(rng, n, dim, n_topics, noise, days=30):
    centres = rng.standard_normal((n_topics, dim))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    topic = rng.integers(0, n_topics, n)
    emb = (centres[topic] + noise * rng.standard_normal((n, dim))).astype(np.float32)
    times = np.sort(rng.integers(0, days * DAY, n))
    return emb, times, topic


@pytest.mark.parametrize("batch_size", [1, 5, 64, 300])
@pytest.mark.parametrize("cap", [1, 3, 1000])
def test_random_streams_equal_reference(cpu, batch_size, cap):
    rng = np.random.default_rng(batch_size * 7 + cap)
    # Noise near the threshold's scale: many joins, many new clusters, drifting centroids.
    emb, times, _ = topic_stream(rng, 1200, 24, 30, 0.12)
    got, _ = run_both(cpu, emb, times, batch_size, cap=cap)
    assert 0 < got.new_cluster.sum() < len(emb)


@pytest.mark.parametrize("batch_size", [64, 256])
def test_bfloat16_screening_equals_reference(cpu, batch_size):
    """The wide bfloat16 bound means many exact re-checks, never a different decision."""
    pytest.importorskip("torch")
    rng = np.random.default_rng(batch_size)
    emb, times, _ = topic_stream(rng, 1500, 48, 40, 0.09)
    got, oc = run_both(cpu, emb, times, batch_size, cap=4, screen="bfloat16")
    assert oc.screen.kind == "bfloat16" and 0 < got.new_cluster.sum() < len(emb)
    offsets = np.array([-3e-16, 0.0, 1e-12, -1e-9, 2e-3, -2e-3, 8e-3])
    emb = adaptive_threshold_stream(20, 300, 0.22, 4, offsets)
    run_both(cpu, emb, np.zeros(len(emb), np.int64), batch_size, screen="bfloat16")


@pytest.mark.parametrize("batch_size", [4, 128])
def test_active_window_equals_reference(cpu, batch_size):
    rng = np.random.default_rng(3)
    emb, times, _ = topic_stream(rng, 800, 16, 12, 0.1, days=60)
    got, _ = run_both(cpu, emb, times, batch_size, window_days=3.0)
    everything, _ = run_both(cpu, emb, times, batch_size)
    assert got.new_cluster.sum() > everything.new_cluster.sum()  # the window mattered


def adaptive_threshold_stream(dim, n, threshold, seed, offsets):
    """Each message sits at similarity 1 - threshold + offset from the *current* centroid of
    a random cluster (followed through the reference as the stream is built)."""
    rng = np.random.default_rng(seed)
    ref = Reference(dim, threshold)
    s = 1.0 - threshold
    emb = []
    for _ in range(n):
        if len(ref.n) < 3 or rng.uniform() < 0.1:
            x = rng.standard_normal(dim)
        else:
            c = ref.C[rng.integers(len(ref.n))]
            r = rng.standard_normal(dim)
            r -= ref_sum(r * c) * c
            r /= np.linalg.norm(r)
            cos = s + rng.choice(offsets)
            x = cos * c + np.sqrt(max(0.0, 1 - cos * cos)) * r
        emb.append(x)
        ref.step(x, 0)
    return np.array(emb)


@pytest.mark.parametrize("batch_size", [1, 16, 200])
def test_similarities_at_the_threshold(cpu, batch_size):
    """Offsets far inside the float32 screening error: only the exact re-check decides."""
    offsets = np.array([-3e-16, -1e-12, 0.0, 0.0, 1e-12, 3e-16, -2e-7, 2e-7])
    emb = adaptive_threshold_stream(20, 600, 0.22, 1, offsets)
    times = np.zeros(len(emb), np.int64)
    got, _ = run_both(cpu, emb, times, batch_size)
    joined = ~got.new_cluster
    # Both outcomes occur, and most joins sit on the threshold itself.
    assert joined.sum() > 50 and got.new_cluster.sum() > 50
    assert (np.abs(got.confidence[joined] - 0.78) < 1e-6).sum() > 50


def test_exact_ties_go_to_the_lowest_id(cpu):
    """Mirror-image centroids give bit-identical similarities; the lower id must win."""
    d = 8
    a, b = 0.85, np.sqrt(1 - 0.85**2)  # pairs 0.72 apart: all new clusters
    msgs = []
    for k in range(1, 4):  # cluster pairs (2k-2, 2k-1) around axis 0, mirrored in axis k
        up = np.zeros(d)
        up[0], up[k] = a, b
        down = up.copy()
        down[k] = -b
        msgs += [down, up]  # down first: it gets the lower id
    emb = np.array(msgs)
    # Equidistant messages: the axis itself (ties within each pair) after the pairs exist.
    probe = np.zeros(d)
    probe[0] = 1.0
    for batch_size in (1, 3, 64):
        full = np.vstack([emb, np.tile(probe, (5, 1))])
        got, _ = run_both(cpu, full, np.zeros(len(full), np.int64), batch_size,
                          threshold=0.22)
        # The first probe ties between all six: similarity 0.85 each, id 0 wins.
        assert got.cluster[6] == 0 and not got.new_cluster[6]
        assert got.new_cluster[:6].all()


def test_many_new_clusters_in_one_batch_then_repeats(cpu):
    rng = np.random.default_rng(5)
    base = rng.standard_normal((150, 64)).astype(np.float32)  # near-orthogonal: all new
    emb = np.vstack([base, base[rng.integers(0, 150, 300)], base[:20], base[:20]])
    times = np.zeros(len(emb), np.int64)
    for batch_size in (512, 37):
        got, oc = run_both(cpu, emb, times, batch_size, cap=2)
        assert got.new_cluster[:150].all() and not got.new_cluster[150:].any()
        assert oc.centroids.size == 150


def test_repeated_identical_messages(cpu):
    x = np.random.default_rng(2).standard_normal(32).astype(np.float32)
    emb = np.tile(x, (400, 1))
    got, oc = run_both(cpu, emb, np.zeros(400, np.int64), 64)
    assert (got.cluster == 0).all() and got.new_cluster.sum() == 1
    assert np.abs(got.confidence - 1).max() < 1e-12
    assert oc.centroids.counts[0] == 400


def test_new_cluster_confidence_is_one_and_joins_are_exact_cosines(cpu):
    rng = np.random.default_rng(8)
    emb, times, _ = topic_stream(rng, 500, 16, 10, 0.08)
    got, _ = run_both(cpu, emb, times, 50)
    assert (got.confidence[got.new_cluster] == 1.0).all()
    # A join's confidence is cos(x_hat, c) of the centroid before the update: replay.
    ref = Reference(16)
    for i, (x, t) in enumerate(zip(emb, times, strict=True)):
        if not got.new_cluster[i]:
            c = ref.C[got.cluster[i]]
            assert got.confidence[i] == ref_sum(unit(x) * c)
            assert got.confidence[i] >= 0.78
        ref.step(x, int(t))


def test_cap_keeps_centroids_adaptable(cpu):
    """A direction turning slowly: with cap=1 the centroid follows the latest messages, with a
    large cap it stays near the mean of all of them; both match the literal formula."""
    d, n = 8, 60
    angles = np.linspace(0, 0.5, n)
    emb = np.zeros((n, d))
    emb[:, 0], emb[:, 1] = np.cos(angles), np.sin(angles)
    times = np.zeros(n, np.int64)
    _, small = run_both(cpu, emb, times, 16, cap=1)
    _, large = run_both(cpu, emb, times, 16, cap=10_000)
    last = unit(emb[-1])
    mean = unit(unit(emb).mean(axis=0))
    assert small.centroids.size == large.centroids.size == 1
    assert small.centroids.vectors[0] @ last > 0.9999
    assert large.centroids.vectors[0] @ mean > 0.99999
    assert large.centroids.vectors[0] @ last < 0.975
    # cap=1 is the literal recursion c <- normalise((c + x)/2).
    c = unit(emb[0])
    for x in emb[1:]:
        v = (1.0 * c + unit(x)) / 2.0
        c = v / np.sqrt(ref_sum(v * v))
    assert np.array_equal(small.centroids.vectors[0], c)


def test_window_retires_silent_clusters(cpu):
    x = np.zeros((3, 4))
    x[:, 0] = 1
    times = np.array([0, 2 * DAY, 10 * DAY])  # 2 days later joins; 8 more days later it's stale
    got, _ = run_both(cpu, x, times, 8, window_days=5.0)
    assert list(got.cluster) == [0, 0, 1] and list(got.new_cluster) == [True, False, True]


def test_continuing_from_saved_centroids_equals_one_pass(cpu, tmp_path):
    from engine._stream import state as state_io
    from engine._stream.participation import Participation

    rng = np.random.default_rng(11)
    emb, times, _ = topic_stream(rng, 900, 16, 20, 0.1)
    whole = OnlineClustering(cpu, 16, cap=5, batch_size=128).assign(emb, times)
    first = OnlineClustering(cpu, 16, cap=5, batch_size=128)
    a = first.assign(emb[:401], times[:401])
    st = state_io.StreamState(0.22, 5, None, first.centroids, Participation(16))
    state_io.save(st, tmp_path)
    loaded = state_io.load(tmp_path)
    second = OnlineClustering(cpu, 16, cap=5, batch_size=7, centroids=loaded.centroids)
    b = second.assign(emb[401:], times[401:])
    np.testing.assert_array_equal(np.r_[a.cluster, b.cluster], whole.cluster)
    np.testing.assert_array_equal(np.r_[a.confidence, b.confidence], whole.confidence)


def test_zero_vector_is_reported(cpu):
    emb = np.ones((10, 4), np.float32)
    emb[6] = 0
    with pytest.raises(ZeroVectorError, match="row 6"):
        OnlineClustering(cpu, 4, batch_size=4).assign(emb, np.zeros(10, np.int64))


def test_centroids_grow_past_their_capacity(cpu):
    # 2,200 topics each opened by one message, then each revisited in random order: the
    # centroid arrays grow past 1,024 and 2,048 rows inside batches, and the second half
    # joins clusters on both sides of each growth.
    rng = np.random.default_rng(4)
    n_topics = 2200
    centres = unit(rng.standard_normal((n_topics, 48)))
    topic = np.concatenate([np.arange(n_topics), rng.permutation(n_topics)])
    emb = (centres[topic] + 0.05 * rng.standard_normal((len(topic), 48))).astype(np.float32)
    got, oc = run_both(cpu, emb, np.arange(len(topic)) * 10**9, 700)
    assert oc.centroids.size > 2048
    joined = got.cluster[~got.new_cluster]
    assert (joined < 1024).sum() > 800 and (joined >= 2048).sum() > 100


@pytest.mark.gpu
def test_gpu_screening_equals_reference(gpu):
    rng = np.random.default_rng(9)
    emb, times, _ = topic_stream(rng, 1500, 32, 40, 0.12)
    run_both(gpu, emb, times, 256, cap=4)
    emb = adaptive_threshold_stream(20, 300, 0.22, 2, np.array([0.0, 1e-12, -1e-12, 1e-5]))
    run_both(gpu, emb, np.zeros(len(emb), np.int64), 64)


@pytest.mark.parametrize("screen", ["float32", "bfloat16", "pivot"])
def test_centroids_walking_far_inside_one_batch(cpu, screen):
    """With cap=1 a centroid follows a random walk: by the end of a batch it is far from where
    the screening product saw it, so only the drift allowance keeps the decisions exact."""
    if screen == "bfloat16":
        pytest.importorskip("torch")
    rng = np.random.default_rng(12)
    d, n = 32, 600
    walk = [unit(rng.standard_normal(d))]
    for _ in range(n - 1):
        r = rng.standard_normal(d)
        r -= (r @ walk[-1]) * walk[-1]
        cos = rng.uniform(0.93, 0.98)
        walk.append(cos * walk[-1] + np.sqrt(1 - cos * cos) * unit(r))
    emb = np.array(walk)
    emb[::7] = rng.standard_normal((len(emb[::7]), d))  # interleaved unrelated messages
    got, oc = run_both(cpu, emb, np.zeros(n, np.int64), 256, cap=1, screen=screen)
    big = int(np.argmax(oc.centroids.counts[: oc.centroids.size]))
    creator = unit(emb[np.flatnonzero(got.cluster == big)[0]])
    assert oc.centroids.counts[big] > 100
    assert oc.centroids.vectors[big] @ creator < 0.5  # it walked far from where it started
