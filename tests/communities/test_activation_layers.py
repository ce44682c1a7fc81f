"""Activation layers: torch files (seed 002's layout) and sparse Parquet, alignment, bad input."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from engine._communities.layers import align, read_layers, write_parquet_layer
from engine.errors import UserError


def _dense(P, N, seed):
    rng = np.random.default_rng(seed)
    D = rng.random((P, N)).astype(np.float32)
    D[D < 0.8] = 0
    return D


def _write_torch(path, ids, D):
    torch.save({pid: {"post": torch.from_numpy(D[i].copy())} for i, pid in enumerate(ids)},
               path)


def test_torch_layers_aligned_to_common_prompts(tmp_path):
    D17, D9 = _dense(30, 12, 0), _dense(25, 8, 1)
    _write_torch(tmp_path / "layer_17.pt", [f"q{i}" for i in range(30)], D17)
    _write_torch(tmp_path / "layer_9.pt", [f"q{i}" for i in range(5, 30)], D9)
    aligned = align(read_layers(str(tmp_path)))
    assert aligned.names == ["layer_9", "layer_17"]  # natural order
    assert aligned.removed == {"layer_9": 0, "layer_17": 5}
    assert aligned.n_all == {"layer_9": 25, "layer_17": 30}
    ids = aligned.ids.tolist()
    assert ids == sorted(f"q{i}" for i in range(5, 30))
    rows17 = [int(s[1:]) for s in ids]
    np.testing.assert_array_equal(aligned.matrices[1].toarray(), D17[rows17])
    np.testing.assert_array_equal(aligned.matrices[0].toarray(), D9[[r - 5 for r in rows17]])
    assert all(sp.isspmatrix_csr(m) for m in aligned.matrices)


def test_parquet_round_trip_keeps_zero_rows(tmp_path):
    D = _dense(20, 10, 2)
    D[4] = 0
    ids = np.arange(100, 120)
    write_parquet_layer(tmp_path / "layer_0.parquet", ids, sp.csr_matrix(D))
    (layer,) = read_layers(str(tmp_path / "layer_0.parquet"))
    assert layer.ids.tolist() == ids.tolist()
    np.testing.assert_array_equal(layer.matrix.toarray(), D)


def test_misaligned_layers_without_common_prompts(tmp_path):
    _write_torch(tmp_path / "a.pt", ["x", "y"], _dense(2, 4, 0))
    _write_torch(tmp_path / "b.pt", ["z"], _dense(1, 4, 1))
    with pytest.raises(UserError, match="share no prompt ids"):
        align(read_layers(str(tmp_path)))


def test_empty_layer(tmp_path):
    torch.save({}, tmp_path / "layer_1.pt")
    with pytest.raises(UserError, match=r"layer_1.pt: the layer holds no prompts"):
        read_layers(str(tmp_path))


def test_wrong_vector_length_names_the_prompt(tmp_path):
    torch.save({"a": {"post": torch.zeros(4)}, "b": {"post": torch.zeros(5)}},
               tmp_path / "l.pt")
    with pytest.raises(UserError, match="prompt 'b'"):
        read_layers(str(tmp_path))


def test_nan_activation_and_missing_columns(tmp_path):
    torch.save({"a": {"post": torch.tensor([1.0, float("nan")])}}, tmp_path / "l.pt")
    with pytest.raises(UserError, match="NaN"):
        read_layers(str(tmp_path / "l.pt"))
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"prompt_id": [1], "value": [1.0]}), tmp_path / "p.parquet")
    with pytest.raises(UserError, match="no column 'neuron'"):
        read_layers(str(tmp_path / "p.parquet"))


class NotATensor:
    pass


def test_refused_pickle_is_one_line_without_torch_advice(tmp_path):
    # torch's own message spans several lines and advises weights_only=False.
    torch.save({"a": {"post": torch.zeros(3)}, "b": NotATensor()}, tmp_path / "l.pt")
    with pytest.raises(UserError) as info:
        read_layers(str(tmp_path / "l.pt"))
    message = str(info.value)
    assert "\n" not in message and "weights_only=False" not in message
    assert "l.pt: torch.load(weights_only=True) refused it" in message
    assert "NotATensor" in message
