#!/usr/bin/env python3
"""sentence-transformers' own embedding throughput on the GPU, the peer of ignis_encoder_bench
(bench/gpu/run_embed.sh runs both on the same folder and texts).

  --make DIR: writes a random bge-small-shaped BertModel (hidden 384, 12 layers, 12 heads,
              intermediate 1536, 512 positions, vocab 30522; mean pooling + normalize) as a
              sentence-transformers folder, with the WordPiece tokenizer of --tokenizer.
  --texts F:  writes F: --n texts, windows of 40-380 words of --corpus (seeded).
  --bench:    times SentenceTransformer.encode (fp32, then fp16) over the texts, best of 3 passes.
"""
import argparse
import json
import os
import random
import shutil
import time


def make(dirn, tokenizer_dir):
    import torch
    from transformers import BertConfig, BertModel
    torch.manual_seed(0)
    shutil.rmtree(dirn, ignore_errors=True)
    cfg = BertConfig(vocab_size=30522, hidden_size=384, num_hidden_layers=12, num_attention_heads=12,
                     intermediate_size=1536, max_position_embeddings=512, type_vocab_size=2, pad_token_id=0)
    BertModel(cfg, add_pooling_layer=False).eval().save_pretrained(dirn, safe_serialization=True)
    for f in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(os.path.join(tokenizer_dir, f), os.path.join(dirn, f))
    json.dump([{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
               {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
               {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}],
              open(os.path.join(dirn, "modules.json"), "w"))
    json.dump({"max_seq_length": 512, "do_lower_case": False}, open(os.path.join(dirn, "sentence_bert_config.json"), "w"))
    os.makedirs(os.path.join(dirn, "1_Pooling"))
    os.makedirs(os.path.join(dirn, "2_Normalize"))
    json.dump({"word_embedding_dimension": 384, "pooling_mode_cls_token": False, "pooling_mode_mean_tokens": True,
               "pooling_mode_max_tokens": False, "pooling_mode_mean_sqrt_len_tokens": False},
              open(os.path.join(dirn, "1_Pooling", "config.json"), "w"))


def texts(path, corpus, n):
    words = open(corpus, encoding="utf-8").read().split()
    rng = random.Random(1)
    out = []
    for _ in range(n):
        k = rng.randint(40, 380)
        o = rng.randrange(len(words) - k)
        out.append(" ".join(words[o:o + k]))
    json.dump(out, open(path, "w"))


def bench(dirn, path, batch):
    import torch
    from sentence_transformers import SentenceTransformer
    tx = json.load(open(path))
    st = SentenceTransformer(dirn, device="cuda")
    ntok = sum(len(st.tokenizer(t, truncation=True, max_length=512)["input_ids"]) for t in tx)
    for name in ("fp32", "fp16"):
        if name == "fp16":
            st = st.half()
        st.encode(tx[:batch], batch_size=batch)
        best = 1e30
        for _ in range(3):
            torch.cuda.synchronize()
            t0 = time.perf_counter()
            st.encode(tx, batch_size=batch, convert_to_numpy=True)
            torch.cuda.synchronize()
            best = min(best, time.perf_counter() - t0)
        print(f"sentence-transformers {name}: {len(tx)} texts, {ntok} tokens, batch {batch}: "
              f"{len(tx) / best:.1f} texts/s, {ntok / best:.0f} tokens/s", flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dir", required=True)
    ap.add_argument("--make", action="store_true")
    ap.add_argument("--tokenizer")
    ap.add_argument("--texts")
    ap.add_argument("--corpus")
    ap.add_argument("--n", type=int, default=2048)
    ap.add_argument("--bench", action="store_true")
    ap.add_argument("--batch", type=int, default=256)
    a = ap.parse_args()
    if a.make:
        make(a.dir, a.tokenizer)
    if a.corpus:
        texts(a.texts, a.corpus, a.n)
    if a.bench:
        bench(a.dir, a.texts, a.batch)


if __name__ == "__main__":
    main()
