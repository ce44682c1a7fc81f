"""Seeded synthetic inputs with their ground truth kept beside them (one module per kind)."""
