"""lm-evaluation-harness on a converted model, offline and independent of the batch size.

`HaganeLM` is lm-eval's model interface (`lm_eval.api.model.LM`) over a transformers causal LM loaded
from a local directory. lm-eval's own `HFLM` would also do, but it needs accelerate and peft, and it
pads requests of different lengths into one batch, so its scores move in the last digits with the batch
size. Here a batch only ever holds requests of the same total length (no padding, no attention mask), and
`tests/unit/evaluate/test_harness.py` checks that batch sizes 1 and 8 give identical numbers.

Requests are tokenised as lm-eval's Hugging Face model does (the pair context+continuation encoded
whole and split where the context alone ends, trailing spaces of the context moved to the continuation),
with BOS in front: Hagane's models saw BOS at the start of every training document.
"""

from __future__ import annotations

import math
import os
from collections import defaultdict
from pathlib import Path

import torch
import torch.nn.functional as F
from lm_eval.api.model import LM
from tqdm import tqdm

from hagane.errors import HaganeError


def offline() -> None:
    """Nothing is fetched from a hub at evaluation time: tasks read local files, the model is local."""
    for key in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE"):
        os.environ[key] = "1"


def load_model(model_dir: Path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    # fp32 everywhere, on the GPU where there is one (TF32 stays off: the same numbers as on a CPU to
    # within float rounding).
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=torch.float32, local_files_only=True)
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir), local_files_only=True)
    return model.to(device).eval(), tokenizer


class HaganeLM(LM):
    def __init__(self, model, tokenizer, *, batch_size: int = 8, max_length: int | None = None):
        super().__init__()
        self.model, self.tokenizer = model, tokenizer
        self.batch_size = batch_size
        self.max_length = max_length or model.config.max_position_embeddings
        self.bos = tokenizer.bos_token_id
        self.eos = tokenizer.eos_token_id

    def encode(self, text: str) -> list[int]:
        return self.tokenizer.encode(text, add_special_tokens=False)

    def pair_tokens(self, context: str, continuation: str) -> tuple[list[int], list[int]]:
        spaces = len(context) - len(context.rstrip())
        if spaces:
            context, continuation = context[:-spaces], context[-spaces:] + continuation
        whole = self.encode(context + continuation)
        n_context = len(self.encode(context)) if context else 0
        if n_context >= len(whole):  # the continuation merged into the context's last piece
            n_context = len(whole) - 1
        return [self.bos, *whole[:n_context]], whole[n_context:]

    @torch.no_grad()
    def score(self, pairs: list[tuple[list[int], list[int]]], desc: str) -> list[tuple[float, bool]]:
        """Sum of log p(continuation | context) and whether greedy decoding would produce it, per pair.
        Sequences longer than the context window keep their last max_length + 1 tokens."""
        rows = []
        for context, continuation in pairs:
            if not continuation:
                raise HaganeError("lm-eval asked for the likelihood of an empty continuation")
            if len(continuation) > self.max_length:
                raise HaganeError(f"a continuation of {len(continuation)} tokens is longer than the model's "
                                  f"context ({self.max_length})")
            whole = (context + continuation)[-(self.max_length + 1):]
            rows.append((whole, len(continuation)))
        by_length = defaultdict(list)
        for i, (whole, _) in enumerate(rows):
            by_length[len(whole)].append(i)
        out: list[tuple[float, bool] | None] = [None] * len(rows)
        batches = [ids[k:k + self.batch_size] for length in sorted(by_length) for ids in [by_length[length]]
                   for k in range(0, len(ids), self.batch_size)]
        for batch in tqdm(batches, desc=desc, unit="batch", mininterval=5, disable=len(batches) < 20):
            x = torch.tensor([rows[i][0][:-1] for i in batch], device=self.model.device)
            logprobs = F.log_softmax(self.model(input_ids=x).logits.float(), dim=-1).cpu()
            for j, i in enumerate(batch):
                whole, n = rows[i]
                target = torch.tensor(whole[-n:])
                lp = logprobs[j, -n:]
                total = lp.gather(1, target[:, None]).sum().item()
                out[i] = (total, bool((lp.argmax(-1) == target).all()))
        return out  # type: ignore[return-value]

    def loglikelihood(self, requests, disable_tqdm: bool = False):
        return self.score([self.pair_tokens(*r.args) for r in requests], "loglikelihood")

    def loglikelihood_rolling(self, requests, disable_tqdm: bool = False):
        """Whole-text log-likelihood in disjoint windows of the context length, each predicting all of its
        tokens from BOS and the window itself (the first window) or from the window before it."""
        totals = []
        for r in requests:
            tokens = [self.bos, *self.encode(r.args[0])]
            pairs = []
            for start in range(1, len(tokens), self.max_length):
                target = tokens[start:start + self.max_length]
                context = tokens[max(0, start - (self.max_length + 1 - len(target))):start]
                pairs.append((context, target))
            totals.append(sum(lp for lp, _ in self.score(pairs, "rolling")) if pairs else 0.0)
        return totals

    @torch.no_grad()
    def greedy(self, prompt: str, *, max_new_tokens: int, until: list[str] = ()) -> str:
        """Greedy continuation of `prompt`, cut before the first of `until`. One prompt at a time, so no
        padding can change what is generated."""
        ids = [self.bos, *self.encode(prompt)][-(self.max_length - max_new_tokens):]
        x = torch.tensor([ids], device=self.model.device)
        out = self.model.generate(x, attention_mask=torch.ones_like(x), do_sample=False,
                                  max_new_tokens=max_new_tokens, eos_token_id=self.eos, pad_token_id=self.eos)
        text = self.tokenizer.decode(out[0, len(ids):].cpu().tolist(), skip_special_tokens=True)
        cut = min((text.find(s) for s in until if s and s in text), default=len(text))
        return text[:cut]

    def generate_until(self, requests, disable_tqdm: bool = False):
        results = []
        for r in tqdm(requests, desc="generate", disable=disable_tqdm or len(requests) < 20, mininterval=5):
            context, kwargs = r.args
            until = kwargs.get("until") or []
            until = [until] if isinstance(until, str) else list(until)
            results.append(self.greedy(context, max_new_tokens=int(kwargs.get("max_gen_toks", 64)),
                                       until=until))
        return results


def run_tasks(lm: HaganeLM, task_configs: list[dict], *, seed: int = 1234,
              samples: dict[str, list[int]] | None = None) -> dict:
    """lm-eval's `simple_evaluate` on `task_configs` (dict task definitions, see tasks.py), on the example
    indices `samples` names for a task (all examples otherwise). Returns {task: {metric: value}} with
    stderr where lm-eval gives it; fully deterministic given the seed."""
    from lm_eval import simple_evaluate
    from lm_eval.tasks import TaskManager

    offline()
    # include_defaults=False: lm-eval's thousands of built-in task files are not indexed (~12 s saved).
    out = simple_evaluate(model=lm, tasks=task_configs, task_manager=TaskManager(include_defaults=False),
                          bootstrap_iters=1000,
                          random_seed=seed, numpy_random_seed=seed, torch_random_seed=seed,
                          fewshot_random_seed=seed, samples=samples, log_samples=False, verbosity="WARNING")
    results = {}
    for task, metrics in out["results"].items():
        clean = {}
        for key, value in metrics.items():
            if key == "alias" or not isinstance(value, (int, float)):
                continue
            name = key.split(",")[0]  # lm-eval suffixes the filter: "acc,none"
            clean[name] = None if isinstance(value, float) and math.isnan(value) else value
        clean["samples"] = out["n-samples"][task]["effective"]
        clean["num_fewshot"] = out["n-shot"][task]
        results[task] = clean
    return results
