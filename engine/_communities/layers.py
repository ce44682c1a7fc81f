"""Activation layers: read one file per layer, align rows to the prompts present in every layer.

Two on-disk forms, one file per layer (the layer's name is the file stem; layers are ordered
by natural sort of the names, so `layer_9` comes before `layer_17`):
- torch (`.pt`, `.pth`, or seed 002's `.json`-named torch files): `{prompt_id: {"post": tensor}}`
  read with `torch.load(weights_only=True)`; each tensor is one prompt's 1-D activation vector.
- Parquet (`.parquet`), sparse long layout: columns `prompt_id`, `neuron` (int, 0-based),
  `value` (float), one row per non-zero activation; a prompt whose activations are all zero
  is listed once with `neuron` null. The layer width is the schema metadata `n_neurons` when
  present, else 1 + the largest neuron index. `engine._communities.layers.write_parquet_layer`
  writes this form.
Rows are held as CSR matrices (float32); dense vectors are only stacked in row chunks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import scipy.sparse as sp

from engine.errors import UserError
from engine.io.embeddings import expand_paths, nonfinite_rows
from engine.io.write import write_parquet

TORCH_SUFFIXES = {".pt", ".pth", ".json"}
LAYER_SUFFIXES = TORCH_SUFFIXES | {".parquet"}
CHUNK_ROWS = 4096


@dataclass
class Layer:
    name: str
    ids: np.ndarray  # (P_l,) prompt ids, unique
    matrix: sp.csr_matrix  # (P_l, N_l) float32


@dataclass
class AlignedLayers:
    names: list[str]
    ids: np.ndarray  # (P,) prompt ids common to every layer, sorted; row i of every matrix
    matrices: list[sp.csr_matrix]
    n_all: dict[str, int]  # prompts per layer before alignment
    removed: dict[str, int]  # prompts dropped from each layer (absent from another layer)

    @property
    def n_prompts(self) -> int:
        return len(self.ids)


def _natural_key(name: str):
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]


def layer_files(path: str) -> list[Path]:
    files = expand_paths(path, LAYER_SUFFIXES)
    return sorted(files, key=lambda f: _natural_key(f.stem))


def _torch_refusal(exc: Exception) -> str:
    """torch's refusal in one line. Its weights_only message spans lines and advises
    `weights_only=False` (arbitrary code execution): keep only what it found."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(exc))
    if "Weights only load failed" in text:
        found = re.search(r"WeightsUnpickler error:\s*(.*?)(?:\.\s|\s*Please use|\s*Check the "
                          r"documentation|$)", text, re.S)
        what = " ".join(found.group(1).split()) if found else "objects other than tensors"
        return (f"torch.load(weights_only=True) refused it ({what}); activation files must "
                "hold only tensors, as {prompt_id: {'post': tensor}}")
    first = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    return f"not a readable torch file ({type(exc).__name__}: {first})"


def read_torch_layer(f: Path) -> Layer:
    import torch

    try:
        obj = torch.load(f, weights_only=True, map_location="cpu")
    except Exception as exc:
        raise UserError(f"{f}: {_torch_refusal(exc)}") from None
    if not isinstance(obj, dict):
        raise UserError(f"{f}: expected a dict {{prompt_id: {{'post': tensor}}}}, "
                        f"got {type(obj).__name__}")
    ids = list(obj.keys())
    if not ids:
        raise UserError(f"{f}: the layer holds no prompts")
    width = None
    blocks = []
    for lo in range(0, len(ids), CHUNK_ROWS):
        rows = []
        for pid in ids[lo : lo + CHUNK_ROWS]:
            entry = obj[pid]
            t = entry.get("post") if isinstance(entry, dict) else None
            if t is None:
                raise UserError(f"{f}: prompt {pid!r} has no 'post' tensor")
            v = t.detach().to(torch.float32).reshape(-1).numpy()
            if width is None:
                width = len(v)
            if len(v) != width or t.dim() != 1:
                raise UserError(f"{f}: prompt {pid!r} has activation shape {tuple(t.shape)}, "
                                f"expected ({width},)")
            rows.append(v)
        dense = np.stack(rows)
        bad = nonfinite_rows(dense)
        if bad.any():
            pid = ids[lo + int(np.flatnonzero(bad)[0])]
            raise UserError(f"{f}: prompt {pid!r} has NaN or infinite activations")
        blocks.append(sp.csr_matrix(dense))
    return Layer(f.stem, _id_array(ids), sp.vstack(blocks, format="csr").astype(np.float32))


def read_parquet_layer(f: Path, prompt_column: str = "prompt_id") -> Layer:
    try:
        table = pq.read_table(f)
    except Exception as exc:
        raise UserError(f"{f}: not a readable Parquet file ({exc})") from None
    for col in (prompt_column, "neuron", "value"):
        if col not in table.column_names:
            raise UserError(f"{f}: no column {col!r} (expected {prompt_column}, neuron, value)")
    if table.num_rows == 0:
        raise UserError(f"{f}: the layer holds no prompts")
    pid = table.column(prompt_column)
    if pid.null_count:
        raise UserError(f"{f}: column {prompt_column!r} has null ids")
    ids, row = np.unique(pid.to_numpy(zero_copy_only=False), return_inverse=True)
    neuron_col = table.column("neuron")
    present = ~neuron_col.is_null().to_numpy(zero_copy_only=False)
    neuron = neuron_col.fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64)
    value = table.column("value").fill_null(0).to_numpy(zero_copy_only=False)
    value = value.astype(np.float32)
    if (neuron < 0).any():
        raise UserError(f"{f}: column 'neuron' has negative indices")
    if not np.isfinite(value).all():
        i = int(np.flatnonzero(~np.isfinite(value))[0])
        raise UserError(f"{f}: prompt {ids[row[i]]!r} has NaN or infinite activations")
    meta = table.schema.metadata or {}
    width = int(meta[b"n_neurons"]) if b"n_neurons" in meta else int(neuron.max(initial=-1)) + 1
    if neuron.max(initial=-1) >= width:
        raise UserError(f"{f}: neuron index {int(neuron.max())} >= n_neurons={width}")
    keep = present & (value != 0)
    coo = sp.coo_matrix((value[keep], (row[keep], neuron[keep])), shape=(len(ids), width))
    X = coo.tocsr()
    if X.nnz < int(keep.sum()):
        raise UserError(f"{f}: some (prompt, neuron) pairs are listed more than once")
    return Layer(f.stem, ids, X.astype(np.float32))


def write_parquet_layer(path, ids, X: sp.csr_matrix, prompt_column: str = "prompt_id") -> None:
    """Write one layer in the sparse long Parquet form (atomically)."""
    X = sp.csr_matrix(X)
    X.eliminate_zeros()
    counts = np.diff(X.indptr)
    ids = np.asarray(ids)
    empty = np.flatnonzero(counts == 0)
    rows = np.concatenate([np.repeat(np.arange(X.shape[0]), counts), empty])
    neuron = pa.array(np.concatenate([X.indices.astype(np.int64), np.zeros(len(empty), np.int64)]),
                      mask=np.r_[np.zeros(X.nnz, bool), np.ones(len(empty), bool)])
    table = pa.table({prompt_column: pa.array(ids[rows]), "neuron": neuron,
                      "value": np.concatenate([X.data, np.zeros(len(empty))]).astype(np.float32)})
    table = table.replace_schema_metadata({"n_neurons": str(X.shape[1])})
    write_parquet(table, path)


def read_layers(path: str, prompt_column: str = "prompt_id") -> list[Layer]:
    layers = []
    for f in layer_files(path):
        if f.suffix.lower() == ".parquet":
            layers.append(read_parquet_layer(f, prompt_column))
        else:
            layers.append(read_torch_layer(f))
    return layers


def _id_array(ids: list) -> np.ndarray:
    if all(isinstance(i, int | np.integer) for i in ids):
        return np.asarray(ids, dtype=np.int64)
    return np.asarray([str(i) for i in ids], dtype=object)


def align(layers: list[Layer]) -> AlignedLayers:
    """Keep the prompts present in every layer, sorted by id; count what each layer loses."""
    if not layers:
        raise UserError("no activation layers")
    kinds = {lay.ids.dtype.kind == "O" for lay in layers}
    if len(kinds) > 1:  # ints in one file, strings in another: compare them as strings
        for lay in layers:
            lay.ids = lay.ids.astype(str).astype(object)
    for lay in layers:
        if len(lay.ids) == 0:
            raise UserError(f"layer {lay.name}: the layer holds no prompts")
        if len(np.unique(lay.ids)) != len(lay.ids):
            raise UserError(f"layer {lay.name}: duplicate prompt ids")
    common = layers[0].ids
    for lay in layers[1:]:
        common = np.intersect1d(common, lay.ids)
    if len(common) == 0:
        raise UserError("activation layers share no prompt ids: "
                        + ", ".join(f"{lay.name} ({len(lay.ids)} prompts)" for lay in layers))
    matrices = []
    for lay in layers:
        order = np.argsort(lay.ids)
        pos = order[np.searchsorted(lay.ids[order], common)]
        matrices.append(lay.matrix[pos])
    return AlignedLayers(
        names=[lay.name for lay in layers],
        ids=common,
        matrices=matrices,
        n_all={lay.name: len(lay.ids) for lay in layers},
        removed={lay.name: len(lay.ids) - len(common) for lay in layers},
    )
