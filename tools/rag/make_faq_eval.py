#!/usr/bin/env python3
"""Builds ignis's labeled retrieval set from the Debian FAQ (Debian package debian-faq, GPL-compatible
verbatim-copy licence; fetched at run time, never committed):

  python3 tools/rag/make_faq_eval.py --faq debian-faq.en.txt.gz --out DIR

DIR/docs/NN-chapter.md: each chapter's answers (its title as a '# ' heading, the questions
removed, so a query is never a verbatim copy of its passage); DIR/queries.jsonl: one line per
question: {"query", "file", "snippets"}: snippets are 48-character windows (lowercase, whitespace
collapsed) at the start of each paragraph of the answer; a retrieved chunk is relevant when it
is in `file` and its normalized text contains one of them. tools/rag/eval_retrieval.py scores
`ignis rag search` against it (recall@k, MRR).
"""
import argparse
import gzip
import json
import os
import re

Q = re.compile(r"^(\d+)\.(\d+)\.\s+(.*)$")
CH = re.compile(r"^Chapter\s+(\d+)\.?\s*(.*)$")


def norm(s):
    return " ".join(s.lower().split())


def parse(lines):
    """-> [(chapter number, chapter title, [(question, [answer paragraphs])])] from the FAQ's body."""
    chapters = []
    i = 0
    # The body starts at the first column-0 "Chapter 1" line after the table of contents.
    while i < len(lines) and not (CH.match(lines[i]) and lines[i].startswith("Chapter 1")):
        i += 1
    cur = None
    while i < len(lines):
        line = lines[i]
        m = CH.match(line)
        if m:
            title = m.group(2).strip()
            j = i + 1
            while not title and j < len(lines):  # the title may sit on the next line(s)
                title = lines[j].strip()
                j += 1
            cur = (int(m.group(1)), title, [])
            chapters.append(cur)
            i = j if j > i + 1 else i + 1
            continue
        m = Q.match(line)
        if m and cur is not None:
            q = m.group(3).strip()
            i += 1
            while i < len(lines) and lines[i].strip() and not lines[i].startswith(" "):  # wrapped question
                q += " " + lines[i].strip()
                i += 1
            paras, para = [], []
            while i < len(lines) and not Q.match(lines[i]) and not CH.match(lines[i]):
                if lines[i].strip():
                    para.append(lines[i].strip())
                elif para:
                    paras.append(" ".join(para))
                    para = []
                i += 1
            if para:
                paras.append(" ".join(para))
            paras = [p for p in paras if not set(p) <= set("-=")]
            if paras:
                cur[2].append((q, paras))
            continue
        i += 1
    return chapters


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--faq", required=True, help="debian-faq.en.txt(.gz)")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    opener = gzip.open if a.faq.endswith(".gz") else open
    with opener(a.faq, "rt", encoding="utf-8") as f:
        lines = [l.replace("\u00a0", " ") for l in f.read().splitlines()]  # the FAQ uses no-break spaces
    chapters = parse(lines)
    docs = os.path.join(a.out, "docs")
    os.makedirs(docs, exist_ok=True)
    n = 0
    with open(os.path.join(a.out, "queries.jsonl"), "w", encoding="utf-8") as qf:
        for num, title, qas in chapters:
            if not qas:
                continue
            slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")[:40] or "chapter"
            name = f"{num:02d}-{slug}.md"
            with open(os.path.join(docs, name), "w", encoding="utf-8") as df:
                df.write(f"# {title}\n\n")
                for q, paras in qas:
                    for p in paras:
                        df.write(p + "\n\n")
                    snippets = [norm(p)[:48] for p in paras if len(norm(p)) >= 24]
                    if snippets:
                        qf.write(json.dumps({"query": q, "file": name, "snippets": snippets}) + "\n")
                        n += 1
    print(f"{n} questions over {sum(1 for c in chapters if c[2])} chapters -> {a.out}")


if __name__ == "__main__":
    main()
