#!/usr/bin/env python3
"""Throughput and latency of POST /v1/embeddings under concurrent clients (stdlib only).

  python3 tools/rag/bench_embeddings_endpoint.py --url http://127.0.0.1:8000 --model encoder-mini \
      --corpus assets/moby-dick/data/data.txt --requests 2048 --concurrency 64 --texts-per-request 1

Each request carries --texts-per-request passages of 40-200 words cut from the corpus (seeded),
encoding_format base64. Prints one line: requests/s, texts/s, latency p50/p99, and the server's
/metrics counters of encoder calls and inputs (so the batching is visible: inputs / calls).
"""
import argparse
import http.client
import json
import random
import re
import threading
import time
import urllib.parse


def passages(corpus, n, seed):
    words = open(corpus, encoding="utf-8", errors="replace").read().split()
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        k = rng.randint(40, 200)
        at = rng.randint(0, len(words) - k - 1)
        out.append(" ".join(words[at:at + k]))
    return out


def metric(text, name):
    m = re.search(r"^" + name + r" (\S+)$", text, re.M)
    return float(m.group(1)) if m else float("nan")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--requests", type=int, default=1024)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--texts-per-request", type=int, default=1)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--label", default="")
    a = ap.parse_args()
    u = urllib.parse.urlparse(a.url)
    texts = passages(a.corpus, a.requests * a.texts_per_request, a.seed)
    bodies = [json.dumps({"model": a.model, "encoding_format": "base64",
                          "input": texts[i * a.texts_per_request:(i + 1) * a.texts_per_request]}).encode()
              for i in range(a.requests)]

    def get_metrics():
        c = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
        c.request("GET", "/metrics")
        t = c.getresponse().read().decode()
        c.close()
        return metric(t, "ignis_embedding_calls_total"), metric(t, "ignis_embedding_inputs_total")

    # warm-up: one request per client slot
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
    for b in bodies[:4]:
        c.request("POST", "/v1/embeddings", b, {"content-type": "application/json"})
        r = c.getresponse()
        r.read()
        assert r.status == 200, r.status
    c.close()
    calls0, inputs0 = get_metrics()

    lat = [0.0] * a.requests
    errors = []
    nxt = [0]
    lock = threading.Lock()

    def client():
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=120)
        while True:
            with lock:
                i = nxt[0]
                nxt[0] += 1
            if i >= a.requests:
                break
            t0 = time.perf_counter()
            conn.request("POST", "/v1/embeddings", bodies[i], {"content-type": "application/json"})
            r = conn.getresponse()
            body = r.read()
            lat[i] = time.perf_counter() - t0
            if r.status != 200:
                errors.append((r.status, body[:200]))
        conn.close()

    t0 = time.perf_counter()
    ts = [threading.Thread(target=client) for _ in range(a.concurrency)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    wall = time.perf_counter() - t0
    calls1, inputs1 = get_metrics()
    s = sorted(lat)
    calls, inputs = calls1 - calls0, inputs1 - inputs0
    print(f"{a.label}requests {a.requests} x {a.texts_per_request} texts, concurrency {a.concurrency}: "
          f"{a.requests / wall:.1f} req/s, {a.requests * a.texts_per_request / wall:.1f} texts/s, "
          f"p50 {1000 * s[len(s) // 2]:.1f} ms, p99 {1000 * s[int(len(s) * 0.99)]:.1f} ms, "
          f"{calls:.0f} encoder calls ({inputs / max(calls, 1):.1f} inputs each), errors {len(errors)}"
          + (f" first {errors[0]}" if errors else ""))


if __name__ == "__main__":
    main()
