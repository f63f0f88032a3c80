"""`hagane <stage> <verb>`: every stage runs without Snakemake, so it can be debugged and tested alone.

Configuration reaches a verb in one of two ways: `--config FILE` (the whole YAML; the verb takes its
sections), or one `--<section>-json` option per section it needs, which is how the workflow's rules pass
exactly the slice that Snakemake compares to decide reruns. Either way the slice is validated against
the same schema as the workflow's.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

from hagane.config import BASE_CONFIG_PATH, load_config_file, source_config, source_files, stage_config
from hagane.errors import HaganeError

DOCUMENTS = "documents.jsonl.zst"  # a document shard's file name in every stage's shard folder (DESIGN.md)


def _add_sections(parser: argparse.ArgumentParser, *sections: str) -> None:
    parser.add_argument("--config", type=Path, help="whole configuration file (YAML)")
    for s in sections:
        parser.add_argument(f"--{s}-json", dest=f"{s}_json", help=f"the `{s}` section as JSON (used by rules)")
    parser.set_defaults(_sections=sections)


def _add_funnel_inputs(parser: argparse.ArgumentParser) -> None:
    """What the corpus funnel is counted from (hagane.report.plots.funnel_counts)."""
    parser.add_argument("--collect-manifests", type=Path, nargs="+", required=True, help="each collect shard's manifest")
    parser.add_argument("--select-counts", type=Path, nargs="+", required=True, help="each shard's select counts.json")
    parser.add_argument("--dedup-counts", type=Path, required=True, help="exact dedup's counts.json")
    parser.add_argument("--near-counts", type=Path, nargs="+", required=True, help="each shard's near dedup counts.json")
    parser.add_argument("--redact-counts", type=Path, nargs="+", help="each shard's PII redaction counts.json")
    parser.add_argument("--line-dedup-counts", type=Path, nargs="+",
                        help="each shard's line dedup counts.json (when line dedup ran)")


def _load_json(raw: str, option: str):
    try:
        return json.loads(raw)
    except json.JSONDecodeError as err:
        raise HaganeError(f"{option} is not valid JSON: {err}") from err


def _sections(args) -> list:
    if args.config is not None:
        config = load_config_file(args.config)
        return [stage_config(s, config[s], origin=str(args.config)) for s in args._sections]
    out = []
    for s in args._sections:
        raw = getattr(args, f"{s}_json")
        if raw is None:
            raise HaganeError(f"give --config FILE or --{s}-json")
        data = _load_json(raw, f"--{s}-json")
        out.append(stage_config(s, data, origin=f"--{s}-json"))
    return out


def _add_pack(parser: argparse.ArgumentParser, *roots: tuple[str, str]) -> None:
    """The options of a verb's pack mode: many shards in one job (src/hagane/packs.py)."""
    parser.add_argument("--pack", type=Path, help="pack mode: a pack's plan (results/plan/SOURCE/pack-N.json)")
    parser.add_argument("--record", type=Path, help="pack mode: the pack's record, results/<stage>/SOURCE/_packs/"
                        "pack-N.json; each shard's outputs go to results/<stage>/SOURCE/SHARD/")
    parser.add_argument("--workers", type=int, default=1, help="pack mode: shards worked on at once (processes)")
    for option, help_text in roots:
        parser.add_argument(option, type=Path, help=f"pack mode: {help_text}")


def _in_pack_mode(args, single: tuple[str, ...], roots: tuple[str, ...]) -> bool:
    """Whether the verb runs a pack (--pack, --record and its roots) or one shard (`single`), never a mix."""
    pack = ("pack", "record", *roots)
    given = {name for name in (*pack, *single) if getattr(args, name, None) is not None}
    if not given & set(pack):
        missing = [name for name in single if name not in given]
        if missing:
            raise HaganeError("give " + ", ".join(f"--{m.replace('_', '-')}" for m in missing) +
                              " (one shard), or --pack with " + ", ".join(f"--{m.replace('_', '-')}" for m in pack[1:]))
        return False
    missing = [name for name in pack if name not in given]
    if missing or given & set(single):
        raise HaganeError("pack mode takes " + ", ".join(f"--{m.replace('_', '-')}" for m in pack) +
                          " and none of " + ", ".join(f"--{m.replace('_', '-')}" for m in single))
    return True


def _run_pack(stage: str, args, work, shard_args) -> None:
    """Run `work(*shard_args(source, shard, out_dir))` for every shard of the pack; see hagane.packs."""
    from hagane.packs import ShardTask, read_plan, run_pack, shard_dir

    plan = read_plan(args.pack)
    if args.record.parent.name != "_packs" or args.record.parent.parent.name != plan.source:
        raise HaganeError(f"--record {args.record}: expected results/<stage>/{plan.source}/_packs/{plan.name}.json")
    tasks = []
    for shard in plan.shards:
        out_dir = shard_dir(args.record, shard.name)
        work_args = shard_args(plan.source, shard, out_dir)
        spec = repr((work.__module__, work.__qualname__, work_args))
        tasks.append(ShardTask(shard.name, out_dir, work, work_args, spec))
    run_pack(stage, plan.id, tasks, args.record, workers=args.workers)


def _upstream(root: Path, source: str, shard, name: str) -> Path:
    """A shard's file written by an earlier stage: root/SOURCE/SHARD/name (the layout of DESIGN.md)."""
    return root / source / shard.name / name


# ----------------------------------------------------------------------------------------- commands

def cmd_config_check(args) -> None:
    import yaml

    from hagane.config import effective_config, source_shards
    from hagane.packs import plan_packs

    origin = " + ".join(str(f) for f in args.files)
    config = effective_config(args.files, base=args.base, origin=origin)
    shards = source_shards(config)
    packs = plan_packs(shards, config["shards_per_job"])
    if args.show:
        print(yaml.safe_dump(config, allow_unicode=True, sort_keys=False), end="")
    print(f"{origin}: valid; " + ", ".join(
        f"{name}: {len(groups)} shard(s) of {sum(len(shard.files) for shard in groups.values())} file(s) in "
        f"{sum(p.source == name for p in packs)} job(s) of up to {config['shards_per_job']} shards"
        for name, groups in shards.items()))


def cmd_init(args) -> None:
    from hagane.config import EXAMPLE_CONFIG_PATH

    # Its errors are printed here: main()'s message names a stage and a verb, and `init` has no verb.
    try:
        try:
            with open(args.path, "x", encoding="utf-8") as out:  # never overwrite a config someone edited
                out.write(EXAMPLE_CONFIG_PATH.read_text(encoding="utf-8"))
        except FileExistsError:
            raise HaganeError(f"{args.path} exists; give another path (hagane init PATH) or remove it") from None
        except OSError as err:
            raise HaganeError(f"cannot write {args.path}: {err.strerror}") from None
    except HaganeError as err:
        print(f"hagane init: error: {err}", file=sys.stderr)
        raise SystemExit(2) from None
    print(f"wrote {args.path}: fill in collect.sources, check it with `hagane config check {args.path}`, run it "
          f"with `snakemake --profile workflow/profiles/local --configfile {args.path}`")


def cmd_collect(args) -> None:
    from hagane.collect import collect_dataset, collect_files, collect_shard

    if args.config is not None:
        config = load_config_file(args.config)
        matches = [s for s in config["collect"]["sources"] if s["name"] == args.source]
        if not matches:
            raise HaganeError(f"{args.config}: no source named {args.source!r}")
        source = source_config(matches[0], origin=str(args.config))
    elif args.source_json is not None:
        source = source_config(_load_json(args.source_json, "--source-json"), origin="--source-json")
    else:
        raise HaganeError("give --config FILE --source NAME, or --source-json")
    if _in_pack_mode(args, ("out_dir",), ()):
        def shard_args(source_name, shard, out_dir):
            if source_name != source.name:
                raise HaganeError(f"{args.pack} is a pack of source {source_name!r}, not {source.name!r}")
            return source, dict(zip(shard.files, shard.roots)), out_dir, shard.byte_range

        _run_pack("collect", args, collect_shard, shard_args)
        return
    inputs = [Path(p) for p in args.input if p]
    if not inputs:  # a Hugging Face dataset read as a whole
        if source.type != "huggingface" or source.paths:
            raise HaganeError(f"source {source.name!r}: give --input, its files to read")
        collect_dataset(source, args.out_dir)
        return
    byte_range = None
    if args.byte_range:
        start, sep, end = args.byte_range.partition(":")
        if not (sep and start.isdigit() and end.isdigit() and int(start) < int(end)):
            raise HaganeError(f"--byte-range {args.byte_range!r}: expected START:END byte offsets")
        byte_range = (int(start), int(end))
    roots = source_files(source)
    collect_files(source, {p: roots.get(p, Path(source.root) if source.root else p.parent) for p in inputs},
                  args.out_dir, byte_range=byte_range)


def cmd_filter_score(args) -> None:
    from hagane.filter.score import score_shard

    (cfg,) = _sections(args)
    if _in_pack_mode(args, ("documents", "out_dir"), ("documents_root",)):
        _run_pack("score", args, score_shard, lambda source, shard, out_dir: (
            cfg.score, _upstream(args.documents_root, source, shard, DOCUMENTS), out_dir, args.kenlm, args.quality))
        return
    score_shard(cfg.score, args.documents, args.out_dir, kenlm_dir=args.kenlm, quality_dir=args.quality)


def cmd_filter_kenlm(args) -> None:
    from hagane.filter.lm import train_kenlm

    (cfg,) = _sections(args)
    train_kenlm(cfg.kenlm, args.documents, args.out_dir)


def cmd_filter_quality(args) -> None:
    from hagane.filter.quality import train_quality

    (cfg,) = _sections(args)
    train_quality(cfg.quality, args.positives, args.negatives, args.out_dir)


def cmd_filter_select(args) -> None:
    from hagane.filter.select import select_shard

    (cfg,) = _sections(args)
    if _in_pack_mode(args, ("documents", "scores", "out_dir"), ("documents_root", "scores_root")):
        _run_pack("select", args, select_shard, lambda source, shard, out_dir: (
            cfg.select, _upstream(args.documents_root, source, shard, DOCUMENTS),
            _upstream(args.scores_root, source, shard, "scores.parquet"), out_dir, args.thresholds))
        return
    select_shard(cfg.select, args.documents, args.scores, args.out_dir, thresholds=args.thresholds)


def cmd_filter_thresholds(args) -> None:
    from hagane.filter.thresholds import corpus_thresholds

    (cfg,) = _sections(args)
    corpus_thresholds(cfg.select, args.scores, args.out_dir)


def cmd_dedup_exact(args) -> None:
    from hagane.dedup.exact import dedup_exact

    (cfg,) = _sections(args)
    shards, outputs = {}, {}
    for spec in args.shards:
        name, sep, rest = spec.partition("=")
        src, sep2, dst = rest.partition(":")
        if not (sep and sep2):
            raise HaganeError(f"--shards {spec!r}: expected NAME=INPUT:OUTPUT")
        shards[name], outputs[name] = Path(src), Path(dst)
    dedup_exact(cfg.exact, shards, outputs, args.out_dir)


def _named_paths(specs: list[str], option: str) -> dict[str, Path]:
    out = {}
    for spec in specs:
        name, sep, path = spec.partition("=")
        if not sep:
            raise HaganeError(f"{option} {spec!r}: expected NAME=PATH")
        out[name] = Path(path)
    return out


def cmd_dedup_signatures(args) -> None:
    from hagane.dedup.minhash import shard_signatures

    (cfg,) = _sections(args)
    if _in_pack_mode(args, ("documents", "out_dir"), ("documents_root",)):
        _run_pack("signatures", args, shard_signatures, lambda source, shard, out_dir: (
            cfg.near, _upstream(args.documents_root, source, shard, DOCUMENTS), out_dir))
        return
    shard_signatures(cfg.near, args.documents, args.out_dir)


def cmd_dedup_buckets(args) -> None:
    from hagane.dedup.minhash import bucket_bands

    (cfg,) = _sections(args)
    bucket_bands(cfg.near, args.signatures, args.bands, args.out_dir)


def cmd_dedup_clusters(args) -> None:
    from hagane.dedup.minhash import cluster

    (cfg,) = _sections(args)
    cluster(cfg.near, _named_paths(args.signatures, "--signatures"), args.edges, args.out_dir)


def cmd_dedup_near(args) -> None:
    from hagane.dedup.minhash import apply_clusters

    (cfg,) = _sections(args)
    if _in_pack_mode(args, ("shard", "documents", "out_dir"), ("documents_root",)):
        _run_pack("near", args, apply_clusters, lambda source, shard, out_dir: (
            cfg.near, f"{source}/{shard.name}", _upstream(args.documents_root, source, shard, DOCUMENTS),
            args.clusters, out_dir))
        return
    apply_clusters(cfg.near, args.shard, args.documents, args.clusters, args.out_dir)


def cmd_dedup_line_hashes(args) -> None:
    from hagane.dedup.lines import hash_shard

    (cfg,) = _sections(args)
    if _in_pack_mode(args, ("documents", "out_dir"), ("documents_root",)):
        _run_pack("line_hashes", args, hash_shard, lambda source, shard, out_dir: (
            cfg, _upstream(args.documents_root, source, shard, DOCUMENTS), out_dir))
        return
    hash_shard(cfg, args.documents, args.out_dir)


def cmd_dedup_line_counts(args) -> None:
    from hagane.dedup.lines import count_partition

    (cfg,) = _sections(args)
    count_partition(cfg, list(args.hashes), args.partition, args.out_dir)


def cmd_dedup_lines(args) -> None:
    from hagane.dedup.lines import remove_shard

    (cfg,) = _sections(args)
    common = list(args.common)
    if _in_pack_mode(args, ("documents", "out_dir"), ("documents_root",)):
        _run_pack("lines", args, remove_shard, lambda source, shard, out_dir: (
            cfg, _upstream(args.documents_root, source, shard, DOCUMENTS), common, out_dir))
        return
    remove_shard(cfg, args.documents, common, args.out_dir)


def cmd_pii_redact(args) -> None:
    from hagane.redact import redact_shard

    (cfg,) = _sections(args)
    if _in_pack_mode(args, ("documents", "out_dir"), ("documents_root",)):
        # Selection's output is named kept.jsonl.zst (beside dropped.jsonl.zst), not documents.jsonl.zst.
        _run_pack("redact", args, redact_shard, lambda source, shard, out_dir: (
            cfg, _upstream(args.documents_root, source, shard, args.documents_name), out_dir))
        return
    redact_shard(cfg, args.documents, args.out_dir)


def cmd_tokenizer_train(args) -> None:
    from hagane.tokenizer.build import build_tokenizer

    cfg, split = _sections(args)
    build_tokenizer(cfg, split, list(args.documents), args.out_dir)


def cmd_tokenize_encode(args) -> None:
    from hagane.tokenize.encode import tokenize_shard

    cfg, split = _sections(args)
    if _in_pack_mode(args, ("documents", "out_dir"), ("documents_root",)):
        _run_pack("tokenize", args, tokenize_shard, lambda source, shard, out_dir: (
            cfg, split, _upstream(args.documents_root, source, shard, DOCUMENTS), args.tokenizer, out_dir))
        return
    tokenize_shard(cfg, split, args.documents, args.tokenizer, args.out_dir)


# glibc malloc maps and zero-fills the big logits and MLP buffers afresh every step; tcmalloc keeps
# them, +31 % tokens/s measured on CPU (DESIGN.md). Used when the library is installed (make does).
TCMALLOC_CANDIDATES = ("/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4",
                       "/usr/lib/aarch64-linux-gnu/libtcmalloc_minimal.so.4")


def _tcmalloc_preload() -> str | None:
    if os.environ.get("HAGANE_NO_TCMALLOC") or "tcmalloc" in os.environ.get("LD_PRELOAD", ""):
        return None
    return next((p for p in TCMALLOC_CANDIDATES if os.path.exists(p)), None)


def cmd_pretrain_train(args) -> None:
    from hagane.pretrain.distributed import detect_topology

    from hagane.pretrain.model import ModelArgs

    (cfg,) = _sections(args)
    if args.threads_per_rank:  # a profile's cpus_per_task; the data order and the maths do not depend on it
        cfg = dataclasses.replace(cfg, threads_per_rank=args.threads_per_rank)
    # Shape errors surface now, not after the ranks have started and loaded the data.
    ModelArgs.from_config(cfg.model, vocab_size=1, max_seq_len=cfg.seq_len).check()
    launched = detect_topology().world_size > 1
    nproc = args.ranks or cfg.nproc
    launcher = args.launcher or "auto"  # "" is what a profile without a launcher (resources.mpi) passes
    env = {**os.environ, "OMP_NUM_THREADS": str(cfg.threads_per_rank)}
    if tcmalloc := _tcmalloc_preload():
        env["LD_PRELOAD"] = " ".join(filter(None, [env.get("LD_PRELOAD"), tcmalloc]))
    again = ["-m", "hagane", *sys.argv[1:], "--launcher", "none"]  # the last --launcher wins
    if launcher == "srun" and not launched:
        # Inside a Slurm allocation: one task per rank, across its nodes. The allocation's task count
        # is not inherited (Snakemake's job step clears SLURM_NTASKS), so it is given here.
        cmd = ["srun", f"--ntasks={nproc}", f"--cpus-per-task={cfg.threads_per_rank}", "--kill-on-bad-exit=1",
               sys.executable, *again]
        raise SystemExit(subprocess.call(cmd, env=env))
    if launcher == "mpiexec" and not launched:
        # PBS and Grid Engine allocations (ABCI, TSUBAME) and Fujitsu MPI: mpiexec reads the hosts from the
        # scheduler; -x forwards the thread count and the environment to ranks on other nodes (Open MPI).
        forward = [arg for var in ("OMP_NUM_THREADS", "PATH", "LD_PRELOAD") if var in env for arg in ("-x", var)]
        cmd = ["mpiexec", "-n", str(nproc), *forward, sys.executable, *again]
        raise SystemExit(subprocess.call(cmd, env=env))
    if launcher == "torchrun" or (launcher == "auto" and not launched and nproc > 1):
        # Re-enter this same command under torchrun, one process per rank on this node.
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}", *again]
        raise SystemExit(subprocess.call(cmd, env=env))
    if tcmalloc:  # the allocator must be preloaded before the interpreter starts: run again with it
        raise SystemExit(subprocess.call([sys.executable, *again], env=env))
    from hagane.pretrain.train import train

    train(cfg, [Path(p) for p in args.shards], args.tokenizer, args.out_dir,
          valid_shards=[Path(p) for p in args.valid_shards or []], backend=args.backend)


def cmd_pretrain_estimate(args) -> None:
    from hagane.config import ModelConfig, build, resolve_model
    from hagane.pretrain.flops import estimate_memory, flops_per_token
    from hagane.pretrain.model import ModelArgs

    model = build(ModelConfig, resolve_model({"preset": args.preset}), "pretrain.model")
    margs = ModelArgs.from_config(model, vocab_size=args.vocab_size, max_seq_len=args.seq_len)
    margs.check()
    mem = estimate_memory(margs, seq_len=args.seq_len, micro_batch=args.micro_batch, world_size=args.ranks,
                          fsdp=args.parallelism == "fsdp", precision=args.precision,
                          activation_checkpointing=model.activation_checkpointing)
    gib = 2**30
    print(f"preset {args.preset}: {mem.parameters:,} parameters at {args.vocab_size:,} pieces "
          f"({mem.parameters - args.vocab_size * margs.dim * (1 if margs.tie_embeddings else 2):,} without embeddings)")
    print(f"model FLOPs per token at seq_len {args.seq_len}: {flops_per_token(margs, args.seq_len):,} "
          f"({flops_per_token(margs, args.seq_len, include_head=False):,} without the output head)")
    print(f"memory per rank, {args.parallelism} over {args.ranks} rank(s), micro batch {args.micro_batch}, "
          f"{args.precision}, activation checkpointing {'on' if model.activation_checkpointing else 'off'} (estimate):")
    for name, value in (("weights, gradients, AdamW", mem.weights_grads_optimizer), ("activations", mem.activations),
                        ("logits", mem.logits), ("total", mem.total)):
        print(f"  {name:<26} {value / gib:9.2f} GiB")


def cmd_convert_hf(args) -> None:
    from hagane.convert.card import training_provenance
    from hagane.convert.export import convert_checkpoint

    (cfg,) = _sections(args)
    provenance = training_provenance(args.pretrain_manifest, args.tokenize_manifests, args.tokenizer_manifest)
    convert_checkpoint(cfg, args.checkpoint, args.tokenizer_dir, args.spm, [Path(p) for p in args.valid],
                       args.out_dir, provenance=provenance,
                       provenance_inputs=[args.pretrain_manifest, *args.tokenize_manifests, args.tokenizer_manifest])


def cmd_convert_publish(args) -> None:
    from hagane.convert.export import publish_model

    convert, collect = _sections(args)  # the model's licence, and the sources with theirs
    publish_model(args.model, args.card, args.evaluation, args.out_dir, convert, collect.sources)


def cmd_convert_gguf(args) -> None:
    from hagane.convert.gguf import export_gguf

    (cfg,) = _sections(args)
    export_gguf(cfg, args.model, [Path(p) for p in args.valid], args.out_dir)


def cmd_evaluate_continuation(args) -> None:
    from hagane.evaluate.run import build_continuation_items

    (cfg,) = _sections(args)
    build_continuation_items(cfg, args.documents, args.valid_index, args.out_dir)


def cmd_evaluate_model(args) -> None:
    from hagane.evaluate.run import evaluate_model

    (cfg,) = _sections(args)
    evaluate_model(cfg, args.model, [Path(p) for p in args.valid], args.continuation, args.out_dir, step=args.step)


def cmd_evaluate_summary(args) -> None:
    from hagane.evaluate.run import summarize

    rows = summarize(args.metrics, args.pretrain_metrics, args.out_dir)
    print(f"summary of {len(rows)} checkpoint(s) → {args.out_dir / 'summary.csv'}")


def cmd_audit_verify(args) -> None:
    from hagane.audit.verify import AuditFailure, verify

    try:
        report = verify(args.results)
    except AuditFailure as err:
        print(f"audit FAILED: {err}", file=sys.stderr)
        raise SystemExit(1) from err
    print(f"audit passed: {report['manifests']} manifests, {report['files_checked']} file hashes checked, "
          f"back to {len(report['raw_sources'])} raw source file(s):")
    for path in report["raw_sources"]:
        print(f"  {path}")


def cmd_audit_step(args) -> None:
    from hagane.audit.step import step_documents

    docs = step_documents(args.pretrain_dir, args.step)
    if args.json:
        print(docs.to_json(orient="records", lines=True), end="")
        return
    print(f"step {args.step}: {docs['sample'].nunique()} samples from {docs['doc_id'].nunique()} documents "
          "(token ranges inside each document, BOS = token 0, end exclusive)")
    for sample, rows in docs.groupby("sample", sort=True):
        parts = ", ".join(f"{r.doc_id}[{r.doc_token_start}:{r.doc_token_stop}]" for r in rows.itertuples())
        print(f"  sample {sample}: {parts}")


def cmd_report_funnel(args) -> None:
    from hagane.io import write_json
    from hagane.report.plots import funnel_counts, plot_funnel

    funnel = funnel_counts(args.collect_manifests, args.select_counts, args.dedup_counts, args.near_counts,
                           args.redact_counts, args.line_dedup_counts)
    write_json(args.out.with_suffix(".json"), funnel)
    plot_funnel(funnel, args.out)
    print(json.dumps(funnel, ensure_ascii=False))


def cmd_publish_dataset_part(args) -> None:
    from hagane.io import write_json
    from hagane.packs import read_plan
    from hagane.publish.dataset import PART, write_part

    plan = read_plan(args.pack)
    if args.record.parent.name != "_packs" or args.record.parent.parent.name != plan.source:
        raise HaganeError(f"--record {args.record}: expected results/publish/corpus/parts/{plan.source}/_packs/"
                          f"{plan.name}.json")
    part_dir = args.record.parent.parent / plan.name
    counts = write_part([_upstream(args.documents_root, plan.source, shard, DOCUMENTS) for shard in plan.shards],
                        part_dir)
    size = (part_dir / PART).stat().st_size
    write_json(args.record, {"pack": plan.id, "stage": "dataset", "part": str(part_dir / PART), "bytes": size,
                             "max_shard_bytes": size, **counts})
    print(f"dataset part {plan.id}: {counts['rows']:,} documents, {size:,} bytes")


def cmd_publish_dataset(args) -> None:
    from hagane.packs import read_pack_list
    from hagane.publish.dataset import publish_dataset
    from hagane.report.plots import funnel_counts

    cfg = _load_json(args.publish_json, "--publish-json")["dataset"]
    sources = [{"name": s["name"], "type": s["type"], "paths": s.get("paths") or [],
                "dataset": s.get("dataset"), **_licence_fields(s.get("license"))}
               for s in _load_json(args.collect_json, "--collect-json")["sources"]]
    packs = read_pack_list(args.packs)
    parts = {pack_id: args.parts_root / pack_id for pack_id in packs}
    shards = {pack_id: [f"{pack_id.split('/')[0]}/{shard}" for shard in members] for pack_id, members in packs.items()}
    funnel = funnel_counts(args.collect_manifests, args.select_counts, args.dedup_counts, args.near_counts,
                           args.redact_counts, args.line_dedup_counts)
    funnel["inputs"] = [*args.collect_manifests, *args.select_counts, args.dedup_counts, *args.near_counts,
                        *(args.redact_counts or []), *(args.line_dedup_counts or [])]
    publish_dataset(parts, shards, funnel, _load_json(args.settings_json, "--settings-json"), sources,
                    cfg["name"], args.out_dir, url=cfg.get("url"), version=cfg.get("version"))


def _licence_fields(licence: dict | None) -> dict:
    """A source's `license` entry as the card's fields."""
    if not licence:
        return {}
    return {"license": licence["id"], "license_link": licence.get("link"),
            "license_files": licence.get("files") or [], "attribution": licence.get("attribution")}


def cmd_report_evaluation(args) -> None:
    from hagane.report.plots import plot_evaluation

    plot_evaluation(args.summary, args.out)


def cmd_report_tokenizer(args) -> None:
    from hagane.report.plots import plot_tokenizer

    plot_tokenizer(args.report, args.out)


def cmd_report_training(args) -> None:
    from hagane.report.plots import plot_training

    plot_training(args.metrics, args.evaluation, args.out)


# ------------------------------------------------------------------------------------------- parser

CONFIG_CHECK_HELP = """\
Check a config before any job starts: the schema (unknown keys, types), the constraints between keys
(pretrain.min_lr at or below lr, warmup_steps below steps, global_batch_size divisible by nproc ×
micro_batch_size, a select bound only on a column some scorer produces, reference sources that are
collect sources, …), and every source's files; one line per problem, naming the key.

The files are merged as Snakemake merges them: over the Snakefile's configfile (--base), each FILE in
order, a mapping key by key (recursively), anything else (a list such as collect.sources, a number, a
null) replacing what was there whole. Keys no file gives take the schema's defaults
(workflow/schemas/config.schema.yaml). Examples:

  hagane config check my.yaml                    # snakemake --configfile my.yaml
  hagane config check config/demo.yaml more.yaml # snakemake --configfile config/demo.yaml more.yaml
  hagane config check --show my.yaml             # and print the config the workflow would run with
"""


def build_parser() -> argparse.ArgumentParser:
    # `@FILE` stands for the arguments in FILE, one per line: how rules pass a list of every shard, which
    # on a command line would outgrow the kernel's limit (~2 MB) at ~10^4 shards.
    parser = argparse.ArgumentParser(prog="hagane", description=__doc__.split("\n")[0], fromfile_prefix_chars="@")
    stages = parser.add_subparsers(dest="stage", required=True, metavar="STAGE")

    def verb(stage_parser, name, func, help_text):
        p = stage_parser.add_parser(name, help=help_text)
        p.set_defaults(func=func)
        return p

    def stage(name, help_text):
        return stages.add_parser(name, help=help_text).add_subparsers(dest="verb", required=True, metavar="VERB")

    p = stages.add_parser("init", help="write a commented starting config (config/example.yaml) to PATH",
                          description="Write a commented config of your own to PATH (config/example.yaml): one "
                          "source to fill in, the keys a first run changes, every other key left to the schema's "
                          "defaults. PATH must not exist.")
    p.add_argument("path", type=Path, nargs="?", default=Path("my.yaml"), metavar="PATH",
                   help="where to write it (default: my.yaml)")
    p.set_defaults(func=cmd_init)

    s = stage("config", "check a configuration file")
    p = s.add_parser("check", help="validate a config as the workflow would and resolve its sources",
                     formatter_class=argparse.RawDescriptionHelpFormatter, description=CONFIG_CHECK_HELP)
    p.set_defaults(func=cmd_config_check)
    p.add_argument("files", type=Path, nargs="+", metavar="FILE",
                   help="config files, merged in this order over --base (as `snakemake --configfile FILE …`)")
    p.add_argument("--base", type=Path, default=BASE_CONFIG_PATH,
                   help="the Snakefile's own configfile, which the files are merged over (default: this "
                   "repository's config/config.yaml, which holds no settings)")
    p.add_argument("--show", action="store_true",
                   help="also print the effective config (merged, defaults filled in) as YAML")

    s = stage("collect", "raw sources → document shards")
    p = verb(s, "run", cmd_collect, "read one shard (a group of input files) of a source")
    p.add_argument("--config", type=Path)
    p.add_argument("--source", help="source name (with --config)")
    p.add_argument("--source-json", help="the source's config entry as JSON (used by rules)")
    p.add_argument("--input", nargs="*", default=[],
                   help="the shard's input files, read in order (none for a Hugging Face dataset read whole)")
    p.add_argument("--byte-range", default="",
                   help="START:END: only the page streams of a multistream Wikipedia dump in that byte range")
    p.add_argument("--out-dir", type=Path)
    _add_pack(p)

    s = stage("filter", "score documents once, select cheaply")
    p = verb(s, "score", cmd_filter_score, "language ID, heuristics (and perplexity) → scores.parquet")
    _add_sections(p, "filter")
    p.add_argument("--documents", type=Path)
    p.add_argument("--kenlm", type=Path, help="a KenLM model directory (hagane filter kenlm) to score perplexity")
    p.add_argument("--quality", type=Path, help="a quality classifier directory (hagane filter quality)")
    p.add_argument("--out-dir", type=Path)
    _add_pack(p, ("--documents-root", "the collect stage's folder (results/collect)"))
    p = verb(s, "quality", cmd_filter_quality, "train the fastText quality classifier (reference vs other)")
    _add_sections(p, "filter")
    p.add_argument("--positives", type=Path, nargs="+", required=True, help="reference sources' documents")
    p.add_argument("--negatives", type=Path, nargs="+", required=True, help="the other sources' documents")
    p.add_argument("--out-dir", type=Path, required=True)
    p = verb(s, "kenlm", cmd_filter_kenlm, "train the perplexity model on reference documents (lmplz)")
    _add_sections(p, "filter")
    p.add_argument("--documents", type=Path, nargs="+", required=True)
    p.add_argument("--out-dir", type=Path, required=True)
    p = verb(s, "select", cmd_filter_select, "apply thresholds → kept, dropped (with reasons), counts")
    _add_sections(p, "filter")
    p.add_argument("--documents", type=Path)
    p.add_argument("--scores", type=Path)
    p.add_argument("--thresholds", type=Path, help="the corpus's percentiles (hagane filter thresholds), when a "
                   "bound is a percentile or the preset is ccnet")
    p.add_argument("--out-dir", type=Path)
    _add_pack(p, ("--documents-root", "the collect stage's folder (results/collect)"),
              ("--scores-root", "the score stage's folder (results/filter/score)"))
    p = verb(s, "thresholds", cmd_filter_thresholds, "percentile bounds → absolute values over every shard's scores")
    _add_sections(p, "filter")
    p.add_argument("--scores", type=Path, nargs="+", required=True, help="every shard's scores.parquet")
    p.add_argument("--out-dir", type=Path, required=True)

    s = stage("dedup", "remove duplicate documents")
    p = verb(s, "exact", cmd_dedup_exact, "exact duplicates across all shards")
    _add_sections(p, "dedup")
    p.add_argument("--shards", nargs="+", required=True, metavar="NAME=INPUT:OUTPUT")
    p.add_argument("--out-dir", type=Path, required=True)
    p = verb(s, "signatures", cmd_dedup_signatures, "MinHash band keys of one shard's documents")
    _add_sections(p, "dedup")
    p.add_argument("--documents", type=Path)
    p.add_argument("--out-dir", type=Path)
    _add_pack(p, ("--documents-root", "exact dedup's folder (results/dedup/exact)"))
    p = verb(s, "buckets", cmd_dedup_buckets, "candidate pairs of some bands, over all shards")
    _add_sections(p, "dedup")
    p.add_argument("--signatures", type=Path, nargs="+", required=True)
    p.add_argument("--bands", type=int, nargs="+", required=True)
    p.add_argument("--out-dir", type=Path, required=True)
    p = verb(s, "clusters", cmd_dedup_clusters, "near-duplicate clusters from all bands' candidate pairs")
    _add_sections(p, "dedup")
    p.add_argument("--signatures", nargs="+", required=True, metavar="SHARD=PATH")
    p.add_argument("--edges", type=Path, nargs="+", required=True)
    p.add_argument("--out-dir", type=Path, required=True)
    p = verb(s, "near", cmd_dedup_near, "drop one shard's near duplicates (clusters' representatives stay)")
    _add_sections(p, "dedup")
    p.add_argument("--shard", help="the shard's name, SOURCE/PART")
    p.add_argument("--documents", type=Path)
    p.add_argument("--clusters", type=Path, help="clusters.parquet; without it nothing is dropped (dedup.near off)")
    p.add_argument("--out-dir", type=Path)
    _add_pack(p, ("--documents-root", "exact dedup's folder (results/dedup/exact)"))

    p = verb(s, "line-hashes", cmd_dedup_line_hashes, "line dedup, pass 1: one shard's line hashes, once per document")
    _add_sections(p, "line_dedup")
    p.add_argument("--documents", type=Path)
    p.add_argument("--out-dir", type=Path)
    _add_pack(p, ("--documents-root", "exact dedup's folder (results/dedup/exact)"))
    p = verb(s, "line-counts", cmd_dedup_line_counts, "line dedup, pass 2: one hash partition's common lines over all shards")
    _add_sections(p, "line_dedup")
    p.add_argument("--hashes", type=Path, nargs="+", required=True, help="every shard's line_hashes.npy")
    p.add_argument("--partition", type=int, required=True, help="which of line_dedup.partitions, from 0")
    p.add_argument("--out-dir", type=Path, required=True)
    p = verb(s, "lines", cmd_dedup_lines, "line dedup, pass 3: remove the common lines from one shard's documents")
    _add_sections(p, "line_dedup")
    p.add_argument("--documents", type=Path)
    p.add_argument("--common", type=Path, nargs="+", required=True, help="every partition's common.npy")
    p.add_argument("--out-dir", type=Path)
    _add_pack(p, ("--documents-root", "exact dedup's folder (results/dedup/exact)"))

    s = stage("pii", "personal information replaced by typed placeholders")
    p = verb(s, "redact", cmd_pii_redact, "one shard's documents redacted, with counts per kind (pii.parquet)")
    _add_sections(p, "pii")
    p.add_argument("--documents", type=Path)
    p.add_argument("--out-dir", type=Path)
    _add_pack(p, ("--documents-root", "the select stage's folder (results/filter/select)"))
    p.add_argument("--documents-name", default="kept.jsonl.zst",
                   help="pack mode: the file name of a shard's documents under --documents-root (default: "
                   "selection's kept.jsonl.zst)")

    s = stage("tokenizer", "train and export the tokenizer")
    p = verb(s, "train", cmd_tokenizer_train, "SentencePiece + verified Hugging Face directory")
    _add_sections(p, "tokenizer", "split")
    p.add_argument("--documents", type=Path, nargs="+", required=True)
    p.add_argument("--out-dir", type=Path, required=True)

    s = stage("tokenize", "documents → token shards")
    p = verb(s, "encode", cmd_tokenize_encode, "one document shard → train/valid token shards")
    _add_sections(p, "tokenize", "split")
    p.add_argument("--documents", type=Path)
    p.add_argument("--tokenizer", type=Path, required=True, help="SentencePiece model file")
    p.add_argument("--out-dir", type=Path)
    _add_pack(p, ("--documents-root", "the dedup stage's folder (results/dedup)"))

    s = stage("pretrain", "train the model")
    p = verb(s, "train", cmd_pretrain_train, "train (launching torchrun itself when needed)")
    _add_sections(p, "pretrain")
    p.add_argument("--shards", nargs="+", required=True, help="train token shard prefixes (…/train)")
    p.add_argument("--tokenizer", type=Path, required=True)
    p.add_argument("--out-dir", type=Path, required=True)
    p.add_argument("--launcher", choices=["", "auto", "torchrun", "srun", "mpiexec", "none"], default="auto",
                   help="auto (or empty): use the launcher that started us, else torchrun when nproc > 1; "
                        "srun / mpiexec: start the ranks as tasks of this Slurm / MPI allocation")
    p.add_argument("--ranks", type=int, help="ranks on this node (default pretrain.nproc)")
    p.add_argument("--threads-per-rank", type=int, help="torch threads per rank (default pretrain.threads_per_rank)")
    p.add_argument("--valid-shards", nargs="*", help="validation token shard prefixes (…/valid)")
    p.add_argument("--backend", choices=["auto", "gloo", "nccl", "mpi"], help="default pretrain.backend")
    p = verb(s, "estimate", cmd_pretrain_estimate, "parameters, FLOPs per token and memory per rank of a preset")
    p.add_argument("--preset", required=True, help="a preset of config/models.yaml")
    p.add_argument("--vocab-size", type=int, default=32000)
    p.add_argument("--seq-len", type=int, default=2048)
    p.add_argument("--micro-batch", type=int, default=1)
    p.add_argument("--ranks", type=int, default=1)
    p.add_argument("--parallelism", choices=["ddp", "fsdp"], default="fsdp")
    p.add_argument("--precision", choices=["fp32", "bf16"], default="bf16")

    s = stage("convert", "checkpoints → Hugging Face")
    p = verb(s, "hf", cmd_convert_hf, "write a LlamaForCausalLM directory behind the logits gate")
    _add_sections(p, "convert")
    p.add_argument("--checkpoint", type=Path, required=True)
    p.add_argument("--tokenizer-dir", type=Path, required=True)
    p.add_argument("--spm", type=Path, required=True)
    p.add_argument("--valid", nargs="+", required=True, help="validation token shard prefixes (…/valid)")
    p.add_argument("--pretrain-manifest", type=Path, required=True, help="for the model card's provenance")
    p.add_argument("--tokenize-manifests", type=Path, nargs="+", required=True)
    p.add_argument("--tokenizer-manifest", type=Path, required=True)
    p.add_argument("--out-dir", type=Path, required=True)
    p = verb(s, "publish", cmd_convert_publish, "the final model with a model card that includes its evaluation")
    _add_sections(p, "convert", "collect")
    p.add_argument("--model", type=Path, required=True, help="a converted model directory")
    p.add_argument("--card", type=Path, required=True, help="the card.json written beside it")
    p.add_argument("--evaluation", type=Path, required=True, help="its evaluation's metrics.json")
    p.add_argument("--out-dir", type=Path, required=True)

    p = verb(s, "gguf", cmd_convert_gguf, "a converted model as GGUF for llama.cpp, checked with llama-cpp-python")
    _add_sections(p, "convert")
    p.add_argument("--model", type=Path, required=True, help="a converted model directory")
    p.add_argument("--valid", nargs="+", required=True, help="validation token shard prefixes (the gate prompts)")
    p.add_argument("--out-dir", type=Path, required=True)

    s = stage("evaluate", "measure converted models")
    p = verb(s, "continuation", cmd_evaluate_continuation, "build the next-passage task from held-out documents")
    _add_sections(p, "evaluate")
    p.add_argument("--documents", type=Path, nargs="+", required=True, help="deduplicated documents (.jsonl.zst)")
    p.add_argument("--valid-index", type=Path, nargs="+", required=True, help="validation token indexes (.idx.parquet)")
    p.add_argument("--out-dir", type=Path, required=True)
    p = verb(s, "model", cmd_evaluate_model, "held-out perplexity per source, lm-eval tasks, greedy generations")
    _add_sections(p, "evaluate")
    p.add_argument("--model", type=Path, required=True)
    p.add_argument("--step", type=int, required=True, help="the training step the model is from")
    p.add_argument("--valid", nargs="+", required=True)
    p.add_argument("--continuation", type=Path, required=True, help="the continuation task's items (.jsonl)")
    p.add_argument("--out-dir", type=Path, required=True)
    p = verb(s, "summary", cmd_evaluate_summary, "every checkpoint's figures against training tokens (JSON, CSV)")
    p.add_argument("--metrics", type=Path, nargs="+", required=True)
    p.add_argument("--pretrain-metrics", type=Path, required=True)
    p.add_argument("--out-dir", type=Path, required=True)

    s = stage("publish", "the curated corpus as a dataset directory")
    p = verb(s, "dataset-part", cmd_publish_dataset_part, "one pack's final documents as one Parquet file")
    p.add_argument("--pack", type=Path, required=True, help="the pack's plan (results/plan/SOURCE/pack-N.json)")
    p.add_argument("--documents-root", type=Path, required=True, help="the near-dedup folder (results/dedup)")
    p.add_argument("--record", type=Path, required=True,
                   help="results/publish/corpus/parts/SOURCE/_packs/pack-N.json; the part goes beside _packs/")
    p = verb(s, "dataset", cmd_publish_dataset, "the dataset folder: Parquet parts, card, Croissant, hash chain")
    p.add_argument("--packs", type=Path, required=True, help="the pack list (results/plan/packs.json)")
    p.add_argument("--parts-root", type=Path, required=True, help="the parts' folder (results/publish/corpus/parts)")
    _add_funnel_inputs(p)
    p.add_argument("--publish-json", required=True, help="the publish section as JSON")
    p.add_argument("--collect-json", required=True, help="the collect section as JSON (sources and licences)")
    p.add_argument("--settings-json", required=True, help="the filter and dedup settings the card states, as JSON")
    p.add_argument("--out-dir", type=Path, required=True)

    s = stage("report", "plots for the Snakemake report")
    p = verb(s, "funnel", cmd_report_funnel, "documents at each step and drops by reason (PNG + JSON)")
    _add_funnel_inputs(p)
    p.add_argument("--out", type=Path, required=True, help="PNG path; the numbers go beside it as .json")
    p = verb(s, "evaluation", cmd_report_evaluation, "every checkpoint's held-out bits/char and task accuracy")
    p.add_argument("--summary", type=Path, required=True, help="results/evaluate/summary.json")
    p.add_argument("--out", type=Path, required=True)
    p = verb(s, "training", cmd_report_training, "training loss against tokens, with the held-out result")
    p.add_argument("--metrics", type=Path, required=True)
    p.add_argument("--evaluation", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True)
    p = verb(s, "tokenizer", cmd_report_tokenizer, "characters and bytes per token, vocabulary scripts")
    p.add_argument("--report", type=Path, required=True, help="results/tokenizer/report.json")
    p.add_argument("--out", type=Path, required=True)

    s = stage("audit", "provenance and integrity")
    p = verb(s, "verify", cmd_audit_verify, "recompute every hash from evaluation back to raw sources")
    p.add_argument("results", type=Path, nargs="?", default=Path("results"))
    p = verb(s, "step", cmd_audit_step, "the documents (ids and token ranges) that training step N was made of")
    p.add_argument("step", type=int, help="the step as metrics.jsonl counts it, from 1")
    p.add_argument("--pretrain-dir", type=Path, default=Path("results/pretrain"))
    p.add_argument("--json", action="store_true", help="JSON Lines: sample, shard, doc_id, stream and document token ranges")
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except HaganeError as err:
        print(f"hagane {args.stage} {args.verb}: error: {err}", file=sys.stderr)
        raise SystemExit(2) from None
