#!/usr/bin/env python3
"""Golden ids / decodes from Hugging Face `tokenizers` for the tokenizer tests.

Runs on the GPU machine (needs the `tokenizers` package; no network). For each of
llama3, llama3_1, mistral, qwen3 it loads assets/tokenizer-<name>/models/tokenizer.json
and writes OUTDIR/goldens_<name>.json:
  {"generator": "tokenizers X.Y", "tokenizer": name, "corpus_size": N,
   "cases": [{"ids", "ids_nospecial", "decode", "decode_skip_special"}, ...]}
with case i for corpus string i (ids: add_special_tokens=True; decodes of those ids).

usage:
  python3 tools/golden/tokenizer_goldens.py --assets assets \
      --corpus tests/data/tokenizer/corpus.json --out OUTDIR
  python3 tools/golden/tokenizer_goldens.py --assets assets \
      --bench assets/moby-dick/data/data.txt      # single-thread encode MB/s
Copy OUTDIR/goldens_*.json over tests/data/tokenizer/ to make them the reference.
"""
import argparse
import json
import os
import sys
import time

# Single-threaded, deterministic: must be set before `tokenizers` is imported.
os.environ["RAYON_NUM_THREADS"] = "1"
os.environ["TOKENIZERS_PARALLELISM"] = "false"

NAMES = ["llama3", "llama3_1", "mistral", "qwen3"]


def load(assets, name):
    from tokenizers import Tokenizer
    path = os.path.join(assets, "tokenizer-" + name, "models", "tokenizer.json")
    return Tokenizer.from_file(path)


def goldens(args):
    import tokenizers
    with open(args.corpus, encoding="utf-8") as f:
        corpus = json.load(f)
    os.makedirs(args.out, exist_ok=True)
    for name in NAMES:
        tok = load(args.assets, name)
        cases = []
        for text in corpus:
            ids = tok.encode(text, add_special_tokens=True).ids
            ids_ns = tok.encode(text, add_special_tokens=False).ids
            cases.append({
                "ids": ids,
                "ids_nospecial": ids_ns,
                "decode": tok.decode(ids, skip_special_tokens=False),
                "decode_skip_special": tok.decode(ids, skip_special_tokens=True),
            })
        out = {"generator": "tokenizers " + tokenizers.__version__, "tokenizer": name,
               "corpus_size": len(corpus), "cases": cases}
        path = os.path.join(args.out, "goldens_%s.json" % name)
        with open(path, "w", encoding="utf-8") as f:
            json.dump(out, f, ensure_ascii=False, separators=(",", ":"))
        print("%s: %d cases -> %s" % (name, len(cases), path))


def bench(args):
    import tokenizers
    with open(args.bench, encoding="utf-8") as f:
        text = f.read()
    nbytes = len(text.encode("utf-8"))
    tok = load(args.assets, args.bench_tokenizer)
    lines = text.splitlines(keepends=True)
    tok.encode(text[:10000])  # warm-up (regex compile, caches)
    for mode in ("whole", "lines"):
        best = float("inf")
        ntok = 0
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            if mode == "whole":
                ntok = len(tok.encode(text, add_special_tokens=False).ids)
            else:
                ntok = sum(len(tok.encode(l, add_special_tokens=False).ids) for l in lines)
            best = min(best, time.perf_counter() - t0)
        print("HF tokenizers %s %s encode (%s, 1 thread): %.2f MB/s, %d tokens, %.3f s for %.2f MB"
              % (tokenizers.__version__, args.bench_tokenizer, mode, nbytes / best / 1e6, ntok, best, nbytes / 1e6))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--assets", required=True, help="folder with tokenizer-<name>/models/tokenizer.json")
    ap.add_argument("--corpus", help="tests/data/tokenizer/corpus.json")
    ap.add_argument("--out", help="output folder for goldens_<name>.json")
    ap.add_argument("--bench", help="text file: time single-threaded encode and print MB/s")
    ap.add_argument("--bench-tokenizer", default="llama3")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    if args.bench:
        bench(args)
    elif args.corpus and args.out:
        goldens(args)
    else:
        ap.error("give --corpus and --out, or --bench FILE")
    return 0


if __name__ == "__main__":
    sys.exit(main())
