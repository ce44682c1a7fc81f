"""Communities of a kNN graph (seed 002): activation layers, features, graph, Leiden, diagnostics.

Modules: `layers` (reading and aligning activation layers), `features` (`none` and
`tfidf_sketch`), `graph` (mutual / union kNN edges), `detect` (kNN -> graph -> Leiden),
`diagnostics` (sizes, degrees, components, conductance), `prototypes` (per-layer means and top
neurons per community).
"""
