"""Embedding engine: batch analytics over text embeddings on CPU or GPU."""

__version__ = "0.1.0"
