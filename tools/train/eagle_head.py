"""An EAGLE-1 draft head in plain PyTorch (no transformers), shared by train_eagle.py and
tools/fixture/pad_eagle_8b.py.

The head is SafeAILab/EAGLE's cnets.Model with one decoder layer: at position j it reads the
target's embedding of token j+1 and the target's feature f_j (its last hidden state after the
final norm: lm_head's input), x_j = fc(concat(embed, f_j)) (+ bias), then one Llama decoder layer
whose input RMSNorm is absent (the attention reads x_j directly; post_attention_layernorm is
there), with causal attention and RoPE at position j. Its output is the predicted feature
f^_{j+1}; the target's lm_head (no final norm) turns it into the draft's logits for token j+2.
This is what ignis computes for a fusion model (ModelConfig::fusion, docs/eagle-spec).

Parameter names are the reference's (fc.weight, fc.bias, layers.0.self_attn.{q,k,v,o}_proj.weight,
layers.0.mlp.{gate,up,down}_proj.weight, layers.0.post_attention_layernorm.weight), so
state_dict() is what model.safetensors holds.

Rollouts: forward() can run s autoregressive draft steps for every start position at once
(`steps`): step 1 is the ordinary parallel pass over true inputs; step s >= 2 at start j feeds
the draft's own token and predicted feature from step s-1 at position j+s-1 and attends to the
true keys 0..j plus its own chain's keys of steps 2..s, as a KV-cached chain draft would.
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F


def rms_norm(x, weight, eps):
    xf = x.float()
    xf = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + eps)
    return weight * xf.to(x.dtype)


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


class Norm(nn.Module):
    def __init__(self, n, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(n))
        self.eps = eps

    def forward(self, x):
        return rms_norm(x, self.weight, self.eps)


class Attention(nn.Module):
    def __init__(self, hidden, heads, kv_heads, head_dim, theta):
        super().__init__()
        self.heads, self.kv_heads, self.head_dim = heads, kv_heads, head_dim
        self.q_proj = nn.Linear(hidden, heads * head_dim, bias=False)
        self.k_proj = nn.Linear(hidden, kv_heads * head_dim, bias=False)
        self.v_proj = nn.Linear(hidden, kv_heads * head_dim, bias=False)
        self.o_proj = nn.Linear(heads * head_dim, hidden, bias=False)
        inv = 1.0 / (float(theta) ** (torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim))
        self.register_buffer("inv_freq", inv.float(), persistent=False)

    def rope(self, x, pos):
        # x (B, n, T, d); pos (T,) int: HF Llama's default RoPE (rotate_half layout).
        f = pos.float()[:, None] * self.inv_freq[None, :]
        emb = torch.cat((f, f), dim=-1)
        cos, sin = emb.cos().to(x.dtype), emb.sin().to(x.dtype)
        return x * cos + rotate_half(x) * sin

    def qkv(self, x, pos):
        B, T, _ = x.shape
        q = self.q_proj(x).view(B, T, self.heads, self.head_dim).transpose(1, 2)
        k = self.k_proj(x).view(B, T, self.kv_heads, self.head_dim).transpose(1, 2)
        v = self.v_proj(x).view(B, T, self.kv_heads, self.head_dim).transpose(1, 2)
        return self.rope(q, pos), self.rope(k, pos), v

    def attend(self, q, ks, vs):
        """q (B, nh, T, d) of rollout step s = len(ks); ks[0] the true keys (causal), ks[m >= 1]
        the chain keys of step m+1 (query j sees only entry j of those)."""
        B, _, T, _ = q.shape
        rep = self.heads // self.kv_heads
        k = torch.cat(ks, dim=2).repeat_interleave(rep, dim=1)
        v = torch.cat(vs, dim=2).repeat_interleave(rep, dim=1)
        S = k.shape[2]
        # Explicit attention (any torch version): query j sees true keys 0..j and entry j of each chain block.
        mask = torch.ones(T, T, dtype=torch.bool, device=q.device).tril()
        if len(ks) > 1:
            eye = torch.eye(T, dtype=torch.bool, device=q.device)
            mask = torch.cat([mask] + [eye] * (len(ks) - 1), 1)
        assert mask.shape[1] == S
        scores = (q @ k.transpose(-1, -2)).float() / math.sqrt(self.head_dim)
        scores = scores.masked_fill(~mask, float("-inf"))
        o = torch.softmax(scores, -1).to(v.dtype) @ v
        return self.o_proj(o.transpose(1, 2).reshape(B, T, self.heads * self.head_dim))


class MLP(nn.Module):
    def __init__(self, hidden, ffn):
        super().__init__()
        self.gate_proj = nn.Linear(hidden, ffn, bias=False)
        self.up_proj = nn.Linear(hidden, ffn, bias=False)
        self.down_proj = nn.Linear(ffn, hidden, bias=False)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class Layer(nn.Module):
    """A Llama decoder layer without input_layernorm (EAGLE's layer 0)."""

    def __init__(self, c):
        super().__init__()
        self.self_attn = Attention(c["hidden_size"], c["num_attention_heads"], c["num_key_value_heads"],
                                   c["head_dim"], c["rope_theta"])
        self.mlp = MLP(c["hidden_size"], c["intermediate_size"])
        self.post_attention_layernorm = Norm(c["hidden_size"], c["rms_norm_eps"])


class EagleHead(nn.Module):
    def __init__(self, c):
        """c: a dict with hidden_size, intermediate_size, num_attention_heads, num_key_value_heads,
        head_dim, rope_theta, rms_norm_eps and bias (the fc's)."""
        super().__init__()
        H = c["hidden_size"]
        self.cfg = dict(c)
        self.fc = nn.Linear(2 * H, H, bias=bool(c.get("bias", True)))
        self.layers = nn.ModuleList([Layer(c)])

    def init_weights(self, std=0.02):
        """HF Llama's init (N(0, std) linears, zero biases, unit norms): EAGLE's randomly initialised layer."""
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0.0, std)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, Norm):
                nn.init.ones_(m.weight)

    def _layer_in(self, emb, feat):
        return self.fc(torch.cat((emb, feat), dim=-1))

    def _layer_out(self, x, attn):
        L = self.layers[0]
        h = x + attn
        return h + L.mlp(L.post_attention_layernorm(h))

    def forward(self, emb, feat, start_pos=0):
        """One parallel pass: emb, feat (B, T, H) -> predicted features (B, T, H); positions
        start_pos.. start_pos+T-1."""
        return self.rollout(emb, feat, 1, start_pos=start_pos)[0]

    def rollout(self, emb, feat, steps, embed_fn=None, lm_head=None, start_pos=0):
        """steps >= 1 draft steps for every start position. Returns [f^ of step 1, ..., step s]
        (each (B, T, H): entry j of step s is the chain from start j after s steps, at position
        j+s-1). Steps >= 2 need embed_fn (token ids -> embeddings) and lm_head (features -> logits):
        the chain feeds argmax(lm_head(f^)) and f^ of the previous step."""
        L = self.layers[0]
        T = emb.shape[1]
        pos = torch.arange(T, device=emb.device) + start_pos
        x = self._layer_in(emb, feat)
        q, k, v = L.self_attn.qkv(x, pos)
        ks, vs = [k], [v]
        out = [self._layer_out(x, L.self_attn.attend(q, ks, vs))]
        for s in range(1, steps):
            prev = out[-1]
            tok = lm_head(prev).argmax(-1)
            x = self._layer_in(embed_fn(tok).to(prev.dtype), prev)
            q, k, v = L.self_attn.qkv(x, pos + s)
            ks.append(k)
            vs.append(v)
            out.append(self._layer_out(x, L.self_attn.attend(q, ks, vs)))
        return out


def head_config(base_cfg, bias=True):
    """The head's dims from a base model's config.json dict (rope_theta from rope_parameters if there)."""
    c = base_cfg
    theta = (c.get("rope_parameters") or {}).get("rope_theta", c.get("rope_theta", 10000.0))
    return {
        "hidden_size": c["hidden_size"], "intermediate_size": c["intermediate_size"],
        "num_attention_heads": c["num_attention_heads"], "num_key_value_heads": c.get("num_key_value_heads",
                                                                                       c["num_attention_heads"]),
        "head_dim": c.get("head_dim") or c["hidden_size"] // c["num_attention_heads"],
        "rope_theta": float(theta), "rms_norm_eps": c["rms_norm_eps"], "bias": bool(bias),
    }


def hf_config(hc, base_cfg):
    """The head folder's config.json (a LlamaConfig, as the reference's heads ship)."""
    return {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama",
        "hidden_size": hc["hidden_size"], "intermediate_size": hc["intermediate_size"],
        "num_attention_heads": hc["num_attention_heads"], "num_key_value_heads": hc["num_key_value_heads"],
        "head_dim": hc["head_dim"], "num_hidden_layers": 1, "vocab_size": base_cfg["vocab_size"],
        "rms_norm_eps": hc["rms_norm_eps"], "rope_theta": hc["rope_theta"],
        "max_position_embeddings": base_cfg.get("max_position_embeddings", 2048), "hidden_act": "silu",
        "bias": hc["bias"], "torch_dtype": "bfloat16",
        # as the reference's heads (a copy of the base's config): the base's tying (the head has no lm_head)
        "tie_word_embeddings": bool(base_cfg.get("tie_word_embeddings", False)),
        "bos_token_id": base_cfg.get("bos_token_id"), "eos_token_id": base_cfg.get("eos_token_id"),
    }


def load_head(folder, device="cpu", dtype=torch.float32):
    """An EagleHead from a head folder (config.json + model.safetensors)."""
    import json
    import os
    from safetensors.torch import load_file
    cfg = json.load(open(os.path.join(folder, "config.json")))
    hc = head_config(cfg, cfg.get("bias", True))
    head = EagleHead(hc)
    sd = load_file(os.path.join(folder, "model.safetensors"))
    sd = {k: v for k, v in sd.items() if k not in ("embed_tokens.weight", "norm.weight")}
    head.load_state_dict({k: v.to(dtype) for k, v in sd.items()}, strict=True)
    return head.to(device, dtype), cfg


def param_count(module):
    return sum(p.numel() for p in module.parameters())

