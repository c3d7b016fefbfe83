#!/usr/bin/env python3
"""Fine-tune models/demo into ignis's chat demo: a small code assistant (user asks for a function
in words, the assistant answers with Python).

Runs on the GPU machine (PyTorch + transformers + tokenizers + jinja2; no network):

    python3 tools/train/train_chat.py --tokenizer DIR_WITH_tokenizer.json --base models/demo \
        --out OUTDIR --minutes 4

Data (deterministic, documented): the same Python files as tools/train/train.py (standard library
and site-packages of the interpreter that runs this script, 512 B .. 256 KiB, UTF-8) with the same
held-out rule (sha1(relative path)[:8] % 100 == 0). Every function or method whose name does not
start with "_" or "test", that has a docstring whose first paragraph is 20..300 characters, and
whose source (decorators excluded, dedented) is 3..40 lines and at most 1,600 characters becomes
one conversation:

    user:      one of four fixed phrasings built from the name, the argument list and the
               docstring's first paragraph (chosen by a hash of the file and the name)
    assistant: "```python\\n" + the function's source + "\\n```"

Duplicates (same source text) are dropped. Conversations are rendered with the chat template
written next to the model (chat_template.jinja, Mistral-style [INST] ... [/INST]) and tokenized
without special tokens (the template emits <s>, as ignis and transformers' apply_chat_template
do); the loss covers the assistant's tokens and the closing </s> only. Conversations over --seq
tokens are skipped.

Outputs under OUTDIR/chat-demo/: config.json, generation_config.json, chat_template.jinja,
safetensors shards of at most 15 MB (bf16), train_log.txt, eval_golden.json (held-out assistant
loss of the base model and of the fine-tuned one, fp32 from the exported bf16 weights, and
greedy answers to fixed requests), data_manifest.json.
"""
import argparse
import ast
import hashlib
import json
import math
import os
import sys
import textwrap
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from train import BOS, EOS, read_text, source_files, split_hash  # noqa: E402

CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% set ns = namespace(system='') %}"
    "{% for message in messages %}"
    "{% if message['role'] == 'system' %}{% set ns.system = message['content'] + '\\n\\n' %}"
    "{% elif message['role'] == 'user' %}{{ '[INST] ' + ns.system + message['content'] + ' [/INST]' }}"
    "{% set ns.system = '' %}"
    "{% elif message['role'] == 'assistant' %}{{ ' ' + message['content'] + eos_token }}"
    "{% else %}{{ raise_exception('chat-demo: only system, user and assistant messages are supported') }}"
    "{% endif %}{% endfor %}"
)

PHRASINGS = [
    "Write a Python function `{name}({args})` that does the following: {desc}",
    "Implement `{name}({args})` in Python. {desc}",
    "{desc} Write this as a Python function called `{name}`.",
    "Can you write a function {name}({args})? It should do this: {desc}",
]

REQUESTS = [
    "Write a Python function `is_palindrome(s)` that does the following: Return True if the string s reads the same forwards and backwards.",
    "Implement `count_words(text)` in Python. Return a dict mapping each word in text to the number of times it occurs.",
    "Write a Python function `read_lines(path)` that does the following: Read a text file and return its lines without trailing newlines.",
    "Can you write a function fibonacci(n)? It should do this: Return the n-th Fibonacci number.",
]


def extract(rel, text):
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return []
    lines = text.splitlines()
    out = []
    for node in ast.walk(tree):
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        name = node.name
        if name.startswith("_") or name.lower().startswith("test"):
            continue
        doc = ast.get_docstring(node)
        if not doc:
            continue
        desc = " ".join(doc.strip().split("\n\n")[0].split())
        if not 20 <= len(desc) <= 300:
            continue
        start, end = node.lineno, node.end_lineno
        if end is None:
            continue
        src = textwrap.dedent("\n".join(lines[start - 1:end])).rstrip()
        nlines = src.count("\n") + 1
        if not 3 <= nlines <= 40 or len(src) > 1600 or "\t" in src:
            continue
        try:
            args = ast.unparse(node.args)
        except Exception:  # noqa: BLE001
            continue
        h = int(hashlib.sha1((rel + ":" + name).encode()).hexdigest()[:8], 16)
        phr = PHRASINGS[h % len(PHRASINGS)]
        if desc[-1] not in ".!?":
            desc += "."
        user = phr.format(name=name, args=args, desc=desc)
        out.append({"user": user, "assistant": "```python\n" + src + "\n```", "src": src})
    return out


def extract_file(item):
    rel, full = item
    text = read_text(full)
    return rel, ([] if text is None else extract(rel, text))


def build_pairs(max_pairs):
    from multiprocessing import Pool
    roots, files = source_files()
    train, held, seen = [], [], set()
    with Pool() as pool:
        results = pool.map(extract_file, files, chunksize=32)
    for rel, pairs in results:
        for p in pairs:
            key = hashlib.sha1(p["src"].encode()).hexdigest()
            if key in seen:
                continue
            seen.add(key)
            (held if split_hash(rel) % 100 == 0 else train).append(p)
    train.sort(key=lambda p: hashlib.sha1(p["src"].encode()).hexdigest())
    return train[:max_pairs], held, {"files_total": len(files), "roots": {k: r for k, r in roots}}


def render(tmpl, messages, add_generation_prompt=False):
    return tmpl.render(messages=messages, bos_token="<s>", eos_token="</s>",
                       add_generation_prompt=add_generation_prompt)


def tokenize_pairs(tok, tmpl, pairs, seq):
    out, skipped = [], 0
    prompts, fulls = [], []
    for p in pairs:
        msgs = [{"role": "user", "content": p["user"]}]
        prompts.append(render(tmpl, msgs, True))
        fulls.append(render(tmpl, msgs + [{"role": "assistant", "content": p["assistant"]}]))
    pencs = tok.encode_batch(prompts, add_special_tokens=False)
    fencs = tok.encode_batch(fulls, add_special_tokens=False)
    for pe, fe in zip(pencs, fencs):
        pids, ids = pe.ids, fe.ids
        if len(ids) > seq or ids[:len(pids)] != pids or ids[0] != BOS or ids[-1] != EOS:
            skipped += 1
            continue
        out.append((ids, len(pids)))
    return out, skipped


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tokenizer", required=True)
    ap.add_argument("--base", required=True, help="the models/demo folder")
    ap.add_argument("--out", required=True)
    ap.add_argument("--minutes", type=float, default=4.0)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--seq", type=int, default=512)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--max-pairs", type=int, default=400000)
    ap.add_argument("--heldout-pairs", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--data-only", action="store_true", help="build and report the data, no training")
    args = ap.parse_args()

    import jinja2
    from tokenizers import Tokenizer
    env = jinja2.Environment()
    env.globals["raise_exception"] = lambda m: (_ for _ in ()).throw(ValueError(m))
    tmpl = env.from_string(CHAT_TEMPLATE)
    tok = Tokenizer.from_file(os.path.join(args.tokenizer, "tokenizer.json"))

    out = os.path.join(args.out, "chat-demo")
    os.makedirs(out, exist_ok=True)
    logf = open(os.path.join(out, "train_log.txt"), "w")

    def log(msg):
        print(msg, flush=True)
        logf.write(msg + "\n")
        logf.flush()

    t0 = time.time()
    train_pairs, held_pairs, manifest = build_pairs(args.max_pairs)
    held_pairs = held_pairs[:args.heldout_pairs]
    train, skip_t = tokenize_pairs(tok, tmpl, train_pairs, args.seq)
    held, skip_h = tokenize_pairs(tok, tmpl, held_pairs, args.seq)
    manifest.update({"python": sys.version.split()[0], "train_pairs": len(train), "heldout_pairs": len(held),
                     "skipped_too_long_or_unaligned": skip_t + skip_h,
                     "train_tokens": sum(len(i) for i, _ in train),
                     "train_assistant_tokens": sum(len(i) - p for i, p in train),
                     "split_rule": "sha1(relpath)[:8] % 100 == 0 -> held out", "seconds": round(time.time() - t0, 1),
                     "example": {"user": train_pairs[0]["user"], "assistant": train_pairs[0]["assistant"]}})
    log("data: " + json.dumps(manifest))
    if args.data_only:
        return

    import numpy as np
    import torch
    import torch.nn.functional as F
    from transformers import LlamaForCausalLM

    torch.manual_seed(args.seed)
    device = "cuda"
    torch.backends.cuda.matmul.allow_tf32 = True

    def make_batch(items):
        n = -(-max(len(i) for i, _ in items) // 32) * 32  # few distinct shapes
        x = torch.full((len(items), n), EOS, dtype=torch.long)
        m = torch.zeros((len(items), n), dtype=torch.bool)
        for r, (ids, p) in enumerate(items):
            x[r, :len(ids)] = torch.tensor(ids)
            m[r, p:len(ids)] = True  # targets at positions p..len-1 (assistant tokens and </s>)
        return x.to(device), m.to(device)

    def masked_nll(model, items, bs=64):
        tot, cnt = 0.0, 0
        with torch.no_grad():
            for s in range(0, len(items), bs):
                x, m = make_batch(items[s:s + bs])
                logits = model(input_ids=x).logits.float()
                lp = F.log_softmax(logits[:, :-1], dim=-1).gather(2, x[:, 1:, None])[..., 0]
                mm = m[:, 1:]
                tot += -(lp * mm).sum().item()
                cnt += mm.sum().item()
        return tot / cnt

    model = LlamaForCausalLM.from_pretrained(args.base, dtype=torch.float32).to(device)
    model.eval()
    base_loss = masked_nll(model, held)
    log(f"base model held-out assistant loss {base_loss:.4f} (ppl {math.exp(base_loss):.3f})")

    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=args.lr, betas=(0.9, 0.95), eps=1e-8, fused=True)
    # Length-bucketed batches: sort by length in chunks so padding stays small.
    rng = np.random.default_rng(args.seed)

    def epoch_batches():
        order = rng.permutation(len(train))
        chunk = args.batch * 50
        batches = []
        for s in range(0, len(order), chunk):
            part = sorted(order[s:s + chunk], key=lambda i: len(train[i][0]))
            batches += [part[b:b + args.batch] for b in range(0, len(part), args.batch)]
        rng.shuffle(batches)
        return batches

    def step(idx, cur_lr):
        for g in opt.param_groups:
            g["lr"] = cur_lr
        x, m = make_batch([train[i] for i in idx])
        with torch.autocast("cuda", dtype=torch.bfloat16):
            logits = model(input_ids=x).logits
        mm = m[:, 1:]
        loss = (F.cross_entropy(logits[:, :-1].float().reshape(-1, logits.size(-1)), x[:, 1:].reshape(-1),
                                reduction="none") * mm.reshape(-1)).sum() / mm.sum()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        return loss

    model.train()
    batches = epoch_batches()
    warm = 100
    t_start = time.time()
    for i in range(10):  # warm-up (allocator, cuBLAS heuristics), not timed
        step(batches[i], args.lr * (i + 1) / warm)
    torch.cuda.synchronize()
    t1 = time.time()
    for i in range(10, 30):
        step(batches[i], args.lr * (i + 1) / warm)
    torch.cuda.synchronize()
    per_step = (time.time() - t1) / 20
    total = 30 + max(200, int((args.minutes * 60 - (time.time() - t_start)) / per_step))
    log(f"calibration: {per_step * 1000:.1f} ms/step -> {total} steps ({total * args.batch / len(train):.2f} epochs)")
    bi, ema = 30, None
    for i in range(30, total):
        if bi >= len(batches):
            batches, bi = epoch_batches(), 0
        cur = args.lr * (i + 1) / warm if i < warm else \
            args.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * (i - warm) / max(1, total - warm))))
        loss = step(batches[bi], cur)
        bi += 1
        if i % 200 == 0 or i == total - 1:
            lv = loss.item()
            ema = lv if ema is None else 0.9 * ema + 0.1 * lv
            log(f"step {i:6d}/{total} lr {cur:.2e} loss {lv:.4f} ema {ema:.4f} elapsed {time.time() - t_start:.0f}s")
    train_seconds = time.time() - t_start

    model.eval()
    model.to(torch.bfloat16)
    model.save_pretrained(out, safe_serialization=True, max_shard_size="15MB")
    json.dump({"bos_token_id": BOS, "eos_token_id": EOS, "do_sample": False, "max_new_tokens": 256},
              open(os.path.join(out, "generation_config.json"), "w"), indent=2)
    with open(os.path.join(out, "chat_template.jinja"), "w") as fh:
        fh.write(CHAT_TEMPLATE)
    json.dump(manifest, open(os.path.join(out, "data_manifest.json"), "w"), indent=2)

    ref = LlamaForCausalLM.from_pretrained(out, dtype=torch.float32).to(device).eval()
    loss = masked_nll(ref, held)
    answers = []
    for r in REQUESTS:
        pids = tok.encode(render(tmpl, [{"role": "user", "content": r}], True), add_special_tokens=False).ids
        with torch.no_grad():
            g = ref.generate(torch.tensor([pids], device=device), max_new_tokens=160, do_sample=False,
                             eos_token_id=EOS, pad_token_id=EOS)
        new = g[0, len(pids):].tolist()
        answers.append({"request": r, "prompt_ids": pids, "greedy_ids": new,
                        "text": tok.decode(new, skip_special_tokens=True)})
    golden = {"base": args.base, "steps": total, "train_seconds": round(train_seconds), "batch": args.batch,
              "lr": args.lr, "heldout_pairs": len(held), "heldout_loss_base": base_loss,
              "heldout_loss": loss, "answers": answers}
    json.dump(golden, open(os.path.join(out, "eval_golden.json"), "w"), indent=2)
    log(f"trained {total} steps in {train_seconds:.0f}s; held-out assistant loss {base_loss:.4f} -> {loss:.4f} "
        f"(fp32 from the exported bf16 weights, {len(held)} conversations)")
    for a in answers:
        log("---- " + a["request"] + "\n" + a["text"])
    logf.close()


if __name__ == "__main__":
    main()
