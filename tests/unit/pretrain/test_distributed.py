import pytest

from hagane.errors import HaganeError
from hagane.pretrain.distributed import detect_topology, first_slurm_host, slurm_rendezvous


@pytest.mark.parametrize("env, expected", [
    ({"RANK": "3", "WORLD_SIZE": "8", "LOCAL_RANK": "1"}, ("torchrun", 3, 8, 1)),
    ({"SLURM_PROCID": "5", "SLURM_NTASKS": "6", "SLURM_LOCALID": "2", "SLURM_STEP_ID": "0"}, ("srun", 5, 6, 2)),
    # An sbatch script's own environment: no step, so no rank.
    ({"SLURM_PROCID": "0", "SLURM_NTASKS": "6", "SLURM_LOCALID": "0"}, ("none", 0, 1, 0)),
    ({"OMPI_COMM_WORLD_RANK": "1", "OMPI_COMM_WORLD_SIZE": "2", "OMPI_COMM_WORLD_LOCAL_RANK": "1"},
     ("openmpi", 1, 2, 1)),
    ({"PMIX_RANK": "4", "PMI_SIZE": "48"}, ("pmix", 4, 48, 0)),  # Fujitsu MPI on Fugaku
    ({"PMI_RANK": "2", "PMI_SIZE": "4", "MPI_LOCALRANKID": "0"}, ("pmi", 2, 4, 0)),
    ({}, ("none", 0, 1, 0)),
])
def test_each_launcher_is_recognised(env, expected):
    topo = detect_topology(env)
    assert (topo.launcher, topo.rank, topo.world_size, topo.local_rank) == expected


def test_srun_rendezvous_from_the_node_list_and_job_id(monkeypatch):
    assert first_slurm_host("node[03-05,07],gpu1") == "node03"
    monkeypatch.setenv("PATH", "")  # no scontrol: the plain forms are expanded by hand
    assert first_slurm_host("node[03-05,07],gpu1") == "node03" and first_slurm_host("vm") == "vm"
    env = {"SLURM_STEP_NODELIST": "a001", "SLURM_JOB_ID": "123456"}
    assert slurm_rendezvous(env) == {"MASTER_ADDR": "a001", "MASTER_PORT": str(20000 + 123456 % 20000)}
    with pytest.raises(HaganeError, match="SLURM_STEP_NODELIST"):
        slurm_rendezvous({"SLURM_JOB_ID": "1"})
