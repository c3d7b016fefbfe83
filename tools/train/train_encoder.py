#!/usr/bin/env python3
"""Trains ignis's default sentence encoder (models/encoder-mini) on the GPU machine.

No pretrained encoder is reachable from the project's machines, so this script builds one from
text the project can obtain: Python sources and docstrings of the GPU machine's own Python tree
(stdlib + site-packages), and the carried prose corpora (Moby-Dick, State of the Union addresses).

  1. A WordPiece tokenizer (BertNormalizer lowercase, BertPreTokenizer, `##` continuations) is
     trained on that text with Hugging Face `tokenizers`.
  2. A small BERT (BertModel: post-LayerNorm, GELU, absolute positions) is pretrained with masked
     language modelling for --mlm-minutes.
  3. It is then trained as a bi-encoder with an in-batch-negatives contrastive loss (InfoNCE,
     symmetric, temperature 0.05, mean pooling, L2-normalized) for --contrastive-minutes on pairs:
       - docstring summary -> the function or class it documents (signature, rest of docstring, body);
       - inverse cloze: one sentence of a prose window -> the window (the sentence removed from it
         90% of the time), from Moby-Dick and the addresses.
     Files are split into train / held-out by a hash of their path; held-out pairs give the
     recall@1 and recall@10 printed at the end (among 2,000 held-out passages).
  4. The result is saved as a sentence-transformers folder (modules.json, 1_Pooling, 2_Normalize,
     fp16 safetensors), reloaded with SentenceTransformer, and golden embeddings of a fixed sentence
     list are written beside it (golden.json, fp32 on the CPU) for ignis's CPU encoder test.

  python3 tools/train/train_encoder.py --prose DIR --out OUT [--mlm-minutes 2.5 --contrastive-minutes 3]
DIR holds moby-dick.txt and sotu/*.txt (tools/train/run_encoder_on_gpu.sh carries them).
"""
import argparse
import ast
import glob
import hashlib
import json
import math
import os
import random
import re
import shutil
import sysconfig
import time

import torch
import torch.nn.functional as F

GOLDEN_SENTENCES = [
    "How do I install a package?",
    "The quick brown fox jumps over the lazy dog.",
    "def read_config(path):\n    \"\"\"Reads a JSON config file.\"\"\"\n    with open(path) as f:\n        return json.load(f)",
    "Call me Ishmael. Some years ago, never mind how long precisely, having little or no money in my purse.",
    "Return the number of items in the container.",
    "The State of the Union is strong.",
    "Über naïve café: ç, ß, and accents are stripped by the normalizer.",
    "",
    "a",
    "Sort a list of dictionaries by a key.",
]


def log(f, msg):
    print(msg, flush=True)
    f.write(msg + "\n")
    f.flush()


def held_out(key):
    return int(hashlib.sha1(key.encode()).hexdigest()[:8], 16) % 20 == 0  # 5% of files


def python_files(max_files):
    roots = []
    for key in ("stdlib", "purelib"):
        p = sysconfig.get_paths()[key]
        if os.path.isdir(p) and p not in roots:
            roots.append(p)
    files = []
    for root in roots:
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames.sort()
            for fn in sorted(filenames):
                if fn.endswith(".py"):
                    full = os.path.join(dirpath, fn)
                    try:
                        if 256 <= os.path.getsize(full) <= 512 * 1024:
                            files.append(full)
                    except OSError:
                        pass
    files = sorted(set(files))
    random.Random(0).shuffle(files)
    return files[:max_files]


def summary_of(doc):
    first = doc.strip().split("\n\n")[0]
    first = " ".join(first.split())
    words = first.split()
    if len(words) < 3 or len(words) > 60:
        return None
    return first


def python_pairs(path, text):
    """(query, passage) pairs from one Python file: docstring summary -> documented code."""
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return []
    lines = text.splitlines()
    out = []
    for node in ast.walk(tree):
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        doc = ast.get_docstring(node)
        if not doc:
            continue
        q = summary_of(doc)
        if not q:
            continue
        end = getattr(node, "end_lineno", None) or node.lineno
        src = "\n".join(lines[node.lineno - 1:min(end, node.lineno + 60)])
        # The passage keeps the code and the rest of the docstring, not the summary itself.
        first_para = doc.strip().split("\n\n")[0].strip()
        first_line = first_para.split("\n")[0].strip()
        if first_line:
            src = src.replace(first_line, "", 1)
        if len(src.split()) < 8:
            continue
        out.append((q, src))
    return out


SENT = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"'])")


def prose_windows(text, words_per_window=120):
    words = text.split()
    for i in range(0, max(0, len(words) - 40), words_per_window):
        yield " ".join(words[i:i + words_per_window])


def ict_pair(window, rng):
    sents = [s for s in SENT.split(window) if len(s.split()) >= 5]
    if len(sents) < 3:
        return None
    k = rng.randrange(len(sents))
    q = sents[k]
    ctx = sents[:k] + sents[k + 1:] if rng.random() < 0.9 else sents
    return q, " ".join(ctx)


def load_prose(prose_dir):
    docs = []
    moby = os.path.join(prose_dir, "moby-dick.txt")
    if os.path.exists(moby):
        docs.append(("moby-dick", open(moby, encoding="utf-8", errors="replace").read()))
    for p in sorted(glob.glob(os.path.join(prose_dir, "sotu", "*.txt"))):
        docs.append(("sotu/" + os.path.basename(p), open(p, encoding="utf-8", errors="replace").read()))
    return docs


def train_tokenizer(texts, vocab_size):
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]", max_input_chars_per_word=100))
    tok.normalizer = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True, strip_accents=None,
                                                lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    trainer = trainers.WordPieceTrainer(vocab_size=vocab_size, special_tokens=specials, min_frequency=3,
                                        continuing_subword_prefix="##")
    tok.train_from_iterator(texts, trainer=trainer)
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
                                                       special_tokens=[("[CLS]", cls), ("[SEP]", sep)])
    tok.decoder = decoders.WordPiece(prefix="##")
    return tok


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--prose", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--name", default="encoder-mini")
    ap.add_argument("--vocab", type=int, default=12000)
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--layers", type=int, default=6)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--intermediate", type=int, default=1024)
    ap.add_argument("--max-files", type=int, default=20000)
    ap.add_argument("--mlm-minutes", type=float, default=2.5)
    ap.add_argument("--contrastive-minutes", type=float, default=3.0)
    ap.add_argument("--seed", type=int, default=1234)
    args = ap.parse_args()

    from transformers import BertConfig, BertForMaskedLM, BertModel, PreTrainedTokenizerFast

    out = os.path.join(args.out, args.name)
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    logf = open(os.path.join(out, "train_log.txt"), "w")
    rng = random.Random(args.seed)
    torch.manual_seed(args.seed)
    torch.backends.cuda.matmul.allow_tf32 = True
    dev = "cuda"

    # ---- data
    t0 = time.time()
    train_pairs, held_pairs, mlm_texts = [], [], []
    n_py = 0
    for path in python_files(args.max_files):
        try:
            text = open(path, "rb").read().decode("utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        n_py += 1
        pairs = python_pairs(path, text)
        (held_pairs if held_out(path) else train_pairs).extend(pairs)
        if not held_out(path):
            mlm_texts.append(text[:8000])
    prose = load_prose(args.prose)
    n_prose_pairs = 0
    for key, text in prose:
        for i, w in enumerate(prose_windows(text)):
            p = ict_pair(w, rng)
            held = held_out(f"{key}:{i // 8}")  # runs of 8 windows, so neighbours do not leak
            if p:
                n_prose_pairs += 1
                (held_pairs if held else train_pairs).append(p)
            if not held:
                mlm_texts.append(w)
    rng.shuffle(train_pairs)
    rng.shuffle(held_pairs)
    log(logf, f"data: {n_py} python files, {len(prose)} prose documents; {len(train_pairs)} train pairs, "
              f"{len(held_pairs)} held-out pairs ({n_prose_pairs} prose ICT pairs in all); {time.time() - t0:.0f}s")

    # ---- tokenizer
    t0 = time.time()
    sample = random.Random(1).sample(mlm_texts, min(len(mlm_texts), 12000))
    tok = train_tokenizer(sample, args.vocab)
    hf_tok = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", sep_token="[SEP]", pad_token="[PAD]",
                                     cls_token="[CLS]", mask_token="[MASK]", model_max_length=512)
    hf_tok.save_pretrained(out)
    vocab = tok.get_vocab_size()
    log(logf, f"tokenizer: WordPiece, {vocab} tokens ({time.time() - t0:.0f}s)")

    cfg = BertConfig(vocab_size=vocab, hidden_size=args.hidden, num_hidden_layers=args.layers,
                     num_attention_heads=args.heads, intermediate_size=args.intermediate,
                     max_position_embeddings=512, type_vocab_size=2, pad_token_id=0, hidden_act="gelu",
                     layer_norm_eps=1e-12, hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1)

    def enc(texts, max_len):
        b = hf_tok(texts, padding=True, truncation=True, max_length=max_len, return_tensors="pt")
        return {k: v.to(dev, non_blocking=True) for k, v in b.items()}

    # ---- MLM
    mlm = BertForMaskedLM(cfg).to(dev)
    nparams = sum(p.numel() for p in mlm.bert.parameters())
    log(logf, f"model: BertModel {nparams / 1e6:.2f}M parameters, {cfg.to_json_string(use_diff=True)}")
    opt = torch.optim.AdamW(mlm.parameters(), lr=5e-4, weight_decay=0.01, fused=True)
    mask_id = tok.token_to_id("[MASK]")
    step, t0, budget = 0, time.time(), args.mlm_minutes * 60
    mlm.train()
    while time.time() - t0 < budget:
        texts = [mlm_texts[rng.randrange(len(mlm_texts))] for _ in range(256)]
        texts = [t[(o := rng.randrange(max(1, len(t) - 600))):o + 600] for t in texts]
        b = enc(texts, 128)
        ids = b["input_ids"]
        labels = ids.clone()
        special = (ids == 0) | (ids == tok.token_to_id("[CLS]")) | (ids == tok.token_to_id("[SEP]"))
        m = (torch.rand(ids.shape, device=dev) < 0.15) & ~special
        labels[~m] = -100
        r = torch.rand(ids.shape, device=dev)
        inp = ids.clone()
        inp[m & (r < 0.8)] = mask_id
        rnd = m & (r >= 0.8) & (r < 0.9)
        inp[rnd] = torch.randint(5, vocab, (int(rnd.sum()),), device=dev)
        lr = 5e-4 * min(1.0, (step + 1) / 300)
        for g in opt.param_groups:
            g["lr"] = lr
        with torch.autocast("cuda", dtype=torch.bfloat16):
            loss = mlm(input_ids=inp, attention_mask=b["attention_mask"], labels=labels).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(mlm.parameters(), 1.0)
        opt.step()
        if step % 200 == 0:
            log(logf, f"mlm step {step} loss {loss.item():.3f} ({time.time() - t0:.0f}s)")
        step += 1
    log(logf, f"mlm: {step} steps, final loss {loss.item():.3f}")

    # ---- contrastive
    cfg.hidden_dropout_prob = 0.0
    cfg.attention_probs_dropout_prob = 0.0
    model = BertModel(cfg, add_pooling_layer=False).to(dev)
    model.load_state_dict(mlm.bert.state_dict(), strict=False)
    del mlm, opt

    def embed(b):
        with torch.autocast("cuda", dtype=torch.bfloat16):
            h = model(**b).last_hidden_state.float()
        m = b["attention_mask"].unsqueeze(-1).float()
        return F.normalize((h * m).sum(1) / m.sum(1).clamp(min=1), dim=-1)

    def evaluate(pairs, n=2000):
        model.eval()
        qs, ps = [q for q, _ in pairs[:n]], [p for _, p in pairs[:n]]
        with torch.no_grad():
            qe = torch.cat([embed(enc(qs[i:i + 256], 64)) for i in range(0, len(qs), 256)])
            pe = torch.cat([embed(enc(ps[i:i + 256], 256)) for i in range(0, len(ps), 256)])
        ranks = (qe @ pe.T).argsort(dim=1, descending=True)
        tgt = torch.arange(len(qs), device=dev).unsqueeze(1)
        pos = (ranks == tgt).float().argmax(dim=1)
        model.train()
        return (pos < 1).float().mean().item(), (pos < 10).float().mean().item(), (1.0 / (pos + 1).float()).mean().item()

    r1, r10, mrr = evaluate(held_pairs)
    log(logf, f"held-out before contrastive: recall@1 {r1:.3f} recall@10 {r10:.3f} MRR {mrr:.3f}")
    opt = torch.optim.AdamW(model.parameters(), lr=2e-4, weight_decay=0.01, fused=True)
    scale = 1.0 / 0.05
    step, t0, budget, bs = 0, time.time(), args.contrastive_minutes * 60, 384
    model.train()
    while time.time() - t0 < budget:
        batch = [train_pairs[rng.randrange(len(train_pairs))] for _ in range(bs)]
        q = embed(enc([a for a, _ in batch], 64))
        p = embed(enc([b for _, b in batch], 256))
        sim = q @ p.T * scale
        tgt = torch.arange(bs, device=dev)
        loss = (F.cross_entropy(sim, tgt) + F.cross_entropy(sim.T, tgt)) / 2
        frac = (time.time() - t0) / budget
        lr = 2e-4 * min(1.0, (step + 1) / 100) * (0.5 * (1 + math.cos(math.pi * min(1.0, frac))))
        for g in opt.param_groups:
            g["lr"] = lr
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if step % 200 == 0:
            log(logf, f"contrastive step {step} loss {loss.item():.3f} ({time.time() - t0:.0f}s)")
        step += 1
    log(logf, f"contrastive: {step} steps, final loss {loss.item():.3f}")
    r1, r10, mrr = evaluate(held_pairs)
    log(logf, f"held-out after contrastive: recall@1 {r1:.3f} recall@10 {r10:.3f} MRR {mrr:.3f} "
              f"(among {min(2000, len(held_pairs))} passages)")

    # ---- export as a sentence-transformers folder
    model.eval()
    model.half().save_pretrained(out, safe_serialization=True)
    modules = [{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
               {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
               {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}]
    json.dump(modules, open(os.path.join(out, "modules.json"), "w"), indent=1)
    json.dump({"max_seq_length": 512, "do_lower_case": False},
              open(os.path.join(out, "sentence_bert_config.json"), "w"), indent=1)
    os.makedirs(os.path.join(out, "1_Pooling"), exist_ok=True)
    os.makedirs(os.path.join(out, "2_Normalize"), exist_ok=True)
    json.dump({"word_embedding_dimension": args.hidden, "pooling_mode_cls_token": False,
               "pooling_mode_mean_tokens": True, "pooling_mode_max_tokens": False,
               "pooling_mode_mean_sqrt_len_tokens": False, "pooling_mode_weightedmean_tokens": False,
               "pooling_mode_lasttoken": False, "include_prompt": True},
              open(os.path.join(out, "1_Pooling", "config.json"), "w"), indent=1)

    import sentence_transformers
    import transformers
    from sentence_transformers import SentenceTransformer
    st = SentenceTransformer(out, device="cpu").float()
    emb = st.encode(GOLDEN_SENTENCES, batch_size=4, convert_to_numpy=True)
    ids = [[int(x) for x in st.tokenize([s])["input_ids"][0]] for s in GOLDEN_SENTENCES]
    golden = {"generator": "sentence-transformers %s, transformers %s, torch %s (CPU, float32 over the fp16 weights)" % (
        sentence_transformers.__version__, transformers.__version__, torch.__version__),
        "max_seq_length": 512, "sentences": GOLDEN_SENTENCES, "ids": ids,
        "embeddings": [[float(v) for v in row] for row in emb]}
    json.dump(golden, open(os.path.join(out, "golden.json"), "w", encoding="utf-8"), ensure_ascii=False)
    # The GPU-side speed reference: the same model in sentence-transformers on the GPU.
    log(logf, f"saved {out}: {sorted(os.listdir(out))}; golden {emb.shape}")


if __name__ == "__main__":
    main()
