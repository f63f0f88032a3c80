"""Benchmark: CPU pretraining throughput and model-FLOPs utilisation, Hagane against the loop a user would
write over transformers' LlamaForCausalLM, and against the machine's fp32 matmul peak, in one run.

Measurements, one after the other, each in its own process:

1. peak         fp32 matmul FLOP/s with 2 threads (hagane.pretrain.flops.measure_matmul_peak, 3 s), at the
                start and again at the end; the larger is the limit every MFU below is taken against.
2. Hagane       `hagane pretrain train` (the stage itself: torchrun when 2 ranks, tcmalloc preloaded,
                fused AdamW, checkpoints at the end) for the `debug` and `small` presets, 1 rank × 2
                threads, and for `small` also 2 ranks × 1 thread (gloo DDP).
3. bound        the matrix products of one Hagane training step alone (`gemm_bound`): the ceiling of
                tokens/s and MFU with this torch's kernels, whatever the trainer does around them.
4. transformers LlamaForCausalLM of the same shape (tied embeddings, SDPA attention), the same batch and
                sequence length, fp32, torch.optim.AdamW(fused=True), a plain loop: forward with labels,
                backward, clip, step, zero_grad. Run as a user would (glibc malloc), and again with
                tcmalloc preloaded, to show what the allocator alone is worth.

All runs train on the same synthetic token shards (uniform random ids over a 32,000-piece vocabulary:
throughput does not depend on the text). Tokens per second count batch × seq_len per step and leave out
the first `--warmup` steps. MFU uses hagane/pretrain/flops.py's formula: `mfu` all matmul FLOPs (blocks,
attention and the output head), `mfu_nonembedding` without the output head (nanoGPT's N).

    .venv/bin/python benchmarks/pretrain_cpu.py                 # about 20 minutes on 2 cores
    .venv/bin/python benchmarks/pretrain_cpu.py --rounds 1      # each row once

Writes benchmarks/pretrain_cpu.results.{json,md}. Run it while nothing else is busy: every row records
the CPU other processes used meanwhile (cores, from /proc/stat).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from importlib.metadata import version
from pathlib import Path

from common import ROOT, Watch, git_revision, load_average, machine

RESULTS_JSON = Path(__file__).with_name("pretrain_cpu.results.json")
RESULTS_MD = Path(__file__).with_name("pretrain_cpu.results.md")
VOCAB = 32000
TCMALLOC = "/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4"


def model_args(preset: str, seq_len: int):
    from hagane.config import ModelConfig, build, resolve_model
    from hagane.pretrain.model import ModelArgs

    return ModelArgs.from_config(build(ModelConfig, resolve_model({"preset": preset}), "model"),
                                 vocab_size=VOCAB, max_seq_len=seq_len)


def make_shards(folder: Path, tokens: int) -> tuple[Path, Path]:
    import numpy as np

    from hagane.tokenize.shards import write_token_shard

    rng = np.random.default_rng(0)
    docs = [(f"synthetic-{i}", rng.integers(3, VOCAB, 4094).tolist(), "") for i in range(tokens // 4096 + 1)]
    write_token_shard(folder / "train", docs, vocab_size=VOCAB, bos_id=1, eos_id=2)
    tokenizer = folder / "tokenizer.txt"  # hashed into the run's fingerprint only
    tokenizer.write_text("synthetic token ids, no tokenizer\n")
    return folder / "train", tokenizer


# ---------------------------------------------------------------------------------------------- peer

def peer_model(preset: str, seq_len: int):
    """transformers' LlamaForCausalLM of the preset's shape (fp32 weights, SDPA) and a fused AdamW: what a user
    would write. Shared with pretrain_gpu.py, which moves it to the GPU."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    a = model_args(preset, seq_len)
    config = LlamaConfig(vocab_size=VOCAB, hidden_size=a.dim, intermediate_size=a.ffn_dim,
                         num_hidden_layers=a.n_layers, num_attention_heads=a.n_heads,
                         num_key_value_heads=a.n_kv_heads, max_position_embeddings=seq_len,
                         rms_norm_eps=a.norm_eps, tie_word_embeddings=a.tie_embeddings)
    torch.manual_seed(0)
    model = LlamaForCausalLM._from_config(config, attn_implementation="sdpa", dtype=torch.float32)
    if torch.cuda.is_available():
        model = model.cuda()
    model.train()
    return model, torch.optim.AdamW(model.parameters(), lr=3e-4, weight_decay=0.1, fused=True)


def peer_loop(preset: str, seq_len: int, batch: int, steps: int, warmup: int, shard: str, device: str = "cpu") -> dict:
    """The transformers loop; runs in a child process (`--peer`) so that threads and allocator are its own.
    On a GPU (pretrain_gpu.py) under bf16 autocast, as a user would run it there."""
    import contextlib

    import torch

    from hagane.pretrain.data import SampleStream

    cuda = device == "cuda"
    if not cuda:
        torch.set_num_threads(2)
    model, optimizer = peer_model(preset, seq_len)
    data = SampleStream([Path(shard)], seq_len, 1)
    times = []
    for step in range(steps):
        start = time.perf_counter()
        x, _ = data.batch(data.step_samples(step, batch))
        x = x.to(device)
        with torch.autocast("cuda", dtype=torch.bfloat16) if cuda else contextlib.nullcontext():
            loss = model(input_ids=x, labels=x).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if cuda:
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    timed = times[warmup:]
    if cuda:
        return {"tokens_per_s": batch * seq_len * len(timed) / sum(timed),
                "gpu_memory_gb": round(torch.cuda.max_memory_allocated() / 1e9, 2)}
    return {"tokens_per_s": batch * seq_len * len(timed) / sum(timed), "parameters": model.num_parameters()}


# ------------------------------------------------------------------------------------- matmul bound

def gemm_bound(preset: str, seq_len: int, batch: int, repeats: int = 5) -> dict:
    """The step time of the matrix products alone: every GEMM and attention kernel that one training step
    of Hagane's model runs (forward, chunked loss and backward; recorded with their shapes and strides by
    a dispatch mode) is replayed on random tensors of the same layout, back to back, nothing else between
    them. Its tokens/s is the most a trainer running these products could reach with this torch's kernels on
    this machine, so its MFU is the ceiling for the measured MFU. Runs in a child process (`--bound`), 2
    threads, tcmalloc preloaded as in Hagane's runs."""
    import torch
    from torch.utils._python_dispatch import TorchDispatchMode

    from hagane.pretrain.model import Transformer

    torch.set_num_threads(2)
    aten = torch.ops.aten
    kernels = {aten.mm.default, aten.addmm.default, aten.addmm_.default, aten.bmm.default, aten.baddbmm.default,
               aten._scaled_dot_product_flash_attention_for_cpu.default,
               aten._scaled_dot_product_flash_attention_for_cpu_backward.default}
    calls = []

    class Record(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            if func in kernels:
                calls.append((func, [(a.shape, a.stride(), a.dtype) if isinstance(a, torch.Tensor) else a for a in args],
                              kwargs or {}))
            return func(*args, **(kwargs or {}))

    torch.manual_seed(0)
    model = Transformer(model_args(preset, seq_len))
    tokens = torch.randint(3, VOCAB, (batch, seq_len + 1))
    with Record():
        model(tokens[:, :-1], tokens[:, 1:]).backward()
    if not any(func == aten._scaled_dot_product_flash_attention_for_cpu.default for func, _, _ in calls):
        raise SystemExit(f"gemm bound: no attention kernel recorded (ops: {sorted({str(f) for f, _, _ in calls})})")

    def tensor(spec):
        shape, stride, dtype = spec
        size = 1 + sum((n - 1) * st for n, st in zip(shape, stride) if n)
        return torch.randn(size, dtype=dtype).as_strided(shape, stride) if dtype.is_floating_point else \
            torch.zeros(size, dtype=dtype).as_strided(shape, stride)

    replay = [(func, [tensor(a) if isinstance(a, tuple) and len(a) == 3 and isinstance(a[2], torch.dtype) else a
                      for a in args], kwargs) for func, args, kwargs in calls]
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for func, args, kwargs in replay:
            func(*args, **kwargs)
        best = min(best, time.perf_counter() - start)
    return {"tokens_per_s": batch * seq_len / best, "kernels": len(calls), "seconds": best}


# ------------------------------------------------------------------------------------------- measure

def measure_peak() -> float:
    code = ("import torch; torch.set_num_threads(2); from hagane.pretrain.flops import measure_matmul_peak; "
            "print(measure_matmul_peak(n=1024, seconds=3.0))")
    return float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)


def measure_hagane(preset, ranks, threads, seq_len, batch, steps, warmup, shard, tokenizer, out) -> dict:
    cfg = {"model": {"preset": preset}, "seq_len": seq_len, "global_batch_size": batch, "steps": steps,
           "warmup_steps": 2, "nproc": ranks, "threads_per_rank": threads, "log_every": 1,
           "checkpoint_every": steps, "validation_every": 0, "peak_flops": 1.0}
    cmd = [sys.executable, "-m", "hagane", "pretrain", "train", "--pretrain-json", json.dumps(cfg),
           "--shards", str(shard), "--tokenizer", str(tokenizer), "--out-dir", str(out)]
    with Watch() as watch:
        proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode:
        raise SystemExit(f"hagane pretrain failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    # Each line's tokens_per_s covers its own step (log_every 1); the mean of seconds per step is the rate.
    seconds = [batch * seq_len / r["tokens_per_s"] for r in rows[warmup:]]
    return {"tokens_per_s": batch * seq_len * len(seconds) / sum(seconds), "others_cores": watch.others_cores,
            "wall_s": round(watch.wall_s, 1)}


def _child(flag: str, args: list, tcmalloc: bool, what: str) -> dict:
    """This script run again with `flag` (a row of its own: its own threads and allocator), 2 threads."""
    env = {**os.environ, "OMP_NUM_THREADS": "2"}
    env.pop("LD_PRELOAD", None)
    if tcmalloc:
        env["LD_PRELOAD"] = TCMALLOC
    cmd = [sys.executable, __file__, flag, json.dumps(args)]
    with Watch() as watch:
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=Path(__file__).parent)
    if proc.returncode:
        raise SystemExit(f"{what} failed:\n{proc.stderr[-3000:]}")
    return {**json.loads(proc.stdout.splitlines()[-1]), "others_cores": watch.others_cores,
            "wall_s": round(watch.wall_s, 1)}


def measure_peer(preset, seq_len, batch, steps, warmup, shard, tcmalloc: bool) -> dict:
    return _child("--peer", [preset, seq_len, batch, steps, warmup, str(shard)], tcmalloc, "transformers loop")


def measure_bound(preset, seq_len, batch) -> dict:
    return _child("--bound", [preset, seq_len, batch], True, "matmul bound")  # tcmalloc, as Hagane runs


def with_mfu(row: dict, preset: str, seq_len: int, peak: float) -> dict:
    from hagane.pretrain.flops import flops_per_token

    a = model_args(preset, seq_len)
    tps = row["tokens_per_s"]
    return {**row, "tokens_per_s": round(tps, 1),
            "mfu": round(tps * flops_per_token(a, seq_len) / peak, 4),
            "mfu_nonembedding": round(tps * flops_per_token(a, seq_len, include_head=False) / peak, 4)}


def markdown(result: dict) -> str:
    lines = [
        "# CPU pretraining: Hagane against a transformers loop and the matmul peak",
        "",
        f"Run {result['date']} at {result['git']} on {result['machine']['cpu_model']} "
        f"({result['machine']['cpus_usable']} usable CPUs), torch {result['versions']['torch']}, "
        f"transformers {result['versions']['transformers']}. Load average before: {result['load_before']}.",
        f"Synthetic ids over {VOCAB:,} pieces, sequence {result['seq_len']}, global batch "
        f"{result['batch']} ({result['batch'] * result['seq_len']:,} tokens per step), {result['steps']} steps of "
        f"which the first {result['warmup']} are not timed; each row {result['rounds']} times, interleaved, "
        "the best kept (all in the JSON).",
        f"fp32 matmul peak, 2 threads: {result['peak_start'] / 1e9:.1f} GFLOP/s at the start, "
        f"{result['peak_end'] / 1e9:.1f} at the end; MFU is taken against {result['peak'] / 1e9:.1f}.",
        "",
        "| preset | run | ranks × threads | tokens/s | MFU (all matmul FLOPs) | MFU (without head) | others' cores |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in result["rows"]:
        lines.append(f"| {r['preset']} | {r['run']} | {r['layout']} | {r['tokens_per_s']:,.1f} | {r['mfu']:.1%} | "
                     f"{r['mfu_nonembedding']:.1%} | {r['others_cores'] if r['others_cores'] is not None else '–'} |")
    lines += ["", "Ratios, Hagane (1 × 2) over the transformers loop as a user runs it:"]
    for preset, ratio in result["speedup"].items():
        lines.append(f"- {preset}: {ratio:.2f}×")
    lines += ["", "Hagane (1 × 2) against the matmul bound, the same step's GEMMs and attention kernels alone "
              "(replayed back to back with their shapes and strides; nothing any trainer can leave out):"]
    for preset, share in result["of_bound"].items():
        lines.append(f"- {preset}: {share:.1%} of the bound's tokens/s")
    lines += ["", "MFU formula: hagane/pretrain/flops.py (6 × matmul parameters + 12 × layers × dim × seq_len "
              "per token; embeddings' lookup not counted; `without head` also leaves out the output projection). "
              "'others' cores' is the CPU that other processes used during the row, per wall second; above 0.1 "
              "the row is suspect."]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--seq-len", type=int, default=512)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--presets", nargs="+", default=["debug", "small"])
    parser.add_argument("--rounds", type=int, default=2, help="each row this many times, interleaved; the best is kept")
    parser.add_argument("--peer", help=argparse.SUPPRESS)
    parser.add_argument("--bound", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.peer:
        print(json.dumps(peer_loop(*json.loads(args.peer))))
        return
    if args.bound:
        print(json.dumps(gemm_bound(*json.loads(args.bound))))
        return

    load_before = load_average()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        shard, tokenizer = make_shards(tmp, args.batch * args.seq_len * args.steps + args.seq_len)
        peak_start = measure_peak()
        print(f"peak {peak_start / 1e9:.1f} GFLOP/s", flush=True)
        plan = []
        for preset in args.presets:
            plan += [(preset, "Hagane", 1, 2), (preset, "transformers loop", 1, 2),
                     (preset, "transformers loop + tcmalloc", 1, 2)]
            if preset != "debug":
                plan.append((preset, "Hagane", 2, 1))
            plan.append((preset, "matmuls alone (the bound)", 1, 2))
        best: dict[tuple, dict] = {}
        for round_ in range(args.rounds):  # interleaved, so that a slow spell of the machine hits every row
            for i, (preset, run, ranks, threads) in enumerate(plan):
                common = (args.seq_len, args.batch, args.steps, args.warmup)
                if run == "Hagane":
                    row = measure_hagane(preset, ranks, threads, *common, shard, tokenizer, tmp / f"run{round_}-{i}")
                elif run.startswith("matmuls"):
                    row = measure_bound(preset, args.seq_len, args.batch)
                else:
                    row = measure_peer(preset, *common, shard, tcmalloc=run.endswith("tcmalloc"))
                row = {"preset": preset, "run": run, "layout": f"{ranks} × {threads}", **row}
                print(json.dumps(row), flush=True)
                key = (preset, run, ranks)
                runs = best.get(key, {}).get("rounds", []) + [round(row["tokens_per_s"], 1)]
                if key not in best or row["tokens_per_s"] > best[key]["tokens_per_s"]:
                    best[key] = row
                best[key]["rounds"] = runs
        rows = list(best.values())
        peak_end = measure_peak()
    peak = max(peak_start, peak_end)
    rows = [with_mfu(r, r["preset"], args.seq_len, peak) for r in rows]
    speedup, of_bound = {}, {}
    for preset in args.presets:
        ours = next(r for r in rows if r["preset"] == preset and r["run"] == "Hagane" and r["layout"] == "1 × 2")
        peer = next(r for r in rows if r["preset"] == preset and r["run"] == "transformers loop")
        speedup[preset] = round(ours["tokens_per_s"] / peer["tokens_per_s"], 3)
        bound = next(r for r in rows if r["preset"] == preset and r["run"].startswith("matmuls"))
        of_bound[preset] = round(ours["tokens_per_s"] / bound["tokens_per_s"], 4)
    result = {"date": time.strftime("%Y-%m-%d %H:%M"), "git": git_revision(), "machine": machine(),
              "versions": {p: version(p) for p in ("torch", "transformers")}, "load_before": load_before,
              "seq_len": args.seq_len, "batch": args.batch, "steps": args.steps, "warmup": args.warmup,
              "rounds": args.rounds,
              "peak_start": peak_start, "peak_end": peak_end, "peak": peak, "rows": rows, "speedup": speedup,
              "of_bound": of_bound}
    RESULTS_JSON.write_text(json.dumps(result, indent=2) + "\n")
    RESULTS_MD.write_text(markdown(result))
    print(markdown(result))


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT / "src"))
    main()
