"""The published model folder as a Hugging Face user meets it: licence, training data with licences, intended
use, evaluation explained, how to load it, and provenance that can be checked from the folder alone.

The fixture lays out a workflow's results/ for the demo's shape (two sources, one shard each) with real
manifests, so that the hash chain, the card and the audit are checked together."""

import hashlib
import json
import re
from pathlib import Path

import pytest

from hagane.audit.verify import verify
from hagane.config import ConvertConfig
from hagane.convert.card import (conversion_json, evaluation_facts, licence_files, model_licence, render_model_card,
                                 source_licences, training_provenance)
from hagane.convert.export import CARD_FACTS, MODEL_DIR, publish_model
from hagane.errors import HaganeError
from hagane.io import sha256_file
from hagane.manifest import now, write_manifest

STEP = "step_0000200"
DEMO_LICENCE = ConvertConfig(max_abs_diff=1e-4, gate_prompts=8, gate_prompt_tokens=64, model_name="hagane-demo",
                             license="other", license_name="hagane-demo", license_file="licences/MODEL_LICENSE")
SOURCES = [
    {"name": "debian_web", "type": "warc", "paths": ["raw/web/*.warc.gz"],
     "license": {"id": "GPL-2.0-or-later", "link": "https://www.gnu.org/licenses/old-licenses/gpl-2.0.html",
                 "files": ["licences/GPL-2", "licences/NOTICE"],
                 "attribution": "Osamu Aoki, Raphaël Hertzog, Roland Mas and the Debian Documentation Project"}},
    {"name": "manuals_text", "type": "text", "paths": ["raw/text/*.txt"],
     "license": {"id": "LicenseRef-texinfo-permission-notices", "files": ["licences/NOTICE"],
                 "attribution": "The SKK and Mew developers"}},
]
SHARDS = {"debian_web": "debian-docs", "manuals_text": "mew-manual-ja--skk-manual-ja"}
METRICS = {
    "step": 200,
    "held_out": {"loss_nats_per_token": 5.611, "perplexity": 273.4, "bits_per_char": 3.271, "bits_per_byte": 1.642,
                 "unigram_entropy_nats_per_token": 6.882, "context_length": 256, "validation_documents": 15,
                 "validation_tokens": 37192, "validation_chars": 92001, "validation_bytes": 183297,
                 "by_source": {
                     "debian_web": {"loss_nats_per_token": 5.62, "bits_per_char": 3.28, "validation_documents": 6,
                                    "validation_tokens": 30000, "validation_chars": 81525},
                     "manuals_text": {"loss_nats_per_token": 5.5, "bits_per_char": 3.204, "validation_documents": 9,
                                      "validation_tokens": 7192, "validation_chars": 10476}}},
    "tasks": {"continuation": {"acc": 0.307, "acc_stderr": 0.029, "acc_norm": 0.31, "acc_norm_stderr": 0.029,
                               "acc_mutual_info": 0.602, "acc_mutual_info_stderr": 0.030, "chance": 0.25,
                               "num_fewshot": 0, "sample_len": 261, "samples": 261}},
}
CONTINUATION = {"choices": 4, "context_chars": 200, "continuation_chars": 100, "max_items": 500, "seed": 1}


def put(path, data) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
    return path


def manifest(out_dir, stage, inputs, outputs, config=None, counts=None) -> Path:
    return write_manifest(out_dir, stage=stage, config=config or {}, inputs=inputs, outputs=outputs,
                          counts=counts or {}, started_at=now())


@pytest.fixture
def results(tmp_path, monkeypatch):
    """results/ up to the evaluation of the final checkpoint, every stage with its manifest (the files are
    stand-ins: the card and the chain read manifests, not tensors)."""
    monkeypatch.chdir(tmp_path)
    put("licences/GPL-2", "GNU GENERAL PUBLIC LICENSE\nVersion 2, June 1991\n")
    put("licences/NOTICE", "Hagane demo corpus (data/demo/): NOTICE\n")
    put("licences/MODEL_LICENSE", "hagane-demo: the licence statement of the model Hagane's demo trains\n")
    raw = {"debian_web": [put("raw/web/debian-docs.warc.gz", b"WARC/1.0 ...")],
           "manuals_text": [put("raw/text/mew-manual-ja.txt", "Mew の手引き"), put("raw/text/skk-manual-ja.txt", "SKK")]}
    tokenize_manifests = []
    for source, shard in SHARDS.items():
        s = f"{source}/{shard}"
        roots = {"debian_web": ["raw/web"], "manuals_text": ["raw/text"]}[source]
        manifest(f"results/collect/{s}", "collect", raw[source], [put(f"results/collect/{s}/documents.jsonl.zst", s)],
                 config={"roots": roots})
        manifest(f"results/filter/score/{s}", "score", [f"results/collect/{s}/documents.jsonl.zst"],
                 [put(f"results/filter/score/{s}/scores.parquet", s)])
        manifest(f"results/filter/select/{s}", "select", [f"results/filter/score/{s}/scores.parquet"],
                 [put(f"results/filter/select/{s}/kept.jsonl.zst", s)])
    manifest("results/dedup/exact", "exact_dedup", [f"results/filter/select/{s}/kept.jsonl.zst" for s in
                                                   (f"{a}/{b}" for a, b in SHARDS.items())],
             [put(f"results/dedup/exact/{a}/{b}/documents.jsonl.zst", b) for a, b in SHARDS.items()])
    put("results/tokenizer/spm.model", b"spm")
    manifest("results/tokenizer", "tokenizer", [f"results/dedup/exact/{a}/{b}/documents.jsonl.zst"
                                                for a, b in SHARDS.items()], ["results/tokenizer/spm.model"],
             config={"tokenizer": {"model_type": "bpe", "vocab_size": 8000}}, counts={"characters_per_token": 1.6})
    for source, shard in SHARDS.items():
        s = f"{source}/{shard}"
        manifest(f"results/dedup/{s}", "near_dedup", [f"results/dedup/exact/{s}/documents.jsonl.zst"],
                 [put(f"results/dedup/{s}/documents.jsonl.zst", s)])
        tokenize_manifests.append(manifest(
            f"results/tokenize/{s}", "tokenize", [f"results/dedup/{s}/documents.jsonl.zst", "results/tokenizer/spm.model"],
            [put(f"results/tokenize/{s}/train.bin", s), put(f"results/tokenize/{s}/valid.bin", s)],
            config={"tokenize": {}, "split": {"validation_fraction": 0.05, "salt": "hagane-split-v1"}},
            counts={"train": {"documents": {"debian_web": 61, "manuals_text": 228}[source],
                              "tokens": {"debian_web": 286725, "manuals_text": 152110}[source]}}))
    ckpt = put(f"results/pretrain/checkpoints/{STEP}/trainer_state.json", '{"step": 200}')
    pretrain = manifest("results/pretrain", "pretrain", [f"results/tokenize/{a}/{b}/train.bin" for a, b in SHARDS.items()],
                        [ckpt], config={"pretrain": {"steps": 200, "seq_len": 256, "nproc": 2, "threads_per_rank": 1,
                                                     "deterministic": True, "lr": 0.003}},
                        counts={"world_size": 2, "precision": "fp32", "tokens": 819200, "steps": 200})
    convert = Path(f"results/convert/{STEP}")
    for name in ("config.json", "generation_config.json", "tokenizer.json", "tokenizer.model", "tokenizer_config.json"):
        put(convert / "model" / name, name)
    put(convert / "model" / "model.safetensors", b"\0weights")
    put(convert / "model" / "README.md", "the intermediate card")
    facts = {"name": "hagane-demo", "step": 200, "parameters": 5_016_320,
             "model_args": {"dim": 256, "n_layers": 4, "n_heads": 4, "n_kv_heads": 2, "ffn_dim": 704, "vocab_size": 8000,
                            "max_seq_len": 256, "tie_embeddings": True},
             **training_provenance(pretrain, tokenize_manifests, Path("results/tokenizer/_manifest.json"))}
    put(convert / CARD_FACTS, json.dumps(facts, ensure_ascii=False))
    manifest(convert, "convert", [ckpt], [convert / "model", convert / CARD_FACTS])
    put("results/evaluate/tasks/continuation.jsonl", "{}\n")
    manifest("results/evaluate/tasks", "evaluate-task", [f"results/tokenize/{a}/{b}/valid.bin" for a, b in SHARDS.items()],
             ["results/evaluate/tasks/continuation.jsonl"])
    evaluate = Path(f"results/evaluate/{STEP}")
    put(evaluate / "metrics.json", json.dumps(METRICS))
    manifest(evaluate, "evaluate", [convert / "model", "results/evaluate/tasks/continuation.jsonl"],
             [evaluate / "metrics.json"], config={"evaluate": {"continuation": CONTINUATION, "tasks": []}})
    return tmp_path


def publish(cfg=DEMO_LICENCE, sources=SOURCES) -> Path:
    convert = Path(f"results/convert/{STEP}")
    publish_model(convert / MODEL_DIR, convert / CARD_FACTS, Path(f"results/evaluate/{STEP}/metrics.json"),
                  Path("results/publish"), cfg, sources)
    return Path("results/publish") / MODEL_DIR


def test_the_demo_card_states_its_licence_and_the_training_datas(results):
    folder = publish()
    card = (folder / "README.md").read_text()
    assert card.startswith("---\nlanguage:\n- ja\nlicense: other\nlicense_name: hagane-demo\nlicense_link: LICENSE\n")
    assert (folder / "LICENSE").read_text() == Path("licences/MODEL_LICENSE").read_text()
    assert (folder / "LICENSES" / "GPL-2").read_text().startswith("GNU GENERAL PUBLIC LICENSE")
    assert (folder / "LICENSES" / "NOTICE").is_file()
    assert ("| debian_web | 61 | 286,725 | 1 | [GPL-2.0-or-later](https://www.gnu.org/licenses/old-licenses/gpl-2.0.html)"
            " ([GPL-2](LICENSES/GPL-2), [NOTICE](LICENSES/NOTICE)) | Osamu Aoki, Raphaël Hertzog, Roland Mas and the "
            "Debian Documentation Project |") in card
    assert ("| manuals_text | 228 | 152,110 | 1 | LicenseRef-texinfo-permission-notices ([NOTICE](LICENSES/NOTICE)) "
            "| The SKK and Mew developers |") in card
    assert "Whether a model's weights are bound by the licences of its training texts is not settled" in card


def test_intended_use_and_limitations_come_from_the_run(results):
    card = (publish() / "README.md").read_text()
    assert ("a base model of 5,016,320 parameters, trained on 819,200 tokens (0.16 tokens per parameter), that "
            "continues Japanese text, with a context of 256 tokens") in card
    assert "It was not instruction-tuned" in card and "**A demonstration**: at 5.02 M parameters" in card
    assert "**Japanese only**" in card


def test_the_evaluation_says_what_it_ran_on_and_keeps_settings_apart_from_results(results):
    card = (publish() / "README.md").read_text()
    assert ("**Held-out text.** 15 documents (37,192 tokens, 92,001 characters) that the data split kept out of "
            "training (`split.validation_fraction` 0.05 of each source's documents") in card
    assert "| held-out | all | debian_web | manuals_text |" in card
    assert "| loss (nats/token) | 5.6110 | 5.6200 | 5.5000 |" in card and "| documents | 15 | 6 | 9 |" in card
    assert ("261 items built from those same held-out documents, each a context of 200 characters ending at a "
            "sentence boundary and 4 candidate continuations of 100 characters") in card
    assert "| continuation | acc_mutual_info | 0.6020 | ± 0.0300 | 261 | 0 | 0.2500 |" in card
    rows = [line for line in card.splitlines() if line.startswith("| continuation |")]
    assert [row.split(" | ")[1] for row in rows] == ["acc", "acc_mutual_info", "acc_norm"]  # no chance, no shots


def test_the_card_is_rendered_from_card_json_and_names_only_files_in_the_folder(results):
    folder = publish()
    facts = json.loads((folder / "card.json").read_text())
    card = (folder / "README.md").read_text()
    assert render_model_card(facts) == card
    present = {f.relative_to(folder).as_posix() for f in folder.rglob("*") if f.is_file()}
    assert sorted(present) == facts["files"] == [
        ".gitignore", "LICENSE", "LICENSES/GPL-2", "LICENSES/NOTICE", "README.md", "card.json", "config.json",
        "generation_config.json", "model.safetensors", "provenance.json", "tokenizer.json", "tokenizer.model",
        "tokenizer_config.json"]
    links = {target for target in re.findall(r"\]\(([^)]+)\)", card) if not target.startswith("http")}
    named = set(re.findall(r"`([\w./-]+\.(?:json|md|model|safetensors))`", card)) | links
    assert links and named <= present, named - present
    # No path into a workflow's results (the audit of one is mentioned, for those who have it).
    assert not re.search(r"results/\w", card) and "_manifest.json" not in card
    assert "hf upload <user>/<repository> . --exclude .snakemake_timestamp" in card
    assert (folder / ".gitignore").read_text() == ".snakemake_timestamp\n"
    assert "python convert_hf_to_gguf.py . --outtype f32" in card and "lm_eval --model hf" in card
    assert "AutoModelForCausalLM.from_pretrained" in card


def test_provenance_is_checkable_from_the_folder_alone(results):
    folder = publish()
    provenance = json.loads((folder / "provenance.json").read_text())
    listed = {f["path"]: f for f in provenance["files"]}
    assert set(listed) == set(json.loads((folder / "card.json").read_text())["files"]) - {"provenance.json"}
    for path, entry in listed.items():
        data = (folder / path).read_bytes()
        assert (len(data), hashlib.sha256(data).hexdigest()) == (entry["size"], entry["sha256"])
    assert provenance["pretrain_manifest_sha256"] == sha256_file("results/pretrain/_manifest.json")
    assert provenance["convert_manifest_sha256"] == sha256_file(f"results/convert/{STEP}/_manifest.json")
    assert provenance["tokenizer_manifest_sha256"] == sha256_file("results/tokenizer/_manifest.json")
    shard = provenance["training_shards"]["manuals_text/mew-manual-ja--skk-manual-ja"]
    s = "manuals_text/mew-manual-ja--skk-manual-ja"
    assert shard["manifests"] == {
        "tokenize": sha256_file(f"results/tokenize/{s}/_manifest.json"),
        "near_dedup": sha256_file(f"results/dedup/{s}/_manifest.json"),
        "exact_dedup": sha256_file("results/dedup/exact/_manifest.json"),
        "select": sha256_file(f"results/filter/select/{s}/_manifest.json"),
        "score": sha256_file(f"results/filter/score/{s}/_manifest.json"),
        "collect": sha256_file(f"results/collect/{s}/_manifest.json")}
    assert shard["raw_files"] == [{"path": "mew-manual-ja.txt", "size": len("Mew の手引き".encode()),
                                   "sha256": sha256_file("raw/text/mew-manual-ja.txt")},
                                  {"path": "skk-manual-ja.txt", "size": 3, "sha256": sha256_file("raw/text/skk-manual-ja.txt")}]


def test_the_audit_vouches_for_every_published_file(results):
    folder = publish()
    put(folder / ".snakemake_timestamp", "")  # what Snakemake adds after the job
    report = verify(Path("results"))
    assert sorted(report["raw_sources"]) == ["licences/GPL-2", "licences/MODEL_LICENSE", "licences/NOTICE",
                                             "raw/text/mew-manual-ja.txt", "raw/text/skk-manual-ja.txt",
                                             "raw/web/debian-docs.warc.gz"]
    recorded = {Path(o["path"]).relative_to(folder).as_posix()
                for o in json.loads(Path("results/publish/_manifest.json").read_text())["outputs"]}
    assert "provenance.json" in recorded and "LICENSE" in recorded and ".gitignore" in recorded


def test_a_model_without_a_declared_licence_says_so(results):
    card = (publish(cfg=None, sources=[{"name": s["name"], "type": s["type"]} for s in SOURCES]) / "README.md").read_text()
    assert "\nlicense: unknown\n" in card and "license_name" not in card
    assert "**No licence was declared for this model**" in card
    assert "| debian_web | 61 | 286,725 | 1 | not declared | — |" in card
    assert not (Path("results/publish") / MODEL_DIR / "LICENSE").exists()


def test_a_licence_id_of_hugging_faces_list_is_written_as_it_is():
    cfg = ConvertConfig(max_abs_diff=1e-4, gate_prompts=1, gate_prompt_tokens=2, license="Apache-2.0",
                        license_file="LICENSE.txt")
    assert model_licence(cfg) == {"declared": True, "license": "apache-2.0", "license_link": "LICENSE", "file": "LICENSE"}
    assert model_licence(None) == {"declared": False, "license": "unknown"}


@pytest.mark.parametrize("keys, message", [
    ({"license": "other"}, "convert.license is 'other': name the licence (convert.license_name)"),
    ({"license_file": "x"}, "convert.license_link or convert.license_file is set but not convert.license_name"),
    ({"license_name": "mine"}, "convert.license_name 'mine' needs convert.license_link (a URL) or convert.license_file"),
])
def test_an_incomplete_licence_is_refused_naming_the_keys(keys, message):
    cfg = ConvertConfig(max_abs_diff=1e-4, gate_prompts=1, gate_prompt_tokens=2, **keys)
    with pytest.raises(HaganeError, match=re.escape(message)):
        model_licence(cfg)


def test_a_missing_licence_file_and_a_retrained_model_are_named(results):
    with pytest.raises(HaganeError, match=r"convert.license_file nowhere/LICENSE does not exist"):
        publish(cfg=ConvertConfig(max_abs_diff=1e-4, gate_prompts=1, gate_prompt_tokens=2, license="mit",
                                  license_file="nowhere/LICENSE"))
    path = Path("results/pretrain/_manifest.json")
    path.write_text(path.read_text().replace('"steps": 200', '"steps": 201', 1))
    with pytest.raises(HaganeError, match=r"training ran again after this conversion; rerun it"):
        publish()
    assert not (Path("results/publish") / MODEL_DIR).exists()


def test_sources_and_evaluation_facts_alone():
    assert source_licences([{"name": "a", "type": "text"}]) == [
        {"name": "a", "type": "text", "license": None, "license_link": None, "license_files": [], "attribution": None}]
    facts = evaluation_facts(METRICS)  # no manifest beside it: no continuation settings
    assert facts["tasks"]["continuation"]["settings"] == {"items": 261, "num_fewshot": 0, "chance": 0.25}
    assert "chance" not in facts["tasks"]["continuation"]["results"] and "continuation" not in facts


def test_the_reproducibility_statement_names_where_the_bits_hold(results):
    card = (publish() / "README.md").read_text()
    section = card.split("## Reproducibility", 1)[1].split("\n## ", 1)[0]
    assert "except `tokenizer.num_threads` for a unigram tokenizer" in section
    assert re.search(r"bit-identical on the same machine type with the same ranks and threads and the same torch "
                     r"build \(2 rank\(s\) × 1 thread\(s\), torch [^,]+, on [^)]+\)", section)
    assert "differ in the last digits" in section and "pretrain.deterministic: false" not in section


def test_a_licence_edit_changes_no_conversion_params_and_the_demo_publishes_its_licence_texts():
    from hagane.config import load_config_file

    repo = Path(__file__).resolve().parents[3]
    config = load_config_file(repo / "config" / "demo.yaml")
    edited = {**config["convert"], "license": "mit", "license_name": None, "license_file": None}
    assert conversion_json(config["convert"]) == conversion_json(edited)
    assert "license" not in json.loads(conversion_json(config["convert"]))
    assert conversion_json({**config["convert"], "gate_prompts": 3}) != conversion_json(config["convert"])
    assert licence_files(config) == ["data/demo/LICENSES/GPL-2", "data/demo/MODEL_LICENSE", "data/demo/NOTICE"]
    assert all((repo / f).is_file() for f in licence_files(config))
    assert model_licence(ConvertConfig(**{k: v for k, v in config["convert"].items()})) == {
        "declared": True, "license": "other", "license_name": "hagane-demo", "license_link": "LICENSE",
        "file": "LICENSE"}
