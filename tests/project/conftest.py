"""The fits here use small matrices: one BLAS thread is faster, and steady on shared cores."""

import pytest
from threadpoolctl import threadpool_limits


@pytest.fixture(autouse=True)
def _one_blas_thread():
    with threadpool_limits(1, user_api="blas"):
        yield
