import pytest

from tests.basins.evidence import planted_regions as pr


@pytest.fixture(scope="session")
def metastability_runs():
    """The metastability method on the planted cases (its basins and, with them, its
    Leiden communities): shared by the two modules' tests, one run per seed."""
    return {seed: pr.evaluate(seed, ["metastability"]) for seed in pr.SEEDS}
