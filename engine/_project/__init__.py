"""Regression projection of embeddings onto rated axes (the `project` job's algorithms).

- `ratings`: read a ratings table and join it to the embeddings by id;
- `split`: seeded train/test split and k-fold folds;
- `linear`: OLS and ridge (alpha by k-fold CV) from one SVD per training matrix;
- `cca`: canonical correlation analysis with scikit-learn's conventions;
- `metrics`: held-out Pearson r and R^2;
- `linear_map`: the fitted map (weights, intercept, axes) and its `.npz` form;
- `apply` / `apply_gpu`: streaming projection of every row (CPU kernel / CuPy pipeline).
"""
