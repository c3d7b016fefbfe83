#!/usr/bin/env python3
"""A synthetic folder for retrieval speed (issue 20 item 7: query latency over 100k chunks):

  python3 tools/rag/make_bench_corpus.py --source assets/moby-dick/data/data.txt --out DIR \
      --files 2000 --words 16000 [--queries 200] [--seed 1]

DIR/docs/NNNNN.txt: --files documents of about --words words each, paragraphs drawn at random
(seeded) from the source's paragraphs, every tenth word of a paragraph replaced by a word of the
document's own vocabulary so no two chunks are the same text; DIR/queries.txt: --queries lines,
each 6-12 consecutive words of a random source paragraph. Speed only: there are no labels.
With `ignis rag index` at its defaults (512-token chunks, 200 overlap) one chunk holds ~ 240 new
words, so 2,000 files of 16,000 words make ~ 130k chunks.
"""
import argparse
import os
import random


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--source", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--files", type=int, default=2000)
    ap.add_argument("--words", type=int, default=16000)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    text = open(a.source, encoding="utf-8").read()
    paras = [" ".join(p.split()) for p in text.split("\n\n")]
    paras = [p for p in paras if len(p.split()) >= 12]
    assert paras, f"{a.source}: no paragraphs of 12 words or more"
    vocab = sorted({w.strip(".,;:!?\"'()") for p in paras for w in p.split()} - {""})
    rng = random.Random(a.seed)
    docs = os.path.join(a.out, "docs")
    os.makedirs(docs, exist_ok=True)
    total = 0
    for f in range(a.files):
        own = rng.sample(vocab, 64)
        out, n = [], 0
        while n < a.words:
            words = rng.choice(paras).split()
            for i in range(rng.randrange(10), len(words), 10):
                words[i] = rng.choice(own)
            out.append(" ".join(words))
            n += len(words)
        total += n
        with open(os.path.join(docs, f"{f:05d}.txt"), "w", encoding="utf-8") as fh:
            fh.write(f"Document {f}\n\n" + "\n\n".join(out) + "\n")
    with open(os.path.join(a.out, "queries.txt"), "w", encoding="utf-8") as fh:
        for _ in range(a.queries):
            words = rng.choice(paras).split()
            k = rng.randint(6, 12)
            i = rng.randrange(max(1, len(words) - k))
            fh.write(" ".join(words[i:i + k]) + "\n")
    print(f"wrote {a.files} files, {total} words, {a.queries} queries under {a.out}")


if __name__ == "__main__":
    main()
