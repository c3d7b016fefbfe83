#!/usr/bin/env python3
"""Compares ignis's CUDA backend with transformers on a Llama-3.1-8B-shaped model with random
bf16 weights (the SAME weights: this script writes them as safetensors and ignis loads that folder).

Runs on the GPU machine (torch, transformers 5.x, safetensors; no network):

    python3 tools/golden/compare_8b.py --bin build-gpu/bin/ignis_gpu_logits --out /tmp/cmp8b [--layers 4]

Steps: build LlamaForCausalLM (hidden 4096, 32 heads, 8 kv heads, ffn 14336, vocab 128256, llama3
rope; --layers of them) on the GPU with seeded N(0, 0.02) weights and 1 + N(0, 0.02) norms; save it
(bf16 safetensors); reference logits for a seeded random prompt from transformers in bf16 and in
fp32 (same weights upcast); run ignis_gpu_logits on the folder; print the relative L2 errors
||x - ref32|| / ||ref32|| of ignis-bf16 and of transformers-bf16, and top-1 agreement.
Exit code 1 if ignis's error exceeds --bound or is more than --ratio times transformers' own bf16 error.
Deterministic (fixed seeds).
"""
import argparse
import os
import subprocess
import sys

import numpy as np
import torch
from transformers import LlamaConfig, LlamaForCausalLM


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True, help="path to ignis_gpu_logits")
    ap.add_argument("--out", required=True, help="output directory (model folder + logits)")
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--seq-len", type=int, default=64)
    ap.add_argument("--bound", type=float, default=0.05)
    ap.add_argument("--ratio", type=float, default=3.0)
    ap.add_argument("--variant", action="append", default=[],
                    help="NAME:VAR=VAL,VAR=VAL: also run ignis with these environment variables (ablations); "
                         "the model and references are built once")
    ap.add_argument("--dtype", default="bf16", help="ignis compute dtype (bf16, f16, f32)")
    ap.add_argument("--legacy-reference", action="store_true",
                    help="references from the in-memory model (bf16, then .float()) as before 2026-12-02")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    model_dir = os.path.join(args.out, "model")

    cfg = LlamaConfig(
        vocab_size=128256, hidden_size=4096, intermediate_size=14336, num_hidden_layers=args.layers,
        num_attention_heads=32, num_key_value_heads=8, head_dim=128, max_position_embeddings=131072,
        rms_norm_eps=1e-5, tie_word_embeddings=False, bos_token_id=128000, eos_token_id=128001,
        rope_parameters={"rope_type": "llama3", "rope_theta": 500000.0, "factor": 8.0, "low_freq_factor": 1.0,
                         "high_freq_factor": 4.0, "original_max_position_embeddings": 8192},
    )
    torch.manual_seed(0)
    with torch.device("cuda"):
        model = LlamaForCausalLM(cfg).to(torch.bfloat16)
    with torch.no_grad():
        g = torch.Generator(device="cuda").manual_seed(1)
        for name, p in model.named_parameters():
            if name.endswith("norm.weight"):
                p.copy_(1.0 + 0.02 * torch.randn(p.shape, generator=g, device="cuda"))
            else:
                p.copy_(0.02 * torch.randn(p.shape, generator=g, device="cuda"))
    model.eval()
    model.save_pretrained(model_dir)
    print(f"saved {args.layers}-layer 8B-shaped model to {model_dir}", flush=True)

    rng = np.random.default_rng(2)
    tokens = [int(t) for t in rng.integers(0, cfg.vocab_size, size=args.seq_len)]
    ids = torch.tensor([tokens], device="cuda")
    # References from the SAVED folder, as a user loads it: from_pretrained in bf16 and in fp32.
    # (Casting the in-memory bf16 model with .float() would also cast its RoPE inv_freq buffer, which
    # .to(bfloat16) rounded to bf16: an "fp32" reference with bf16 rotary frequencies. --legacy-reference
    # reproduces that reference, as the 2026-12-01 figures used.)
    def inv_freq_of(m):
        return m.model.rotary_emb.inv_freq

    with torch.no_grad():
        if args.legacy_reference:
            print("rotary inv_freq dtype of the in-memory model:", inv_freq_of(model).dtype)
            ref16 = model(ids).logits[0].float().cpu().numpy()
            model = model.float()
            ref32 = model(ids).logits[0].float().cpu().numpy()
            del model
        else:
            del model
            torch.cuda.empty_cache()
            for dt in (torch.bfloat16, torch.float32):
                m = LlamaForCausalLM.from_pretrained(model_dir, dtype=dt, device_map="cuda")
                m.eval()
                print(f"reference {dt}: rotary inv_freq dtype {inv_freq_of(m).dtype}", flush=True)
                out = m(ids).logits[0].float().cpu().numpy()
                if dt == torch.bfloat16:
                    ref16 = out
                else:
                    ref32 = out
                del m
                torch.cuda.empty_cache()
    torch.cuda.empty_cache()

    def rel(a, b):
        return float(np.linalg.norm(a - b) / np.linalg.norm(b))

    def run_ignis(name, env_extra):
        out_f32 = os.path.join(args.out, f"ignis_logits_{name}.f32")
        cmd = [args.bin, model_dir, ",".join(map(str, tokens)), out_f32, args.dtype]
        print("running:", name, env_extra, " ".join(cmd[:2]), "<tokens>", out_f32, flush=True)
        subprocess.run(cmd, check=True, env={**os.environ, **env_extra})
        return np.fromfile(out_f32, dtype="<f4").reshape(args.seq_len, cfg.vocab_size)

    for v in args.variant:
        name, _, spec = v.partition(":")
        env_extra = dict(kv.split("=", 1) for kv in spec.split(",") if kv)
        iv = run_ignis(name, env_extra)
        print(f"variant {name:12s} rel_err vs hf_fp32 {rel(iv, ref32):.5f}  top1 {float(np.mean(iv.argmax(-1) == ref32.argmax(-1))):.3f}",
              flush=True)
    ig = run_ignis("default", {})

    e_ig, e_hf, e_ig16 = rel(ig, ref32), rel(ref16, ref32), rel(ig, ref16)
    top_ig = float(np.mean(ig.argmax(-1) == ref32.argmax(-1)))
    top_hf = float(np.mean(ref16.argmax(-1) == ref32.argmax(-1)))
    worst_row = max(rel(ig[i], ref32[i]) for i in range(args.seq_len))
    print(f"layers {args.layers} seq_len {args.seq_len}")
    print(f"rel_err ignis_bf16 vs hf_fp32        {e_ig:.5f}  (worst row {worst_row:.5f})")
    print(f"rel_err hf_bf16 vs hf_fp32           {e_hf:.5f}")
    print(f"rel_err ignis_bf16 vs hf_bf16        {e_ig16:.5f}")
    print(f"top1 agreement with fp32: ignis {top_ig:.3f}  hf_bf16 {top_hf:.3f}")
    ok = np.isfinite(ig).all() and e_ig <= args.bound and e_ig <= args.ratio * max(e_hf, 1e-4)
    print("COMPARE_8B", "PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
