#!/usr/bin/env python3
"""Hugging Face transformers peer for `ignis bench`: same JSONL workload, same metrics.

Runs on the GPU machine (torch 2.11, transformers 5.x, no network). Reads the workload that
`ignis bench dataset` writes (one {"prompt_ids": [...] | "prompt": "...", "output_len": N} per line)
and prints the same report as ignis (requests/s, input/output tokens/s, TTFT, TPOT, ITL, E2E as
mean/p50/p90/p99, numpy's linear percentiles), optionally as JSON with the same keys as
`ignis bench ... --json`.

Modes (greedy decoding, fixed output lengths via min_new_tokens = max_new_tokens, i.e. ignore_eos):
  throughput  offline: all requests arrive at t=0 and run as batched generate() calls of
              --batch-size requests (in workload order, left-padded). A batch generates the
              longest output_len in it; only each request's own output_len counts as output
              tokens, and its token times stop there. TTFT includes the wait for earlier batches,
              as in ignis's offline mode.
  latency     one request at a time (batch 1); a request arrives when it starts.
Token times come from a streamer whose put() is called once per decoding step (after a
torch.cuda.synchronize(), so the time is when the token exists on the device).

Model: a Hugging Face folder. With safetensors weights they are loaded; with only config.json the
model is randomly initialized (seed --seed) in --dtype at that shape (like ignis --load-format dummy).
Prompts given as text need the folder's tokenizer.

Usage (on the GPU machine, from the repository root):
  python3 bench/peers/hf_transformers_bench.py --model MODEL_DIR --dataset workload.jsonl \
      --mode throughput --batch-size 64 --json hf_throughput.json
  python3 bench/peers/hf_transformers_bench.py --model MODEL_DIR --dataset workload.jsonl \
      --mode latency --json hf_latency.json
Exit status 0 on success, 2 on bad input.
"""
import argparse
import json
import math
import os
import sys
import time


def percentile(values, q):
    """numpy.percentile(values, q) with the default linear method; 0 for no values."""
    if not values:
        return 0.0
    v = sorted(values)
    rank = q / 100.0 * (len(v) - 1)
    lo = int(math.floor(rank))
    hi = min(lo + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (rank - lo)


def summarize(values):
    if not values:
        return {"n": 0, "mean": 0.0, "p50": 0.0, "p90": 0.0, "p99": 0.0, "min": 0.0, "max": 0.0}
    return {"n": len(values), "mean": sum(values) / len(values), "p50": percentile(values, 50),
            "p90": percentile(values, 90), "p99": percentile(values, 99), "min": min(values), "max": max(values)}


def compute_report(mode, records, hardware):
    """records: dicts with arrival, first_token, finish, token_times, prompt_tokens, output_tokens (seconds)."""
    t0 = min(r["arrival"] for r in records)
    t1 = max(r["finish"] for r in records)
    dur = t1 - t0
    ttft, tpot, itl, e2e = [], [], [], []
    n_in = sum(r["prompt_tokens"] for r in records)
    n_out = sum(r["output_tokens"] for r in records)
    for r in records:
        lat = r["finish"] - r["arrival"]
        e2e.append(lat)
        if r["output_tokens"] >= 1:
            ttft.append(r["first_token"] - r["arrival"])
        if r["output_tokens"] >= 2:
            tpot.append((lat - (r["first_token"] - r["arrival"])) / (r["output_tokens"] - 1))
        tt = r["token_times"]
        itl.extend(tt[i] - tt[i - 1] for i in range(1, len(tt)))
    rate = (lambda x: x / dur) if dur > 0 else (lambda x: 0.0)
    return {
        "mode": mode, "engine": "hf-transformers", "hardware": hardware,
        "num_requests": len(records), "completed": len(records), "failed": 0, "duration_s": dur,
        "input_tokens": n_in, "output_tokens": n_out,
        "requests_per_s": rate(len(records)), "input_tokens_per_s": rate(n_in),
        "output_tokens_per_s": rate(n_out), "total_tokens_per_s": rate(n_in + n_out),
        "ttft_s": summarize(ttft), "tpot_s": summarize(tpot), "itl_s": summarize(itl), "e2e_s": summarize(e2e),
        "kv_utilization_mean": None, "kv_utilization_max": None, "prefix_cache_hit_rate": None,
        "decode_bandwidth_gbps": None, "decode_bandwidth_fraction": None,
    }


def format_table(r):
    lines = [f"=== hf-transformers {r['mode']} ===",
             f"  hardware              {r['hardware']}",
             f"  requests              {r['completed']} completed, {r['failed']} failed",
             f"  duration              {r['duration_s']:.3f} s",
             f"  requests/s            {r['requests_per_s']:.3f}",
             f"  input tokens/s        {r['input_tokens_per_s']:.1f}   ({r['input_tokens']} tokens)",
             f"  output tokens/s       {r['output_tokens_per_s']:.1f}   ({r['output_tokens']} tokens)",
             f"  total tokens/s        {r['total_tokens_per_s']:.1f}",
             f"  {'latency':<10} {'mean':>10} {'p50':>10} {'p90':>10} {'p99':>10}   (ms)"]
    for name, key in (("TTFT", "ttft_s"), ("TPOT", "tpot_s"), ("ITL", "itl_s"), ("E2E", "e2e_s")):
        s = r[key]
        if s["n"] == 0:
            lines.append(f"  {name:<10} {'n/a':>10} {'n/a':>10} {'n/a':>10} {'n/a':>10}")
        else:
            lines.append(f"  {name:<10} {s['mean'] * 1e3:>10.2f} {s['p50'] * 1e3:>10.2f} "
                         f"{s['p90'] * 1e3:>10.2f} {s['p99'] * 1e3:>10.2f}")
    return "\n".join(lines) + "\n"


def read_workload(path):
    items = []
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            s = line.strip()
            if not s or s.startswith("#"):
                continue
            try:
                j = json.loads(s)
            except json.JSONDecodeError as e:
                raise ValueError(f"{path}:{lineno}: not valid JSON ({e})")
            if not isinstance(j, dict) or "output_len" not in j or not (j.get("prompt_ids") or j.get("prompt")):
                raise ValueError(f"{path}:{lineno}: needs prompt_ids or prompt, and output_len")
            if not isinstance(j["output_len"], int) or j["output_len"] < 1:
                raise ValueError(f"{path}:{lineno}: output_len must be an integer >= 1")
            items.append(j)
    if not items:
        raise ValueError(f"{path}: the workload has no requests")
    return items


class StepTimer:
    """generate() streamer: the first put() is the prompt, then one put() per decoding step."""

    def __init__(self, torch, t0):
        self.torch, self.t0, self.times, self.seen_prompt = torch, t0, [], False

    def put(self, value):
        if not self.seen_prompt:
            self.seen_prompt = True
            return
        if self.torch.cuda.is_available():
            self.torch.cuda.synchronize()
        self.times.append(time.perf_counter() - self.t0)

    def end(self):
        pass


def load_model(args, torch, transformers):
    dtype = getattr(torch, args.dtype)
    has_weights = any(n.endswith(".safetensors") for n in os.listdir(args.model))
    torch.manual_seed(args.seed)
    if has_weights:
        try:
            model = transformers.AutoModelForCausalLM.from_pretrained(args.model, dtype=dtype)
        except TypeError:
            model = transformers.AutoModelForCausalLM.from_pretrained(args.model, torch_dtype=dtype)
        model = model.to(args.device)
    else:
        config = transformers.AutoConfig.from_pretrained(args.model)
        prev = torch.get_default_dtype()
        torch.set_default_dtype(dtype)
        try:
            with torch.device(args.device):
                model = transformers.AutoModelForCausalLM.from_config(config)
        finally:
            torch.set_default_dtype(prev)
    model.eval()
    return model


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True, help="Hugging Face model folder")
    ap.add_argument("--dataset", required=True, help="JSONL workload from `ignis bench dataset`")
    ap.add_argument("--mode", choices=["throughput", "latency"], default="throughput")
    ap.add_argument("--batch-size", type=int, default=64, help="throughput: requests per generate() call")
    ap.add_argument("--dtype", default="bfloat16", choices=["bfloat16", "float16", "float32"])
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--seed", type=int, default=0, help="random-init seed (config.json-only folders)")
    ap.add_argument("--json", help="write the report as JSON here")
    args = ap.parse_args()

    try:
        items = read_workload(args.dataset)
    except (OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.batch_size < 1:
        print("error: --batch-size must be >= 1", file=sys.stderr)
        return 2

    import torch
    import transformers

    tok = None
    if any("prompt_ids" not in it for it in items):
        tok = transformers.AutoTokenizer.from_pretrained(args.model)
    prompts = [it["prompt_ids"] if it.get("prompt_ids") else tok(it["prompt"])["input_ids"] for it in items]
    model = load_model(args, torch, transformers)
    vocab = model.config.vocab_size
    for i, p in enumerate(prompts):
        if any(t < 0 or t >= vocab for t in p):
            print(f"error: request {i + 1}: token id outside the model's vocabulary ({vocab})", file=sys.stderr)
            return 2
    pad = model.config.pad_token_id if model.config.pad_token_id is not None else 0
    hardware = torch.cuda.get_device_name() if torch.cuda.is_available() and args.device.startswith("cuda") else "cpu"

    def generate(batch_prompts, new_tokens, timer):
        width = max(len(p) for p in batch_prompts)
        ids = torch.full((len(batch_prompts), width), pad, dtype=torch.long)
        mask = torch.zeros((len(batch_prompts), width), dtype=torch.long)
        for r, p in enumerate(batch_prompts):  # left padding
            ids[r, width - len(p):] = torch.tensor(p, dtype=torch.long)
            mask[r, width - len(p):] = 1
        with torch.inference_mode():
            model.generate(input_ids=ids.to(args.device), attention_mask=mask.to(args.device), do_sample=False,
                           max_new_tokens=new_tokens, min_new_tokens=new_tokens, pad_token_id=pad,
                           streamer=timer)

    # Warm-up (kernels, allocator) outside the measurement.
    generate([prompts[0][:16]], 4, StepTimer(torch, time.perf_counter()))

    records = []
    bs = args.batch_size if args.mode == "throughput" else 1
    t0 = time.perf_counter()
    for start in range(0, len(items), bs):
        idx = list(range(start, min(start + bs, len(items))))
        arrival = 0.0 if args.mode == "throughput" else time.perf_counter() - t0
        timer = StepTimer(torch, t0)
        generate([prompts[i] for i in idx], max(items[i]["output_len"] for i in idx), timer)
        for i in idx:
            n = items[i]["output_len"]
            tt = timer.times[:n]
            records.append({"arrival": arrival, "first_token": tt[0], "finish": tt[-1], "token_times": tt,
                            "prompt_tokens": len(prompts[i]), "output_tokens": n})
        print(f"\r{min(start + bs, len(items))}/{len(items)} requests", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)

    report = compute_report(args.mode, records, hardware)
    sys.stdout.write(format_table(report))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(report, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
