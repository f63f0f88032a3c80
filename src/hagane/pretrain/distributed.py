"""Who am I in the job? Rank, world size and local rank from whichever launcher started us.

torchrun sets RANK/WORLD_SIZE/LOCAL_RANK; srun sets SLURM_PROCID/SLURM_NTASKS/SLURM_LOCALID; Open MPI's
mpiexec sets OMPI_COMM_WORLD_*; PMIx and Fujitsu MPI set PMIX_RANK or PMI_RANK/PMI_SIZE. torchrun also
sets MASTER_ADDR and MASTER_PORT; under srun and mpiexec they are derived from the scheduler's node list
and job id (`rendezvous`), unless the job script exports them.
"""

from __future__ import annotations

import dataclasses
import os
import re
import subprocess

import torch
import torch.distributed as dist

from hagane.errors import HaganeError

_LAUNCHERS = (  # (name, rank variable, world-size variable, local-rank variable)
    ("torchrun", "RANK", "WORLD_SIZE", "LOCAL_RANK"),
    ("srun", "SLURM_PROCID", "SLURM_NTASKS", "SLURM_LOCALID"),
    ("openmpi", "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_RANK"),
    ("pmix", "PMIX_RANK", "PMI_SIZE", "MPI_LOCALRANKID"),
    ("pmi", "PMI_RANK", "PMI_SIZE", "MPI_LOCALRANKID"),
)


@dataclasses.dataclass(frozen=True)
class Topology:
    launcher: str
    rank: int
    world_size: int
    local_rank: int

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def detect_topology(env: dict[str, str] | None = None) -> Topology:
    env = dict(os.environ if env is None else env)
    for name, rank_var, size_var, local_var in _LAUNCHERS:
        # An sbatch script itself has SLURM_PROCID and SLURM_NTASKS but is no task of a step: only
        # processes started by srun (which sets SLURM_STEP_ID) are ranks.
        if name == "srun" and "SLURM_STEP_ID" not in env:
            continue
        if rank_var in env and size_var in env:
            return Topology(name, int(env[rank_var]), int(env[size_var]), int(env.get(local_var, 0)))
    return Topology("none", 0, 1, 0)


def first_slurm_host(nodelist: str) -> str:
    """The first host of a Slurm node list ("node[03-05,07],gpu1" → "node03"), expanded by scontrol where
    it is installed (it knows every form), by hand for the plain forms otherwise."""
    try:
        out = subprocess.run(["scontrol", "show", "hostnames", nodelist], capture_output=True, text=True,
                             check=True, timeout=30).stdout.split()
        if out:
            return out[0]
    except (OSError, subprocess.SubprocessError):
        pass
    m = re.match(r"([^,\[]+)(?:\[(\d+))?", nodelist)
    if not m:
        raise HaganeError(f"cannot read the Slurm node list {nodelist!r}")
    return m.group(1) + (m.group(2) or "")


def _job_port(env: dict[str, str]) -> str:
    """A port derived from the scheduler's job id (Slurm, PBS, Grid Engine, PJM), so that two jobs
    sharing a node do not collide; 29500, torch's default, outside a scheduler."""
    for var in ("SLURM_JOB_ID", "PBS_JOBID", "JOB_ID", "PJM_JOBID"):
        if m := re.match(r"\d+", env.get(var, "")):
            return str(20000 + int(m.group()) % 20000)
    return "29500"


def first_host(env: dict[str, str]) -> str | None:
    """The first node of the job, from whichever scheduler started it: Slurm's node list, PBS's
    $PBS_NODEFILE (one host per line), Grid Engine's $PE_HOSTFILE (host, slots, queue, …), PJM's
    $PJM_O_NODEINF (Fugaku's machine file, one node address per line)."""
    nodelist = env.get("SLURM_STEP_NODELIST") or env.get("SLURM_JOB_NODELIST")
    if nodelist:
        return first_slurm_host(nodelist)
    for var in ("PBS_NODEFILE", "PE_HOSTFILE", "PJM_O_NODEINF"):
        if path := env.get(var):
            try:
                with open(path, encoding="utf-8") as f:
                    line = next((line for line in f if line.strip()), "")
            except OSError as err:
                raise HaganeError(f"${var} names {path}, which cannot be read: {err.strerror}") from err
            if line.strip():
                return line.split()[0]
    return None


def rendezvous(topo: Topology, env: dict[str, str]) -> dict[str, str]:
    """MASTER_ADDR and MASTER_PORT for ranks that srun or mpiexec started: the job's first node and a
    port derived from the job id. Ranks all on one node (Open MPI says so) meet on 127.0.0.1."""
    host = first_host(env)
    world = env.get("OMPI_COMM_WORLD_SIZE")
    if host is None and world is not None and env.get("OMPI_COMM_WORLD_LOCAL_SIZE") == world:
        host = "127.0.0.1"
    if host is None:
        raise HaganeError(f"under {topo.launcher}, the first node of the job is unknown: no Slurm node list, "
                          "$PBS_NODEFILE, $PE_HOSTFILE or $PJM_O_NODEINF; export MASTER_ADDR and MASTER_PORT in the job script")
    return {"MASTER_ADDR": host, "MASTER_PORT": _job_port(env)}


def choose_backend(requested: str = "auto") -> str:
    if requested == "mpi" and not dist.is_mpi_available():
        raise HaganeError("backend 'mpi' requested but this torch build has no MPI support "
                          "(PyPI's builds have none); use 'gloo', or a site torch built with MPI")
    if requested != "auto":
        return requested
    return "nccl" if torch.cuda.is_available() else "gloo"


def init_distributed(topo: Topology, backend: str, *, single_rank_group: bool = False) -> None:
    """Join the process group with a backend chosen by `choose_backend` when there is more than one rank.
    A lone rank gets a group of one only if asked (`single_rank_group`: FSDP2 on one GPU, which keeps its
    mixed-precision policy and sharded checkpoints the same as on many), met in an in-process store."""
    if topo.world_size == 1:
        if single_rank_group:
            dist.init_process_group(backend=backend, store=dist.HashStore(), rank=0, world_size=1)
        return
    # srun and mpiexec set rank variables but not torch's: map them for init_method="env://".
    os.environ.setdefault("RANK", str(topo.rank))
    os.environ.setdefault("WORLD_SIZE", str(topo.world_size))
    os.environ.setdefault("LOCAL_RANK", str(topo.local_rank))
    if topo.launcher != "torchrun" and not ("MASTER_ADDR" in os.environ and "MASTER_PORT" in os.environ):
        for var, value in rendezvous(topo, dict(os.environ)).items():
            os.environ.setdefault(var, value)
    for var in ("MASTER_ADDR", "MASTER_PORT"):
        if var not in os.environ:
            raise HaganeError(f"{var} is not set: under {topo.launcher}, the job script must export "
                              "MASTER_ADDR (first node) and MASTER_PORT")
    dist.init_process_group(backend=backend)
