#!/usr/bin/env python3
"""The PyTorch twin of `deno task experiment`: the same cells on the same examples.

It reads the folder `deno task bench --experiment --vs-torch` exports (bench/twin_export.ts,
format probsft-twin/1) and, for every cell in plan order, pretrains the cell's base model (once
per base: the cells of a base reuse its weights), fine-tunes it with the cell's objective and
generates the held-out completions, writing their token ids to OUT/cells/<key>.json for probsft
to grade with its own graders (bench/twin_grade.ts).

What is the same as probsft: the data (pretraining documents and the documents of every step, the
tokenized SFT pairs with their completion-only masks and the rows of every step, the prompts as
token ids), the model (GPT-2 family: learned positions, pre-LayerNorm, exact or tanh GELU, biases,
untied or tied head, the config's sizes), the initialisation scheme (N(0, 0.02^2) for embeddings
and matrices, zeros for biases, ones for LayerNorm scales), the recipe (per-step learning rates,
AdamW with decoupled weight decay on every weight, global-norm clipping with a step skipped on a
non-finite norm), the objectives with the official code's reduction (a token mean per micro-batch,
sum / (count + 1e-8); a thresholded objective's gate, from the current p and without gradient,
shrinks the denominator to the kept tokens), and the decoding rules (greedy or softmax sampling
at the temperature within top-p, left-padded batches with per-row positions, a row ends at an
end-of-sequence id, not included, or after the new-token cap; stop strings are applied by the
grader). What is not: the random numbers of the initialisation and of the samples (torch's
generator, seeded by the cell's seeds), and float rounding.

Usage:
  python3 bench/torch_experiment.py EXPORT_DIR --out OUT [--threads N]

Prints one JSON line at the end: {"torch": version, "threads": n, "cells": n, "wallSeconds": s,
"pretrainSeconds": s, "trainSeconds": s, "evalSeconds": s}.
"""
import json
import math
import os
import sys
import time

import torch
import torch.nn.functional as F

from torch_reference import set_threads  # the same thread setting as the step bench

FORMAT = "probsft-twin/1"


class Block(torch.nn.Module):
    def __init__(self, c):
        super().__init__()
        d, m = c["dModel"], c["dMlp"]
        self.heads, self.head_dim = c["nHeads"], c["headDim"]
        self.ln_1 = torch.nn.LayerNorm(d, eps=c["normEps"])
        self.c_attn = torch.nn.Linear(d, 3 * d)
        self.c_proj = torch.nn.Linear(d, d)
        self.ln_2 = torch.nn.LayerNorm(d, eps=c["normEps"])
        self.c_fc = torch.nn.Linear(d, m)
        self.mlp_proj = torch.nn.Linear(m, d)
        self.approximate = "tanh" if c["activation"] == "gelu_new" else "none"

    def forward(self, h, mask, past=None):
        b, t, d = h.shape
        q, k, v = self.c_attn(self.ln_1(h)).split(d, dim=-1)
        heads = lambda x: x.view(b, t, self.heads, self.head_dim).transpose(1, 2)  # noqa: E731
        q, k, v = heads(q), heads(k), heads(v)
        if past is not None:
            k = torch.cat([past[0], k], dim=2)
            v = torch.cat([past[1], v], dim=2)
        scores = (q @ k.transpose(-2, -1)) / math.sqrt(self.head_dim) + mask
        context = (scores.softmax(-1) @ v).transpose(1, 2).reshape(b, t, d)
        h = h + self.c_proj(context)
        h = h + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(h)), approximate=self.approximate))
        return h, (k, v)


class Gpt2(torch.nn.Module):
    def __init__(self, c):
        super().__init__()
        if c["family"] != "gpt2":
            raise ValueError(f"the twin implements the gpt2 family only, got {c['family']}")
        d, vocab = c["dModel"], c["vocabSize"]
        self.wte = torch.nn.Embedding(vocab, d)
        self.wpe = torch.nn.Embedding(c["contextLength"], d)
        self.blocks = torch.nn.ModuleList(Block(c) for _ in range(c["nLayers"]))
        self.ln_f = torch.nn.LayerNorm(d, eps=c["normEps"])
        self.head = torch.nn.Linear(d, vocab, bias=False)
        if c["tieEmbeddings"]:
            self.head.weight = self.wte.weight
        for name, p in self.named_parameters():
            if p.dim() == 2:
                torch.nn.init.normal_(p, 0, 0.02)
            elif "ln" in name and name.endswith("weight"):
                torch.nn.init.ones_(p)
            else:
                torch.nn.init.zeros_(p)

    def forward(self, ids, positions, mask, past=None):
        h = self.wte(ids) + self.wpe(positions)
        present = []
        for i, block in enumerate(self.blocks):
            h, kv = block(h, mask, None if past is None else past[i])
            present.append(kv)
        return self.head(self.ln_f(h)), present


NEG = -1e9


def causal_mask(t):
    return torch.full((t, t), NEG).triu(1).view(1, 1, t, t)


def log_p_target(model, inputs, targets):
    """log p of each target, fp32 (positions 0..t-1, causal mask)."""
    b, t = inputs.shape
    positions = torch.arange(t).unsqueeze(0).expand(b, t)
    logits, _ = model(inputs, positions, causal_mask(t))
    return logits.float().log_softmax(-1).gather(-1, targets.unsqueeze(-1)).squeeze(-1)


def make_optimizer(model, o):
    return torch.optim.AdamW(
        model.parameters(),
        lr=0.0,
        betas=(o["beta1"], o["beta2"]),
        eps=o["epsilon"],
        weight_decay=o["weightDecay"],
    )


def optimizer_step(model, opt, lr, clip):
    """Clip by the global norm (0 disables) and step; a non-finite norm skips the step."""
    params = [p for p in model.parameters() if p.grad is not None]
    norm = torch.norm(torch.stack([p.grad.detach().norm(2) for p in params]), 2)
    if not torch.isfinite(norm):
        opt.zero_grad(set_to_none=True)
        return False
    if clip > 0 and norm > clip:
        scale = clip / (norm + 1e-6)
        for p in params:
            p.grad.detach().mul_(scale)
    for group in opt.param_groups:
        group["lr"] = lr
    opt.step()
    opt.zero_grad(set_to_none=True)
    return True


def pad_rows(rows, pad):
    """Inputs ids[:-1], targets ids[1:], right-padded; mask 1 on real targets (or given masks)."""
    width = max(len(ids) for ids, _ in rows) - 1
    inputs = torch.full((len(rows), width), pad, dtype=torch.long)
    targets = torch.full((len(rows), width), pad, dtype=torch.long)
    mask = torch.zeros((len(rows), width))
    for r, (ids, sup) in enumerate(rows):
        n = len(ids) - 1
        inputs[r, :n] = torch.tensor(ids[:-1])
        targets[r, :n] = torch.tensor(ids[1:])
        mask[r, :n] = torch.tensor(sup[1:], dtype=torch.float32) if sup is not None else 1.0
    return inputs, targets, mask


def pretrain(base, data_dir):
    torch.manual_seed(base["seed"])
    model = Gpt2(base["config"])
    if base["steps"] == 0:
        return model
    with open(os.path.join(data_dir, base["corpus"])) as f:
        documents = json.load(f)["documents"]
    opt = make_optimizer(model, base["optimizer"])
    for step, rows in enumerate(base["rows"]):
        inputs, targets, mask = pad_rows([(documents[i], None) for i in rows], base["padId"])
        logp = log_p_target(model, inputs, targets)
        loss = -(logp * mask).sum() / mask.sum().clamp(min=1)
        loss.backward()
        optimizer_step(model, opt, base["learningRates"][step], base["optimizer"]["clipNorm"])
    return model


def per_token(objective, params, logp):
    """The objective's per-token loss and its gate (None: every supervised token kept)."""
    p = logp.exp()
    if objective == "neg-log-prob":
        return -logp, None
    if objective == "neg-prob":
        return 1 - p, None
    if objective == "general-family":
        alpha = params["alpha"]
        return (1 - torch.exp(alpha * logp)) / alpha, None
    if objective in ("thresholded-neg-log-prob", "thresholded-neg-prob"):
        tau, keep = params["tau"], params.get("keep", "above")
        pd = p.detach()
        gate = (pd >= tau) if keep == "above" else (pd <= tau)
        loss = -logp if objective == "thresholded-neg-log-prob" else 1 - p
        return loss, gate.float()
    raise ValueError(f"the twin does not implement objective {objective!r}")


def sft(model, cell, pairs):
    opt = make_optimizer(model, cell["optimizer"])
    token_mean = cell.get("lossAggregation") == "token-mean"
    objective, params = cell["objectiveId"], cell.get("objectiveParams") or {}
    for step, rows in enumerate(cell["order"]):
        chosen = [(pairs[i]["ids"], pairs[i]["mask"]) for i in rows]
        micro = cell.get("microBatchSize") or len(chosen)
        parts = [chosen[k:k + micro] for k in range(0, len(chosen), micro)]
        kept_total = 0.0
        for part in parts:
            inputs, targets, mask = pad_rows(part, cell["padId"])
            loss, gate = per_token(objective, params, log_p_target(model, inputs, targets))
            kept = mask if gate is None else mask * gate
            total = (loss * kept).sum()
            if token_mean:
                kept_total += float(kept.sum())
                total.backward()
            else:
                (total / (kept.sum() + 1e-8) / len(parts)).backward()
        if token_mean:
            for p in model.parameters():
                if p.grad is not None:
                    p.grad.div_(kept_total + 1e-8)
        optimizer_step(model, opt, cell["learningRates"][step], cell["optimizer"]["clipNorm"])


@torch.no_grad()
def generate(model, prompts, decoding, eos_ids, pad, generator):
    """Left-padded batched decoding with a key/value cache (backbones/generate.ts's rules)."""
    batch = len(prompts)
    width = max(len(p) for p in prompts)
    first = [width - len(p) for p in prompts]
    ids = torch.tensor([[pad] * f + list(p) for f, p in zip(first, prompts)], dtype=torch.long)
    first_t = torch.tensor(first).view(batch, 1)
    positions = (torch.arange(width).view(1, width) - first_t).clamp(min=0)
    keys = torch.arange(width).view(1, width)
    # Causal, and no key before a row's first real token.
    mask = torch.where(
        (keys.view(1, 1, width) <= torch.arange(width).view(1, width, 1))
        & (keys.view(1, 1, width) >= first_t.view(batch, 1, 1)),
        0.0,
        NEG,
    ).view(batch, 1, width, width)
    logits, past = model(ids, positions, mask)
    logits = logits[:, -1]
    eos = set(eos_ids)
    done = [False] * batch
    out = [[] for _ in range(batch)]
    temperature, top_p = decoding["temperature"], decoding.get("topP", 1)
    length = width
    for step in range(decoding["maxNewTokens"]):
        if temperature == 0:
            nxt = logits.argmax(-1)
        else:
            probs = (logits.double() / temperature).softmax(-1)
            if top_p < 1:
                sorted_p, order = probs.sort(-1, descending=True)
                keep = (sorted_p.cumsum(-1) - sorted_p) < top_p
                keep[:, 0] = True
                probs = torch.zeros_like(probs).scatter(-1, order, sorted_p * keep)
            nxt = torch.multinomial(probs, 1, generator=generator).squeeze(-1)
        for b, token in enumerate(nxt.tolist()):
            if done[b]:
                continue
            if token in eos:
                done[b] = True
            else:
                out[b].append(token)
        if all(done) or step == decoding["maxNewTokens"] - 1:
            break
        nxt = torch.where(torch.tensor(done), torch.full_like(nxt, pad), nxt)
        key_mask = torch.where(
            torch.arange(length + 1).view(1, length + 1) >= first_t, 0.0, NEG
        ).view(batch, 1, 1, length + 1)
        pos = (torch.full((batch, 1), length) - first_t).clamp(min=0)
        logits, past = model(nxt.view(batch, 1), pos, key_mask, past)
        logits = logits[:, -1]
        length += 1
    return out


def evaluate(model, cell, sets, seed):
    completions = {}
    batch_size = cell["evalBatchSize"]
    for set_ in sets:
        prompts = set_["prompts"]
        for d, decoding in enumerate(set_["decodings"]):
            rows = []
            for s in range(decoding["samples"]):
                for start in range(0, len(prompts), batch_size):
                    generator = torch.Generator().manual_seed(
                        (seed * 1_000_003 + d * 10_007 + s * 101 + start) % (2**63)
                    )
                    rows.extend(
                        generate(
                            model,
                            prompts[start:start + batch_size],
                            decoding,
                            cell["eosIds"],
                            cell["padId"],
                            generator,
                        )
                    )
            completions[f"{set_['name']}/{decoding['name']}"] = rows
    return completions


def main():
    args = sys.argv[1:]
    if not args or args[0].startswith("-") or "--out" not in args:
        print(__doc__, file=sys.stderr)
        return 2
    data_dir = args[0]
    out = args[args.index("--out") + 1]
    threads = int(args[args.index("--threads") + 1]) if "--threads" in args else 1
    set_threads(threads)
    started = time.perf_counter()
    with open(os.path.join(data_dir, "manifest.json")) as f:
        manifest = json.load(f)
    if manifest.get("format") != FORMAT:
        raise SystemExit(f"{data_dir}: format {manifest.get('format')!r}, expected {FORMAT}")
    os.makedirs(os.path.join(out, "cells"), exist_ok=True)
    loaded = {}

    def load(name):
        if name not in loaded:
            with open(os.path.join(data_dir, name)) as f:
                loaded[name] = json.load(f)
        return loaded[name]

    bases = {}
    seconds = {"pretrain": 0.0, "train": 0.0, "eval": 0.0}
    cells = manifest["cells"]
    for n, cell in enumerate(cells):
        t0 = time.perf_counter()
        if cell["base"] not in bases:
            base = load(cell["base"])
            model = pretrain(base, data_dir)
            bases[cell["base"]] = (base["config"], {k: v.clone() for k, v in model.state_dict().items()})
        config, state = bases[cell["base"]]
        model = Gpt2(config)
        model.load_state_dict(state)
        t1 = time.perf_counter()
        if cell["objective"] != "base":
            sft(model, cell, load(cell["sft"])["pairs"])
        t2 = time.perf_counter()
        model.eval()
        completions = evaluate(model, cell, load(cell["eval"])["sets"], cell["seed"])
        t3 = time.perf_counter()
        seconds["pretrain"] += t1 - t0
        seconds["train"] += t2 - t1
        seconds["eval"] += t3 - t2
        with open(os.path.join(out, "cells", f"{cell['key']}.json"), "w") as f:
            json.dump({"key": cell["key"], "completions": completions, "seconds": t3 - t0}, f)
        print(
            f"torch twin: cell {n + 1}/{len(cells)} {cell['key']} in {t3 - t0:.1f} s "
            f"(pretrain {t1 - t0:.1f}, SFT {t2 - t1:.1f}, eval {t3 - t2:.1f})",
            file=sys.stderr,
            flush=True,
        )
    print(
        json.dumps(
            {
                "torch": torch.__version__,
                "threads": threads,
                "cells": len(cells),
                "wallSeconds": time.perf_counter() - started,
                "pretrainSeconds": seconds["pretrain"],
                "trainSeconds": seconds["train"],
                "evalSeconds": seconds["eval"],
            }
        ),
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
