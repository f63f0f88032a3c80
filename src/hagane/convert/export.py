"""Write a LlamaForCausalLM directory from a native checkpoint, then prove it matches.

The weights stream: each tensor is read alone from the DCP checkpoint (DCP reads just that tensor's
bytes) and written into safetensors shards of at most `convert.max_shard_size`, so memory holds one
shard, not the model. The gate then needs one whole model at a time: the native model's logits on the
gate prompts are kept, it is freed, and the converted directory is loaded the way a user would load it
(offline, fp32) and compared. A 13B model thus converts in about 52 GB (one fp32 copy).
"""

from __future__ import annotations

import gc
import json
import os
import shutil
from pathlib import Path

import torch
import torch.distributed.checkpoint as dcp

from hagane.config import ConvertConfig
from hagane.convert.card import (GITIGNORE, LICENSE_FILE, PROVENANCE, SNAKEMAKE_MARKER, evaluation_facts,
                                 model_licence, source_licences, write_model_card)
from hagane.convert.llama import hf_config, hf_name, hf_order, write_hf_config
from hagane.errors import HaganeError
from hagane.io import atomic_path, sha256_file, write_json
from hagane.manifest import MANIFEST_NAME, now, write_manifest
from hagane.pretrain.checkpoint import STATE_FILE, load_model_weights, read_state
from hagane.pretrain.model import ModelArgs, Transformer
# The dataset's hash chain and licence copying, reused so that the model and the corpus state them alike.
from hagane.publish.dataset import copy_licences, shard_chain
from hagane.tokenize.shards import TokenShard
from hagane.tokenizer.train import BOS, EOS, PAD, SPECIAL_PIECES, UNK

MODEL_DIR = "model"
TOKENIZER_CONFIG = "tokenizer_config.json"
CARD_FACTS = "card.json"  # what the model card states, for the published card to add evaluation to
SAFETENSORS_INDEX = "model.safetensors.index.json"


def load_native(ckpt: Path) -> Transformer:
    args = ModelArgs(**read_state(ckpt)["model_args"])
    model = Transformer(args)
    load_model_weights(ckpt, model)
    return model.eval()


def checkpoint_tensors(ckpt: Path) -> dict[str, tuple[torch.Size, torch.dtype]]:
    """Native model tensor name → (shape, dtype), from the checkpoint's metadata alone."""
    meta = dcp.FileSystemReader(str(ckpt)).read_metadata().state_dict_metadata
    return {key.removeprefix("model."): (m.size, m.properties.dtype) for key, m in meta.items()
            if key.startswith("model.")}


def read_model_tensor(ckpt: Path, key: str, shape: torch.Size, dtype: torch.dtype) -> torch.Tensor:
    state = {"model": {key: torch.empty(shape, dtype=dtype)}}
    dcp.load(state, checkpoint_id=str(ckpt), planner=dcp.DefaultLoadPlanner(allow_partial_load=True))
    return state["model"][key]


def parse_size(text: str) -> int:
    """'5GB', '500MB', '2GiB' or a plain byte count → bytes (transformers' max_shard_size spelling)."""
    units = {"GIB": 2**30, "MIB": 2**20, "KIB": 2**10, "GB": 10**9, "MB": 10**6, "KB": 10**3, "B": 1}
    spelled = str(text).strip().upper()
    for unit, factor in units.items():
        if spelled.endswith(unit) and spelled[:-len(unit)].strip().replace(".", "", 1).isdigit():
            return int(float(spelled[:-len(unit)]) * factor)
    if spelled.isdigit():
        return int(spelled)
    raise HaganeError(f"convert.max_shard_size {text!r} is not a size such as 5GB, 500MB or 2GiB")


def shard_plan(sizes: list[tuple[str, int]], max_bytes: int) -> list[list[str]]:
    """Tensors in order, cut into consecutive shards of at most `max_bytes` (a larger tensor alone)."""
    shards: list[list[str]] = [[]]
    used = 0
    for name, size in sizes:
        if shards[-1] and used + size > max_bytes:
            shards.append([])
            used = 0
        shards[-1].append(name)
        used += size
    return shards


def write_weights(ckpt: Path, args: ModelArgs, out: Path, max_bytes: int) -> dict:
    """Stream the checkpoint's model tensors into `out` as safetensors (with an index when sharded)."""
    from safetensors.torch import save_file

    tensors = checkpoint_tensors(ckpt)
    names = {hf: key for key in tensors if (hf := hf_name(key, args)) is not None}
    order = sorted(names, key=hf_order)
    nbytes = {hf: tensors[names[hf]][0].numel() * tensors[names[hf]][1].itemsize for hf in order}
    plan = shard_plan([(hf, nbytes[hf]) for hf in order], max_bytes)
    files = (["model.safetensors"] if len(plan) == 1 else
             [f"model-{i:05d}-of-{len(plan):05d}.safetensors" for i in range(1, len(plan) + 1)])
    weight_map = {}
    for filename, shard in zip(files, plan):
        state = {hf: read_model_tensor(ckpt, names[hf], *tensors[names[hf]]).contiguous() for hf in shard}
        save_file(state, str(out / filename), metadata={"format": "pt"})
        os.chmod(out / filename, 0o644)  # safetensors creates its files private (0600)
        weight_map.update({hf: filename for hf in shard})
        del state
    if len(plan) > 1:
        index = {"metadata": {"total_size": sum(nbytes.values())}, "weight_map": weight_map}
        (out / SAFETENSORS_INDEX).write_text(json.dumps(index, indent=2, sort_keys=True) + "\n")
    return {"weight_files": len(files), "weight_bytes": sum(nbytes.values())}


def gate_prompts(valid_prefixes: list[Path], n: int, n_tokens: int) -> list[list[int]]:
    """Fixed prompts: the first tokens of the first held-out documents (in sorted shard order)."""
    prompts = []
    for prefix in sorted(valid_prefixes):
        shard = TokenShard.open(prefix)
        for offset, length in zip(shard.index["offset"], shard.index["n_tokens"]):
            take = min(int(length), n_tokens)  # each document starts with BOS in the shards
            if take >= 2:
                prompts.append(list(map(int, shard.tokens[offset:offset + take])))
            if len(prompts) == n:
                return prompts
    if not prompts:
        raise HaganeError("no held-out documents to build the conversion gate's prompts from")
    return prompts


@torch.no_grad()
def prompt_logits(model, prompts: list[list[int]], *, native: bool) -> list[torch.Tensor]:
    out = []
    for ids in prompts:
        x = torch.tensor([ids])
        out.append(model(x) if native else model(input_ids=x).logits)
    return out


def check_tokenizer(hf_dir: Path, spm_model: Path, prompts: list[list[int]]) -> None:
    import sentencepiece as spm
    from transformers import AutoTokenizer

    sp = spm.SentencePieceProcessor(model_file=str(spm_model))
    tok = AutoTokenizer.from_pretrained(str(hf_dir), local_files_only=True)
    for ids in prompts:
        text = sp.decode(ids[1:])
        if tok.encode(text) != [BOS, *sp.encode(text)]:
            raise HaganeError(f"tokenizer in {hf_dir} disagrees with {spm_model} on the gate prompt {text[:40]!r}")


def write_tokenizer_config(out: Path, *, context_length: int) -> dict:
    """Rewrite the copied tokenizer_config.json so that transformers 5 and 4 load the same tokenizer and
    every reader of the file sees how BOS and EOS are handled and how long a text the model takes.

    - `tokenizer_class`: transformers 5 saves `TokenizersBackend`, a class transformers 4 does not have.
      `PreTrainedTokenizerFast` is the generic class of both (an alias of TokenizersBackend in 5) and
      loads tokenizer.json as it is. `LlamaTokenizerFast` would not do: transformers 5 rebuilds it as a
      byte-fallback BPE with its own pre-tokenizer, which changes the ids of this vocabulary.
    - `add_bos_token`/`add_eos_token`: training documents are BOS, text, EOS; an encoded text gets BOS and
      no EOS (the model is to continue it and end it with EOS), Llama's convention. transformers 5 drops
      both keys on save and, with tokenizer.json present, ignores them on load (tokenizer.json's
      post-processor adds BOS, so its `add_bos_token` attribute reads False either way); transformers 4's
      Llama tokenizers, llama.cpp's converter (tokenizer.ggml.add_bos_token) and people reading the file
      take them from here.
    - `model_max_length`: the model's context; transformers writes 1e30 ("unknown") otherwise, and
      truncation or lm-eval's context check would then never apply.
    - The extra control tokens as `additional_special_tokens`, the list both versions read (transformers
      5 writes `extra_special_tokens` as a list; transformers 4 takes that key for a dict and fails).
    """
    path = out / TOKENIZER_CONFIG
    saved = json.loads(path.read_text()) if path.is_file() else {}
    extra = saved.get("extra_special_tokens") or saved.get("additional_special_tokens") or []
    if isinstance(extra, dict):  # named tokens (a multimodal processor's); Hagane's tokenizers have none
        raise HaganeError(f"{path}: named extra_special_tokens {sorted(extra)} cannot be written for transformers 4")
    config = {"tokenizer_class": "PreTrainedTokenizerFast",
              "bos_token": SPECIAL_PIECES[BOS], "eos_token": SPECIAL_PIECES[EOS], "unk_token": SPECIAL_PIECES[UNK],
              "pad_token": SPECIAL_PIECES[PAD], "add_bos_token": True, "add_eos_token": False,
              "model_max_length": context_length, "clean_up_tokenization_spaces": False,
              **({"additional_special_tokens": list(extra)} if extra else {})}
    path.write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n")
    return config


def write_generation_config(config, out: Path) -> None:
    from transformers import GenerationConfig

    # Greedy by default: what evaluation uses, and what a user gets from `generate` without arguments.
    generation = GenerationConfig(bos_token_id=config.bos_token_id, eos_token_id=config.eos_token_id,
                                  pad_token_id=config.pad_token_id, do_sample=False)
    generation.save_pretrained(str(out))


def convert_checkpoint(cfg: ConvertConfig, ckpt: Path, tokenizer_dir: Path, spm_model: Path,
                       valid_prefixes: list[Path], out_dir: Path, provenance: dict | None = None,
                       provenance_inputs: list[Path] = ()) -> dict:
    from transformers import AutoModelForCausalLM

    started = now()
    if not (ckpt / STATE_FILE).is_file():
        raise HaganeError(f"no complete checkpoint at {ckpt} (removed by pretrain.keep_last, or the run has not "
                          "reached that step)")
    state = read_state(ckpt)
    args = ModelArgs(**state["model_args"])
    prompts = gate_prompts(valid_prefixes, cfg.gate_prompts, cfg.gate_prompt_tokens)
    native = load_native(ckpt)
    parameters = native.num_parameters()
    expected = prompt_logits(native, prompts, native=True)
    del native
    gc.collect()
    with atomic_path(out_dir / MODEL_DIR) as tmp:
        tmp.mkdir(parents=True, exist_ok=True)
        config = hf_config(args, bos_id=BOS, eos_id=EOS, pad_id=PAD)
        write_hf_config(config, tmp)
        write_generation_config(config, tmp)
        weights = write_weights(ckpt, args, tmp, parse_size(cfg.max_shard_size))
        for f in sorted(tokenizer_dir.iterdir()):
            shutil.copyfile(f, tmp / f.name)
        write_tokenizer_config(tmp, context_length=args.max_seq_len)
        # The gate reads back what was written, exactly as a user would load it: offline, fp32.
        reloaded = AutoModelForCausalLM.from_pretrained(str(tmp), dtype=torch.float32, local_files_only=True).eval()
        got = prompt_logits(reloaded, prompts, native=False)
        gap = max((a - b).abs().max().item() for a, b in zip(expected, got))
        if not gap <= cfg.max_abs_diff:
            raise HaganeError(f"conversion gate failed for {ckpt}: converted logits differ from the native "
                              f"model's by {gap:.3e} > convert.max_abs_diff {cfg.max_abs_diff:.1e}")
        check_tokenizer(tmp, spm_model, prompts)
        del reloaded
        # No licence here: it is the published card's (publish_model), so that editing it reruns no conversion.
        facts = {"name": cfg.model_name, "step": state["step"], "parameters": parameters,
                 "model_args": state["model_args"], **(provenance or {})}
        write_model_card(tmp / "README.md", facts)
    write_json(out_dir / CARD_FACTS, facts)
    counts = {"step": state["step"], "max_abs_logit_diff": gap, "gate_prompts": len(prompts),
              "parameters": parameters, **weights}
    write_manifest(out_dir, stage="convert", config={"convert": vars(cfg)},
                   inputs=[ckpt, tokenizer_dir, spm_model, *provenance_inputs,
                           *[p.with_suffix(s) for p in sorted(valid_prefixes) for s in (".bin", ".idx.parquet")]],
                   outputs=[out_dir / MODEL_DIR, out_dir / CARD_FACTS], counts=counts, started_at=started)
    print(f"converted {ckpt} → {out_dir / MODEL_DIR} ({weights['weight_files']} weight file(s)); "
          f"max |Δlogit| = {gap:.3e} on {len(prompts)} prompts")
    return counts


def training_chain(facts: dict, card_facts: Path) -> tuple[dict, list[Path]]:
    """The hash chain from the published weights back to the raw files, for provenance.json: the sha256 of the
    conversion's manifest (weights ← checkpoint), the pretrain manifest (checkpoint ← training shards), the
    tokenizer's, and for every training shard the manifests that made it (tokenize, then the dataset's
    chain: near dedup … collect) and the raw files' sha256. Returns it and the manifests it read, which the
    publish manifest records so that the audit checks them."""
    chain: dict = {}
    read: list[Path] = []
    convert_manifest = Path(card_facts).parent / MANIFEST_NAME
    if convert_manifest.is_file():
        chain["convert_manifest_sha256"] = sha256_file(convert_manifest)
        read.append(convert_manifest)
    data = facts.get("data")
    if not data:
        return chain, read
    pretrain = Path(data["pretrain_manifest"])
    if not pretrain.is_file():
        raise HaganeError(f"{pretrain}: missing; the published model's hash chain starts there ({card_facts} names it)")
    digest = sha256_file(pretrain)
    if digest != data["pretrain_manifest_sha256"]:
        raise HaganeError(f"{pretrain} has sha256 {digest}, but {card_facts} was made from one with "
                          f"{data['pretrain_manifest_sha256']}: training ran again after this conversion; rerun it")
    chain["pretrain_manifest_sha256"] = digest
    read.append(pretrain)
    if data.get("tokenizer_manifest") and Path(data["tokenizer_manifest"]).is_file():
        chain["tokenizer_manifest_sha256"] = sha256_file(data["tokenizer_manifest"])
        read.append(Path(data["tokenizer_manifest"]))
    results = pretrain.parent.parent
    shards = {}
    hashed: dict[Path, str | None] = {}  # the exact-dedup manifest, shared by every shard, hashed once
    for shard in data.get("shards", []):
        tokenize = results / "tokenize" / shard / MANIFEST_NAME
        if not tokenize.is_file():
            raise HaganeError(f"{tokenize}: missing; training shard {shard}'s hash chain starts there")
        rest = shard_chain(shard, results, hashed)  # the dataset's chain, from near dedup back to the raw files
        shards[shard] = {"manifests": {"tokenize": sha256_file(tokenize), **rest["manifests"]},
                         "raw_files": rest["raw_files"]}
        read.append(tokenize)
    chain["training_shards"] = shards
    return chain, read


def publish_model(model_dir: Path, card_facts: Path, evaluation: Path, out_dir: Path,
                  convert: ConvertConfig | None = None, sources=()) -> None:
    """The converted model of the final checkpoint, as the folder to upload: its files (weights hard-linked
    where the file system allows: no second copy), the model card with its evaluation, the model's licence
    (`convert.license…`) and the licences of the training data (`sources`: the collect section's sources),
    `card.json` (the facts the card is rendered from) and `provenance.json` (every file's sha256 and the
    hash chain to the raw files). Everything the card names is in the folder."""
    started = now()
    metrics = json.loads(Path(evaluation).read_text())
    facts = json.loads(Path(card_facts).read_text())
    if metrics["step"] != facts["step"]:
        raise HaganeError(f"{evaluation} evaluates step {metrics['step']}, but {model_dir} is step {facts['step']}")
    eval_manifest = Path(evaluation).parent / MANIFEST_NAME  # the settings the evaluation ran with
    licence = model_licence(convert)
    if licence.get("file") and not Path(convert.license_file).is_file():
        raise HaganeError(f"convert.license_file {convert.license_file} does not exist")
    listed = source_licences(sources)
    licence_texts = sorted({Path(f) for s in listed for f in s["license_files"]})  # as configured
    chain, chain_manifests = training_chain(facts, Path(card_facts))
    with atomic_path(out_dir / MODEL_DIR) as tmp:
        tmp.mkdir(parents=True)
        for f in sorted(Path(model_dir).iterdir()):
            if f.name == "README.md" or f.name.startswith("."):  # .snakemake_timestamp is Snakemake's
                continue
            try:
                os.link(f, tmp / f.name)
            except OSError:
                shutil.copyfile(f, tmp / f.name)
        if licence.get("file"):
            shutil.copyfile(convert.license_file, tmp / LICENSE_FILE)
        copied = copy_licences(listed, tmp)  # the sources' licence texts into LICENSES/, as the dataset does
        for source in listed:
            source["license_files"] = copied.get(source["name"], [])
        (tmp / GITIGNORE).write_text(f"{SNAKEMAKE_MARKER}\n")
        written = ["README.md", CARD_FACTS, PROVENANCE]
        facts = {**facts, "licence": licence, "sources": listed,
                 "evaluation": evaluation_facts(metrics, json.loads(eval_manifest.read_text())
                                                if eval_manifest.is_file() else None),
                 "files": sorted([*(f.relative_to(tmp).as_posix() for f in tmp.rglob("*") if f.is_file()), *written])}
        write_json(tmp / CARD_FACTS, facts)
        # Rendered from the file as written (keys sorted), so that card.json alone gives this README again.
        write_model_card(tmp / "README.md", json.loads((tmp / CARD_FACTS).read_text()))
        files = [{"path": f.relative_to(tmp).as_posix(), "size": f.stat().st_size, "sha256": sha256_file(f)}
                 for f in sorted(tmp.rglob("*")) if f.is_file() and f.name != PROVENANCE]
        write_json(tmp / PROVENANCE, {"files": files, **chain})
    write_manifest(out_dir, stage="publish",
                   config={"convert": {k: v for k, v in vars(convert).items() if k.startswith("license")}
                           if convert else {}, "sources": [{k: v for k, v in s.items() if k != "license_files"}
                                                           for s in listed]},
                   inputs=[model_dir, card_facts, evaluation, *([eval_manifest] if eval_manifest.is_file() else []),
                           *([Path(convert.license_file)] if licence.get("file") else []),
                           *(p for p in licence_texts if not licence.get("file") or p != Path(convert.license_file)),
                           *chain_manifests],
                   outputs=[out_dir / MODEL_DIR], counts={"step": facts["step"], "files": len(facts["files"])},
                   started_at=started)
    print(f"published {out_dir / MODEL_DIR} (step {facts['step']}): {len(facts['files'])} files, licence "
          f"{licence['license']}, {len(listed)} source(s) with their licences")
