"""The synthetic tweet corpus: deterministic, chunk-independent, and consistent with its truth."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import pearsonr
from sklearn.linear_model import LinearRegression

from engine.synthetic import tweets


def test_same_seed_same_corpus_and_chunking_does_not_matter():
    a = tweets.generate(n_rows=3000, dim=16, seed=3)
    b = tweets.generate(n_rows=3000, dim=16, seed=3)
    c = tweets.generate(n_rows=3000, dim=16, seed=4)
    assert a.batch.table.equals(b.batch.table)
    np.testing.assert_array_equal(a.batch.embeddings, b.batch.embeddings)
    assert not np.array_equal(a.batch.embeddings, c.batch.embeddings)
    truth = tweets.make_truth(dim=16, seed=3)
    chunks = list(tweets.iter_chunks(truth, 3000, seed=3, chunk_rows=3000))
    np.testing.assert_array_equal(chunks[0][0].embeddings, a.batch.embeddings[:3000])


def test_basins_live_inside_their_windows():
    tw = tweets.generate(n_rows=8000, dim=16, n_topics=10, n_basins=4, seed=1)
    days = (tw.batch.table.column("datetime").to_numpy() - tw.truth.start) / np.timedelta64(1, "D")
    for k in range(10):
        d = days[tw.topic == k]
        lo, hi = tw.truth.windows[k]
        assert d.min() >= lo - 1e-6 and d.max() <= hi + 1e-6
        if tw.truth.is_basin[k]:
            assert hi - lo < 0.4 * tw.truth.n_days
    assert tw.truth.is_basin.sum() == 4



def test_basin_window_sets_the_lifetimes_and_bad_windows_are_refused():
    from engine.config import DataConfig
    from engine.data import check_synthetic_sizes
    from engine.errors import UserError

    tw = tweets.generate(n_rows=20000, dim=16, n_topics=12, n_basins=10, n_days=730,
                         basin_window=(0.04, 0.08), seed=0)
    days = (tw.batch.table.column("datetime").to_numpy() - tw.truth.start) / np.timedelta64(1, "D")
    lo, hi = tw.truth.windows[:10].T
    assert np.all((hi - lo >= 0.04 * 730) & (hi - lo <= 0.08 * 730))
    # Spread over the range: every fifth of it holds a basin's end.
    assert len(np.unique(np.minimum(hi // 146, 4))) == 5
    for k in range(10):
        d = days[tw.topic == k]
        assert d.min() >= lo[k] - 1e-6 and d.max() <= hi[k] + 1e-6
    with pytest.raises(ValueError, match="basin_window"):
        tweets.make_truth(basin_window=(0.3, 0.2))
    with pytest.raises(UserError, match=r"data.basin_window=\[0.0, 0.2\]"):
        check_synthetic_sizes(DataConfig(basin_window=[0.0, 0.2]))

def test_topics_are_separated_on_the_rating_axes():
    tw = tweets.generate(n_rows=6000, dim=32, seed=2)
    coords = tw.batch.embeddings @ tw.truth.q
    for k in range(tw.truth.n_topics):
        mine = coords[tw.topic == k]
        np.testing.assert_allclose(mine.mean(0), tw.truth.axis_positions[k], atol=0.05)
        assert mine.std(0).max() < 0.4


def test_ratings_follow_the_hidden_map_with_seed_like_correlation():
    tw = tweets.generate(n_rows=20000, dim=64, n_labelled=4000, seed=0)
    ids = tw.ratings.column("id").to_numpy()
    X = tw.batch.embeddings[ids]
    Y = np.column_stack([tw.ratings.column(a).to_numpy() for a in tweets.AXES])
    fit = LinearRegression().fit(X[:3000], Y[:3000])
    pred = fit.predict(X[3000:])
    r = [pearsonr(pred[:, j], Y[3000:, j])[0] for j in range(3)]
    assert all(0.58 < v < 0.78 for v in r), r
    # The fitted map points along the planted directions.
    cos = np.abs(np.sum(fit.coef_.T * tw.truth.q, 0)) / np.linalg.norm(fit.coef_, axis=1)
    assert (cos > 0.7).all(), cos


def test_heavy_tailed_counts_and_users():
    tw = tweets.generate(n_rows=10000, dim=16, seed=0)
    fav = tw.batch.table.column("favorite_count").to_numpy()
    rt = tw.batch.table.column("retweet_count").to_numpy()
    assert (rt <= fav).all() and (fav >= 0).all()
    assert np.quantile(fav, 0.99) > 10 * max(np.median(fav), 1)
    users = tw.batch.table.column("user_id").value_counts()
    assert len(users) > 100
