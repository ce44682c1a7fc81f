"""A fitted projection: weights, intercept and axis names, saved as `projection.npz`."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from engine.errors import UserError
from engine.io.write import write_npz


@dataclass
class LinearMap:
    """prediction = x @ weights + intercept, one column per axis."""

    weights: np.ndarray  # (d, k) float64
    intercept: np.ndarray  # (k,) float64
    axes: list[str]
    method: str
    alpha: np.ndarray = field(default=None)  # (k,) ridge penalty per axis, NaN otherwise
    heldout_r: np.ndarray = field(default=None)  # (k,) held-out Pearson r, NaN if unknown

    def __post_init__(self) -> None:
        self.weights = np.asarray(self.weights, np.float64).reshape(-1, len(self.axes))
        self.intercept = np.asarray(self.intercept, np.float64).reshape(len(self.axes))
        nan = np.full(len(self.axes), np.nan)
        self.alpha = nan if self.alpha is None else np.asarray(self.alpha, np.float64)
        self.heldout_r = nan if self.heldout_r is None else np.asarray(self.heldout_r, float)

    @property
    def dim(self) -> int:
        return self.weights.shape[0]

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Float64 predictions (for fitting and evaluation; the apply stage uses float32)."""
        return np.asarray(x, np.float64) @ self.weights + self.intercept

    def save(self, path: str | Path) -> Path:
        return write_npz(path, weights=self.weights, intercept=self.intercept,
                         axes=np.array(self.axes, dtype=str), method=np.array(self.method),
                         alpha=self.alpha, heldout_r=self.heldout_r)

    @classmethod
    def load(cls, path: str | Path) -> LinearMap:
        path = Path(path)
        if not path.exists():
            raise UserError(f"job.projection_file={path}: no such file")
        try:
            with np.load(path, allow_pickle=False) as z:
                missing = {"weights", "intercept", "axes", "method"} - set(z.files)
                if missing:
                    raise UserError(f"{path}: not a projection file (missing "
                                    f"{', '.join(sorted(missing))})")
                return cls(z["weights"], z["intercept"], [str(a) for a in z["axes"]],
                           str(z["method"]), z["alpha"] if "alpha" in z.files else None,
                           z["heldout_r"] if "heldout_r" in z.files else None)
        except (OSError, ValueError) as exc:
            raise UserError(f"{path}: cannot read projection file: {exc}") from None
