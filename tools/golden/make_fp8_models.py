#!/usr/bin/env python3
"""FP8 checkpoints of the tiny golden models in the published formats, with PyTorch fake-quant goldens.

Runs on the GPU machine (torch with float8_e4m3fn, transformers 5.x, safetensors, numpy; no network):
    python3 tools/golden/make_fp8_models.py                  # -> tests/data/models_fp8 (CPU, well under 1 min)
    python3 tools/golden/make_fp8_models.py --self-check     # numpy parts only (+ torch cross-checks if importable)
    python3 tools/golden/make_fp8_models.py --demo models/demo --demo-out DIR [--eval-ids F] [--calib-ids F]
        [--ctx 512] [--device cpu|cuda]

Tiny mode: for each base tests/data/models/{llama,qwen2,mistral_sw} and each format, OUTDIR/<base>_<format>/ holds
config.json and config.classic.json (the base's + quantization_config), hf_quant_config.json (modelopt),
generation_config.json, model.safetensors, golden.json + golden_logits.f32 (layout of make_tiny_models.py; the
base's token sequences, greedy continuation of 8 steps); OUTDIR/MANIFEST.json lists them. Formats:
  ct_tensor_static_kv  compressed-tensors "float-quantized": weight_scale [1] per tensor, static input_scale [1],
                       kv_cache_scheme + model.layers.{i}.self_attn.k_scale / v_scale [1]
  ct_channel_dynamic   compressed-tensors: weight_scale [n, 1] per channel, input dynamic per token, no KV
  modelopt             hf_quant_config.json + quant_method "modelopt": weight_scale [], input_scale [],
                       model.layers.{i}.self_attn.k_proj.k_scale / v_proj.v_scale []
  fp8_block            quant_method "fp8", weight_block_size [128, 128], activation_scheme dynamic (per token and
                       group of 128 along k), weight_scale_inv (ceil(n/128), ceil(k/128)), multiplied
lm_head is never quantized; scales are float32, the other tensors keep the base dtype.

Semantics (ignis's CPU reference does the same in fp32): e4m3(v) = clamp(v, -448, 448).to(float8_e4m3fn) (RNE).
Weights: scale = amax / 448 per tensor / row / 128x128 block (amax 0 -> 1), code = e4m3(w * (1/scale)),
w' = code * scale. Static input and KV scales = amax / 448 over 8 seeded random sequences of 32 tokens through
the fp32 model (each projection's input; per layer K after RoPE and V = v_proj output). At inference forward
pre-hooks on every quantized nn.Linear make x' = e4m3(x * (1/s)) * s, s = input_scale or, dynamic,
s = max(amax / 448, 1 / (448 * 512)) per token (and group of 128 for fp8_block); with KV scales K after RoPE
(patched apply_rotary_pos_emb) and V (forward hook on v_proj) are fake-quantized the same way. The reference is
the base folder from from_pretrained (fp32, eager, CPU) with the projection weights and the scales READ BACK
from the written safetensors. A numpy twin of every quantizer must agree with torch bit for bit.

Demo mode writes the model in the 4 formats to DIR/<format>/ (with an eval_golden.json of the fake-quant
perplexity, so tests/demo/check_eval.py runs on each folder) and prints one table of PyTorch perplexities (fp32,
bf16, each format) over windows of --ctx eval ids (protocol of tools/train/train.py). Ids files: integers
separated by commas or whitespace (`ignis tokenize --ids-only --no-special` prints that). Without --eval-ids
heldout.txt is tokenized with the `tokenizers` package; without --calib-ids the first --calib-tokens eval ids
calibrate.
"""
import argparse
import importlib
import json
import math
import os
import random
import re
import shutil
import struct
import sys
import tempfile
import time
from functools import partial

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

F32 = np.float32
E4M3_MAX = 448.0
MIN_DYN_SCALE = F32(1.0) / (F32(448.0) * F32(512.0))  # == 1.0f / (448.0f * 512.0f)
BLOCK, GREEDY_STEPS, CALIB_SEQS, CALIB_LEN = 128, 8, 8, 32
BASES = ["llama", "qwen2", "mistral_sw"]
FORMATS = {  # weight scale granularity, activation scheme (static | token | group of 128), FP8 KV scales
    "ct_tensor_static_kv": dict(weight="tensor", act="static", kv=True),
    "ct_channel_dynamic": dict(weight="channel", act="token", kv=False),
    "modelopt": dict(weight="tensor", act="static", kv=True),
    "fp8_block": dict(weight="block", act="group", kv=False),
}
PROJ_RE = re.compile(r"model\.layers\.(\d+)\.(self_attn\.[qkvo]_proj|mlp\.(gate|up|down)_proj)$")
MODELOPT_PRODUCER = {"name": "modelopt", "version": "0.29.0"}  # the layout modelopt >= 0.29 exports


def log(msg):
    print(msg, flush=True)


# ---- numpy twin (no torch): e4m3, scales, fake quantization, safetensors ----------------------------------
def _e4m3_table():
    t = np.zeros(256, F32)
    for c in range(256):
        e, m = (c >> 3) & 0xF, c & 7
        v = float("nan") if (e == 0xF and m == 7) else (m * 2.0 ** -9 if e == 0 else (1 + m / 8) * 2.0 ** (e - 7))
        t[c] = -v if c & 0x80 else v
    return t


E4M3_TABLE = _e4m3_table()  # code -> value (0x7f / 0xff NaN, 0x80 -0)


def np_e4m3_encode(x):
    """float32 in [-448, 448] -> e4m3 codes, round to nearest even (the sign kept for -0)."""
    x = np.ascontiguousarray(x, dtype=F32)
    assert not np.isnan(x).any() and not (np.abs(x) > E4M3_MAX).any(), "e4m3 input must be clamped and finite"
    bits = x.view(np.uint32)
    sign = ((bits >> np.uint32(24)) & np.uint32(0x80)).astype(np.uint8)
    ab = bits & np.uint32(0x7FFFFFFF)
    # >= 2^-6: round the float32 pattern to 3 mantissa bits (a carry bumps the exponent); r = exp32 * 8 + m3 and
    # the e4m3 code is (exp32 - 127 + 7) * 8 + m3 = r - 960.
    r = (ab + np.uint32(0x7FFFF) + ((ab >> np.uint32(20)) & np.uint32(1))) >> np.uint32(20)
    # < 2^-6: multiples of 2^-9 (exact scaling, np.rint is half-to-even); k = 8 is code 0x08 = 2^-6.
    sub = np.rint(ab.view(F32) * F32(512.0)).astype(np.int64)
    code = np.where(ab >= np.uint32(0x3C800000), r.astype(np.int64) - 960, sub)
    assert code.min() >= 0 and code.max() <= 0x7E, "e4m3 code out of range"
    return code.astype(np.uint8) | sign


def np_fake_quant(x, s):
    s = np.asarray(s, F32)
    y = np.clip(np.asarray(x, F32) * (F32(1.0) / s), F32(-E4M3_MAX), F32(E4M3_MAX))
    return E4M3_TABLE[np_e4m3_encode(y)] * s


def np_scale_from_amax(amax):
    amax = np.asarray(amax, F32)
    return np.where(amax == 0, F32(1.0), amax / F32(E4M3_MAX)).astype(F32)


def block_grid(n, k):
    return (n + BLOCK - 1) // BLOCK, (k + BLOCK - 1) // BLOCK


def np_expand(scale, kind, n, k):
    return np.repeat(np.repeat(scale, BLOCK, 0), BLOCK, 1)[:n, :k] if kind == "block" else scale


def np_quant_weight(w, kind):
    """(n, k) float32 -> codes (n, k) uint8, scale () | (n, 1) | (ceil(n/128), ceil(k/128)), dequantized (n, k)."""
    w = np.asarray(w, F32)
    n, k = w.shape
    a = np.abs(w)
    if kind == "tensor":
        amax = a.max()
    elif kind == "channel":
        amax = a.max(axis=1, keepdims=True)
    else:
        nb, kb = block_grid(n, k)
        amax = np.array([[a[i * BLOCK:(i + 1) * BLOCK, j * BLOCK:(j + 1) * BLOCK].max() for j in range(kb)]
                         for i in range(nb)], F32)
    scale = np_scale_from_amax(amax)
    full = np_expand(scale, kind, n, k)
    codes = np_e4m3_encode(np.clip(w * (F32(1.0) / full), F32(-E4M3_MAX), F32(E4M3_MAX)))
    return codes, scale, E4M3_TABLE[codes] * full


def np_quant_act(x, act, scale=None):
    """x (..., k) float32; act: static (scale) | token | group (of 128 along k)."""
    x = np.asarray(x, F32)
    if act == "static":
        return np_fake_quant(x, scale)
    g = x.shape[-1] if act == "token" else BLOCK
    out = np.empty_like(x)
    for g0 in range(0, x.shape[-1], g):
        xs = x[..., g0:g0 + g]
        out[..., g0:g0 + g] = np_fake_quant(xs, np.maximum(np.abs(xs).max(-1, keepdims=True) / F32(448), MIN_DYN_SCALE))
    return out


ST_SIZE = {"F32": 4, "BF16": 2, "F16": 2, "F8_E4M3": 1}


def write_safetensors(path, tensors):
    """tensors: name -> (dtype, shape, raw little-endian bytes); largest elements first so data stays aligned."""
    names = sorted(tensors, key=lambda n: (-ST_SIZE[tensors[n][0]], n))
    header, off = {"__metadata__": {"format": "pt"}}, 0
    for n in names:
        dt, shape, data = tensors[n]
        assert len(data) == math.prod(shape) * ST_SIZE[dt], f"{n}: {len(data)} bytes for {dt} {shape}"
        header[n] = {"dtype": dt, "shape": [int(d) for d in shape], "data_offsets": [off, off + len(data)]}
        off += len(data)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(tensors[n][2] for n in names))


def read_safetensors(path):
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    header.pop("__metadata__", None)
    return {k: (v["dtype"], tuple(v["shape"]), raw[8 + n + v["data_offsets"][0]:8 + n + v["data_offsets"][1]])
            for k, v in header.items()}, n


def read_ids(path):
    with open(path) as f:
        return [int(t) for t in re.split(r"[,\s]+", f.read().strip()) if t]


# ---- published quantization configs and tensor names -----------------------------------------------------
def ct_args(strategy, dynamic):  # compressed-tensors QuantizationArgs as llm-compressor serializes them
    return {"actorder": None, "block_structure": None, "dynamic": dynamic, "group_size": None, "num_bits": 8,
            "observer": None if dynamic else "minmax", "observer_kwargs": {}, "strategy": strategy,
            "symmetric": True, "type": "float"}


def quant_configs(fmt):
    """-> (config.json quantization_config, hf_quant_config.json or None)."""
    spec = FORMATS[fmt]
    if fmt.startswith("ct_"):
        static = spec["act"] == "static"
        group = {"input_activations": ct_args("tensor" if static else "token", not static),
                 "output_activations": None, "targets": ["Linear"], "weights": ct_args(spec["weight"], False)}
        return {"config_groups": {"group_0": group}, "format": "float-quantized", "ignore": ["lm_head"],
                "kv_cache_scheme": ct_args("tensor", False) if spec["kv"] else None,
                "quant_method": "compressed-tensors", "quantization_status": "compressed"}, None
    if fmt == "modelopt":  # config.json holds what modelopt's convert_hf_quant_config_format makes of hf_quant_config
        fp8 = {"dynamic": False, "num_bits": 8, "type": "float"}
        qc = {"config_groups": {"group_0": {"input_activations": fp8, "weights": fp8, "targets": ["Linear"]}},
              "ignore": ["lm_head"], "quant_algo": "FP8", "kv_cache_scheme": fp8, "producer": MODELOPT_PRODUCER,
              "quant_method": "modelopt"}
        return qc, {"producer": MODELOPT_PRODUCER,
                    "quantization": {"quant_algo": "FP8", "kv_cache_quant_algo": "FP8", "exclude_modules": ["lm_head"]}}
    return {"activation_scheme": "dynamic", "fmt": "e4m3", "modules_to_not_convert": ["lm_head"],
            "quant_method": "fp8", "weight_block_size": [BLOCK, BLOCK]}, None


def scale_names(fmt, module):
    if fmt == "fp8_block":
        return {"w": module + ".weight_scale_inv"}
    d = {"w": module + ".weight_scale"}
    if FORMATS[fmt]["act"] == "static":
        d["in"] = module + ".input_scale"
    return d


def kv_names(fmt, i):
    p = f"model.layers.{i}.self_attn."
    return (p + "k_proj.k_scale", p + "v_proj.v_scale") if fmt == "modelopt" else (p + "k_scale", p + "v_scale")


def scalar_shape(fmt):
    return () if fmt == "modelopt" else (1,)


# ---- self-check ----------------------------------------------------------------------------------------
def nearest_e4m3(x):
    """Brute force: the nearest code by value, ties to the even code (mantissa lsb 0)."""
    pos = np.arange(0x7F)
    vals = E4M3_TABLE[pos].astype(np.float64)
    out = np.empty(x.shape, np.uint8)
    for i, v in enumerate(x.astype(np.float64)):
        d = np.abs(vals - abs(v))
        cand = pos[d == d.min()]
        out[i] = (cand[0] if len(cand) == 1 else cand[cand % 2 == 0][0]) | (0x80 if math.copysign(1, v) < 0 else 0)
    return out


def test_values(rng):
    mids = ((E4M3_TABLE[:0x7E].astype(np.float64) + E4M3_TABLE[1:0x7F]) / 2).astype(F32)  # exact in float32
    up, dn = np.nextafter(mids, F32(np.inf)), np.nextafter(mids, F32(0))
    rnd = (np.exp2(rng.uniform(-14, 8.8, 3000)) * rng.choice([-1, 1], 3000)).astype(F32)
    return np.concatenate([mids, -mids, up, dn, -up, E4M3_TABLE[:0x7F], rnd,
                           np.array([0.0, -0.0, 448.0, -448.0, 2.0 ** -10, 2.0 ** -11, 1e-30], F32)]).astype(F32)


def reciprocal_case(rng):
    """(amax, w) with e4m3(w * (1/s)) != e4m3(w / s) for s = amax / 448 (w next to the 1.0625 midpoint)."""
    for _ in range(100000):
        amax = F32(rng.uniform(1, 100))
        s = amax / F32(E4M3_MAX)
        w0 = F32(1.0625) * s
        for w in (w0, np.nextafter(w0, F32(0)), np.nextafter(w0, F32(1e9))):
            if np_e4m3_encode(w * (F32(1) / s)) != np_e4m3_encode(w / s):
                return amax, w
    raise AssertionError("no reciprocal case found")


def self_check():
    rng, t = np.random.default_rng(7), E4M3_TABLE
    assert t[0x7E] == 448 and t[0x08] == 2.0 ** -6 and t[0x01] == 2.0 ** -9 and t[0x38] == 1.0 and t[0xFE] == -448
    assert np.isnan(t[0x7F]) and np.isnan(t[0xFF]) and np.signbit(t[0x80]) and t[0x80] == 0
    codes = np.array([c for c in range(256) if c not in (0x7F, 0xFF)], np.uint8)
    assert np.array_equal(np_e4m3_encode(t[codes]), codes), "encode(decode(c)) != c"
    v = test_values(rng)
    got, want = np_e4m3_encode(v), nearest_e4m3(v)
    bad = np.nonzero(got != want)[0]
    assert len(bad) == 0, f"e4m3 rounding: {v[bad[:5]]} -> {got[bad[:5]]}, nearest-even {want[bad[:5]]}"
    log(f"ok   e4m3: 254 codes round-trip, {len(v)} values (every midpoint and +-1 ulp) round to the nearest-even code")

    for n, k in [(96, 64), (64, 96), (200, 300), (128, 256)]:
        w = rng.standard_normal((n, k)).astype(F32) * F32(0.05)
        w[3] = 0  # a zero row: channel scale 1
        if k > BLOCK:
            w[:BLOCK, BLOCK:2 * BLOCK] = 0  # a zero block: block scale 1
        for kind in ("tensor", "channel", "block"):
            c, s, dq = np_quant_weight(w, kind)
            shape = {"tensor": (), "channel": (n, 1), "block": block_grid(n, k)}[kind]
            assert s.shape == shape and s.dtype == F32 and c.shape == (n, k) and (s > 0).all(), (kind, s.shape)
            mag, full = np.abs(t[c]), np_expand(s, kind, n, k)
            gs = {"tensor": (n, k), "channel": (1, k), "block": (BLOCK, BLOCK)}[kind]
            for i in range(0, n, gs[0]):  # every scale group: max |code| is 448, or all zero with scale 1
                for j in range(0, k, gs[1]):
                    blk, wb = mag[i:i + gs[0], j:j + gs[1]], w[i:i + gs[0], j:j + gs[1]]
                    sg = full if kind == "tensor" else full[i, j] if kind == "block" else full[i, 0]
                    assert blk.max() == 448 if np.abs(wb).max() > 0 else (sg == 1 and blk.max() == 0), (kind, i, j)
            assert (np.abs(dq - w) <= (np.abs(w) / 16 + full * 2.0 ** -10) * 1.0001).all(), f"{kind}: error bound"
    amax, w1 = reciprocal_case(rng)  # code = e4m3(w * (1 / scale)), which here differs from e4m3(w / scale)
    c, s, _ = np_quant_weight(np.array([[amax, w1]], F32), "tensor")
    assert c[0, 1] == np_e4m3_encode(w1 * (F32(1) / s)) != np_e4m3_encode(w1 / s)
    assert np_quant_act(np.array([w1]), "static", s)[0] == t[np_e4m3_encode(w1 * (F32(1) / s))] * s
    a = rng.uniform(0.01, 100, 4000).astype(F32)  # a scale is the correctly rounded quotient amax / 448
    q = np_scale_from_amax(a)
    assert np.array_equal(q, (a.astype(np.float64) / 448.0).astype(F32)) and (q != a * (F32(1) / F32(448))).any()
    log("ok   weights per tensor / channel / 128x128 block (partial and zero blocks, zero rows), w * (1/s), amax/448")

    y = np_quant_act(np.array([[3.0, -1.5, 0.1], [0.0, 0.0, 0.0]], F32), "token")
    assert np.allclose(y[0], [3.0, -1.5, 15 * 3.0 / 448], rtol=1e-6, atol=0) and (y[1] == 0).all(), y
    tiny = np.array([[1e-7, -5e-8, 2e-8]], F32)  # amax / 448 below the floor: s = 1 / (448 * 512)
    assert np.array_equal(np_quant_act(tiny, "token"), np_fake_quant(tiny, MIN_DYN_SCALE))
    s = F32(0.01)  # 1/s ~ 100: 10 -> 1000 clamps to 448; -1.7 -> -170 -> -176; 0.013 -> 1.3 -> 1.25
    ys = np_quant_act(np.array([[10.0, -1.7, 0.013]], F32), "static", s)
    assert ys[0, 0] == F32(448) * s and np.allclose(ys[0, 1:], [-1.76, 0.0125], rtol=1e-6, atol=0), ys
    xg = rng.standard_normal((5, 300)).astype(F32)
    xg[1, 128:256] = 0
    yg = np_quant_act(xg, "group")
    for g0 in (0, 128, 256):
        part = xg[:, g0:g0 + BLOCK]
        sg = np.maximum(np.abs(part).max(-1, keepdims=True) / F32(448), MIN_DYN_SCALE)
        assert np.array_equal(yg[:, g0:g0 + BLOCK], np_fake_quant(part, sg))
    assert (yg[1, 128:256] == 0).all() and MIN_DYN_SCALE == F32(1) / F32(229376)
    log("ok   activations: per token (hand-computed row, zero row, scale floor), static (clamp), groups of 128")

    with tempfile.TemporaryDirectory() as d:
        p = os.path.join(d, "t.safetensors")
        ten = {"a.weight": ("F8_E4M3", (3, 5), bytes(range(15))), "a.weight_scale": ("F32", (), F32(0.5).tobytes()),
               "b": ("F32", (1,), F32(2.0).tobytes()), "c": ("BF16", (2, 3), bytes(range(12))),
               "d.weight_scale": ("F32", (3, 1), np.arange(3, dtype=F32).tobytes())}
        write_safetensors(p, ten)
        back, hlen = read_safetensors(p)
        assert hlen % 8 == 0 and back == ten, "safetensors round trip"
        hdr = json.loads(open(p, "rb").read()[8:8 + hlen])
        meta = hdr.pop("__metadata__")
        spans = sorted(tuple(v["data_offsets"]) for v in hdr.values())
        assert spans[0][0] == 0 and all(a[1] == b[0] for a, b in zip(spans, spans[1:])) and meta == {"format": "pt"}
        assert all(v["data_offsets"][0] % 4 == 0 for v in hdr.values() if v["dtype"] == "F32")
        assert os.path.getsize(p) == 8 + hlen + spans[-1][1]
        log("ok   safetensors writer: header padded to 8, contiguous offsets, F32 first (aligned), round trip")
        torch_cross_checks(rng, p, ten)
    for fmt in FORMATS:
        json.dumps(quant_configs(fmt))
    log("self-check passed")


def torch_cross_checks(rng, st_path, st_tensors):
    global torch
    try:
        import torch as _torch
    except ImportError:
        log("skip torch cross-checks (torch not importable)")
        return
    torch = _torch
    allc = torch.arange(256, dtype=torch.uint8).view(torch.float8_e4m3fn).float().numpy()
    nan = np.isnan(E4M3_TABLE)
    assert np.array_equal(np.isnan(allc), nan), "NaN codes differ from torch"
    assert np.array_equal(allc[~nan].view(np.uint32), E4M3_TABLE[~nan].view(np.uint32)), "decode differs from torch"
    v = test_values(rng)
    tv = torch.from_numpy(v).clamp(-E4M3_MAX, E4M3_MAX).to(torch.float8_e4m3fn).view(torch.uint8).numpy()
    assert np.array_equal(tv, np_e4m3_encode(v)), "numpy e4m3 encode != torch float8_e4m3fn"
    for n, k in [(96, 64), (200, 300)]:
        w = (rng.standard_normal((n, k)) * 0.05).astype(F32)
        w[5] = 0
        for kind in ("tensor", "channel", "block"):
            tc, ts, td = t_quant_weight(torch.from_numpy(w), kind)
            nc, ns, nd = np_quant_weight(w, kind)
            assert np.array_equal(tc.view(torch.uint8).numpy(), nc) and np.array_equal(ts.numpy(), ns), kind
            assert np.array_equal(td.numpy(), nd), kind
        x = rng.standard_normal((7, k)).astype(F32) * F32(3)
        x[2] = 0
        for act, s in (("static", F32(0.004)), ("token", None), ("group", None)):
            ta = t_quant_act(torch.from_numpy(x), act, None if s is None else torch.tensor(float(s)))
            assert np.array_equal(ta.numpy(), np_quant_act(x, act, s)), act
    from safetensors.torch import load_file
    got = load_file(st_path)
    for name, (dt, shape, data) in st_tensors.items():
        assert tuple(got[name].shape) == shape and raw(got[name]) == data, name
    assert got["a.weight"].dtype == torch.float8_e4m3fn and got["c"].dtype == torch.bfloat16
    log(f"ok   torch {torch.__version__}: 256 decodes, encodes, weight and activation quantizers bit for bit; "
        "safetensors.torch reads our file")


# ---- torch reference (torch is imported in main() / torch_cross_checks()) ---------------------------------
torch = None


def torch_no_grad(fn):
    def inner(*a, **kw):
        with torch.no_grad():
            return fn(*a, **kw)
    return inner


def raw(t):
    return t.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()


def t_div448(a):
    return a / torch.full_like(a, E4M3_MAX)  # a true division (CUDA multiplies by the reciprocal of a scalar)


def t_fake(x, s):
    return (x * torch.reciprocal(s)).clamp(-E4M3_MAX, E4M3_MAX).to(torch.float8_e4m3fn).to(torch.float32) * s


def t_expand(scale, kind, n, k):
    return scale.repeat_interleave(BLOCK, 0).repeat_interleave(BLOCK, 1)[:n, :k] if kind == "block" else scale


def t_quant_weight(w, kind):
    n, k = w.shape
    a = w.abs()
    if kind == "tensor":
        amax = a.amax()
    elif kind == "channel":
        amax = a.amax(dim=1, keepdim=True)
    else:
        nb, kb = block_grid(n, k)
        amax = torch.stack([torch.stack([a[i * BLOCK:(i + 1) * BLOCK, j * BLOCK:(j + 1) * BLOCK].amax()
                                         for j in range(kb)]) for i in range(nb)])
    scale = torch.where(amax == 0, torch.ones_like(amax), t_div448(amax))
    full = t_expand(scale, kind, n, k)
    codes = (w * torch.reciprocal(full)).clamp(-E4M3_MAX, E4M3_MAX).to(torch.float8_e4m3fn)
    return codes, scale, codes.to(torch.float32) * full


def t_quant_act(x, act, scale=None):
    if act == "static":
        return t_fake(x, scale)
    g, parts = x.shape[-1] if act == "token" else BLOCK, []
    for g0 in range(0, x.shape[-1], g):
        xs = x[..., g0:g0 + g]
        s = t_div448(xs.abs().amax(dim=-1, keepdim=True))
        parts.append(t_fake(xs, torch.maximum(s, torch.full_like(s, float(MIN_DYN_SCALE)))))
    return torch.cat(parts, dim=-1)


def projections(model):
    """Every nn.Linear but lm_head: name -> module (7 per layer, checked)."""
    lin = {n: m for n, m in model.named_modules() if isinstance(m, torch.nn.Linear) and n != "lm_head"}
    assert all(PROJ_RE.fullmatch(n) for n in lin) and len(lin) == 7 * len(model.model.layers), sorted(lin)
    return lin


class Hooks:
    """Calibration / fake-quant hooks on one HF causal LM; mode: off | calib | quant."""
    active = None  # the instance whose forward runs (the patched RoPE function gets no module argument)

    def __init__(self, model):
        self.model, self.L, self.linears = model, len(model.model.layers), projections(model)
        self.mode, self.act, self.kv = "off", {}, None
        self.amax_in, self.amax_k, self.amax_v = {}, [0.0] * self.L, [0.0] * self.L
        self.cur, self.rope_calls, self.lin_calls = None, [], 0
        for i, layer in enumerate(model.model.layers):
            attn = layer.self_attn
            attn.register_forward_pre_hook(partial(self._enter, i))
            attn.v_proj.register_forward_hook(partial(self._v_out, i))
            # transformers < 5.6 also kept the rope function on the instance (rotary_fn / _hidden_kernels)
            for d in [vars(attn)] + [v for v in vars(attn).values() if isinstance(v, dict)]:
                for key, fn in list(d.items()):
                    if callable(fn) and getattr(fn, "__name__", "") == "apply_rotary_pos_emb":
                        d[key] = rope_wrapper(fn)
        for name, m in self.linears.items():
            m.register_forward_pre_hook(partial(self._lin_in, name), with_kwargs=True)

    def _enter(self, i, mod, args):
        self.cur = i

    def _lin_in(self, name, mod, args, kwargs):
        self.lin_calls += 1
        x = args[0] if args else kwargs["input"]
        if self.mode == "calib":
            self.amax_in[name] = max(self.amax_in.get(name, 0.0), float(x.detach().abs().max()))
        elif self.mode == "quant":
            assert x.dtype == torch.float32, f"{name}: input {x.dtype}"
            xq = t_quant_act(x, *self.act[name])
            return ((xq,) + tuple(args[1:]), kwargs) if args else (args, {**kwargs, "input": xq})
        return None

    def _v_out(self, i, mod, args, out):
        if self.mode == "calib":
            self.amax_v[i] = max(self.amax_v[i], float(out.detach().abs().max()))
        elif self.mode == "quant" and self.kv is not None:
            return t_fake(out, self.kv[i][1])
        return None

    def on_k(self, k):
        self.rope_calls[self.cur] += 1
        if self.mode == "calib":
            self.amax_k[self.cur] = max(self.amax_k[self.cur], float(k.detach().abs().max()))
        elif self.mode == "quant" and self.kv is not None:
            return t_fake(k, self.kv[self.cur][0])
        return k

    @torch_no_grad
    def logits(self, tokens):
        ids = torch.tensor([list(tokens)], dtype=torch.long, device=next(self.model.parameters()).device)
        self.rope_calls, self.lin_calls, Hooks.active = [0] * self.L, 0, self
        try:
            out = self.model(input_ids=ids, use_cache=False).logits[0].float()
        finally:
            Hooks.active = None
        assert self.rope_calls == [1] * self.L, (
            f"the patched apply_rotary_pos_emb ran {self.rope_calls} times per layer, not once: this transformers "
            "applies RoPE elsewhere and the K fake-quant hook must follow it")
        assert self.lin_calls == 7 * self.L, f"{self.lin_calls} projection calls, want {7 * self.L}"
        return out


def rope_wrapper(orig):
    if getattr(orig, "_fp8_golden", False):
        return orig

    def apply_rotary_pos_emb(q, k, *args, **kwargs):
        q2, k2 = orig(q, k, *args, **kwargs)
        return q2, (Hooks.active.on_k(k2) if Hooks.active is not None else k2)
    apply_rotary_pos_emb._fp8_golden = True
    return apply_rotary_pos_emb


def patch_rope():
    for arch in ("llama", "qwen2", "mistral"):
        mod = importlib.import_module(f"transformers.models.{arch}.modeling_{arch}")
        assert hasattr(mod, "apply_rotary_pos_emb"), f"{mod.__name__} has no apply_rotary_pos_emb"
        mod.apply_rotary_pos_emb = rope_wrapper(mod.apply_rotary_pos_emb)


# ---- checkpoints ---------------------------------------------------------------------------------------
def module_of(tensor_name):
    return tensor_name[:-len(".weight")] if tensor_name.endswith(".weight") else None


def load_state(model_dir):
    from safetensors.torch import load_file
    idx = os.path.join(model_dir, "model.safetensors.index.json")
    files = sorted(set(json.load(open(idx))["weight_map"].values())) if os.path.exists(idx) else ["model.safetensors"]
    state = {}
    for fn in files:
        state.update(load_file(os.path.join(model_dir, fn)))
    return state


def load_model(model_dir, dtype=None, device="cpu"):
    from transformers import AutoModelForCausalLM
    dtype = dtype or torch.float32
    try:
        m = AutoModelForCausalLM.from_pretrained(model_dir, dtype=dtype, attn_implementation="eager")
    except TypeError:  # older transformers spelling
        m = AutoModelForCausalLM.from_pretrained(model_dir, torch_dtype=dtype, attn_implementation="eager")
    m.eval().to(device)
    assert getattr(m.config, "_attn_implementation", None) == "eager", f"{model_dir}: not eager attention"
    return m


def calibrate(model, seqs):
    """-> per-projection static input scales, per-layer (k_scale, v_scale); amax / 448 over seqs (fp32 model)."""
    h = Hooks(model)
    h.mode = "calib"
    for s in seqs:
        h.logits(s)
    sc = lambda a: F32(a) / F32(E4M3_MAX) if a > 0 else F32(1.0)  # noqa: E731  (a: an exact float32 value)
    inputs = {n: sc(a) for n, a in h.amax_in.items()}
    for i in range(h.L):  # q/k/v and gate/up see one input each, so their scales must be equal
        p = f"model.layers.{i}."
        assert inputs[p + "self_attn.q_proj"] == inputs[p + "self_attn.k_proj"] == inputs[p + "self_attn.v_proj"]
        assert inputs[p + "mlp.gate_proj"] == inputs[p + "mlp.up_proj"]
    return inputs, [(sc(k), sc(v)) for k, v in zip(h.amax_k, h.amax_v)]


def build_checkpoint(state, modules, fmt, input_scales, kv_scales):
    """-> (tensors: name -> (dtype, shape, bytes), dequantized weights: module -> fp32 tensor)."""
    spec, tens, deq = FORMATS[fmt], {}, {}
    st_dtype = {torch.float32: "F32", torch.bfloat16: "BF16", torch.float16: "F16"}
    sshape = scalar_shape(fmt)
    for name, t in state.items():
        mod = module_of(name)
        if mod not in modules:
            tens[name] = (st_dtype[t.dtype], tuple(t.shape), raw(t))
            continue
        w = t.to(torch.float32)
        codes, scale, dq = t_quant_weight(w, spec["weight"])
        nc, ns, nd = np_quant_weight(w.numpy(), spec["weight"])  # the numpy twin must agree bit for bit
        assert np.array_equal(codes.view(torch.uint8).numpy(), nc) and np.array_equal(scale.numpy(), ns), name
        assert np.array_equal(dq.numpy(), nd), name
        names = scale_names(fmt, mod)
        tens[name] = ("F8_E4M3", tuple(w.shape), raw(codes))
        tens[names["w"]] = ("F32", sshape if spec["weight"] == "tensor" else tuple(scale.shape), raw(scale))
        if "in" in names:
            tens[names["in"]] = ("F32", sshape, F32(input_scales[mod]).tobytes())
        deq[mod] = dq
    if spec["kv"]:
        for i, (ks, vs) in enumerate(kv_scales):
            kn, vn = kv_names(fmt, i)
            tens[kn], tens[vn] = ("F32", sshape, F32(ks).tobytes()), ("F32", sshape, F32(vs).tobytes())
    return tens, deq


def reference_from_file(base_dir, st_path, fmt, state, deq, device="cpu"):
    """The base model (fp32, eager) with the projections and scales read back from the written file."""
    from safetensors.torch import load_file
    spec, got = FORMATS[fmt], load_file(st_path)
    h = Hooks(load_model(base_dir, device=device))
    expected = set(state) | {n for m in deq for n in scale_names(fmt, m).values()}
    expected |= {n for i in range(h.L) for n in kv_names(fmt, i)} if spec["kv"] else set()
    assert set(got) == expected, f"{st_path}: tensors {sorted(set(got) ^ expected)}"
    for name, t in state.items():
        assert module_of(name) in deq or torch.equal(got[name], t), f"{st_path}: {name} changed"
    for mod, lin in h.linears.items():
        codes, names = got[mod + ".weight"], scale_names(fmt, mod)
        assert codes.dtype == torch.float8_e4m3fn and codes.shape == lin.weight.shape, mod
        assert got[names["w"]].dtype == torch.float32, names["w"]
        w = codes.to(torch.float32) * t_expand(got[names["w"]], spec["weight"], *codes.shape)
        assert torch.equal(w, deq[mod]), f"{mod}: the dequantized weight read back differs"
        with torch.no_grad():
            lin.weight.copy_(w.to(device))
        if spec["act"] == "static":
            s = got[names["in"]]
            assert s.dtype == torch.float32 and tuple(s.shape) == scalar_shape(fmt), names["in"]
            h.act[mod] = ("static", s.reshape(()).to(device))
        else:
            h.act[mod] = (spec["act"],)
    if spec["kv"]:
        h.kv = [tuple(got[n].reshape(()).to(device) for n in kv_names(fmt, i)) for i in range(h.L)]
    h.mode = "quant"
    return h


def write_json(path, obj, indent=2, sort_keys=False):
    with open(path, "w") as f:
        json.dump(obj, f, indent=indent, sort_keys=sort_keys)
        f.write("\n")


SKIP_COPY = ("config.json", "config.classic.json", "model.safetensors.index.json", "golden.json",
             "golden_logits.f32", "eval_golden.json")


def write_variant(base_dir, out_dir, fmt, state, modules, input_scales, kv_scales):
    """Writes one quantized folder; -> (its safetensors path, the dequantized weights)."""
    if os.path.exists(out_dir):
        shutil.rmtree(out_dir)
    os.makedirs(out_dir)
    tens, deq = build_checkpoint(state, modules, fmt, input_scales, kv_scales)
    st_path = os.path.join(out_dir, "model.safetensors")
    write_safetensors(st_path, tens)
    assert read_safetensors(st_path)[0] == tens, f"{st_path}: read back differs"
    qc, hf = quant_configs(fmt)
    for fn in ("config.json", "config.classic.json"):
        if os.path.exists(os.path.join(base_dir, fn)):
            cfg = json.load(open(os.path.join(base_dir, fn)))
            cfg["quantization_config"] = qc
            write_json(os.path.join(out_dir, fn), cfg, sort_keys=True)
    if hf is not None:
        write_json(os.path.join(out_dir, "hf_quant_config.json"), hf, indent=4)
    for fn in sorted(os.listdir(base_dir)):  # generation_config.json, tokenizer files, ...
        if os.path.isfile(os.path.join(base_dir, fn)) and fn not in SKIP_COPY and not fn.endswith(".safetensors"):
            shutil.copy2(os.path.join(base_dir, fn), os.path.join(out_dir, fn))
    return st_path, deq


# ---- tiny goldens --------------------------------------------------------------------------------------
def greedy(h, tokens, steps):
    seq, out, margins = list(tokens), [], []
    for _ in range(steps):
        top2 = torch.topk(h.logits(seq)[-1], 2)
        out.append(int(top2.indices[0]))
        margins.append(float(top2.values[0] - top2.values[1]))
        seq.append(out[-1])
    return out, margins


def transformers_version():
    import transformers
    return transformers.__version__


def make_base(base, args, summary):
    base_dir = os.path.join(args.models_dir, base)
    bgold = json.load(open(os.path.join(base_dir, "golden.json")))
    braw = np.fromfile(os.path.join(base_dir, bgold["logits_file"]), dtype="<f4")
    V = bgold["vocab_size"]
    state, fp32 = load_state(base_dir), load_model(base_dir)
    modules = set(projections(fp32))
    rng = random.Random(f"{args.seed}-calib-{base}")
    input_scales, kv_scales = calibrate(fp32, [[rng.randrange(V) for _ in range(CALIB_LEN)] for _ in range(CALIB_SEQS)])
    del fp32
    log(f"[{base}] calibrated on {CALIB_SEQS} x {CALIB_LEN} random tokens: input scales "
        f"{min(input_scales.values()):.4g}..{max(input_scales.values()):.4g}, k/v scales per layer "
        + " ".join(f"{k:.4g}/{v:.4g}" for k, v in kv_scales))
    for fmt in args.formats:
        name, spec = f"{base}_{fmt}", FORMATS[fmt]
        out_dir = os.path.join(args.out, name)
        st_path, deq = write_variant(base_dir, out_dir, fmt, state, modules, input_scales, kv_scales)
        h = reference_from_file(base_dir, st_path, fmt, state, deq)
        sequences, blocks, offset, worst = [], [], 0, 0.0
        for bs in bgold["sequences"]:
            tokens = bs["tokens"]
            lg = h.logits(tokens).numpy()
            assert lg.shape == (len(tokens), V)
            cont, margins = greedy(h, tokens, GREEDY_STEPS)
            assert cont[0] == int(np.argmax(lg[-1])), f"{name}: greedy step 0 disagrees with the logits"
            ref = braw[bs["logits_offset"]:bs["logits_offset"] + len(tokens) * V].reshape(len(tokens), V)
            rel = float(np.abs(lg - ref).max() / np.abs(ref).max())
            assert rel > 1e-6, f"{name}: the logits equal the fp32 golden: the fake quantization is not active"
            worst = max(worst, rel)
            blocks.append(lg.astype("<f4").tobytes())
            sequences.append(dict(tokens=tokens, num_positions=len(tokens), logits_offset=offset, greedy=cont,
                                  greedy_margin=margins, max_abs_logit=float(np.abs(lg).max()), rel_diff_vs_fp32=rel))
            offset += len(tokens) * V
        if h.kv is not None:  # the KV fake quantization must change something
            toks, kv = bgold["sequences"][0]["tokens"], h.kv
            h.kv = None
            no_kv = h.logits(toks)
            h.kv = kv
            assert not torch.equal(no_kv, h.logits(toks)), f"{name}: the KV fake quantization is not active"
        with open(os.path.join(out_dir, "golden_logits.f32"), "wb") as f:
            f.write(b"".join(blocks))
        assert os.path.getsize(os.path.join(out_dir, "golden_logits.f32")) == offset * 4
        write_json(os.path.join(out_dir, "golden.json"), dict(
            model=name, base_model=base, quant_format=fmt, architecture=bgold["architecture"],
            storage_dtype=bgold["storage_dtype"], vocab_size=V, logits_file="golden_logits.f32",
            logits_dtype="float32 little-endian, row-major (num_positions, vocab_size) per sequence",
            greedy_steps=GREEDY_STEPS,
            reference=f"transformers {transformers_version()}, torch {torch.__version__}, cpu fp32, eager attention, "
                      "use_cache=False, FP8 e4m3 fake quantization of the weights and projection inputs"
                      + (" and of K (after RoPE) and V" if spec["kv"] else ""),
            quantization=dict(weight=spec["weight"], activations=spec["act"], kv_cache_fp8=spec["kv"],
                              calibration=f"{CALIB_SEQS} random sequences of {CALIB_LEN} tokens, fp32 model"
                              if spec["act"] == "static" or spec["kv"] else None),
            classic_config_checked=bgold.get("classic_config_checked", False), sequences=sequences), indent=1)
        files = sorted(os.listdir(out_dir))
        size = sum(os.path.getsize(os.path.join(out_dir, fn)) for fn in files)
        summary.append(dict(name=name, base=base, format=fmt, architecture=bgold["architecture"],
                            storage_dtype=bgold["storage_dtype"], files=files, bytes=size, max_rel_diff_vs_fp32=worst,
                            min_greedy_margin=min(min(s["greedy_margin"]) for s in sequences)))
        if worst > 0.5:
            log(f"WARNING [{name}]: the logits differ from the fp32 golden by {worst:.3f} of max|logit|")
        log(f"  {name:32s} {size:>7d} bytes, max|d|/max|fp32| {worst:.4f}, greedy "
            + " | ".join(" ".join(map(str, s["greedy"])) for s in sequences))


def run_tiny(args):
    os.makedirs(args.out, exist_ok=True)
    summary = []
    for base in args.only:
        make_base(base, args, summary)
    write_json(os.path.join(args.out, "MANIFEST.json"), dict(
        generator="tools/golden/make_fp8_models.py", transformers=transformers_version(), torch=torch.__version__,
        seed=args.seed, models=summary))
    log(f"\n{'variant':32s} {'bytes':>8s} {'vs fp32':>8s} {'min greedy margin':>18s}")
    for m in summary:
        log(f"{m['name']:32s} {m['bytes']:>8d} {m['max_rel_diff_vs_fp32']:>8.4f} {m['min_greedy_margin']:>18.4f}")
    log(f"done: {len(summary)} variants, {sum(m['bytes'] for m in summary) / 1e6:.2f} MB in {args.out}")


# ---- demo perplexities ---------------------------------------------------------------------------------
def perplexity(fn, ids, ctx):
    nll, count = 0.0, 0
    with torch.no_grad():
        for start in range(0, len(ids), ctx):
            w = ids[start:start + ctx]
            if len(w) < 2:
                break
            lp = torch.log_softmax(fn(w)[:-1].float(), dim=-1)
            nll -= lp.gather(1, torch.tensor(w[1:], device=lp.device)[:, None]).sum().item()
            count += len(w) - 1
    return math.exp(nll / count), count


def plain_logits(model, device):
    return lambda w: model(input_ids=torch.tensor([w], device=device), use_cache=False).logits[0]


def run_demo(args):
    base_dir, dev = args.demo, args.device
    gold_path = os.path.join(base_dir, "eval_golden.json")
    bgold = json.load(open(gold_path)) if os.path.exists(gold_path) else {}
    ctx = args.ctx or bgold.get("ctx", 512)
    if args.eval_ids:
        eval_ids = read_ids(args.eval_ids)
    else:
        from tokenizers import Tokenizer
        text = open(os.path.join(base_dir, "heldout.txt"), encoding="utf-8").read()
        tok = Tokenizer.from_file(os.path.join(base_dir, "tokenizer.json"))
        eval_ids = tok.encode(text, add_special_tokens=False).ids
    calib_ids = read_ids(args.calib_ids) if args.calib_ids else eval_ids[:args.calib_tokens]
    if not args.calib_ids:
        log(f"NOTE: calibrating on the first {len(calib_ids)} eval ids (no --calib-ids)")
    calib = [calib_ids[i:i + ctx] for i in range(0, len(calib_ids), ctx) if len(calib_ids[i:i + ctx]) >= 2]
    log(f"demo: {len(eval_ids)} eval ids, {len(calib_ids)} calibration ids, ctx {ctx}, device {dev}")
    os.makedirs(args.demo_out, exist_ok=True)
    t0 = time.time()
    fp32 = load_model(base_dir, device=dev)
    ppl32, count = perplexity(plain_logits(fp32, dev), eval_ids, ctx)
    rows = [("fp32 (no quantization)", ppl32, base_dir)]
    if "perplexity_fp32" in bgold:
        rel = abs(ppl32 - bgold["perplexity_fp32"]) / bgold["perplexity_fp32"]
        log(f"fp32 {ppl32:.5f} vs eval_golden.json {bgold['perplexity_fp32']:.5f} (rel {rel:.1e}), {count} vs "
            f"{bgold.get('predicted_tokens')} predicted tokens")
        if rel > 1e-3 or count != bgold.get("predicted_tokens"):
            log("WARNING: the eval ids do not reproduce eval_golden.json (another tokenization or ctx?)")
    state, modules = load_state(base_dir), set(projections(fp32))
    input_scales, kv_scales = calibrate(fp32, calib)
    del fp32
    bf16 = load_model(base_dir, dtype=torch.bfloat16, device=dev)
    rows.append(("bf16", perplexity(plain_logits(bf16, dev), eval_ids, ctx)[0], base_dir))
    del bf16
    for fmt in args.formats:
        out_dir = os.path.join(args.demo_out, fmt)
        st_path, deq = write_variant(base_dir, out_dir, fmt, state, modules, input_scales, kv_scales)
        ppl = perplexity(reference_from_file(base_dir, st_path, fmt, state, deq, device=dev).logits, eval_ids, ctx)[0]
        rows.append((fmt, ppl, out_dir))
        write_json(os.path.join(out_dir, "eval_golden.json"), dict(
            model=f"{os.path.basename(os.path.normpath(base_dir))}-{fmt}", ctx=ctx, heldout_tokens=len(eval_ids),
            predicted_tokens=count, perplexity_fp32=ppl, base_perplexity_fp32=ppl32, quant_format=fmt,
            reference=f"PyTorch {torch.__version__} fp32 ({dev}), FP8 fake quantization, make_fp8_models.py --demo"))
    log(f"\nPyTorch perplexity, {count} predicted tokens, ctx {ctx} ({time.time() - t0:.0f} s)")
    log(f"{'model':24s} {'perplexity':>11s} {'vs fp32':>9s}  folder")
    for name, ppl, folder in rows:
        log(f"{name:24s} {ppl:>11.5f} {(ppl / ppl32 - 1) * 100:>+8.3f}%  {folder}")
    write_json(os.path.join(args.demo_out, "SUMMARY.json"), dict(
        ctx=ctx, predicted_tokens=count, rows=[dict(model=n, perplexity=p, folder=d) for n, p, d in rows]))


def main():
    global torch
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="tests/data/models_fp8")
    ap.add_argument("--models-dir", default="tests/data/models")
    ap.add_argument("--only", nargs="*", default=BASES, help="base folders under --models-dir (with golden.json)")
    ap.add_argument("--formats", nargs="*", default=list(FORMATS), help=", ".join(FORMATS))
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--self-check", action="store_true", help="check the numpy parts (and torch when importable)")
    ap.add_argument("--demo", help="perplexity mode on this model folder (e.g. models/demo)")
    ap.add_argument("--demo-out", help="output folder of the demo variants")
    ap.add_argument("--eval-ids", help="file of the held-out token ids")
    ap.add_argument("--calib-ids", help="file of token ids for calibration (static input and KV scales)")
    ap.add_argument("--calib-tokens", type=int, default=4096, help="without --calib-ids: the first N eval ids")
    ap.add_argument("--ctx", type=int, default=0, help="perplexity window (default: eval_golden.json ctx, or 512)")
    ap.add_argument("--device", default="cpu", help="demo mode: cpu or cuda")
    args = ap.parse_args()
    bad = [f for f in args.formats if f not in FORMATS]
    if bad:
        sys.exit(f"unknown formats {bad}; have {list(FORMATS)}")
    if args.self_check:
        self_check()
        return
    import torch as _torch
    torch = _torch
    assert hasattr(torch, "float8_e4m3fn"), f"torch {torch.__version__} has no float8_e4m3fn"
    self_check()
    patch_rope()
    if args.demo:
        if not args.demo_out:
            sys.exit("--demo needs --demo-out")
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        torch.set_num_threads(os.cpu_count() or 1)
        run_demo(args)
    else:
        torch.use_deterministic_algorithms(True)
        torch.set_num_threads(1)
        log(f"transformers {transformers_version()}, torch {torch.__version__}: {args.only} x {args.formats} "
            f"-> {args.out}")
        run_tiny(args)


if __name__ == "__main__":
    main()
