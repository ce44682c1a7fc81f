"""Balance scores of user pairs (seed 000): three components, z-scored over all pairs, summed."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


def zscore(x: np.ndarray) -> np.ndarray:
    """(x - mean) / population std, as scikit-learn's StandardScaler; zero variance gives 0."""
    x = np.asarray(x, dtype=np.float64)
    if len(x) == 0:
        return x.copy()
    mean = x.mean()
    std = x.std()
    if std == 0 or not np.isfinite(std):
        return np.zeros_like(x)
    return (x - mean) / std


def components(n1: np.ndarray, n2: np.ndarray, sim: np.ndarray) -> dict[str, np.ndarray]:
    """imbalance = |ln(n1/n2)|, magnitude_factor = 1/(n1+n2), dist = 1 - sim, their z-scores
    and balance_score = the sum of the z-scores (lower is better)."""
    n1 = np.asarray(n1, dtype=np.float64)
    n2 = np.asarray(n2, dtype=np.float64)
    out = {
        "imbalance": np.abs(np.log(n1 / n2)),
        "magnitude_factor": 1.0 / (n1 + n2),
        "dist": 1.0 - np.asarray(sim, dtype=np.float64),
    }
    out["std_imbalance"] = zscore(out["imbalance"])
    out["std_magnitude"] = zscore(out["magnitude_factor"])
    out["std_dist"] = zscore(out["dist"])
    out["balance_score"] = out["std_imbalance"] + out["std_magnitude"] + out["std_dist"]
    return out


def category_stats(pairs: pa.Table) -> pa.Table:
    """Per category: mean balance score and components, and the number of pairs."""
    schema = pa.schema([("category", pairs.schema.field("category").type),
                        ("avg_balance_score", pa.float64()), ("avg_imbalance", pa.float64()),
                        ("avg_magnitude_factor", pa.float64()), ("avg_dist", pa.float64()),
                        ("count", pa.int64())])
    if pairs.num_rows == 0:
        return schema.empty_table()
    grouped = pairs.group_by("category", use_threads=False).aggregate([
        ("balance_score", "mean"), ("imbalance", "mean"), ("magnitude_factor", "mean"),
        ("dist", "mean"), ("balance_score", "count"),
    ])
    table = pa.table({
        "category": grouped["category"],
        "avg_balance_score": grouped["balance_score_mean"],
        "avg_imbalance": grouped["imbalance_mean"],
        "avg_magnitude_factor": grouped["magnitude_factor_mean"],
        "avg_dist": grouped["dist_mean"],
        "count": pc.cast(grouped["balance_score_count"], pa.int64()),
    }, schema=schema)
    return table.sort_by([("count", "descending"), ("category", "ascending")])


def top_pairs(pairs: pa.Table, k: int, exclude_category: str | None) -> pa.Table:
    """The k pairs with the lowest balance score overall, and the k lowest outside
    `exclude_category`, with a `selection` column saying which list a row belongs to."""
    order = [("balance_score", "ascending"), ("cluster_id", "ascending")]
    overall = pairs.sort_by(order).slice(0, k)
    tables = [overall.append_column("selection", pa.array(["overall"] * overall.num_rows))]
    if exclude_category:
        cat = pairs["category"]
        keep = pc.fill_null(pc.not_equal(pc.cast(cat, pa.string()), exclude_category), True)
        other = pairs.filter(keep).sort_by(order).slice(0, k)
        label = f"excluding {exclude_category}"
        tables.append(other.append_column("selection", pa.array([label] * other.num_rows)))
    return pa.concat_tables(tables)
