import pytest

from hagane.errors import HaganeError
from hagane.pretrain.distributed import Topology, detect_topology, first_slurm_host, rendezvous


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
    assert rendezvous(SRUN, env) == {"MASTER_ADDR": "a001", "MASTER_PORT": str(20000 + 123456 % 20000)}


SRUN = Topology("srun", 0, 2, 0)
MPI = Topology("openmpi", 0, 2, 0)


def test_mpiexec_rendezvous_from_pbs_and_grid_engine_host_files(tmp_path):
    # ABCI (PBS Professional): one host per line, repeated per slot; job ids like 12345.pbs1.
    nodefile = tmp_path / "pbs_nodes"
    nodefile.write_text("a0123\na0123\na0456\n")
    assert rendezvous(MPI, {"PBS_NODEFILE": str(nodefile), "PBS_JOBID": "12345.pbs1"}) == {
        "MASTER_ADDR": "a0123", "MASTER_PORT": str(20000 + 12345)}
    # TSUBAME (Grid Engine): host, slots, queue@host, processor range.
    hostfile = tmp_path / "pe_hostfile"
    hostfile.write_text("r7n3 4 node_f.q@r7n3 UNDEFINED\nr7n4 4 node_f.q@r7n4 UNDEFINED\n")
    assert rendezvous(MPI, {"PE_HOSTFILE": str(hostfile), "JOB_ID": "987654"})["MASTER_ADDR"] == "r7n3"
    # Fugaku (PJM, Fujitsu MPI): $PJM_O_NODEINF is a machine file of node addresses.
    nodeinf = tmp_path / "nodeinf"
    nodeinf.write_text("10.1.0.17\n10.1.0.18\n")
    fugaku = Topology("pmix", 1, 2, 0)
    assert rendezvous(fugaku, {"PJM_O_NODEINF": str(nodeinf), "PJM_JOBID": "31415926"}) == {
        "MASTER_ADDR": "10.1.0.17", "MASTER_PORT": str(20000 + 31415926 % 20000)}


def test_mpiexec_on_one_node_meets_on_localhost_and_otherwise_asks(tmp_path):
    one_node = {"OMPI_COMM_WORLD_SIZE": "2", "OMPI_COMM_WORLD_LOCAL_SIZE": "2"}
    assert rendezvous(MPI, one_node) == {"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "29500"}
    with pytest.raises(HaganeError, match="export MASTER_ADDR and MASTER_PORT"):
        rendezvous(MPI, {"OMPI_COMM_WORLD_SIZE": "4", "OMPI_COMM_WORLD_LOCAL_SIZE": "2"})
    with pytest.raises(HaganeError, match=r"\$PBS_NODEFILE names .*nowhere"):
        rendezvous(MPI, {"PBS_NODEFILE": str(tmp_path / "nowhere")})
