"""Pack jobs' memory and time (hagane.resources) grow with what they read and with every retry."""

import pytest

from hagane.resources import MB, STAGES, job_memory_mb, job_runtime_min


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_resources_grow_with_input_workers_and_attempt(stage):
    small = job_memory_mb(stage, 10 * MB, 1 * MB, 4)
    assert job_memory_mb(stage, 10 * MB, 100 * MB, 4) > small  # a larger shard per worker
    assert job_memory_mb(stage, 10 * MB, 1 * MB, 8) > small     # more workers
    assert job_memory_mb(stage, 10 * MB, 1 * MB, 4, attempt=2) == pytest.approx(2 * small, abs=1)
    quick = job_runtime_min(stage, 100 * MB, 1 * MB, 4)
    assert job_runtime_min(stage, 100_000 * MB, 1 * MB, 4) > quick
    assert job_runtime_min(stage, 100_000 * MB, 1 * MB, 48) < job_runtime_min(stage, 100_000 * MB, 1 * MB, 4)
    base = job_runtime_min(stage, 100_000 * MB, 1 * MB, 4)
    assert 4 * base - 4 <= job_runtime_min(stage, 100_000 * MB, 1 * MB, 4, attempt=3) <= 4 * base


def test_an_unknown_stage_is_named():
    with pytest.raises(ValueError, match="no resource model for stage 'sort'"):
        job_memory_mb("sort", 0, 0, 1)
