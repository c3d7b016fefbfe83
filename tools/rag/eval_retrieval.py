#!/usr/bin/env python3
"""Scores `ignis rag search` on a labeled set (tools/rag/make_faq_eval.py): recall@k and MRR@k for the
lexical, dense and hybrid retrievers of one index.

  python3 tools/rag/eval_retrieval.py --ignis build/bin/ignis --index IDX --queries DIR/queries.jsonl [--k 4]
"""
import argparse
import json
import subprocess


def norm(s):
    return " ".join(s.lower().split())


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ignis", required=True)
    ap.add_argument("--index", required=True)
    ap.add_argument("--queries", required=True)
    ap.add_argument("--k", type=int, default=4)
    ap.add_argument("--modes", default="lexical,dense,hybrid")
    a = ap.parse_args()
    qs = [json.loads(l) for l in open(a.queries, encoding="utf-8") if l.strip()]
    print(f"{'retrieval':<9} {'recall@' + str(a.k):>9} {'MRR@' + str(a.k):>7}  ({len(qs)} queries)")
    for mode in a.modes.split(","):
        hit, rr = 0, 0.0
        for q in qs:
            out = subprocess.run([a.ignis, "rag", "search", "--index", a.index, "--top-k", str(a.k), "--retrieval", mode,
                                  "--json", q["query"]], capture_output=True, text=True, check=True).stdout
            for rank, h in enumerate(json.loads(out), 1):
                if h["file"] == q["file"] and any(s in norm(h["text"]) for s in q["snippets"]):
                    hit += 1
                    rr += 1.0 / rank
                    break
        print(f"{mode:<9} {hit / len(qs):>9.3f} {rr / len(qs):>7.3f}")


if __name__ == "__main__":
    main()
