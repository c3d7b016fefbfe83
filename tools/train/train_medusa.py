#!/usr/bin/env python3
"""Train Medusa heads for an ignis demo model (Medusa-1: the base model frozen, heads only).

Runs on the GPU machine (PyTorch + transformers + tokenizers + safetensors; no network):

    python3 tools/train/train_medusa.py --model models/demo \
        --tokenizer .devcarry/assets/tokenizer-mistral/models --out $OUT/medusa-demo --steps 3000

CPU smoke test (a tiny slice of the data, two steps; checks the whole pipeline end to end):

    python3 tools/train/train_medusa.py --model models/demo --out /tmp/medusa-smoke \
        --device cpu --steps 2 --batch 2 --seq 64 --max-train-mb 1 --heldout-kb 2 --cache ''

Heads (FasterDecoding/Medusa's MedusaModel): head i reads the base model's last hidden state h_t
(after the final norm: what lm_head multiplies) and predicts token t+2+i (the base's lm_head
predicts t+1): --layers ResBlocks x <- x + SiLU(W x + b) (W zero-initialized, so a fresh head is
the base lm_head), then a final linear. By default the final linear is the base model's own
lm_head, frozen and not saved (config.json "ignis_shared_lm_head": true, an ignis extension;
models/demo's lm_head is 32000 x 192, 12 MB in bf16, so per-head copies would not fit 15 MB);
--own-lm-head trains a per-head copy initialized from it and saves it in bf16 (the reference's
layout: "{i}.{L}.weight").

Targets (--targets): "base" (default) = self-distillation, the base model's own argmax for token
t+2+i given the true text up to t+1+i, which is what greedy verification accepts; "text" = the
true token t+2+i (Medusa-1 on ground truth). Loss: sum over heads of cross-entropy x 0.8^i
(Medusa's decay coefficient).

Data: the demo model's training text, built exactly as tools/train/train.py builds it (its
build_data: the interpreter's stdlib + site-packages *.py files, 1% held out by path hash, cut at
--max-train-mb), tokenized with the same tokenizer; --cache reuses train.py's token cache.

Outputs under --out: config.json (medusa_num_heads, medusa_num_layers, base_model_name_or_path,
ignis_shared_lm_head), medusa_lm_head.safetensors (names "{i}.{j}.linear.weight|bias",
"{i}.{L}.weight" with --own-lm-head; what ignis's loader reads, spec/medusa.h), train_log.txt
(command, loss curve, held-out accuracy of each head: top-1 and top-10 against the base model's
argmax and against the text). Use: ignis generate --model models/demo --speculative medusa
--speculative-model OUT.
"""
import argparse
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import save_file
from tokenizers import Tokenizer
from transformers import LlamaForCausalLM

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from train import build_data, log  # noqa: E402  (the demo model's data pipeline)

DECAY = 0.8


class ResBlock(nn.Module):
    def __init__(self, hidden):
        super().__init__()
        self.linear = nn.Linear(hidden, hidden)
        nn.init.zeros_(self.linear.weight)  # a fresh ResBlock is the identity

    def forward(self, x):
        return x + F.silu(self.linear(x))


class MedusaHeads(nn.Module):
    def __init__(self, hidden, vocab, num_heads, num_layers, lm_weight, own_lm_head):
        super().__init__()
        self.blocks = nn.ModuleList(
            [nn.ModuleList([ResBlock(hidden) for _ in range(num_layers)]) for _ in range(num_heads)])
        self.register_buffer("shared_lm", lm_weight.detach().float().clone(), persistent=False)
        self.lm = None
        if own_lm_head:
            self.lm = nn.ModuleList([nn.Linear(hidden, vocab, bias=False) for _ in range(num_heads)])
            for l in self.lm:
                l.weight.data.copy_(self.shared_lm)

    def head(self, i, h):
        x = h
        for b in self.blocks[i]:
            x = b(x)
        return self.lm[i](x) if self.lm is not None else F.linear(x, self.shared_lm)

    def state_for_ignis(self, num_layers):
        out = {}
        for i, blocks in enumerate(self.blocks):
            for j, b in enumerate(blocks):
                out[f"{i}.{j}.linear.weight"] = b.linear.weight.detach().float().cpu().contiguous()
                out[f"{i}.{j}.linear.bias"] = b.linear.bias.detach().float().cpu().contiguous()
            if self.lm is not None:
                out[f"{i}.{num_layers}.weight"] = self.lm[i].weight.detach().to(torch.bfloat16).cpu().contiguous()
        return out


def load_base(path, device):
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    try:
        m = LlamaForCausalLM.from_pretrained(path, dtype=dtype)
    except TypeError:  # transformers before the dtype= spelling
        m = LlamaForCausalLM.from_pretrained(path, torch_dtype=dtype)
    m.to(device).eval()
    for p in m.parameters():
        p.requires_grad_(False)
    return m


@torch.no_grad()
def base_pass(base, x):
    """The final hidden states (after the norm) and the base model's argmax at every position."""
    h = base.model(input_ids=x).last_hidden_state
    am = base.lm_head(h).argmax(-1)
    return h.float(), am


def targets_for(i, x, am, mode):
    # Head i at position t predicts token t+2+i: the text's, or the base's argmax at t+1+i.
    return x[:, i + 2:] if mode == "text" else am[:, i + 1:-1]


@torch.no_grad()
def evaluate(base, heads, ids, seq, device, num_heads):
    """Held-out top-1 / top-10 accuracy of each head, against the base's argmax and the text."""
    stats = [dict(n=0, base1=0, base10=0, text1=0, text10=0) for _ in range(num_heads)]
    for start in range(0, max(1, len(ids) - 2), seq):
        w = ids[start:start + seq]
        if len(w) < num_heads + 3:
            break
        x = torch.tensor([w], device=device)
        h, am = base_pass(base, x)
        for i in range(num_heads):
            n = x.size(1) - i - 2
            top = heads.head(i, h[:, :n]).topk(10, dim=-1).indices
            for key, tgt in (("base", am[:, i + 1:i + 1 + n]), ("text", x[:, i + 2:i + 2 + n])):
                hit = top == tgt[..., None]
                stats[i][key + "1"] += hit[..., 0].sum().item()
                stats[i][key + "10"] += hit.any(-1).sum().item()
            stats[i]["n"] += n
    return stats


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="models/demo", help="the base model folder (Hugging Face Llama)")
    ap.add_argument("--tokenizer", default=None, help="folder with tokenizer.json (default: --model)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--heads", type=int, default=4, help="medusa_num_heads")
    ap.add_argument("--layers", type=int, default=1, help="medusa_num_layers (ResBlocks per head)")
    ap.add_argument("--own-lm-head", action="store_true",
                    help="train and save a final linear per head (the reference layout; 12 MB each for models/demo)")
    ap.add_argument("--targets", choices=["base", "text"], default="base")
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--minutes", type=float, default=0, help="stop early after this long (0: no limit)")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--seq", type=int, default=512)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--warmup", type=int, default=100)
    ap.add_argument("--max-train-mb", type=int, default=150, help="as train.py (the demo models used 150)")
    ap.add_argument("--heldout-kb", type=int, default=32)
    ap.add_argument("--eval-kb", type=int, default=32, help="held-out text evaluated at the end")
    ap.add_argument("--cache", default="/tmp/ignis_train_data", help="train.py's token cache ('' = none)")
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    args = ap.parse_args()
    if args.heads < 1 or args.layers < 1 or args.steps < 1:
        ap.error("--heads, --layers and --steps must be >= 1")
    if args.device == "cuda" and not torch.cuda.is_available():
        ap.error("no CUDA device (use --device cpu for a smoke run)")

    os.makedirs(args.out, exist_ok=True)
    logf = open(os.path.join(args.out, "train_log.txt"), "w")
    log(logf, "command: " + " ".join([os.path.basename(sys.executable)] + sys.argv))
    torch.manual_seed(args.seed)
    device = args.device
    if device == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True

    tok = Tokenizer.from_file(os.path.join(args.tokenizer or args.model, "tokenizer.json"))
    t0 = time.time()
    data, heldout_text, manifest = build_data(tok, args.max_train_mb, args.heldout_kb, args.cache or None)
    log(logf, f"data: {json.dumps(manifest)} ({time.time() - t0:.1f}s)")

    base = load_base(args.model, device)
    cfg = base.config
    H, V = cfg.hidden_size, cfg.vocab_size
    lm_w = base.get_output_embeddings().weight
    heads = MedusaHeads(H, V, args.heads, args.layers, lm_w, args.own_lm_head).to(device)
    params = [p for p in heads.parameters() if p.requires_grad]
    log(logf, f"base {args.model}: hidden {H}, vocab {V}; {args.heads} heads x {args.layers} ResBlocks, "
              f"{'own' if args.own_lm_head else 'shared (frozen)'} lm_head, {sum(p.numel() for p in params)} "
              f"trained parameters, targets {args.targets}")
    opt = torch.optim.AdamW(params, lr=args.lr, betas=(0.9, 0.95), weight_decay=0.0)

    gen = torch.Generator().manual_seed(args.seed)
    data_t = torch.from_numpy(data.astype(np.int64))
    n = data_t.numel() - args.seq - 1
    if n <= 0:
        raise SystemExit(f"only {data_t.numel()} training tokens for --seq {args.seq}")

    def batch():
        idx = torch.randint(0, n, (args.batch,), generator=gen)
        return torch.stack([data_t[i:i + args.seq] for i in idx.tolist()]).to(device, non_blocking=True)

    t_start = time.time()
    ema = None
    step = 0
    for step in range(args.steps):
        cur = args.lr * min(1.0, (step + 1) / args.warmup)
        if step >= args.warmup:
            prog = (step - args.warmup) / max(1, args.steps - args.warmup)
            cur = args.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * prog)))
        for g in opt.param_groups:
            g["lr"] = cur
        x = batch()
        h, am = base_pass(base, x)
        losses = []
        for i in range(args.heads):
            tgt = targets_for(i, x, am, args.targets)
            with torch.autocast(device, dtype=torch.bfloat16, enabled=device == "cuda"):
                logits = heads.head(i, h[:, :tgt.size(1)])
            losses.append(F.cross_entropy(logits.float().reshape(-1, V), tgt.reshape(-1)))
        loss = sum(l * DECAY ** i for i, l in enumerate(losses))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        last = step == args.steps - 1 or (args.minutes and time.time() - t_start > args.minutes * 60)
        if step % 100 == 0 or last:
            lv = loss.item()
            ema = lv if ema is None else 0.9 * ema + 0.1 * lv
            per_head = " ".join(f"{l.item():.3f}" for l in losses)
            log(logf, f"step {step:6d}/{args.steps} lr {cur:.2e} loss {lv:.4f} ema {ema:.4f} heads [{per_head}] "
                      f"elapsed {time.time() - t_start:.0f}s")
        if last:
            break
    log(logf, f"trained {step + 1} steps, {(step + 1) * args.batch * args.seq / 1e6:.1f}M tokens in "
              f"{time.time() - t_start:.0f}s")

    heads.eval()
    ids = tok.encode(heldout_text.encode()[:args.eval_kb * 1024].decode("utf-8", errors="ignore"),
                     add_special_tokens=False).ids
    for i, s in enumerate(evaluate(base, heads, ids, args.seq, device, args.heads)):
        d = max(1, s["n"])
        log(logf, f"held-out head {i} (token t+{i + 2}, {s['n']} positions): vs base argmax top-1 "
                  f"{s['base1'] / d:.3f} top-10 {s['base10'] / d:.3f}; vs text top-1 {s['text1'] / d:.3f} "
                  f"top-10 {s['text10'] / d:.3f}")

    config = {"medusa_num_heads": args.heads, "medusa_num_layers": args.layers,
              "base_model_name_or_path": args.model, "hidden_size": H, "vocab_size": V}
    if not args.own_lm_head:
        config["ignis_shared_lm_head"] = True
    with open(os.path.join(args.out, "config.json"), "w") as fh:
        json.dump(config, fh, indent=2)
    path = os.path.join(args.out, "medusa_lm_head.safetensors")
    save_file(heads.state_for_ignis(args.layers), path, metadata={"format": "pt"})
    size = sum(os.path.getsize(os.path.join(args.out, f)) for f in os.listdir(args.out))
    log(logf, f"wrote {args.out}: config.json, medusa_lm_head.safetensors ({os.path.getsize(path) / 1e6:.2f} MB); "
              f"folder {size / 1e6:.2f} MB")
    if size > 15 * 1000 * 1000:
        log(logf, "WARNING: the folder is over 15 MB (models/ holds at most 15 MB per model); drop --own-lm-head")
    logf.close()


if __name__ == "__main__":
    main()
