"""Online centroid clustering of a message stream (seed 004): exact sequential semantics,
computed in micro-batches; participation scores and user connections."""
