#!/usr/bin/env python3
"""ignis eval on the held-out split must agree with PyTorch's perplexity (from
tools/train/train.py, stored in eval_golden.json) within 0.5%."""
import json
import subprocess
import sys

ignis, model = sys.argv[1], sys.argv[2]
device = sys.argv[3] if len(sys.argv) > 3 else "cpu"
golden = json.load(open(f"{model}/eval_golden.json"))
out = subprocess.run([ignis, "eval", "--model", model, "--text", f"{model}/heldout.txt", "--device", device,
                      "--ctx", str(golden["ctx"]), "--json"], check=True, capture_output=True, text=True).stdout
got = json.loads(out.strip().splitlines()[-1])
ref = golden["perplexity_fp32"]
rel = abs(got["perplexity"] - ref) / ref
print(f"{model} ({device}): ignis {got['perplexity']:.5f} vs PyTorch {ref:.5f} (rel {rel:.2e}), "
      f"{got['predicted_tokens']} vs {golden['predicted_tokens']} predicted tokens")
assert got["predicted_tokens"] == golden["predicted_tokens"], "token count differs: tokenizer or windowing mismatch"
assert rel <= 0.005, f"perplexity differs by {rel:.2%} (> 0.5%)"
print("1 passed, 0 failed")
