"""Temporal consensus clustering ("basins"): bins, weighted bootstrap HDBSCAN consensus,
tracking, soft continuation forecasts, forward-chaining evaluation, early detection,
lifecycle events and the tuning grid. The job adapter is `engine.jobs.basins`."""
