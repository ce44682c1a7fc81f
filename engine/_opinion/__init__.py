"""Polis-style opinion clustering of a sparse vote matrix (the `opinion` job).

votes (matrix, re-votes) -> readers (Polis export, vote files) -> pca (sparsity-aware) ->
kmeans (base clusters, groups by silhouette, subgroups; starts from `carryover`: fresh or
carried from the last run) -> model (in-conversation filter, one fit or a replay with k
smoothing and reloads) -> repness (representativeness, consensus, patterns,
agreement, bridges).
"""
