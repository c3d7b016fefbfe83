#!/usr/bin/env python3
"""Train an EAGLE-1 draft head for an ignis demo model (the base model frozen, the head only).

Runs on the GPU machine (PyTorch + transformers + tokenizers + safetensors; no network):

    python3 tools/train/train_eagle.py --model models/demo \
        --tokenizer .devcarry/assets/tokenizer-mistral/models --out $OUT/eagle-demo

CPU smoke test (a tiny slice of the data, two steps; checks the whole pipeline end to end):

    python3 tools/train/train_eagle.py --model models/demo --out /tmp/eagle-smoke \
        --device cpu --steps 2 --batch 2 --seq 64 --max-train-mb 1 --heldout-kb 2 --eval-kb 1 --cache '' \
        --eval-prompts 2 --eval-gen 8

The head (SafeAILab/EAGLE's cnets.Model, tools/train/eagle_head.py): at position j,
x_j = fc(concat(embed(token_{j+1}), f_j)) + b, where f is the base model's last hidden state after
its final norm (lm_head's input) and embed the base's own (frozen) embedding; then one Llama decoder
layer without input_layernorm (post_attention_layernorm kept), causal attention, RoPE at position j;
its output is the predicted feature f^_{j+1}, and the base lm_head(f^_{j+1}) (no final norm) the
draft's logits for token j+2. The layer and fc are initialised randomly (HF Llama's N(0, 0.02),
as the reference's freshly built Model), or from a base layer with --init-layer.

Loss (the reference's train/main.py): v_w * SmoothL1(f^_{j+1}, f_{j+1}) (mean over dims and
positions) + p_w * cross-entropy of lm_head(f^_{j+1}) against the base model's distribution
softmax(lm_head(f_{j+1})) (--ce-target dist, the reference's; --ce-target argmax uses the base's
argmax token instead), v_w = 1, p_w = 0.1. Augmentation: the reference's uniform noise on the input
features, f_j + (U(0,1) - 0.5) * std * 512 / seq_len, std 0.2. Optimizer AdamW betas (0.9, 0.95),
gradient clipping by value 0.5 (the reference's); the learning rate is larger than the reference's
3e-5 (a 0.8M-parameter head trained for minutes, not a 7B's for days): linear warmup then cosine
to 10% (as train_medusa.py) over --steps or --minutes, whichever runs out first (defaults 6000 steps,
3 minutes of training: about 4 minutes for the whole run on an H200).

Data: the demo model's training text, built exactly as tools/train/train.py builds it (its
build_data: the interpreter's stdlib + site-packages *.py files, 1% held out by path hash, cut at
--max-train-mb), tokenized with the same tokenizer; --cache reuses train.py's token cache.

Held-out metrics (of the saved bf16 head, printed at the end and in train_log.txt): for every start
position j, a chain draft of 1, 2 and 3 steps (step s >= 2 feeds the draft's own argmax token and
predicted feature, attending to the true prefix and its own chain, as the KV-cached draft does in
ignis): top-1 agreement of step s's token with the base model's argmax, per step and for the whole
chain (steps 1..s all agree: the chain acceptance rate). Two sets: the held-out text (the base's
argmax along the true text, as the reference's getkacc), and the base model's own greedy
continuations of held-out prompts (there the chain acceptance is exactly greedy speculative
decoding's). 

Outputs under --out: config.json (a LlamaConfig of the head: the base's dims, num_hidden_layers 1,
"bias": true), model.safetensors (bf16, the reference's names: fc.weight, fc.bias,
layers.0.self_attn.*, layers.0.mlp.*, layers.0.post_attention_layernorm.weight; no embed_tokens, no
norm: ignis takes the embedding and lm_head from the target), train_log.txt (command, loss curve,
metrics). Use: ignis generate --model models/demo --speculative eagle --speculative-model OUT.
"""
import argparse
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import save_file
from tokenizers import Tokenizer
from transformers import LlamaForCausalLM

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from train import build_data, log  # noqa: E402  (the demo model's data pipeline)
from eagle_head import EagleHead, head_config, hf_config, load_head, param_count  # noqa: E402


def load_base(path, device):
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    try:
        m = LlamaForCausalLM.from_pretrained(path, dtype=dtype)
    except TypeError:  # transformers before the dtype= spelling
        m = LlamaForCausalLM.from_pretrained(path, torch_dtype=dtype)
    m.to(device).eval()
    for p in m.parameters():
        p.requires_grad_(False)
    return m


@torch.no_grad()
def base_pass(base, x):
    """The features (last hidden states after the final norm) and the base's argmax at every position."""
    f = base.model(input_ids=x).last_hidden_state
    return f, base.lm_head(f).argmax(-1)


@torch.no_grad()
def hf_crosscheck(head, hc, V, device, T=16):
    """eagle_head's decoder layer against transformers' LlamaDecoderLayer with input_layernorm removed
    (fp32 without TF32, random input, causal, RoPE at 0..T-1): the relative max error, or an exception's text."""
    tf32 = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = False
    try:
        import inspect

        import torch.nn as nn
        from transformers import LlamaConfig
        from transformers.models.llama.modeling_llama import LlamaDecoderLayer, LlamaRotaryEmbedding
        kw = dict(hidden_size=hc["hidden_size"], intermediate_size=hc["intermediate_size"],
                  num_attention_heads=hc["num_attention_heads"], num_key_value_heads=hc["num_key_value_heads"],
                  head_dim=hc["head_dim"], rms_norm_eps=hc["rms_norm_eps"], num_hidden_layers=1, vocab_size=V,
                  max_position_embeddings=2048, attn_implementation="sdpa")
        if "rope_parameters" in inspect.signature(LlamaConfig.__init__).parameters:  # transformers 5
            kw["rope_parameters"] = {"rope_type": "default", "rope_theta": hc["rope_theta"]}
        else:
            kw["rope_theta"] = hc["rope_theta"]
        cfg = LlamaConfig(**kw)
        if isinstance(getattr(cfg, "rope_parameters", None), dict):
            cfg.rope_parameters["rope_theta"] = hc["rope_theta"]
        ref = LlamaDecoderLayer(cfg, 0).to(device).float().eval()
        ref.input_layernorm = nn.Identity()
        missing = ref.load_state_dict({k[len("layers.0."):]: v.float() for k, v in head.state_dict().items()
                                       if k.startswith("layers.0.")}, strict=False).missing_keys
        assert not missing, f"missing {missing}"
        rot = LlamaRotaryEmbedding(config=cfg).to(device)
        L = head.layers[0].float()
        x = torch.randn(1, T, hc["hidden_size"], device=device)
        pos = torch.arange(T, device=device)
        cos, sin = rot(x, pos[None])
        # an explicit additive causal mask: causal under any attention implementation (eager or sdpa)
        mask = torch.full((T, T), float("-inf"), device=device).triu(1)[None, None]
        want = ref(x, attention_mask=mask, position_ids=pos[None], position_embeddings=(cos, sin))
        want = want[0] if isinstance(want, tuple) else want
        q, k, v = L.self_attn.qkv(x, pos)
        got = head._layer_out(x, L.self_attn.attend(q, [k], [v]))
        return ((got - want).abs().max() / want.abs().max()).item()
    except Exception as e:  # an API difference in this transformers version
        return f"{type(e).__name__}: {e}"
    finally:
        torch.backends.cuda.matmul.allow_tf32 = tf32


def uniform_noise(f, std):
    # The reference's AddUniformNoise: (U - 0.5) * std * 512 / seq_len.
    return f + (torch.rand_like(f) - 0.5) * (std * 512 / f.shape[1])


@torch.no_grad()
def greedy_continue(base, prompts, n):
    """The base model's greedy continuation, n tokens (full recompute each step: tiny model, short)."""
    x = prompts
    for _ in range(n):
        nxt = base.lm_head(base.model(input_ids=x).last_hidden_state[:, -1:]).argmax(-1)
        x = torch.cat((x, nxt), dim=1)
    return x


class Agreement:
    """Per-step and chain top-1 agreement of a `steps`-step draft with the base's argmax."""

    def __init__(self, steps):
        self.steps = steps
        self.n = [0] * steps
        self.step = [0] * steps
        self.chain = [0] * steps

    @torch.no_grad()
    def add(self, head, base, x, min_start, device):
        """x (1, T) token ids; starts j >= min_start (step s compares the draft's token j+1+s with the
        base's argmax at position j+s, given x up to j+s)."""
        f, am = base_pass(base, x)
        T = x.shape[1]
        emb_fn = base.model.embed_tokens
        with torch.autocast(device, dtype=torch.bfloat16, enabled=device == "cuda"):
            outs = head.rollout(emb_fn(x[:, 1:]).float(), f[:, :-1].float(), self.steps,
                                embed_fn=lambda t: emb_fn(t).float(), lm_head=lambda h: base.lm_head(h.to(f.dtype)))
        ok_chain = None
        for s, o in enumerate(outs):  # s = 0: step 1
            tok = base.lm_head(o.to(f.dtype)).argmax(-1)[0]  # (T-1,): start j's step-(s+1) token j+2+s
            n = T - 2 - s  # starts j with j+1+s <= T-1
            if n <= min_start:
                break
            hit = tok[:n] == am[0, 1 + s:1 + s + n]
            ok_chain = hit if ok_chain is None else ok_chain[:n] & hit
            self.n[s] += n - min_start
            self.step[s] += hit[min_start:].sum().item()
            self.chain[s] += ok_chain[min_start:].sum().item()

    def lines(self, name):
        out = []
        for s in range(self.steps):
            d = max(1, self.n[s])
            out.append(f"held-out {name}: step {s + 1} ({self.n[s]} starts): top-1 agreement with base argmax "
                       f"{self.step[s] / d:.3f}, chain (steps 1..{s + 1} all agree) {self.chain[s] / d:.3f}")
        exp = sum(self.chain[s] / max(1, self.n[s]) for s in range(self.steps))
        out.append(f"held-out {name}: expected accepted draft tokens of a {self.steps}-step chain {exp:.3f} "
                   f"(+1 bonus token per verify)")
        return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="models/demo", help="the base model folder (Hugging Face Llama)")
    ap.add_argument("--tokenizer", default=None, help="folder with tokenizer.json (default: --model)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--steps", type=int, default=6000, help="at most this many steps")
    ap.add_argument("--minutes", type=float, default=3.0,
                    help="and at most this long (0: no limit); the schedule follows whichever runs out first")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--seq", type=int, default=512)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--warmup", type=int, default=100)
    ap.add_argument("--v-w", type=float, default=1.0, help="weight of the feature regression (SmoothL1) loss")
    ap.add_argument("--p-w", type=float, default=0.1, help="weight of the token (cross-entropy) loss")
    ap.add_argument("--ce-target", choices=["dist", "argmax"], default="dist",
                    help="cross-entropy against the base's softmax (the reference's) or its argmax token")
    ap.add_argument("--noise-std", type=float, default=0.2, help="uniform feature noise (the reference's; 0: off)")
    ap.add_argument("--grad-clip", type=float, default=0.5, help="clip gradients by value (the reference's)")
    ap.add_argument("--init-layer", type=int, default=-1,
                    help="initialise the decoder layer from this base layer (default -1: random, as the reference)")
    ap.add_argument("--no-bias", action="store_true", help="fc without bias (config.json \"bias\": false)")
    ap.add_argument("--max-train-mb", type=int, default=150, help="as train.py (the demo models used 150)")
    ap.add_argument("--heldout-kb", type=int, default=32)
    ap.add_argument("--eval-kb", type=int, default=32, help="held-out text evaluated at the end")
    ap.add_argument("--eval-prompts", type=int, default=32, help="held-out prompts continued greedily for the eval")
    ap.add_argument("--eval-prompt-len", type=int, default=32)
    ap.add_argument("--eval-gen", type=int, default=96, help="greedy tokens generated per eval prompt")
    ap.add_argument("--eval-steps", type=int, default=3, help="chain draft steps evaluated")
    ap.add_argument("--cache", default="/tmp/ignis_train_data", help="train.py's token cache ('' = none)")
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    args = ap.parse_args()
    if args.steps < 1 or args.seq < 4 or args.batch < 1 or args.eval_steps < 1:
        ap.error("--steps, --batch and --eval-steps must be >= 1, --seq >= 4")
    if args.device == "cuda" and not torch.cuda.is_available():
        ap.error("no CUDA device (use --device cpu for a smoke run)")

    os.makedirs(args.out, exist_ok=True)
    logf = open(os.path.join(args.out, "train_log.txt"), "w")
    log(logf, "command: " + " ".join([os.path.basename(sys.executable)] + sys.argv))
    torch.manual_seed(args.seed)
    device = args.device
    if device == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True

    tok = Tokenizer.from_file(os.path.join(args.tokenizer or args.model, "tokenizer.json"))
    t0 = time.time()
    data, heldout_text, manifest = build_data(tok, args.max_train_mb, args.heldout_kb, args.cache or None)
    log(logf, f"data: {json.dumps(manifest)} ({time.time() - t0:.1f}s)")

    base = load_base(args.model, device)
    base_cfg = json.load(open(os.path.join(args.model, "config.json")))
    hc = head_config(base_cfg, bias=not args.no_bias)
    V = base_cfg["vocab_size"]
    head = EagleHead(hc)
    head.init_weights(base_cfg.get("initializer_range", 0.02))
    if args.init_layer >= 0:
        src = base.model.layers[args.init_layer]
        dst = head.layers[0]
        for n in ("q_proj", "k_proj", "v_proj", "o_proj"):
            getattr(dst.self_attn, n).weight.data.copy_(getattr(src.self_attn, n).weight.float())
        for n in ("gate_proj", "up_proj", "down_proj"):
            getattr(dst.mlp, n).weight.data.copy_(getattr(src.mlp, n).weight.float())
        dst.post_attention_layernorm.weight.data.copy_(src.post_attention_layernorm.weight.float())
    head.to(device)
    xerr = hf_crosscheck(head, hc, V, device)
    log(logf, f"cross-check of the head's decoder layer against transformers' LlamaDecoderLayer (no input norm): "
              f"{'relative max error %.2e' % xerr if isinstance(xerr, float) else 'not run (' + xerr + ')'}")
    if isinstance(xerr, float) and not xerr < 1e-3:
        raise SystemExit("the head's decoder layer does not compute what transformers' Llama layer computes")
    head.train()
    embed, lm_head = base.model.embed_tokens, base.lm_head
    params = list(head.parameters())
    log(logf, f"base {args.model}: hidden {hc['hidden_size']}, vocab {V}; EAGLE head: fc {2 * hc['hidden_size']}->"
              f"{hc['hidden_size']} (bias {hc['bias']}) + 1 decoder layer (no input norm), {param_count(head)} "
              f"trained parameters, layer init {'base layer %d' % args.init_layer if args.init_layer >= 0 else 'random'}; "
              f"loss {args.v_w} * smooth-L1 + {args.p_w} * CE vs base {args.ce_target}; noise uniform std "
              f"{args.noise_std}")
    opt = torch.optim.AdamW(params, lr=args.lr, betas=(0.9, 0.95), weight_decay=0.0)

    gen = torch.Generator().manual_seed(args.seed)
    data_t = torch.from_numpy(data.astype(np.int64))
    n = data_t.numel() - args.seq - 1
    if n <= 0:
        raise SystemExit(f"only {data_t.numel()} training tokens for --seq {args.seq}")

    def batch():
        idx = torch.randint(0, n, (args.batch,), generator=gen)
        return torch.stack([data_t[i:i + args.seq] for i in idx.tolist()]).to(device, non_blocking=True)

    t_start = time.time()
    ema = None
    step = 0
    for step in range(args.steps):
        # progress: of the steps, or of the time budget when that runs out first (the cosine then still
        # decays fully: a slower machine trains fewer steps, not a cut schedule)
        prog = (step + 1) / args.steps
        if args.minutes:
            prog = max(prog, (time.time() - t_start) / (args.minutes * 60))
        cur = args.lr * min(1.0, (step + 1) / args.warmup)
        if step >= args.warmup:
            cur = args.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, prog))))
        for g in opt.param_groups:
            g["lr"] = cur
        x = batch()
        f, _ = base_pass(base, x)
        f = f.float()
        target = f[:, 1:]
        feat_in = f[:, :-1]
        if args.noise_std > 0:
            feat_in = uniform_noise(feat_in, args.noise_std)
        with torch.no_grad():
            emb = embed(x[:, 1:]).float()
            tlogits = lm_head(target.to(lm_head.weight.dtype)).float()
            tp = F.softmax(tlogits, -1) if args.ce_target == "dist" else None
            targ = tlogits.argmax(-1)
        with torch.autocast(device, dtype=torch.bfloat16, enabled=device == "cuda"):
            pred = head(emb, feat_in)
            plogits = lm_head(pred.to(lm_head.weight.dtype))
        vloss = F.smooth_l1_loss(pred.float(), target, reduction="mean")
        logp = F.log_softmax(plogits.float(), -1)
        if args.ce_target == "dist":
            ploss = -(tp * logp).sum(-1).mean()
        else:
            ploss = F.nll_loss(logp.reshape(-1, V), targ.reshape(-1))
        loss = args.v_w * vloss + args.p_w * ploss
        loss.backward()
        if args.grad_clip > 0:
            torch.nn.utils.clip_grad_value_(params, args.grad_clip)
        opt.step()
        opt.zero_grad(set_to_none=True)
        last = step == args.steps - 1 or prog >= 1.0
        if step % 100 == 0 or last:
            with torch.no_grad():
                acc = (plogits.argmax(-1) == targ).float().mean().item()
            lv = loss.item()
            ema = lv if ema is None else 0.9 * ema + 0.1 * lv
            log(logf, f"step {step:6d}/{args.steps} lr {cur:.2e} loss {lv:.4f} ema {ema:.4f} vloss "
                      f"{vloss.item():.4f} ploss {ploss.item():.4f} train top-1 {acc:.3f} "
                      f"elapsed {time.time() - t_start:.0f}s")
        if last:
            break
    log(logf, f"trained {step + 1} steps, {(step + 1) * args.batch * args.seq / 1e6:.1f}M tokens in "
              f"{time.time() - t_start:.0f}s")

    # Save (bf16), then evaluate what was saved.
    with open(os.path.join(args.out, "config.json"), "w") as fh:
        json.dump(hf_config(hc, base_cfg), fh, indent=2)
    path = os.path.join(args.out, "model.safetensors")
    save_file({k: v.detach().to(torch.bfloat16).cpu().contiguous() for k, v in head.state_dict().items()}, path,
              metadata={"format": "pt"})
    saved, _ = load_head(args.out, device)
    saved.eval()

    t_eval = time.time()
    ids = tok.encode(heldout_text.encode()[:args.eval_kb * 1024].decode("utf-8", errors="ignore"),
                     add_special_tokens=False).ids
    text = Agreement(args.eval_steps)
    for start in range(0, max(1, len(ids) - 2), args.seq):
        w = ids[start:start + args.seq]
        if len(w) < args.eval_steps + 3:
            break
        text.add(saved, base, torch.tensor([w], device=device), 0, device)
    for line in text.lines("text"):
        log(logf, line)
    P = args.eval_prompt_len
    stride = max(P, (len(ids) - P) // max(1, args.eval_prompts))
    prompts = [ids[i:i + P] for i in range(0, len(ids) - P, stride)][:args.eval_prompts]
    greedy = Agreement(args.eval_steps)
    if prompts and args.eval_gen >= args.eval_steps + 1:
        seqs = greedy_continue(base, torch.tensor(prompts, device=device), args.eval_gen)
        for s in seqs:
            greedy.add(saved, base, s[None], P - 2, device)  # starts whose token j+2 is generated
        for line in greedy.lines(f"greedy continuations ({len(prompts)} prompts x {args.eval_gen} tokens)"):
            log(logf, line)
    log(logf, f"eval {time.time() - t_eval:.0f}s")

    size = sum(os.path.getsize(os.path.join(args.out, f)) for f in os.listdir(args.out))
    log(logf, f"wrote {args.out}: config.json, model.safetensors ({os.path.getsize(path) / 1e6:.2f} MB); "
              f"folder {size / 1e6:.2f} MB")
    logf.close()


if __name__ == "__main__":
    main()
