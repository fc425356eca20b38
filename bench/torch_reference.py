#!/usr/bin/env python3
"""The reference workload of `deno task bench` in PyTorch: the peer a user would pick instead.

Same model (GPT-2 shape: learned positions, pre-LayerNorm, tanh GELU, untied head; vocabulary
512, d_model 128, 4 heads, 2 layers, MLP 512), same shapes (batch 16 x sequence 64), same
optimizer (AdamW lr 3e-4, betas 0.9/0.95, eps 1e-8, weight decay 0.01 on every weight, gradient
clipping at 1.0), same objectives (neg-log-prob: mean -log p; neg-prob: mean 1 - p), and the same
generation (batch 8, prompt 32, 64 new tokens, greedy, with and without a key/value cache).

The other sizes of `deno task bench --size NAME` (bench/workload.ts) are the same model at
GPT-2 scale: 27m (vocab 8192, d 512, 6 layers, 8 heads, MLP 2048, untied, 8 x 256 tokens),
gpt2-small (vocab 50257, d 768, 12 layers, 12 heads, MLP 3072, tied head, context 1024, 8 x 256)
and gpt2-medium (d 1024, 24 layers, 16 heads, MLP 4096, tied, 4 x 256); with a micro-batch
smaller than the batch, the gradients of each micro-batch's mean loss are accumulated (each
scaled by 1 / micro-batches) before the one AdamW step.

Usage:
  python3 bench/torch_reference.py [--threads 1,2] [--steps 20]   # prints one JSON object
  python3 bench/torch_reference.py --serve [--size NAME] [--micro-batch N]   # for --vs-torch

In --serve mode each input line is a JSON request {"what": "train"|"generate", "threads": n,
"steps": n, "objective": "neg-log-prob"|"neg-prob", "cache": bool} and each output line a JSON
answer {"ms": [...], "peakRssMb": x} (train: per-step milliseconds; generate: one entry,
milliseconds of the whole generation; peakRssMb: this process's peak resident set so far) or
{"error": "..."}. The first line is {"ready": true, "torch": version, "params": count}.
"""
import ctypes
import json
import math
import resource
import statistics
import sys
import time

import torch
import torch.nn.functional as F

SIZES = {
    # vocab, d, heads, layers, MLP, batch, time, context, tied head
    "reference": (512, 128, 4, 2, 512, 16, 64, 128, False),
    "27m": (8192, 512, 8, 6, 2048, 8, 256, 256, False),
    "gpt2-small": (50257, 768, 12, 12, 3072, 8, 256, 1024, True),
    "gpt2-medium": (50257, 1024, 16, 24, 4096, 4, 256, 1024, True),
}
VOCAB, D, HEADS, LAYERS, MLP, BATCH, TIME, CONTEXT, TIED = SIZES["reference"]
MICRO = BATCH
GEN_BATCH, PROMPT, NEW = 8, 32, 64


def use_size(name, micro=None):
    """Sets the module's shape constants to a size of SIZES (and the micro-batch)."""
    global VOCAB, D, HEADS, LAYERS, MLP, BATCH, TIME, CONTEXT, TIED, MICRO
    VOCAB, D, HEADS, LAYERS, MLP, BATCH, TIME, CONTEXT, TIED = SIZES[name]
    MICRO = micro or BATCH


def peak_rss_mb():
    """This process's peak resident set, MB: VmHWM (ru_maxrss would report the parent's peak,
    inherited across fork)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _openblas():
    """The OpenBLAS that torch's BLAS calls go to, to set its thread count (or None)."""
    try:
        with open("/proc/self/maps") as maps:
            paths = {line.split()[-1] for line in maps if "openblas" in line and "/" in line}
        for path in sorted(paths):
            lib = ctypes.CDLL(path)
            if hasattr(lib, "openblas_set_num_threads"):
                return lib
    except OSError:
        pass
    return None


def set_threads(n):
    torch.set_num_threads(n)
    lib = _openblas()
    if lib is not None:
        lib.openblas_set_num_threads(n)


class Block(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.ln_1 = torch.nn.LayerNorm(D, eps=1e-5)
        self.c_attn = torch.nn.Linear(D, 3 * D)
        self.c_proj = torch.nn.Linear(D, D)
        self.ln_2 = torch.nn.LayerNorm(D, eps=1e-5)
        self.c_fc = torch.nn.Linear(D, MLP)
        self.mlp_proj = torch.nn.Linear(MLP, D)

    def forward(self, h, past=None):
        b, t, _ = h.shape
        q, k, v = self.c_attn(self.ln_1(h)).split(D, dim=-1)
        heads = lambda x: x.view(b, t, HEADS, D // HEADS).transpose(1, 2)  # noqa: E731
        q, k, v = heads(q), heads(k), heads(v)
        if past is not None:
            k = torch.cat([past[0], k], dim=2)
            v = torch.cat([past[1], v], dim=2)
        keys = k.shape[2]
        scores = (q @ k.transpose(-2, -1)) / math.sqrt(D // HEADS)
        offset = keys - t
        causal = torch.ones(t, keys, dtype=torch.bool).tril(diagonal=offset)
        scores = scores.masked_fill(~causal, -1e9)
        context = (scores.softmax(-1) @ v).transpose(1, 2).reshape(b, t, D)
        h = h + self.c_proj(context)
        h = h + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(h)), approximate="tanh"))
        return h, (k, v)


class Gpt2(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.wte = torch.nn.Embedding(VOCAB, D)
        self.wpe = torch.nn.Embedding(CONTEXT, D)
        self.blocks = torch.nn.ModuleList(Block() for _ in range(LAYERS))
        self.ln_f = torch.nn.LayerNorm(D, eps=1e-5)
        self.head = torch.nn.Linear(D, VOCAB, bias=False)
        if TIED:
            self.head.weight = self.wte.weight
        for name, p in self.named_parameters():
            if p.dim() == 2:
                torch.nn.init.normal_(p, 0, 0.02)
            elif "ln" in name and name.endswith("weight"):
                torch.nn.init.ones_(p)
            else:
                torch.nn.init.zeros_(p)

    def forward(self, ids, start=0, past=None):
        b, t = ids.shape
        pos = torch.arange(start, start + t).unsqueeze(0)
        h = self.wte(ids) + self.wpe(pos)
        present = []
        for i, block in enumerate(self.blocks):
            h, kv = block(h, None if past is None else past[i])
            present.append(kv)
        return self.head(self.ln_f(h)), present


def make(seed=0):
    torch.manual_seed(seed)
    model = Gpt2()
    opt = torch.optim.AdamW(
        model.parameters(), lr=3e-4, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.01
    )
    g = torch.Generator().manual_seed(seed + 1)
    seq = torch.randint(0, VOCAB, (BATCH, TIME + 1), generator=g)
    prompts = torch.randint(0, VOCAB, (GEN_BATCH, PROMPT), generator=g)
    return model, opt, seq[:, :-1].contiguous(), seq[:, 1:].contiguous(), prompts


def train_step(model, opt, inputs, targets, objective):
    opt.zero_grad(set_to_none=True)
    parts = inputs.shape[0] // MICRO
    total = 0.0
    for p in range(parts):
        rows = slice(p * MICRO, (p + 1) * MICRO)
        logits, _ = model(inputs[rows])
        logp = logits.log_softmax(-1).gather(-1, targets[rows].unsqueeze(-1)).squeeze(-1)
        per_token = -logp if objective == "neg-log-prob" else 1 - logp.exp()
        loss = per_token.mean() / parts
        loss.backward()
        total += loss.item()
        del logits, logp, per_token, loss
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    return total


@torch.no_grad()
def generate(model, prompts, cache):
    ids = prompts
    logits, past = model(ids)
    for step in range(NEW):
        nxt = logits[:, -1].argmax(-1, keepdim=True)
        ids = torch.cat([ids, nxt], dim=1)
        if step == NEW - 1:
            break
        if cache:
            logits, past = model(nxt, start=ids.shape[1] - 1, past=past)
        else:
            logits, _ = model(ids)
    return ids.shape[1] - prompts.shape[1]


STATE = {}


def answer(req):
    if "model" not in STATE:
        STATE["model"] = make()
    model, opt, inputs, targets, prompts = STATE["model"]
    set_threads(int(req.get("threads", 1)))
    if req["what"] == "train":
        ms = []
        for _ in range(int(req.get("steps", 1))):
            t0 = time.perf_counter()
            train_step(model, opt, inputs, targets, req.get("objective", "neg-log-prob"))
            ms.append((time.perf_counter() - t0) * 1000)
        return {"ms": ms, "peakRssMb": peak_rss_mb()}
    if req["what"] == "generate":
        t0 = time.perf_counter()
        tokens = generate(model, prompts, bool(req.get("cache", True)))
        return {"ms": [(time.perf_counter() - t0) * 1000], "tokens": tokens * GEN_BATCH}
    return {"error": f"unknown request {req!r}"}


def serve():
    STATE["model"] = make()
    params = sum(p.numel() for p in STATE["model"][0].parameters())
    print(json.dumps({"ready": True, "torch": torch.__version__, "params": params}), flush=True)
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            out = answer(json.loads(line))
        except Exception as error:  # noqa: BLE001 - reported to the caller
            out = {"error": str(error)}
        print(json.dumps(out), flush=True)


def main():
    args = sys.argv[1:]
    if "--size" in args:
        micro = int(args[args.index("--micro-batch") + 1]) if "--micro-batch" in args else None
        use_size(args[args.index("--size") + 1], micro)
    if "--serve" in args:
        return serve()
    threads = [int(x) for x in (args[args.index("--threads") + 1] if "--threads" in args else "1,2").split(",")]
    steps = int(args[args.index("--steps") + 1]) if "--steps" in args else 20
    result = {"torch": torch.__version__}
    for n in threads:
        for objective in ("neg-log-prob", "neg-prob"):
            answer({"what": "train", "threads": n, "steps": 3, "objective": objective})
            ms = answer({"what": "train", "threads": n, "steps": steps, "objective": objective})["ms"]
            result[f"trainStepMs/{objective}/{n}"] = statistics.median(ms)
        for cache in (True, False):
            answer({"what": "generate", "threads": n, "cache": cache})
            g = answer({"what": "generate", "threads": n, "cache": cache})
            result[f"generateTokensPerSecond/{'cache' if cache else 'nocache'}/{n}"] = (
                g["tokens"] / (g["ms"][0] / 1000)
            )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
