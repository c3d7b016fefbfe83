#!/usr/bin/env python3
"""End-to-end checks of `ignis rag` on a temporary folder of .txt/.md files: index (lexical, then
with the tiny committed BERT encoder), incremental re-runs (modified, deleted files), search (text
and --json), ask / chat with models/chat-demo (streamed answer, then "Sources:" naming the file),
and clean errors."""
import json
import os
import shutil
import subprocess
import sys
import tempfile

IGNIS, SRC = sys.argv[1], sys.argv[2]
ENCODER = os.path.join(SRC, "tests", "data", "encoder", "models", "bert_mean")
CHAT = os.path.join(SRC, "models", "chat-demo")
passed = failed = 0


def check(cond, what):
    global passed, failed
    if cond:
        passed += 1
    else:
        failed += 1
        print("FAIL:", what)


def run(args, stdin=None):
    return subprocess.run([IGNIS, "rag"] + args, input=stdin, capture_output=True, text=True, timeout=300)


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


root = tempfile.mkdtemp()
docs = os.path.join(root, "docs")
write(os.path.join(docs, "kites.md"), "# Kites\n\nA kite flies on the wind, held by a long string.\n\n"
      "## Safety\n\nNever fly a kite near power lines or during a thunderstorm.\n")
write(os.path.join(docs, "kitchen", "bread.txt"), "Bread needs flour, water, salt and yeast.\n\n"
      "Knead the dough for ten minutes and bake the loaf in a hot oven.\n")
write(os.path.join(docs, "garden.txt"), "Tomatoes want sun and regular watering.\n\nTie the plants to stakes.\n")
write(os.path.join(docs, "photo.png"), "not text")
index = os.path.join(docs, ".ignis-index")

# Lexical index (no embedding model); stderr is a pipe: plain progress lines.
r = run(["index", "--docs", docs])
check(r.returncode == 0, f"index: rc {r.returncode}: {r.stderr[-500:]}")
check("indexed 3, unchanged 0, removed 0, skipped 1 files" in r.stderr, f"index report: {r.stderr}")
check("skipped photo.png: unsupported format" in r.stderr, "one line per skipped file")
check("index: 3/3 files" in r.stderr, "plain progress lines when stderr is not a terminal")
check(os.path.exists(os.path.join(index, "index.sqlite")), "index under DOCS/.ignis-index")

r = run(["search", "--index", index, "--retrieval", "lexical", "when must a kite never fly?"])
check(r.returncode == 0 and r.stdout.startswith("1. kites.md, line 3"), f"lexical search: {r.stdout} {r.stderr}")
r = run(["search", "--index", index, "thunderstorm"])
check(r.returncode == 0 and "lexical retrieval only" in r.stderr, "hybrid on a lexical index says it falls back")
r = run(["search", "--index", index, "--retrieval", "dense", "kite"])
check(r.returncode == 1 and "lexical only" in r.stderr, f"dense on a lexical index is an error: {r.stderr}")

# With the tiny encoder: everything re-embedded; hybrid puts the lexical match first.
r = run(["index", "--docs", docs, "--embedding-model", ENCODER])
check(r.returncode == 0 and "rebuilt: embedding model changed (none -> bert_mean@" in r.stderr, f"encoder: {r.stderr}")
check("indexed 3," in r.stderr, "all files re-indexed for the model")
r = run(["search", "--index", index, "--json", "--top-k", "3", "knead the dough"])
check(r.returncode == 0, f"search --json: {r.stderr}")
hits = json.loads(r.stdout) if r.returncode == 0 else []
check(len(hits) == 3 and hits[0]["file"] == "kitchen/bread.txt", f"hybrid hits: {hits}")
check(all(h["dense_rank"] > 0 for h in hits), "every chunk is in the dense list")
check(hits and hits[0]["lexical_rank"] == 1 and hits[0]["line"] == 1, "the answer's lexical rank and line")

# bench: latency per mode over a file of queries (plain lines and JSON lines), figures in --json.
qfile = os.path.join(root, "queries.txt")
write(qfile, 'knead the dough\n{"query": "kite string"}\n\nwhen to water tomatoes\n')
bjson = os.path.join(root, "bench.json")
r = run(["bench", "--index", index, "--queries", qfile, "--warmup", "1", "--repeat", "2", "--json", bjson])
check(r.returncode == 0, f"bench: rc {r.returncode}: {r.stderr[-500:]}")
lines = r.stdout.splitlines()
check(len(lines) == 5 and "3 queries x 2, top 4" in lines[0] and lines[1].split()[:2] == ["mode", "queries"],
      f"bench header: {r.stdout}")
check([l.split()[0] for l in lines[2:]] == ["lexical", "dense", "hybrid"], f"bench modes: {r.stdout}")
b = json.load(open(bjson)) if r.returncode == 0 else {}
m = b.get("modes", {})
check(b.get("chunks", 0) >= 3 and set(m) == {"lexical", "dense", "hybrid"}, f"bench json: {b}")
check(all(v["queries"] == 6 and 0 < v["p50_ms"] <= v["p99_ms"] <= v["max_ms"] for v in m.values()), f"bench figures: {m}")
r = run(["bench", "--index", index, "--queries", qfile, "--retrieval", "lexical"])
check(r.returncode == 0 and len(r.stdout.splitlines()) == 3, f"bench one mode: {r.stdout} {r.stderr}")
write(qfile, '{"q": "no query field"}\n')
r = run(["bench", "--index", index, "--queries", qfile])
check(r.returncode == 1 and 'without a string "query"' in r.stderr, f"bench bad queries file: {r.stderr}")

# Re-run without the flag: the index's own model is reused, nothing changes.
r = run(["index", "--docs", docs])
check(r.returncode == 0 and "indexed 0, unchanged 3, removed 0" in r.stderr and "rebuilt" not in r.stderr,
      f"unchanged re-run keeps the model: {r.stderr}")
# One file modified, one deleted.
write(os.path.join(docs, "garden.txt"), "Cucumbers climb a trellis and need daily watering.\n")
os.remove(os.path.join(docs, "kites.md"))
r = run(["index", "--docs", docs])
check(r.returncode == 0 and "indexed 1, unchanged 1, removed 1" in r.stderr, f"incremental: {r.stderr}")
r = run(["search", "--index", index, "--json", "--top-k", "10", "kite string power lines cucumbers"])
hits = json.loads(r.stdout) if r.returncode == 0 else []
check(hits and all(h["file"] != "kites.md" for h in hits), f"deleted file gone: {hits}")
check(hits and hits[0]["file"] == "garden.txt", "modified file's new text is found")
write(os.path.join(docs, "kites.md"), "# Kites\n\n## Safety\n\nNever fly a kite near power lines.\n")

# ask / chat with the chat demo model.
if not os.path.exists(os.path.join(CHAT, "tokenizer.json")):
    print("SKIP ask/chat: models/chat-demo has no tokenizer.json (run scripts/fetch-assets.sh)")
else:
    r = run(["ask", "--docs", docs, "--model", CHAT, "--device", "cpu", "--max-tokens", "24", "--top-k", "2",
             "Why should you never fly a kite near power lines?"])
    check(r.returncode == 0, f"ask: rc {r.returncode}: {r.stderr[-800:]}")
    check("indexed 1, unchanged 2" in r.stderr, "ask brings the index up to date first")
    answer, _, sources = r.stdout.partition("\nSources:\n")
    check(answer.strip() != "", f"an answer streams before the sources: {r.stdout!r}")
    check(sources.startswith("[1] kites.md, line 5, \"Safety\""), f"sources list the right file first: {sources!r}")
    check(len(sources.strip().splitlines()) == 2, "one source line per chunk used")
    # Lexical only, from --index alone, with a model without a chat template (models/demo).
    demo = os.path.join(SRC, "models", "demo")
    r = run(["ask", "--index", index, "--retrieval", "lexical", "--model", demo, "--device", "cpu", "--max-tokens", "8",
             "--top-k", "1", "flour water salt yeast"])
    check(r.returncode == 0 and "Sources:\n[1] kitchen/bread.txt, line 1" in r.stdout, f"ask lexical: {r.stdout} {r.stderr[-300:]}")
    r = run(["chat", "--index", index, "--model", CHAT, "--device", "cpu", "--max-tokens", "8"],
            "How long do you knead the dough?\n\nWhere do cucumbers climb?\n/exit\nignored\n")
    check(r.returncode == 0 and r.stdout.count("Sources:") == 2, f"chat answers each line: {r.stdout} {r.stderr[-300:]}")
    parts = r.stdout.split("Sources:")
    check(len(parts) == 3 and "[1] kitchen/bread.txt" in parts[1] and "[1] garden.txt" in parts[2], "chat sources per question")

# Back to BM25 only on request.
r = run(["index", "--docs", docs, "--embedding-model", "none"])
check(r.returncode == 0 and "embedding model changed (bert_mean@" in r.stderr and "-> none)" in r.stderr,
      f"--embedding-model none: {r.stderr}")
r = run(["search", "--index", index, "--retrieval", "lexical", "cucumbers"])
check(r.returncode == 0 and r.stdout.startswith("1. garden.txt, line 1"), f"lexical after none: {r.stdout}")

# Killed mid-run (SIGKILL while embedding a large addition): the previous index still opens and
# answers the same; the next run completes.
import random
import signal
import time
before = run(["search", "--index", index, "--json", "--top-k", "5", "cucumbers dough kite"]).stdout
rng = random.Random(7)
for i in range(200):
    write(os.path.join(docs, "bulk", f"b{i:03d}.txt"),
          "\n\n".join(" ".join(f"word{rng.randrange(5000)}" for _ in range(80)) + "." for _ in range(30)))
p = subprocess.Popen([IGNIS, "rag", "index", "--docs", docs, "--embedding-model", ENCODER],
                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
time.sleep(1.5)
p.send_signal(signal.SIGKILL)
p.wait()
killed = p.returncode == -signal.SIGKILL
after = run(["search", "--index", index, "--json", "--top-k", "5", "cucumbers dough kite"])
check(after.returncode == 0, f"the index opens after a killed run: {after.stderr}")
if killed:
    check(after.stdout == before, "a killed run leaves the previous index answering identically")
    leftovers = [n for n in os.listdir(index) if not (n == "index.sqlite" or n.endswith(".faiss") or n.endswith(".bm25")
                                                          or n.endswith(".tmp") or n == "index.sqlite-journal")]
    check(not leftovers, f"nothing unexpected in the index directory: {leftovers}")
else:
    print("note: the index run finished before it could be killed; the kill check did not run")
r = run(["index", "--docs", docs, "--embedding-model", ENCODER, "--quiet"])
check(r.returncode == 0, f"the run after the kill completes: {r.stderr[-300:]}")
r = run(["search", "--index", index, "--json", "--top-k", "1", "word17 word4000"])
check(r.returncode == 0 and json.loads(r.stdout)[0]["file"].startswith("bulk/"), "the bulk files are indexed")
shutil.rmtree(os.path.join(docs, "bulk"))

# Errors.
r = run(["search", "--index", os.path.join(root, "nowhere"), "x"])
check(r.returncode == 1 and "no index here" in r.stderr, f"missing index: {r.stderr}")
r = run(["index", "--docs", docs, "--chunk-tokens", "10", "--chunk-overlap", "10"])
check(r.returncode == 1 and "must be less than" in r.stderr, f"bad chunk options: {r.stderr}")
r = run(["frobnicate"])
check(r.returncode == 2 and "unknown rag command" in r.stderr, "unknown subcommand")
r = run(["ask", "--docs", docs, "question"])
check(r.returncode != 0, "ask without --model fails")

shutil.rmtree(root)
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
