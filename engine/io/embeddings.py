"""Streaming reader for embedding tables in every input form of the spec.

Forms (chosen by file suffix and schema):
- Parquet / Arrow IPC / Feather with an embedding column (fixed_size_list or list of floats);
- CSV or Parquet with one column per dimension, `e0..e{d-1}`;
- `.npy` (memory-mapped) with a sidecar table (`<stem>.parquet|.feather|.csv`) for the
  other columns; without one, ids are row numbers.

Rows come in batches of `batch_rows`, so peak memory depends on the batch size, not on N.
Fixed-size lists are read zero-copy where Arrow allows. Invalid rows (NaN/inf, missing or
wrong-length vectors) raise a UserError naming the file and the first bad ids, or are dropped
and counted with `drop_invalid=True`.
"""

from __future__ import annotations

import glob
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.feather as feather
import pyarrow.ipc as ipc
import pyarrow.parquet as pq

from engine.errors import UserError
from engine.io.read_ahead import read_ahead

TABLE_SUFFIXES = {".parquet", ".pq", ".arrow", ".feather", ".ipc", ".csv"}
EMBED_SUFFIXES = TABLE_SUFFIXES | {".npy"}
WIDE = re.compile(r"^e(\d+)$")


@dataclass
class Batch:
    """Rows of one batch: metadata columns (id first) and the embedding matrix."""

    table: pa.Table
    embeddings: np.ndarray

    def __len__(self) -> int:
        return self.table.num_rows


def expand_paths(path: str | Path, suffixes: set[str] = EMBED_SUFFIXES) -> list[Path]:
    """A file, a directory (its data files, sorted) or a glob -> files, or a UserError."""
    p = Path(str(path)).expanduser()
    if p.is_dir():
        files = sorted(f for f in p.iterdir() if f.suffix.lower() in suffixes and f.is_file())
        # A .npy's sidecar table is not an input of its own.
        stems = {f.stem for f in files if f.suffix == ".npy"}
        files = [f for f in files if f.suffix == ".npy" or f.stem not in stems]
    elif any(ch in str(path) for ch in "*?["):
        files = sorted(Path(f) for f in glob.glob(str(p)) if Path(f).suffix.lower() in suffixes)
    elif p.exists():
        files = [p]
    else:
        raise UserError(f"{path}: no such file or directory")
    if not files:
        raise UserError(f"{path}: no input files ({', '.join(sorted(suffixes))})")
    for f in files:
        if f.suffix.lower() not in suffixes:
            raise UserError(f"{f}: unsupported file type {f.suffix!r}")
    return files


def sidecar_of(npy: Path) -> Path | None:
    for suffix in (".parquet", ".feather", ".arrow", ".csv"):
        candidate = npy.with_suffix(suffix)
        if candidate.exists():
            return candidate
    return None


def duplicate_ids(ids) -> tuple[object, int, int] | None:
    """(the first id that repeats, its number of rows, rows beyond the first of every id), or
    None when the ids are unique."""
    import pyarrow.compute as pc

    counts = pc.value_counts(ids)  # in order of first appearance
    n = counts.field("counts").to_numpy()
    repeated = np.flatnonzero(n > 1)
    if not len(repeated):
        return None
    i = int(repeated[0])
    return counts.field("values")[i].as_py(), int(n[i]), int((n[repeated] - 1).sum())


def check_csv_text(schema: pa.Schema, path: Path) -> None:
    """pyarrow reads CSV text that is not valid UTF-8 as `binary` (a CSV has no binary type of
    its own): refuse it rather than carry bytes on as if they were text."""
    for f in schema:
        if pa.types.is_binary(f.type) or pa.types.is_large_binary(f.type):
            raise UserError(f"{path}: column {f.name!r} is not UTF-8 text (save the file as "
                            "UTF-8)")


def _open_table_batches(path: Path, columns: list[str] | None, batch_rows: int):
    """Iterate RecordBatches of a table file (Parquet, IPC/Feather, CSV)."""
    suffix = path.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            # pre_buffer=False: with pre-buffering, the reader keeps the column chunks of the
            # row groups already read, so memory grows with the file (~0.9 GB per 1M x 768
            # float16 rows); without it, it stays at a few row groups.
            # Decoded in a thread of its own, a batch ahead: Parquet decoding is the longest
            # serial chain of a streamed job (the project job's apply stage), and it then
            # never waits for the caller's conversion, validation or compute.
            pf = pq.ParquetFile(path, pre_buffer=False)
            yield from read_ahead(pf.iter_batches(batch_size=batch_rows, columns=columns),
                                  depth=1)
        elif suffix in (".arrow", ".feather", ".ipc"):
            table = feather.read_table(path, columns=columns, memory_map=True)
            yield from table.to_batches(max_chunksize=batch_rows)
        elif suffix == ".csv":
            opts = pacsv.ReadOptions(block_size=1 << 24)
            conv = pacsv.ConvertOptions(include_columns=columns)
            with pacsv.open_csv(path, read_options=opts, convert_options=conv) as reader:
                check_csv_text(reader.schema, path)
                for rb in reader:
                    for start in range(0, rb.num_rows, batch_rows):
                        yield rb.slice(start, batch_rows)
    except (pa.ArrowInvalid, OSError) as exc:
        raise UserError(f"{path}: cannot read: {str(exc).splitlines()[0]}") from None


def read_schema(path: Path) -> pa.Schema:
    suffix = path.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            return pq.read_schema(path)
        if suffix in (".arrow", ".feather", ".ipc"):
            with pa.memory_map(str(path)) as source:
                try:
                    return ipc.open_file(source).schema
                except pa.ArrowInvalid:
                    return feather.read_table(path).schema
        if suffix == ".csv":
            with pacsv.open_csv(path, read_options=pacsv.ReadOptions(block_size=1 << 20)) as r:
                check_csv_text(r.schema, path)
                return r.schema
    except (pa.ArrowInvalid, OSError) as exc:
        raise UserError(f"{path}: cannot read: {str(exc).splitlines()[0]}") from None
    raise UserError(f"{path}: unsupported file type {suffix!r}")


def count_rows(path: Path) -> int:
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        return pq.ParquetFile(path).metadata.num_rows
    if suffix == ".npy":
        return int(np.load(path, mmap_mode="r").shape[0])
    return sum(b.num_rows for b in _open_table_batches(path, None, 1 << 20))


@dataclass
class EmbeddingFiles:
    """Embedding input from one or more files, read in row batches.

    `dtype=None` keeps the stored float type (float16 stays float16); otherwise rows are cast.
    """

    path: str | Path
    id_column: str = "id"
    embedding_column: str = "embedding"
    batch_rows: int = 65536
    drop_invalid: bool = False
    dtype: np.dtype | type | None = np.float32
    files: list[Path] = field(init=False)
    dim: int = field(init=False)
    dropped: int = field(init=False, default=0)  # invalid rows dropped by the latest pass

    def __post_init__(self) -> None:
        self.files = expand_paths(self.path)
        dims = [(f, self._layout(f)[1]) for f in self.files]
        first_file, self.dim = dims[0]
        for f, d in dims[1:]:
            if d != self.dim:
                raise UserError(
                    f"{f}: embeddings have dimension {d}, but {first_file} has {self.dim}"
                )

    # -- layout ---------------------------------------------------------------------------
    def _layout(self, f: Path) -> tuple[str, int]:
        """("npy" | "list" | "wide", dimension) of one file."""
        if f.suffix == ".npy":
            arr = np.load(f, mmap_mode="r")
            if arr.ndim != 2:
                raise UserError(f"{f}: expected a 2-D array (rows x dims), got shape {arr.shape}")
            return "npy", int(arr.shape[1])
        schema = read_schema(f)
        if self.embedding_column in schema.names:
            t = schema.field(self.embedding_column).type
            if pa.types.is_fixed_size_list(t):
                return "list", t.list_size
            if pa.types.is_list(t) or pa.types.is_large_list(t):
                first = next(_open_table_batches(f, [self.embedding_column], 1), None)
                if first is None or first.num_rows == 0:
                    raise UserError(f"{f}: no rows")
                lengths = first.column(0).value_lengths()
                return "list", int(lengths[0].as_py() or 0)
            raise UserError(
                f"{f}: column {self.embedding_column!r} has type {t}, expected a list of floats"
            )
        wide = sorted(int(m.group(1)) for n in schema.names if (m := WIDE.match(n)))
        if wide:
            if wide != list(range(len(wide))):
                raise UserError(f"{f}: embedding columns e0..e{len(wide) - 1} are not contiguous")
            return "wide", len(wide)
        raise UserError(
            f"{f}: no column {self.embedding_column!r} and no e0..e<d-1> columns "
            f"(set data.embedding_column)"
        )

    def metadata_columns(self) -> list[str]:
        """Non-embedding columns available in the first file (id first)."""
        f = self.files[0]
        if f.suffix == ".npy":
            side = sidecar_of(f)
            names = read_schema(side).names if side else []
        else:
            names = read_schema(f).names
        names = [n for n in names if n != self.embedding_column and not WIDE.match(n)]
        if self.id_column in names:
            names.remove(self.id_column)
        return [self.id_column, *names]

    @property
    def n_rows(self) -> int:
        return sum(count_rows(f) for f in self.files)

    # -- reading --------------------------------------------------------------------------
    def batches(self, columns: list[str] | None = None) -> Iterator[Batch]:
        """Yield batches; `columns` are the metadata columns wanted (id is always included)."""
        self.dropped = 0  # per pass: a job that reads twice must not count a row twice
        offset = 0
        for f in self.files:
            for batch in self._file_batches(f, columns, offset):
                offset += len(batch)
                batch = self._validate(f, batch)
                if len(batch):
                    yield batch

    def read(self, columns: list[str] | None = None) -> Batch:
        parts = list(self.batches(columns))
        if not parts:
            raise UserError(f"{self.path}: no valid rows")
        return Batch(
            pa.concat_tables([p.table for p in parts]),
            np.concatenate([p.embeddings for p in parts]),
        )

    def _wanted(self, f: Path, names: list[str], columns: list[str] | None) -> list[str]:
        if columns is None:
            return [n for n in names if n != self.embedding_column and not WIDE.match(n)]
        missing = [c for c in columns if c != self.id_column and c not in names]
        if missing:
            raise UserError(f"{f}: missing column {missing[0]!r}")
        return [c for c in columns if c != self.id_column]

    def _file_batches(self, f: Path, columns: list[str] | None, offset: int) -> Iterator[Batch]:
        layout, dim = self._layout(f)
        if layout == "npy":
            yield from self._npy_batches(f, columns, offset)
            return
        names = read_schema(f).names
        has_id = self.id_column in names
        meta = self._wanted(f, [n for n in names if n != self.id_column], columns)
        emb_cols = [self.embedding_column] if layout == "list" else [f"e{i}" for i in range(dim)]
        read_cols = ([self.id_column] if has_id else []) + meta + emb_cols
        start = offset
        for rb in _open_table_batches(f, read_cols, self.batch_rows):
            n = rb.num_rows
            ids = rb.column(self.id_column) if has_id else pa.array(np.arange(start, start + n))
            table = pa.Table.from_arrays(
                [ids] + [rb.column(c) for c in meta], names=[self.id_column, *meta]
            )
            if layout == "list":
                emb = list_to_numpy(rb.column(self.embedding_column), self.dim, f, ids)
            else:
                emb = np.column_stack(
                    [rb.column(c).to_numpy(zero_copy_only=False) for c in emb_cols]
                )
            start += n
            yield Batch(table, self._cast(emb))

    def _npy_batches(self, f: Path, columns: list[str] | None, offset: int) -> Iterator[Batch]:
        arr = np.load(f, mmap_mode="r")
        side = sidecar_of(f)
        side_batches = None
        if side is not None:
            side_names = read_schema(side).names
            side_cols = ([self.id_column] if self.id_column in side_names else []) + self._wanted(
                side, [n for n in side_names if n != self.id_column], columns
            )
            if count_rows(side) != arr.shape[0]:
                raise UserError(
                    f"{side}: {count_rows(side)} rows, but {f} has {arr.shape[0]} embeddings"
                )
            side_batches = _rebatch(_open_table_batches(side, side_cols, self.batch_rows),
                                    self.batch_rows)
        elif columns and any(c != self.id_column for c in columns):
            raise UserError(f"{f}: no sidecar table (.parquet/.feather/.csv) for columns {columns}")
        for start in range(0, arr.shape[0], self.batch_rows):
            emb = np.asarray(arr[start : start + self.batch_rows])
            n = emb.shape[0]
            if side_batches is not None:
                table = next(side_batches)
                if self.id_column not in table.column_names:
                    ids = pa.array(np.arange(offset + start, offset + start + n))
                    table = table.add_column(0, self.id_column, ids)
            else:
                ids = pa.array(np.arange(offset + start, offset + start + n))
                table = pa.table({self.id_column: ids})
            yield Batch(table, self._cast(emb))

    def _cast(self, emb: np.ndarray) -> np.ndarray:
        if not np.issubdtype(emb.dtype, np.floating):
            emb = emb.astype(np.float32)
        if self.dtype is not None and emb.dtype != self.dtype:
            emb = emb.astype(self.dtype)
        return emb

    def _validate(self, f: Path, batch: Batch) -> Batch:
        batch, dropped = validate_rows(batch, f, self.id_column, self.drop_invalid)
        self.dropped += dropped
        return batch


def validate_rows(batch: Batch, where: str | Path, id_column: str, drop_invalid: bool
                  ) -> tuple[Batch, int]:
    """(the batch without rows whose embedding has NaN/inf, how many were dropped); such rows
    are an error naming the first ids unless `drop_invalid`."""
    emb = batch.embeddings
    bad = nonfinite_rows(emb)
    if not bad.any():
        return batch, 0
    if not drop_invalid:
        ids = batch.table.column(id_column).to_pylist()
        first = [ids[i] for i in np.flatnonzero(bad)[:5]]
        raise UserError(
            f"{where}: {int(bad.sum())} rows with NaN/inf or missing embeddings in a batch, "
            f"first ids {first} (set data.drop_invalid=true to drop them)"
        )
    keep = np.flatnonzero(~bad)
    return Batch(batch.table.take(pa.array(keep)), emb[keep]), int(bad.sum())


def nonfinite_rows(emb: np.ndarray) -> np.ndarray:
    """(n,) bool: rows holding a NaN or an infinity. float16 is tested on its bits (all five
    exponent bits set): NumPy's isfinite widens every half float first, 3x slower, and this
    test runs on every row the jobs read."""
    if emb.dtype == np.float16 and emb.flags.c_contiguous:
        return ((emb.view(np.uint16) & 0x7C00) == 0x7C00).any(axis=1)
    return ~np.isfinite(emb).all(axis=1)


def _rebatch(batches, size: int) -> Iterator[pa.Table]:
    """Re-cut a stream of record batches into tables of exactly `size` rows (last may be short)."""
    pending: list[pa.RecordBatch] = []
    have = 0
    for rb in batches:
        pending.append(rb)
        have += rb.num_rows
        while have >= size:
            t = pa.Table.from_batches(pending)
            yield t.slice(0, size)
            rest = t.slice(size)
            pending = rest.to_batches()
            have = rest.num_rows
    if have:
        yield pa.Table.from_batches(pending)


def list_to_numpy(col: pa.Array, dim: int, f: Path | str, ids) -> np.ndarray:
    """(Fixed-size) list column -> (n, dim) array; zero-copy for null-free fixed-size lists.

    Missing vectors become NaN rows (rejected or dropped by validation); a vector of the wrong
    length is an error naming its id.
    """
    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks()
    n = len(col)
    if pa.types.is_fixed_size_list(col.type):
        if col.type.list_size != dim:
            raise UserError(f"{f}: embeddings have dimension {col.type.list_size}, expected {dim}")
        if col.null_count == 0:
            values = col.flatten()
            if values.null_count == 0:
                return values.to_numpy(zero_copy_only=False).reshape(n, dim)
    lengths = col.value_lengths().fill_null(dim).to_numpy(zero_copy_only=False)
    wrong = np.flatnonzero(lengths != dim)
    if len(wrong):
        i = int(wrong[0])
        raise UserError(
            f"{f}: embedding of id {ids[i].as_py()!r} has length {lengths[i]}, expected {dim}"
        )
    out = np.full((n, dim), np.nan, dtype=_value_dtype(col.type))
    valid = ~col.is_null().to_numpy(zero_copy_only=False)
    if valid.any():
        values = col.filter(pa.array(valid)).flatten()
        out[valid] = values.to_numpy(zero_copy_only=False).astype(out.dtype).reshape(-1, dim)
    return out


def _value_dtype(t: pa.DataType) -> np.dtype:
    vt = t.value_type
    if pa.types.is_float16(vt):
        return np.dtype(np.float16)
    if pa.types.is_float64(vt):
        return np.dtype(np.float64)
    return np.dtype(np.float32)


def embedding_array(matrix: np.ndarray) -> pa.FixedSizeListArray:
    """(n, d) array -> Arrow fixed_size_list column (zero-copy for contiguous input)."""
    matrix = np.ascontiguousarray(matrix)
    return pa.FixedSizeListArray.from_arrays(pa.array(matrix.reshape(-1)), matrix.shape[1])
