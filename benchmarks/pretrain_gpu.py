"""Benchmark: pretraining on one NVIDIA GPU. Hagane's stage itself (`hagane pretrain train`: bf16 through
FSDP2's mixed-precision policy on a process group of one rank, NCCL, torch.compile per block, the fused
linear cross-entropy, a DCP checkpoint at the end) for the `125m` and `1b` presets, against the GPU's
data-sheet bf16 peak and its measured bf16 matmul peak; the loop a user would write over transformers'
LlamaForCausalLM (bf16 autocast, SDPA attention, fused AdamW) as the peer; and a check that a run killed
with SIGKILL resumes on CUDA with the same per-step losses.

    python3 benchmarks/pretrain_gpu.py --out DIR        # about 6 minutes on an H200

Needs a CUDA GPU, which CI and the development machines lack: the figures in pretrain_gpu.results.{json,md}
come from a GPU machine lent to a development session, and name the card. Rows run one after the other, each
in its own process with a time limit; a row that fails is recorded as failed and the rest still run.
Synthetic token ids (throughput does not depend on the text); tokens per second leave out the first
`warmup` steps (torch.compile compiles in the first). MFU: hagane/pretrain/flops.py's formula.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from importlib.metadata import version
from pathlib import Path

from pretrain_cpu import VOCAB, make_shards, model_args, peer_loop

HERE = Path(__file__).parent
# (preset, run, model overrides, deterministic, seq_len, global batch, micro batch, steps, warmup)
PLAN = [
    ("125m", "Hagane", {}, True, 2048, 32, 32, 14, 4),
    ("1b", "Hagane", {"activation_checkpointing": False}, True, 2048, 32, 8, 10, 3),
    ("125m", "Hagane", {}, False, 2048, 32, 32, 14, 4),
    ("1b", "Hagane", {"activation_checkpointing": False}, False, 2048, 32, 8, 10, 3),
    ("125m", "transformers loop", {}, False, 2048, 32, 32, 14, 4),
    ("1b", "Hagane", {}, True, 2048, 32, 16, 8, 3),  # the preset as is: activation checkpointing on, for 80 GB cards
]
ROW_TIMEOUT = 240


def bf16_matmul_peak(n: int = 8192, reps: int = 20) -> float:
    """The median rate of n×n×n bf16 products on random data, timed with CUDA events."""
    import torch

    a, b = (torch.randn(n, n, device="cuda", dtype=torch.bfloat16) for _ in range(2))
    for _ in range(3):
        a @ b
    times = []
    for _ in range(reps):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        a @ b
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end) / 1e3)
    return 2 * n**3 / sorted(times)[len(times) // 2]


def hagane_config(preset, overrides, deterministic, seq_len, batch, micro, steps) -> dict:
    return {"model": {"preset": preset, **overrides}, "seq_len": seq_len, "global_batch_size": batch,
            "micro_batch_size": micro, "steps": steps, "warmup_steps": 2, "nproc": 1, "threads_per_rank": 8,
            "log_every": 1, "checkpoint_every": steps, "validation_every": 0, "parallelism": "fsdp",
            "precision": "bf16", "compile": True, "deterministic": deterministic}


def train_command(cfg: dict, shard: Path, tokenizer: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "hagane", "pretrain", "train", "--pretrain-json", json.dumps(cfg),
            "--shards", str(shard), "--tokenizer", str(tokenizer), "--out-dir", str(out)]


def read_metrics(out: Path) -> list[dict]:
    """The complete lines of a run's metrics.jsonl (the run may be writing the next one)."""
    path = out / "metrics.jsonl"
    text = path.read_text() if path.exists() else ""
    return [json.loads(line) for line in text.split("\n")[:-1]]


def measure_hagane(preset, overrides, deterministic, seq_len, batch, micro, steps, warmup, shard, tokenizer, out) -> dict:
    start = time.perf_counter()
    proc = subprocess.run(train_command(hagane_config(preset, overrides, deterministic, seq_len, batch, micro, steps), shard,
                                        tokenizer, out), capture_output=True, text=True, timeout=ROW_TIMEOUT)
    if proc.returncode:
        raise RuntimeError(f"hagane pretrain failed:\n{proc.stdout[-1500:]}\n{proc.stderr[-3000:]}")
    rows = read_metrics(out)
    seconds = [batch * seq_len / r["tokens_per_s"] for r in rows[warmup:]]
    return {"tokens_per_s": batch * seq_len * len(seconds) / sum(seconds),
            "gpu_memory_gb": rows[-1].get("gpu_memory_gb"), "first_step_s": round(batch * seq_len / rows[0]["tokens_per_s"], 1),
            "losses": [round(r["loss"], 4) for r in rows], "wall_s": round(time.perf_counter() - start, 1),
            "log": proc.stdout.splitlines()[0] if proc.stdout else ""}


def measure_peer(preset, seq_len, batch, steps, warmup, shard) -> dict:
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, __file__, "--peer", json.dumps([preset, seq_len, batch, steps, warmup, str(shard)])],
                          capture_output=True, text=True, timeout=ROW_TIMEOUT, cwd=HERE)
    if proc.returncode:
        raise RuntimeError(f"transformers loop failed:\n{proc.stderr[-3000:]}")
    return {**json.loads(proc.stdout.splitlines()[-1]), "wall_s": round(time.perf_counter() - start, 1)}


def resume_check(shard: Path, tokenizer: Path, out: Path) -> dict:
    """125m as a user runs it on a GPU (compiled, deterministic by default): an uninterrupted run, and one
    killed with SIGKILL after step 6 and run again (it resumes from step 4). Are the per-step losses the
    same, bit for bit?"""
    cfg = {**hagane_config("125m", {}, True, 1024, 8, 8, 12), "checkpoint_every": 4}
    reference = subprocess.run(train_command(cfg, shard, tokenizer, out / "reference"), capture_output=True,
                               text=True, timeout=ROW_TIMEOUT)
    if reference.returncode:
        raise RuntimeError(f"reference run failed:\n{reference.stderr[-3000:]}")
    killed = out / "killed"
    proc = subprocess.Popen(train_command(cfg, shard, tokenizer, killed), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + ROW_TIMEOUT
    while time.monotonic() < deadline and len(read_metrics(killed)) < 6 and proc.poll() is None:
        time.sleep(0.01)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    killed_after = len(read_metrics(killed))
    again = subprocess.run(train_command(cfg, shard, tokenizer, killed), capture_output=True, text=True,
                           timeout=ROW_TIMEOUT)
    if again.returncode:
        raise RuntimeError(f"resumed run failed:\n{again.stderr[-3000:]}")
    ref, res = [m["loss"] for m in read_metrics(out / "reference")], [m["loss"] for m in read_metrics(killed)]
    return {"killed_after_step": killed_after, "resumed": "resuming from" in again.stdout,
            "identical": ref == res, "max_abs_difference": max(abs(a - b) for a, b in zip(ref, res, strict=True)),
            "losses_reference": ref, "losses_resumed": res}


def with_mfu(row: dict, peak_measured: float, peak_datasheet: float | None) -> dict:
    from hagane.pretrain.flops import flops_per_token

    a = model_args(row["preset"], row["seq_len"])
    tps = row["tokens_per_s"]
    fpt, fpt_nonemb = flops_per_token(a, row["seq_len"]), flops_per_token(a, row["seq_len"], include_head=False)
    return {**row, "tokens_per_s": round(tps), "model_tflops": round(tps * fpt / 1e12, 1),
            "mfu_datasheet": round(tps * fpt / peak_datasheet, 4) if peak_datasheet else None,
            "mfu_measured_peak": round(tps * fpt / peak_measured, 4),
            "mfu_nonembedding_datasheet": round(tps * fpt_nonemb / peak_datasheet, 4) if peak_datasheet else None}


def markdown(result: dict) -> str:
    pct = lambda x: f"{x:.1%}" if x is not None else "–"  # noqa: E731
    lines = [
        "# GPU pretraining: Hagane on one GPU against its peak and a transformers loop",
        "",
        f"Run {result['date']} at {result['git']} on {result['gpu']} (driver {result['driver']}), torch "
        f"{result['versions']['torch']}, transformers {result['versions']['transformers']}.",
        f"bf16 peak: data sheet {result['peak_datasheet'] / 1e12:.1f} TFLOP/s (dense), measured "
        f"{result['peak_measured'] / 1e12:.1f} TFLOP/s (median of 20 products 8192³ on random data).",
        f"Synthetic ids over {VOCAB:,} pieces. Hagane: FSDP2 on one rank (bf16 weights for compute, fp32 master "
        "weights and gradient reduction), torch.compile per block, NCCL. transformers: fp32 weights under bf16 "
        "autocast, SDPA, fused AdamW, no compile.",
        "",
        "| preset | run | seq × batch (micro) | act. ckpt | deterministic | tokens/s | model TFLOP/s | MFU (data sheet) | MFU (measured peak) "
        "| MFU w/o head (data sheet) | GPU memory GB |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in result["rows"]:
        if "error" in r:
            lines.append(f"| {r['preset']} | {r['run']} | {r['seq_len']} × {r['batch']} ({r['micro']}) | – | – | failed: "
                         f"{r['error'].splitlines()[0][:80]} | | | | | |")
            continue
        lines.append(f"| {r['preset']} | {r['run']} | {r['seq_len']} × {r['batch']} ({r['micro']}) | "
                     f"{'yes' if r['activation_checkpointing'] else 'no'} | {'yes' if r['deterministic'] else 'no'} | "
                     f"{r['tokens_per_s']:,} | {r['model_tflops']} | "
                     f"{pct(r['mfu_datasheet'])} | {pct(r['mfu_measured_peak'])} | "
                     f"{pct(r['mfu_nonembedding_datasheet'])} | {r.get('gpu_memory_gb') or '–'} |")
    resume = result.get("resume")
    if resume:
        lines += ["", "SIGKILL and resume on CUDA (125m, compiled, deterministic, 1024 × 8, 12 steps, checkpoints every 4): " + (
            f"killed after step {resume['killed_after_step']}, resumed: {resume['resumed']}, per-step losses "
            f"identical to the uninterrupted run: {resume['identical']} (max |Δ| {resume['max_abs_difference']:.3g})"
            if "error" not in resume else f"failed: {resume['error'].splitlines()[0]}")]
    lines += ["", "MFU formula: hagane/pretrain/flops.py (6 × matmul parameters incl. the output head + 12 × layers × "
              "dim × seq_len per token; activation checkpointing's recomputation not counted)."]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=HERE, help="where pretrain_gpu.results.{json,md} go")
    parser.add_argument("--work", type=Path, default=Path("/tmp/hagane-gpu-bench"))
    parser.add_argument("--git", default=None, help="the code version, where the tree has no .git")
    parser.add_argument("--rows", type=int, nargs="*", help="indices into PLAN (default all)")
    parser.add_argument("--peer", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.peer:
        print(json.dumps(peer_loop(*json.loads(args.peer), device="cuda")))
        return

    import torch

    from common import git_revision
    from hagane.pretrain.flops import known_peak

    if not torch.cuda.is_available():
        raise SystemExit("benchmarks/pretrain_gpu.py needs a CUDA GPU")
    device = torch.device("cuda")
    gpu = torch.cuda.get_device_name(device)
    driver = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                            capture_output=True, text=True).stdout.strip() or "unknown"
    known = known_peak(device, "bf16")
    peak_measured = bf16_matmul_peak()
    torch.cuda.empty_cache()
    print(f"{gpu}: bf16 matmul {peak_measured / 1e12:.1f} TFLOP/s measured, data sheet "
          f"{known[1] / 1e12 if known else float('nan'):.1f}", flush=True)
    args.work.mkdir(parents=True, exist_ok=True)
    need = max(batch * seq_len * steps for *_, seq_len, batch, _, steps, _ in PLAN) + 4096
    shard, tokenizer = make_shards(args.work, need)
    result = {"date": time.strftime("%Y-%m-%d %H:%M"), "git": args.git or git_revision(), "gpu": gpu, "driver": driver,
              "versions": {p: version(p) for p in ("torch", "transformers")}, "peak_measured": peak_measured,
              "peak_datasheet": known[1] if known else None, "rows": []}

    def save():
        (args.out / "pretrain_gpu.results.json").write_text(json.dumps(result, indent=2) + "\n")
        (args.out / "pretrain_gpu.results.md").write_text(markdown(result))

    try:  # first: it is short, and it checks correctness rather than speed
        result["resume"] = resume_check(shard, tokenizer, args.work / "resume")
    except (RuntimeError, subprocess.TimeoutExpired) as err:
        result["resume"] = {"error": str(err)}
    print(json.dumps({k: v for k, v in result["resume"].items() if not k.startswith("losses")}), flush=True)
    save()
    for i, (preset, run, overrides, deterministic, seq_len, batch, micro, steps, warmup) in enumerate(PLAN):
        if args.rows is not None and i not in args.rows:
            continue
        from hagane.config import ModelConfig, build, resolve_model

        model = build(ModelConfig, resolve_model({"preset": preset, **overrides}), "model")
        row = {"preset": preset, "run": run, "deterministic": deterministic and run == "Hagane", "seq_len": seq_len, "batch": batch, "micro": micro, "steps": steps,
               "warmup": warmup, "activation_checkpointing": model.activation_checkpointing and run == "Hagane"}
        try:
            if run == "Hagane":
                row.update(measure_hagane(preset, overrides, deterministic, seq_len, batch, micro, steps, warmup, shard, tokenizer,
                                          args.work / f"row{i}"))
            else:
                row.update(measure_peer(preset, seq_len, batch, steps, warmup, shard))
            row = with_mfu(row, peak_measured, result["peak_datasheet"])
        except (RuntimeError, subprocess.TimeoutExpired) as err:
            row["error"] = str(err)
        print(json.dumps({k: v for k, v in row.items() if k != "losses"}), flush=True)
        result["rows"].append(row)
        save()
    print(markdown(result))


if __name__ == "__main__":
    sys.path.insert(0, str(HERE.parent / "src"))
    main()
