#!/usr/bin/env python3
"""Integer weight-only checkpoints (AWQ gemm, GPTQ, compressed-tensors pack-quantized) of the tiny golden models
and of models/demo, packed from the published specifications, with PyTorch reference logits.

Runs on the GPU machine (torch, transformers 5.x, safetensors, numpy; no autoawq / auto-gptq / compressed-tensors
needed, no network):
    python3 tools/golden/make_int4.py                         # -> tests/data/models_int4 (tiny bases, CPU, < 1 min)
    python3 tools/golden/make_int4.py --demo models/demo      # + models/demo in every format (group 64)
    python3 tools/golden/make_int4.py --self-check            # numpy packers only: bit layouts, round trips
    python3 tools/golden/make_int4.py --no-torch --dense-twin --demo models/demo --out DIR
        # folders only (no reference logits; numpy alone), each with a <name>_dequant twin: the base with the
        # projections replaced by this script's dequantized fp32 weights (ignis eval of both must agree)

OUTDIR/<base>_<format>/ holds config.json (the base's + quantization_config), generation_config.json,
model.safetensors, golden.json + golden_logits.f32 (golden.json: vocab_size, logits_file, sequences [{tokens,
logits_offset}], the layout tests/quant/test_fp8_golden.cpp reads); OUTDIR/MANIFEST.json lists them. The C++ test
tests/quant/test_int_golden.cpp loads every folder with ignis' CPU backend and compares the logits.

Formats (codes from a round to nearest of the base weights; the reference only uses what the file holds):
  awq             quant_method awq, version gemm, bits 4, group_size G, zero_point true. qweight int32 [k, n/8]:
                  word (c, w) nibble i holds output 8w + ORDER[i], ORDER = 0,2,4,6,1,3,5,7; qzeros int32
                  [k/G, n/8] the same order; scales fp16 [k/G, n]. w[r, c] = (q - z) * s (AutoAWQ).
  gptq_sym4       quant_method gptq, bits 4, group_size G, sym true, desc_act false, checkpoint_format gptq:
                  qweight int32 [k/8, n] packed along k (value j at bits 4j), qzeros int32 [G', n/8] packed along n
                  holding z - 1 (z = 8), scales fp16 [k/G, n], g_idx int32 [k] = c // G.
  gptq_asym4_act  the same, sym false, desc_act true: g_idx a permutation (shared by q/k/v and by gate/up).
  gptq8           bits 8 (4 per int32), group_size -1 (one group per row), sym false.
  ct_w4_asym      compressed-tensors format pack-quantized, num_bits 4, type int, strategy group, symmetric false:
                  weight_packed int32 [n, k/8] (codes q + 8, value j at bits 4j), weight_scale bf16 [n, k/G],
                  weight_zero_point int32 [ceil(n/8), k/G] packed along n (z + 8), weight_shape int64 [2].
  ct_w4_sym_act   symmetric, actorder group: + weight_g_idx int32 [k].
  ct_w8_channel   num_bits 8, strategy channel, symmetric: weight_scale [n, 1].
lm_head stays dense. G = 32 for the tiny bases (k = 64, 96), 64 for models/demo (k = 192, 1024).

Reference: the base folder via transformers (fp32, eager, CPU), every projection weight replaced by
(q - z).float() * s.float() unpacked in this script from the written safetensors (independent of ignis), the
base's golden sequences (or seeded random ones) run at once; logits fp32 row-major.
"""
import argparse
import json
import os
import random
import shutil
import struct
import sys
import zlib

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

ORDER = [0, 2, 4, 6, 1, 3, 5, 7]
BASES = ["llama", "qwen2", "llama_bias_tied"]
FORMATS = {
    "awq": dict(layout="awq", bits=4, asym=True, act=False, per_channel=False),
    "gptq_sym4": dict(layout="gptq", bits=4, asym=False, act=False, per_channel=False),
    "gptq_asym4_act": dict(layout="gptq", bits=4, asym=True, act=True, per_channel=False),
    "gptq8": dict(layout="gptq", bits=8, asym=True, act=False, per_channel=True),
    "ct_w4_asym": dict(layout="ct", bits=4, asym=True, act=False, per_channel=False),
    "ct_w4_sym_act": dict(layout="ct", bits=4, asym=False, act=True, per_channel=False),
    "ct_w8_channel": dict(layout="ct", bits=8, asym=False, act=False, per_channel=True),
}
PROJ = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


def log(msg):
    print(msg, flush=True)


# ---- safetensors (numpy) -------------------------------------------------------------------------------------
ST_DT = {"F32": (np.float32, 4), "F16": (np.float16, 2), "BF16": (np.uint16, 2), "I32": (np.int32, 4),
         "I64": (np.int64, 8)}


def st_read(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        hdr = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, e in hdr.items():
        if name == "__metadata__":
            continue
        dt, sz = ST_DT[e["dtype"]]
        b, end = e["data_offsets"]
        a = np.frombuffer(data[b:end], dtype=dt).reshape(e["shape"]).copy()
        out[name] = (e["dtype"], a)
    return out


def st_write(path, tensors):
    hdr, blobs, off = {}, [], 0
    for name in sorted(tensors):
        dtype, a = tensors[name]
        raw = np.ascontiguousarray(a).tobytes()
        hdr[name] = {"dtype": dtype, "shape": list(a.shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    hdr["__metadata__"] = {"format": "pt"}
    h = json.dumps(hdr, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def bf16_to_f32(u16):
    return (u16.astype(np.uint32) << 16).view(np.float32)


def f32_to_bf16(x):  # round to nearest even
    u = x.astype(np.float32).view(np.uint32)
    return ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)


def to_f32(dtype, a):
    if dtype == "BF16":
        return bf16_to_f32(a)
    return a.astype(np.float32)


# ---- quantization and the published packings (numpy) --------------------------------------------------------
def rtn(w, bits, group, asym, g_idx, sdt):
    """codes (n, k), zeros (n, G), scales (n, G) in the file's dtype rounding; g_idx (k) gives each column's group."""
    n, k = w.shape
    G = k // group
    qmax, half = (1 << bits) - 1, 1 << (bits - 1)
    codes = np.zeros((n, k), np.int64)
    zeros = np.full((n, G), half, np.int64)
    scales = np.zeros((n, G), np.float32)
    for gi in range(G):
        cols = np.nonzero(g_idx == gi)[0]
        x = w[:, cols]
        mn = np.minimum(x.min(1), 0)
        mx = np.maximum(x.max(1), 0)
        if asym:
            s = np.maximum(mx - mn, 1e-6) / qmax
        else:
            s = np.maximum(np.maximum(-mn, mx), 1e-6) / (half - 1)
        s = s.astype(np.float16).astype(np.float32) if sdt == "F16" else bf16_to_f32(f32_to_bf16(s))
        z = np.clip(np.round(-mn / s), 0, qmax).astype(np.int64) if asym else np.full(n, half, np.int64)
        codes[:, cols] = np.clip(np.round(x / s[:, None]) + z[:, None], 0, qmax)
        zeros[:, gi] = z
        scales[:, gi] = s
    return codes, zeros, scales


def pack_natural(v, bits, axis):
    """Packs 32/bits values along `axis` (value j of a word at bits [j*bits, +bits)) into int32."""
    pack = 32 // bits
    v = np.moveaxis(v.astype(np.uint64) & ((1 << bits) - 1), axis, -1)
    pad = (-v.shape[-1]) % pack
    if pad:
        v = np.concatenate([v, np.zeros(v.shape[:-1] + (pad,), np.uint64)], -1)
    v = v.reshape(v.shape[:-1] + (v.shape[-1] // pack, pack))
    w = np.zeros(v.shape[:-1], np.uint64)
    for j in range(pack):
        w |= v[..., j] << np.uint64(j * bits)
    return np.moveaxis(w.astype(np.uint32).view(np.int32), -1, axis)


def unpack_natural(w, bits, axis, count):
    pack = 32 // bits
    u = np.moveaxis(w.view(np.uint32).astype(np.uint64), axis, -1)
    vals = np.stack([(u >> np.uint64(j * bits)) & ((1 << bits) - 1) for j in range(pack)], -1)
    vals = vals.reshape(u.shape[:-1] + (u.shape[-1] * pack,))[..., :count]
    return np.moveaxis(vals.astype(np.int64), -1, axis)


def pack_awq(v):  # v (n, cols) -> [cols, n/8]: word nibble i = output 8w + ORDER[i]
    n, cols = v.shape
    u = v.astype(np.uint64).T.reshape(cols, n // 8, 8)
    w = np.zeros((cols, n // 8), np.uint64)
    for i in range(8):
        w |= (u[:, :, ORDER[i]] & 0xF) << np.uint64(4 * i)
    return w.astype(np.uint32).view(np.int32)


def unpack_awq(w):  # [cols, n/8] -> (n, cols)
    u = w.view(np.uint32).astype(np.uint64)
    cols, nw = u.shape
    out = np.zeros((cols, nw, 8), np.int64)
    for i in range(8):
        out[:, :, ORDER[i]] = (u >> np.uint64(4 * i)) & 0xF
    return out.reshape(cols, nw * 8).T


def quant_config(fmt, group):
    f = FORMATS[fmt]
    if f["layout"] == "awq":
        return {"quant_method": "awq", "zero_point": True, "group_size": group, "bits": 4, "version": "gemm",
                "modules_to_not_convert": None}
    if f["layout"] == "gptq":
        return {"bits": f["bits"], "group_size": -1 if f["per_channel"] else group, "damp_percent": 0.01,
                "desc_act": f["act"], "static_groups": False, "sym": not f["asym"], "true_sequential": True,
                "lm_head": False, "quant_method": "gptq", "checkpoint_format": "gptq"}
    w = {"num_bits": f["bits"], "type": "int", "symmetric": not f["asym"], "dynamic": False,
         "strategy": "channel" if f["per_channel"] else "group",
         "group_size": None if f["per_channel"] else group, "actorder": "group" if f["act"] else None,
         "observer": "minmax", "observer_kwargs": {}, "block_structure": None}
    return {"quant_method": "compressed-tensors", "format": "pack-quantized", "quantization_status": "compressed",
            "ignore": ["lm_head"], "kv_cache_scheme": None, "global_compression_ratio": None,
            "config_groups": {"group_0": {"targets": ["Linear"], "weights": w, "input_activations": None,
                                          "output_activations": None}}}


def is_proj(name):
    parts = name.split(".")
    return name.startswith("model.layers.") and name.endswith(".weight") and len(parts) == 6 and parts[4] in PROJ


def input_key(module):  # q/k/v and gate/up share an input: one g_idx (one Hessian in GPTQ)
    prefix, leaf = module.rsplit(".", 1)
    return prefix + "." + ("qkv" if leaf in ("q_proj", "k_proj", "v_proj") else
                           "gate_up" if leaf in ("gate_proj", "up_proj") else leaf)


def write_format(base_dir, out_dir, fmt, group, seed=0):
    f = FORMATS[fmt]
    bits = f["bits"]
    src = {}
    idx = os.path.join(base_dir, "model.safetensors.index.json")
    files = sorted(set(json.load(open(idx))["weight_map"].values())) if os.path.exists(idx) else ["model.safetensors"]
    for fn in files:
        src.update(st_read(os.path.join(base_dir, fn)))
    sdt = "BF16" if f["layout"] == "ct" else "F16"
    out = {}
    for name, (dtype, a) in src.items():
        if not is_proj(name):
            out[name] = (dtype, a)
            continue
        module = name[:-len(".weight")]
        w = to_f32(dtype, a)
        n, k = w.shape
        g = k if f["per_channel"] else group
        assert k % g == 0, f"{name}: group {g} does not divide {k}"
        G = k // g
        g_idx = np.arange(k) // g
        if f["act"]:
            rng = np.random.default_rng(zlib.crc32(input_key(module).encode()) + seed)
            g_idx = rng.permutation(g_idx)
        codes, zeros, scales = rtn(w, bits, g, f["asym"], g_idx, sdt)
        if f["layout"] == "awq":
            out[module + ".qweight"] = ("I32", pack_awq(codes))
            out[module + ".qzeros"] = ("I32", pack_awq(zeros))
            out[module + ".scales"] = ("F16", scales.T.astype(np.float16))
        elif f["layout"] == "gptq":
            out[module + ".qweight"] = ("I32", pack_natural(codes.T, bits, 0))          # [k/pack, n]
            out[module + ".qzeros"] = ("I32", pack_natural(zeros.T - 1, bits, 1))       # [G, n/pack], z - 1
            out[module + ".scales"] = ("F16", scales.T.astype(np.float16))
            out[module + ".g_idx"] = ("I32", g_idx.astype(np.int32))
        else:
            out[module + ".weight_packed"] = ("I32", pack_natural(codes, bits, 1))      # [n, k/pack]
            out[module + ".weight_scale"] = ("BF16", f32_to_bf16(scales))
            out[module + ".weight_shape"] = ("I64", np.array([n, k], np.int64))
            if f["asym"]:
                out[module + ".weight_zero_point"] = ("I32", pack_natural(zeros, bits, 0))  # [ceil(n/pack), G]
            if f["act"]:
                out[module + ".weight_g_idx"] = ("I32", g_idx.astype(np.int32))
    os.makedirs(out_dir, exist_ok=True)
    st_write(os.path.join(out_dir, "model.safetensors"), out)
    cfg = json.load(open(os.path.join(base_dir, "config.json")))
    cfg["quantization_config"] = quant_config(fmt, group)
    json.dump(cfg, open(os.path.join(out_dir, "config.json"), "w"), indent=2)
    for side in ("generation_config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        if os.path.exists(os.path.join(base_dir, side)):
            shutil.copy(os.path.join(base_dir, side), os.path.join(out_dir, side))


def dequantized(out_dir, fmt):
    """module -> fp32 (n, k) weight, unpacked from the written file by this script's own readers."""
    f = FORMATS[fmt]
    bits = f["bits"]
    t = st_read(os.path.join(out_dir, "model.safetensors"))
    mods = sorted({n.rsplit(".", 1)[0] for n in t if n.startswith("model.layers.") and
                   n.rsplit(".", 1)[1] in ("qweight", "weight_packed")})
    res = {}
    for m in mods:
        if f["layout"] == "awq":
            scales = t[m + ".scales"][1].astype(np.float32)             # [G, n]
            G, n = scales.shape
            codes = unpack_awq(t[m + ".qweight"][1])                     # (n, k)
            k = codes.shape[1]
            zeros = unpack_awq(t[m + ".qzeros"][1])                      # (n, G)
            g_idx = np.arange(k) // (k // G)
            s = scales.T
        elif f["layout"] == "gptq":
            scales = t[m + ".scales"][1].astype(np.float32)
            G, n = scales.shape
            qw = t[m + ".qweight"][1]
            k = qw.shape[0] * (32 // bits)
            codes = unpack_natural(qw, bits, 0, k).T                     # (n, k)
            zeros = ((unpack_natural(t[m + ".qzeros"][1], bits, 1, n) + 1) & ((1 << bits) - 1)).T  # (n, G)
            g_idx = t[m + ".g_idx"][1].astype(np.int64)
            s = scales.T
        else:
            n, k = (int(v) for v in t[m + ".weight_shape"][1])
            s = bf16_to_f32(t[m + ".weight_scale"][1])                   # (n, G)
            G = s.shape[1]
            codes = unpack_natural(t[m + ".weight_packed"][1], bits, 1, k)
            if m + ".weight_zero_point" in t:
                zeros = unpack_natural(t[m + ".weight_zero_point"][1], bits, 0, n)
            else:
                zeros = np.full((n, G), 1 << (bits - 1), np.int64)
            g_idx = t[m + ".weight_g_idx"][1].astype(np.int64) if m + ".weight_g_idx" in t else np.arange(k) // (k // G)
        zc, sc = zeros[:, g_idx], s[:, g_idx]
        res[m] = ((codes - zc).astype(np.float32) * sc).astype(np.float32)
    return res


# ---- PyTorch reference ---------------------------------------------------------------------------------------
def reference_logits(base_dir, weights, sequences):
    import torch
    from transformers import AutoModelForCausalLM
    model = AutoModelForCausalLM.from_pretrained(base_dir, torch_dtype=torch.float32, attn_implementation="eager")
    model.eval()
    with torch.no_grad():
        for name, w in weights.items():
            mod = model.get_submodule(name)
            assert tuple(mod.weight.shape) == w.shape, (name, mod.weight.shape, w.shape)
            mod.weight.copy_(torch.from_numpy(w))
        out = []
        for seq in sequences:
            logits = model(torch.tensor([seq])).logits[0].float().numpy()
            out.append(logits)
    return out


def golden_sequences(base_dir, vocab, count=3, length=24, seed=11):
    g = os.path.join(base_dir, "golden.json")
    if os.path.exists(g):
        seqs = [s["tokens"] for s in json.load(open(g)).get("sequences", []) if "tokens" in s]
        if seqs:
            return seqs
    rng = random.Random(seed)
    return [[rng.randrange(vocab) for _ in range(length - 5 * i)] for i in range(count)]


def write_golden(out_dir, sequences, logits, vocab):
    off, entries = 0, []
    with open(os.path.join(out_dir, "golden_logits.f32"), "wb") as f:
        for seq, lg in zip(sequences, logits):
            assert lg.shape == (len(seq), vocab)
            f.write(np.ascontiguousarray(lg, np.float32).tobytes())
            entries.append({"tokens": list(map(int, seq)), "logits_offset": off})
            off += lg.size
    json.dump({"vocab_size": vocab, "logits_file": "golden_logits.f32", "sequences": entries},
              open(os.path.join(out_dir, "golden.json"), "w"), indent=1)


def write_dense_twin(base_dir, out_dir, deq):
    idx = os.path.join(base_dir, "model.safetensors.index.json")
    files = sorted(set(json.load(open(idx))["weight_map"].values())) if os.path.exists(idx) else ["model.safetensors"]
    t = {}
    for fn in files:
        t.update(st_read(os.path.join(base_dir, fn)))
    for m, w in deq.items():
        t[m + ".weight"] = ("F32", w)
    os.makedirs(out_dir, exist_ok=True)
    st_write(os.path.join(out_dir, "model.safetensors"), t)
    for side in ("config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json"):
        if os.path.exists(os.path.join(base_dir, side)):
            shutil.copy(os.path.join(base_dir, side), os.path.join(out_dir, side))


def self_check():
    v = np.arange(8).reshape(8, 1)
    assert int(pack_awq(v).view(np.uint32)[0, 0]) == 0x75316420, hex(int(pack_awq(v).view(np.uint32)[0, 0]))
    rng = np.random.default_rng(0)
    for bits in (4, 8):
        x = rng.integers(0, 1 << bits, (24, 40))
        for axis in (0, 1):
            assert (unpack_natural(pack_natural(x, bits, axis), bits, axis, x.shape[axis]) == x).all()
    x = rng.integers(0, 16, (16, 6))
    assert (unpack_awq(pack_awq(x)) == x).all()
    assert int(pack_natural(np.array([[7], [0], [0], [0], [0], [0], [7], [15]]), 4, 0).view(np.uint32)[0, 0]) == 0xF7000007
    log("self-check: packers OK")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default="tests/data/models")
    ap.add_argument("--out", default="tests/data/models_int4")
    ap.add_argument("--demo", default=None, help="also write this folder (models/demo) in every format, group 64")
    ap.add_argument("--formats", default=",".join(FORMATS))
    ap.add_argument("--self-check", action="store_true")
    ap.add_argument("--no-torch", action="store_true", help="write the folders without reference logits")
    ap.add_argument("--dense-twin", action="store_true", help="also write <name>_dequant dense twins")
    ap.add_argument("--bases", default=",".join(BASES))
    a = ap.parse_args()
    self_check()
    if a.self_check:
        return
    jobs = [(os.path.join(a.models, b), b, 32) for b in a.bases.split(",") if b]
    if a.demo:
        jobs.append((a.demo, "demo", 64))
    manifest = []
    os.makedirs(a.out, exist_ok=True)
    for base_dir, tag, group in jobs:
        cfg = json.load(open(os.path.join(base_dir, "config.json")))
        seqs = golden_sequences(base_dir, cfg["vocab_size"])
        for fmt in a.formats.split(","):
            name = f"{tag}_{fmt}"
            d = os.path.join(a.out, name)
            shutil.rmtree(d, ignore_errors=True)
            write_format(base_dir, d, fmt, group)
            deq = dequantized(d, fmt)
            if a.dense_twin:
                write_dense_twin(base_dir, d + "_dequant", deq)
            if a.no_torch:
                log(f"{name}: written (no reference logits)")
                continue
            logits = reference_logits(base_dir, deq, seqs)
            write_golden(d, seqs, logits, cfg["vocab_size"])
            manifest.append({"name": name, "base": tag, "format": fmt, "group_size": group})
            log(f"{name}: {len(seqs)} sequences")
    if a.no_torch:
        return
    json.dump({"models": manifest}, open(os.path.join(a.out, "MANIFEST.json"), "w"), indent=1)
    log(f"wrote {a.out}/MANIFEST.json ({len(manifest)} folders)")


if __name__ == "__main__":
    sys.exit(main())
