"""Jobs. Each module defines `Params` (its config schema) and
`run(params, data, ctx) -> float` (the objective), a thin adapter over array functions."""

JOBS = ("pipeline", "project", "basins", "communities", "balance", "opinion", "stream", "synth")
