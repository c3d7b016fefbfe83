#!/usr/bin/env python3
"""Creates tiny random Hugging Face checkpoints and transformers' fp32 golden logits.

Runs on the GPU machine (torch + transformers 5.x + safetensors; no network needed):

    python3 tools/golden/make_tiny_models.py --out tests/data/models

For every variant below it writes OUTDIR/<name>/ with
  config.json              as transformers 5.x writes it (rope_parameters, dtype)
  config.classic.json      the same config in the classic hub form (rope_theta,
                           rope_scaling {rope_type,type,...}, torch_dtype; Qwen2 also
                           use_sliding_window false + an ignored sliding_window)
  generation_config.json   as transformers writes it (when it writes one)
  model.safetensors        (or model-0000k-of-00002.safetensors + model.safetensors.index.json)
  golden.json              token sequences, greedy continuations, logits layout
  golden_logits.f32        raw little-endian float32 logits, (num_positions, vocab) per sequence,
                           sequences one after another (offsets in golden.json)
and OUTDIR/MANIFEST.json listing the models.

Goldens are computed on the CPU in float32 with attn_implementation="eager", after
reloading the saved folder with from_pretrained (so they are exactly what transformers
computes from the files we commit). The greedy continuation is computed by full
recomputation at each step (no KV cache), together with the top1-top2 logit margin of
every step so a test can tell a real mismatch from a near-tie.

Everything is deterministic (fixed seeds, CPU, deterministic algorithms).
"""
import argparse
import json
import math
import os
import random
import shutil
import sys

# No network on the GPU machine: never try the hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import torch  # noqa: E402

import transformers  # noqa: E402
from transformers import (  # noqa: E402
    LlamaConfig,
    LlamaForCausalLM,
    MistralConfig,
    MistralForCausalLM,
    Qwen2Config,
    Qwen2ForCausalLM,
)
from safetensors.torch import load_file, save_file  # noqa: E402

GREEDY_STEPS = 16

# Shared tiny shape: hidden 64 = 4 heads x head_dim 16.
BASE = dict(
    vocab_size=256,
    hidden_size=64,
    intermediate_size=96,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    max_position_embeddings=256,
    rms_norm_eps=1e-5,
    tie_word_embeddings=False,
    bos_token_id=1,
    eos_token_id=2,
)

# name -> spec. storage: dtype of the saved tensors. seq_lens: lengths of the golden sequences.
VARIANTS = {
    # Llama 2 style, default rope, GQA 4:2, fp32, sharded into 2 files with an index.
    "llama": dict(
        arch="llama",
        cfg=dict(head_dim=16, rope_parameters={"rope_type": "default", "rope_theta": 10000.0}),
        storage=torch.float32,
        shards=2,
        seq_lens=[41, 57],
    ),
    # Llama 3.1 style rope scaling; positions go well past original_max_position_embeddings=32.
    # theta 10000 with head_dim 16 puts frequencies in all three llama3 bands
    # (high: wavelen < 8, medium: 8..32, low: > 32).
    "llama3_rope": dict(
        arch="llama",
        cfg=dict(
            head_dim=16,
            rope_parameters={
                "rope_type": "llama3",
                "rope_theta": 10000.0,
                "factor": 8.0,
                "low_freq_factor": 1.0,
                "high_freq_factor": 4.0,
                "original_max_position_embeddings": 32,
            },
        ),
        storage=torch.float32,
        seq_lens=[48, 72],
    ),
    # Linear rope scaling, weights stored in fp16.
    "llama_linear_rope": dict(
        arch="llama",
        cfg=dict(head_dim=16, rope_parameters={"rope_type": "linear", "rope_theta": 10000.0, "factor": 4.0}),
        storage=torch.float16,
        seq_lens=[40, 53],
    ),
    # Llama 3.2 style tied embeddings + attention_bias (q/k/v AND o_proj bias in Llama), MQA
    # (1 kv head), weights stored in bf16.
    "llama_bias_tied": dict(
        arch="llama",
        cfg=dict(
            head_dim=16,
            num_key_value_heads=1,
            attention_bias=True,
            tie_word_embeddings=True,
            rope_parameters={"rope_type": "default", "rope_theta": 500000.0},
        ),
        storage=torch.bfloat16,
        seq_lens=[44, 60],
    ),
    # Mistral with a sliding window of 8, sequences much longer than it.
    "mistral_sw": dict(
        arch="mistral",
        cfg=dict(
            head_dim=16,
            num_key_value_heads=1,
            sliding_window=8,
            rope_parameters={"rope_type": "default", "rope_theta": 10000.0},
        ),
        storage=torch.float32,
        seq_lens=[40, 64],
    ),
    # Qwen2: q/k/v bias (always), tied embeddings, 3 layers, no sliding window.
    "qwen2": dict(
        arch="qwen2",
        cfg=dict(
            num_hidden_layers=3,
            tie_word_embeddings=True,
            use_sliding_window=False,
            sliding_window=None,
            max_window_layers=3,
            rope_parameters={"rope_type": "default", "rope_theta": 1000000.0},
            rms_norm_eps=1e-6,
        ),
        storage=torch.float32,
        seq_lens=[43, 58],
    ),
}

ARCH = {
    "llama": (LlamaConfig, LlamaForCausalLM, "LlamaForCausalLM"),
    "mistral": (MistralConfig, MistralForCausalLM, "MistralForCausalLM"),
    "qwen2": (Qwen2Config, Qwen2ForCausalLM, "Qwen2ForCausalLM"),
}

DTYPE_NAME = {torch.float32: "float32", torch.float16: "float16", torch.bfloat16: "bfloat16"}


def log(msg):
    print(msg, flush=True)


def build_config(spec):
    config_cls, _, _ = ARCH[spec["arch"]]
    kwargs = dict(BASE)
    kwargs.update(spec["cfg"])
    if spec["arch"] == "qwen2":
        kwargs.pop("bos_token_id")  # Qwen2 has no BOS; keep the eos
    cfg = config_cls(**kwargs)
    return cfg


def reinit_(model, seed):
    """Deterministic re-initialisation with unit-scale activations so logits are well spread
    (HF's default std 0.02 gives near-uniform logits and fragile greedy ties)."""
    g = torch.Generator(device="cpu").manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            shape = tuple(p.shape)
            if name.endswith("norm.weight") or "layernorm" in name:
                val = 1.0 + 0.2 * torch.randn(shape, generator=g)
            elif name.endswith(".bias"):
                val = 0.2 * torch.randn(shape, generator=g)
            elif "embed_tokens" in name:
                val = torch.randn(shape, generator=g)
            elif name == "lm_head.weight":
                val = 2.0 * torch.randn(shape, generator=g) / math.sqrt(shape[1])
            else:
                assert len(shape) == 2, f"unexpected parameter {name} {shape}"
                val = torch.randn(shape, generator=g) / math.sqrt(shape[1])
            p.copy_(val.to(p.dtype))


def classic_config(new_cfg, arch):
    """Rewrites a transformers-5 config.json dict into the classic (4.x hub) form."""
    d = dict(new_cfg)
    rp = d.pop("rope_parameters", None)
    assert isinstance(rp, dict), f"config.json has no rope_parameters dict: {rp!r}"
    rp = dict(rp)
    d["rope_theta"] = float(rp.pop("rope_theta"))
    rope_type = rp.pop("rope_type", rp.pop("type", "default"))
    rp.pop("type", None)
    if rope_type == "default":
        d["rope_scaling"] = None
    else:
        scaling = {"rope_type": rope_type, "type": rope_type}
        scaling.update(rp)
        d["rope_scaling"] = scaling
    if "dtype" in d:
        d["torch_dtype"] = d.pop("dtype")
    d.pop("layer_types", None)
    if arch == "qwen2":
        # Classic Qwen2 configs carry a sliding_window that is ignored while
        # use_sliding_window is false; make sure a reader honours that.
        d["use_sliding_window"] = False
        d["sliding_window"] = 32768
        d["max_window_layers"] = 28
    d["transformers_version"] = "4.46.0"
    return d


def reshard(model_dir, num_shards):
    """Splits model.safetensors into num_shards files plus model.safetensors.index.json."""
    single = os.path.join(model_dir, "model.safetensors")
    tensors = load_file(single)
    names = sorted(tensors.keys())
    total = sum(t.numel() * t.element_size() for t in tensors.values())
    # Greedy split by bytes, keeping name order.
    target = total / num_shards
    groups, cur, cur_bytes = [], [], 0
    for n in names:
        nb = tensors[n].numel() * tensors[n].element_size()
        if cur and cur_bytes + nb > target and len(groups) < num_shards - 1:
            groups.append(cur)
            cur, cur_bytes = [], 0
        cur.append(n)
        cur_bytes += nb
    groups.append(cur)
    assert len(groups) == num_shards, f"could not split into {num_shards} shards: {[len(x) for x in groups]}"
    weight_map = {}
    for i, group in enumerate(groups):
        fname = f"model-{i + 1:05d}-of-{num_shards:05d}.safetensors"
        save_file({n: tensors[n].contiguous() for n in group}, os.path.join(model_dir, fname), metadata={"format": "pt"})
        for n in group:
            weight_map[n] = fname
    index = {"metadata": {"total_size": total}, "weight_map": weight_map}
    with open(os.path.join(model_dir, "model.safetensors.index.json"), "w") as f:
        json.dump(index, f, indent=2, sort_keys=True)
        f.write("\n")
    os.remove(single)


def load_fp32_eager(model_cls, model_dir):
    try:
        model = model_cls.from_pretrained(model_dir, dtype=torch.float32, attn_implementation="eager")
    except TypeError:  # older transformers spelling
        model = model_cls.from_pretrained(model_dir, torch_dtype=torch.float32, attn_implementation="eager")
    model.eval()
    impl = getattr(model.config, "_attn_implementation", None)
    assert impl == "eager", f"{model_dir}: attention implementation is {impl!r}, wanted eager"
    for n, p in model.named_parameters():
        assert p.dtype == torch.float32, f"{model_dir}: {n} loaded as {p.dtype}"
    return model


@torch.no_grad()
def full_logits(model, tokens):
    ids = torch.tensor([tokens], dtype=torch.long)
    out = model(input_ids=ids, use_cache=False)
    logits = out.logits[0].to(torch.float32)
    assert logits.shape == (len(tokens), model.config.vocab_size), f"logits shape {tuple(logits.shape)}"
    return logits


@torch.no_grad()
def greedy(model, tokens, steps):
    seq = list(tokens)
    out, margins = [], []
    for _ in range(steps):
        last = full_logits(model, seq)[-1]
        top2 = torch.topk(last, 2)
        nxt = int(top2.indices[0])
        margins.append(float(top2.values[0] - top2.values[1]))
        out.append(nxt)
        seq.append(nxt)
    return out, margins


def make_variant(name, spec, out_dir, seed):
    config_cls, model_cls, arch_name = ARCH[spec["arch"]]
    model_dir = os.path.join(out_dir, name)
    if os.path.exists(model_dir):
        shutil.rmtree(model_dir)
    os.makedirs(model_dir)

    torch.manual_seed(seed)
    cfg = build_config(spec)
    model = model_cls(cfg)
    model.eval()
    if cfg.tie_word_embeddings:
        if model.lm_head.weight.data_ptr() != model.model.embed_tokens.weight.data_ptr():
            model.tie_weights()
        assert model.lm_head.weight.data_ptr() == model.model.embed_tokens.weight.data_ptr(), f"{name}: not tied"
    reinit_(model, seed)
    storage = spec["storage"]
    model = model.to(storage)
    # Reference values of every saved tensor, as fp32 (exactly representable).
    expected = {n: t.detach().to(torch.float32).clone() for n, t in model.state_dict().items() if "rotary_emb" not in n}

    model.save_pretrained(model_dir)
    assert os.path.exists(os.path.join(model_dir, "model.safetensors")), f"{name}: save_pretrained wrote {os.listdir(model_dir)}"
    if spec.get("shards", 1) > 1:
        reshard(model_dir, spec["shards"])

    # config.json as written; check the fields that matter and add the classic form.
    with open(os.path.join(model_dir, "config.json")) as f:
        new_cfg = json.load(f)
    assert new_cfg.get("architectures") == [arch_name], f"{name}: architectures {new_cfg.get('architectures')}"
    saved_dtype = new_cfg.get("dtype", new_cfg.get("torch_dtype"))
    if saved_dtype is None:
        # Record the storage dtype if this transformers version did not (loaders read it).
        log(f"NOTE [{name}]: config.json has no dtype; adding dtype={DTYPE_NAME[storage]}")
        new_cfg["dtype"] = saved_dtype = DTYPE_NAME[storage]
        with open(os.path.join(model_dir, "config.json"), "w") as f:
            json.dump(new_cfg, f, indent=2, sort_keys=True)
            f.write("\n")
    assert saved_dtype == DTYPE_NAME[storage], f"{name}: config dtype {saved_dtype}, wanted {DTYPE_NAME[storage]}"
    assert "rope_parameters" in new_cfg, f"{name}: config.json has no rope_parameters (transformers {transformers.__version__})"
    classic = classic_config(new_cfg, spec["arch"])
    with open(os.path.join(model_dir, "config.classic.json"), "w") as f:
        json.dump(classic, f, indent=2, sort_keys=True)
        f.write("\n")
    classic_ok = check_classic(config_cls, classic, new_cfg, name)

    # Reload exactly as a user would, in fp32 with eager attention; verify every tensor.
    ref = load_fp32_eager(model_cls, model_dir)
    got = ref.state_dict()
    for n, t in expected.items():
        assert n in got, f"{name}: reloaded model lacks {n}"
        assert torch.equal(got[n].to(torch.float32), t), f"{name}: reloaded {n} differs from what was saved"
    if cfg.tie_word_embeddings:
        assert torch.equal(got["lm_head.weight"], got["model.embed_tokens.weight"]), f"{name}: lm_head not tied after reload"

    rng = random.Random(f"{seed}-{name}")
    vocab = cfg.vocab_size
    sequences, blocks, offset = [], [], 0
    for L in spec["seq_lens"]:
        tokens = [rng.randrange(vocab) for _ in range(L)]
        logits = full_logits(ref, tokens)
        cont, margins = greedy(ref, tokens, GREEDY_STEPS)
        # Greedy step 0 must agree with the full-sequence logits.
        assert cont[0] == int(torch.argmax(logits[-1])), f"{name}: greedy step 0 disagrees with logits"
        blocks.append(logits.contiguous().numpy().astype("<f4").tobytes())
        sequences.append(
            dict(
                tokens=tokens,
                num_positions=L,
                logits_offset=offset,  # in float32 elements
                greedy=cont,
                greedy_margin=margins,
                max_abs_logit=float(logits.abs().max()),
            )
        )
        offset += L * vocab
    with open(os.path.join(model_dir, "golden_logits.f32"), "wb") as f:
        for b in blocks:
            f.write(b)
    assert os.path.getsize(os.path.join(model_dir, "golden_logits.f32")) == offset * 4
    golden = dict(
        model=name,
        architecture=arch_name,
        storage_dtype=DTYPE_NAME[storage],
        vocab_size=vocab,
        logits_file="golden_logits.f32",
        logits_dtype="float32 little-endian, row-major (num_positions, vocab_size) per sequence",
        greedy_steps=GREEDY_STEPS,
        reference=f"transformers {transformers.__version__}, torch {torch.__version__}, cpu fp32, eager attention, use_cache=False",
        classic_config_checked=classic_ok,
        sequences=sequences,
    )
    with open(os.path.join(model_dir, "golden.json"), "w") as f:
        json.dump(golden, f, indent=1)
        f.write("\n")

    files = sorted(os.listdir(model_dir))
    sizes = {fn: os.path.getsize(os.path.join(model_dir, fn)) for fn in files}
    nparams = sum(p.numel() for p in ref.parameters())
    log(f"[{name}] {arch_name} storage={DTYPE_NAME[storage]} params={nparams} layers={cfg.num_hidden_layers} "
        f"heads={cfg.num_attention_heads}/{cfg.num_key_value_heads} tie={cfg.tie_word_embeddings} "
        f"rope={new_cfg['rope_parameters']}")
    for s in sequences:
        log(f"    seq len={s['num_positions']} max|logit|={s['max_abs_logit']:.3f} greedy={s['greedy']} "
            f"min margin={min(s['greedy_margin']):.4f}")
    for fn in files:
        log(f"    {fn:45s} {sizes[fn]:>9d} bytes")
    return dict(name=name, architecture=arch_name, storage_dtype=DTYPE_NAME[storage], files=files,
                bytes=sum(sizes.values()), classic_config_checked=classic_ok)


def check_classic(config_cls, classic, new_cfg, name):
    """Checks that transformers reads the classic form to the same rope parameters.
    Only warns: the new-form config.json is what the goldens were made from."""
    try:
        d = {k: v for k, v in classic.items() if k not in ("transformers_version", "architectures", "model_type")}
        c = config_cls.from_dict(d)
        want = {k: v for k, v in new_cfg["rope_parameters"].items() if k != "type"}
        got = {k: v for k, v in dict(c.rope_parameters).items() if k != "type"}
        if got != want:
            log(f"WARNING [{name}]: classic config reads as rope_parameters={got}, new form has {want}")
            return False
        if name == "qwen2" and getattr(c, "sliding_window", None) is not None:
            log(f"WARNING [{name}]: classic config keeps sliding_window={c.sliding_window} with use_sliding_window=false")
            return False
        return True
    except Exception as e:  # noqa: BLE001 - report, don't abort the goldens
        log(f"WARNING [{name}]: transformers could not read config.classic.json: {type(e).__name__}: {e}")
        return False


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, help="output directory (e.g. tests/data/models)")
    ap.add_argument("--only", nargs="*", help="subset of variants: " + ", ".join(VARIANTS))
    ap.add_argument("--seed", type=int, default=1234)
    args = ap.parse_args()

    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    os.makedirs(args.out, exist_ok=True)
    names = args.only or list(VARIANTS)
    for n in names:
        if n not in VARIANTS:
            sys.exit(f"unknown variant {n}; have {list(VARIANTS)}")
    log(f"transformers {transformers.__version__}, torch {torch.__version__}; writing {names} to {args.out}")
    summary = []
    for n in names:
        # Per-variant seed independent of --only.
        summary.append(make_variant(n, VARIANTS[n], args.out, args.seed + 17 * list(VARIANTS).index(n)))
    manifest = dict(
        generator="tools/golden/make_tiny_models.py",
        transformers=transformers.__version__,
        torch=torch.__version__,
        seed=args.seed,
        models=summary,
    )
    with open(os.path.join(args.out, "MANIFEST.json"), "w") as f:
        json.dump(manifest, f, indent=2)
        f.write("\n")
    total = sum(m["bytes"] for m in summary)
    log(f"done: {len(summary)} models, {total / 1e6:.2f} MB in {args.out}")
    bad = [m["name"] for m in summary if not m["classic_config_checked"]]
    if bad:
        log(f"NOTE: classic-config cross-check warned for {bad} (goldens still valid for config.json)")


if __name__ == "__main__":
    main()
