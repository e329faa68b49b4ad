"""The four transformer examples of issue 13 written from torch.nn / torch ops alone (torchvision and
transformers are not installed in the golden venv), for make_transformer_golden.py:

- ``vit_b_16``: torchvision 0.28's VisionTransformer(image_size=224, patch_size=16, num_layers=12,
  num_heads=12, hidden_dim=768, mlp_dim=3072) (86,567,656 parameters, torchvision's num_params);
- ``bert_base``: HuggingFace's BertModel (bert-base-uncased config: vocab 30522, 512 positions, 2 token
  types, LayerNorm eps 1e-12, dropout 0.1, with the pooler: 109,482,240 parameters) whose encoder is
  12 x nn.TransformerEncoderLayer(768, 12, 3072, dropout=0.1, activation=nn.GELU(), batch_first=True,
  norm_first=False, layer_norm_eps=1e-12);
- ``gpt2_small``: HuggingFace's GPT2LMHeadModel (124,439,808 parameters, lm_head tied to wte and counted
  once) with a KV cache;
- ``llama_small``: Meta's / HuggingFace's LLaMA (RMSNorm, SwiGLU, RoPE, grouped-query attention) at a small
  config (dim 256, 4 layers, 8 heads, 2 kv heads, FFN hidden 688 by LLaMA's rule with multiple_of 16,
  vocab 1000, untied output).

What differs from those definitions changes no parameter, FLOP or saved byte, and exists so that every
operation a convcalc layer row stands for is one module here (the golden records modules as rows):
- torchvision's functional steps become modules: ``x.reshape(n, 768, 196)`` -> nn.Flatten(2),
  ``x.permute(0, 2, 1)`` -> Permute (torchvision.ops.misc.Permute), the class token concat -> ClassToken
  (the (1, 1, 768) parameter), ``input + self.pos_embedding`` -> PositionEmbedding (the (1, 197, 768)
  parameter, owned by torchvision's Encoder), ``x[:, 0]`` -> SelectToken;
- BERT: the embeddings sum is word + position + token type (zeros) in one module BertEmbeddings's
  three nn.Embedding rows; position ids and token type ids are HF's two int64 buffers of 512;
  ``activation=nn.GELU()`` (a module, so that it is a row; the string "gelu" stores F.gelu, the same op);
  the pooler (Linear + Tanh on token 0) is SelectToken, Linear, Tanh;
- GPT-2: HF's Conv1D (x @ W + b, W stored (in, out)) is nn.Linear (W stored (out, in), same count, same
  addmm); the attention core (split heads, scaled_dot_product_attention with is_causal, merge heads;
  attention dropout 0.1 as HF's dropout_p in training) is the module ScaledDotProductAttention;
- LLaMA: RoPE in HF's rotate_half form (q * cos + rotate_half(q) * sin) with cos and sin precomputed for
  128 positions as two non-persistent buffers (128 x 32 each) of one RotaryEmbedding module at the model
  level, called on q and on k in every layer (two rows per layer); k and v repeated to the query heads
  (Meta's repeat_kv) inside ScaledDotProductAttention;
- dropouts and activations out of place; no weight initialisation schemes (they change no count).

Every ``forward`` takes batch-first tensors: images (B, 3, 224, 224), token ids (B, T) int64.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


# -- shared token modules ---------------------------------------------------------------------------

class Permute(nn.Module):
    """torchvision.ops.misc.Permute: torch.permute(x, dims)."""

    def __init__(self, dims):
        super().__init__()
        self.dims = list(dims)

    def forward(self, x):
        return torch.permute(x, self.dims)


class ClassToken(nn.Module):
    """torchvision's ``torch.cat([class_token.expand(n, -1, -1), x], dim=1)``: D parameters, T -> T + 1."""

    def __init__(self, dim):
        super().__init__()
        self.class_token = nn.Parameter(torch.zeros(1, 1, dim))

    def forward(self, x):
        return torch.cat([self.class_token.expand(x.shape[0], -1, -1), x], dim=1)


class PositionEmbedding(nn.Module):
    """torchvision's Encoder: ``input + self.pos_embedding`` (a learned (1, T, D) parameter)."""

    def __init__(self, length, dim):
        super().__init__()
        self.pos_embedding = nn.Parameter(torch.empty(1, length, dim).normal_(std=0.02))

    def forward(self, x):
        return x + self.pos_embedding


class SelectToken(nn.Module):
    """``x[:, index]``: one token of the sequence (a view)."""

    def __init__(self, index=0):
        super().__init__()
        self.index = index

    def forward(self, x):
        return x[:, self.index]


class ScaledDotProductAttention(nn.Module):
    """The attention core, no parameters: q (B, T, H, hd), k and v (B, T, Hkv, hd) -> (B, T, H * hd).
    Heads to dim 1; with a cache (a dict of this layer's past "k", "v", (B, Hkv, t - T, hd)) the new keys
    and values are appended to it; k, v repeated to H heads (repeat_kv); F.scaled_dot_product_attention
    (causal when there is no past, dropout_p in training); heads merged back."""

    def __init__(self, num_heads, num_kv_heads=None, causal=True, dropout=0.0):
        super().__init__()
        self.num_heads, self.num_kv_heads = num_heads, num_kv_heads or num_heads
        self.causal, self.dropout = causal, dropout

    def forward(self, q, k, v, cache=None):
        b, t = q.shape[:2]
        q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)
        past = 0
        if cache is not None:
            if "k" in cache:
                past = cache["k"].shape[2]
                k, v = torch.cat([cache["k"], k], dim=2), torch.cat([cache["v"], v], dim=2)
            cache["k"], cache["v"] = k, v
        if past and t != 1:
            raise ValueError("a cached step feeds one token")
        rep = self.num_heads // self.num_kv_heads
        if rep > 1:
            k, v = k.repeat_interleave(rep, dim=1), v.repeat_interleave(rep, dim=1)
        y = F.scaled_dot_product_attention(q, k, v, dropout_p=self.dropout if self.training else 0.0,
                                           is_causal=self.causal and past == 0)
        return y.transpose(1, 2).reshape(b, t, -1)


# -- ViT-B/16 (torchvision.models.vision_transformer) ------------------------------------------------

class EncoderBlock(nn.Module):
    """torchvision's EncoderBlock: ln_1, self_attention (x, x, x, need_weights=False), dropout, + input;
    ln_2, mlp (Linear, GELU, Dropout, Linear, Dropout), + x."""

    def __init__(self, num_heads=12, hidden_dim=768, mlp_dim=3072, dropout=0.0, attention_dropout=0.0):
        super().__init__()
        self.ln_1 = nn.LayerNorm(hidden_dim, eps=1e-6)
        self.self_attention = nn.MultiheadAttention(hidden_dim, num_heads, dropout=attention_dropout, batch_first=True)
        self.dropout = nn.Dropout(dropout)
        self.ln_2 = nn.LayerNorm(hidden_dim, eps=1e-6)
        self.mlp = nn.Sequential(nn.Linear(hidden_dim, mlp_dim), nn.GELU(), nn.Dropout(dropout),
                                 nn.Linear(mlp_dim, hidden_dim), nn.Dropout(dropout))

    def forward(self, input):
        x = self.ln_1(input)
        x, _ = self.self_attention(x, x, x, need_weights=False)
        x = self.dropout(x)
        x = x + input
        y = self.ln_2(x)
        y = self.mlp(y)
        return x + y


def vit_b_16(image_size=224, patch_size=16, num_layers=12, num_heads=12, hidden_dim=768, mlp_dim=3072,
             num_classes=1000):
    seq = (image_size // patch_size) ** 2 + 1
    return nn.Sequential(
        nn.Conv2d(3, hidden_dim, patch_size, patch_size),              # conv_proj
        nn.Flatten(2), Permute([0, 2, 1]),                            # (n, 768, 196) -> (n, 196, 768)
        ClassToken(hidden_dim),
        PositionEmbedding(seq, hidden_dim), nn.Dropout(0.0),          # encoder.pos_embedding, encoder.dropout
        nn.Sequential(*[EncoderBlock(num_heads, hidden_dim, mlp_dim) for _ in range(num_layers)]),
        nn.LayerNorm(hidden_dim, eps=1e-6),                           # encoder.ln
        SelectToken(0), nn.Linear(hidden_dim, num_classes))           # x[:, 0], heads.head


# -- BERT-base (HF BertModel) with nn.TransformerEncoderLayer ----------------------------------------

class BertEmbeddings(nn.Module):
    """word(input_ids) + token_type(zeros) + position(arange(T)); LayerNorm; Dropout. HF's position_ids and
    token_type_ids buffers (int64, 512 each)."""

    def __init__(self, vocab=30522, dim=768, max_pos=512, type_vocab=2, eps=1e-12, dropout=0.1):
        super().__init__()
        self.word_embeddings = nn.Embedding(vocab, dim, padding_idx=0)
        self.position_embeddings = nn.Embedding(max_pos, dim)
        self.token_type_embeddings = nn.Embedding(type_vocab, dim)
        self.LayerNorm = nn.LayerNorm(dim, eps=eps)
        self.dropout = nn.Dropout(dropout)
        self.register_buffer("position_ids", torch.arange(max_pos).expand((1, -1)), persistent=False)
        self.register_buffer("token_type_ids", torch.zeros(1, max_pos, dtype=torch.long), persistent=False)

    def forward(self, input_ids):
        b, t = input_ids.shape
        x = self.word_embeddings(input_ids)
        x = x + self.token_type_embeddings(self.token_type_ids[:, :t].expand(b, t))
        x = x + self.position_embeddings(self.position_ids[:, :t])
        return self.dropout(self.LayerNorm(x))


class Bert(nn.Module):
    """BertModel: embeddings, 12 x nn.TransformerEncoderLayer (post-norm, GELU), pooler (token 0, Linear, Tanh).
    Returns the pooled output and keeps the last hidden state in ``self.hidden``."""

    def __init__(self, layers=12, dim=768, heads=12, ffn=3072, pooler=True):
        super().__init__()
        self.embeddings = BertEmbeddings(dim=dim)
        self.encoder = nn.Sequential(*[nn.TransformerEncoderLayer(dim, heads, ffn, dropout=0.1, activation=nn.GELU(),
                                                                  layer_norm_eps=1e-12, batch_first=True,
                                                                  norm_first=False) for _ in range(layers)])
        self.pooler = nn.Sequential(SelectToken(0), nn.Linear(dim, dim), nn.Tanh()) if pooler else None
        self.hidden = None

    def forward(self, input_ids):
        self.hidden = self.encoder(self.embeddings(input_ids))
        return self.pooler(self.hidden) if self.pooler is not None else self.hidden


def bert_base():
    return Bert()


# -- GPT-2 small (HF GPT2LMHeadModel) ---------------------------------------------------------------

class GPT2Attention(nn.Module):
    """c_attn (fused q, k, v), split into heads, attention core (causal), c_proj, resid_dropout."""

    def __init__(self, dim=768, heads=12, pdrop=0.1):
        super().__init__()
        self.heads = heads
        self.c_attn = nn.Linear(dim, 3 * dim)
        self.attn = ScaledDotProductAttention(heads, causal=True, dropout=pdrop)
        self.c_proj = nn.Linear(dim, dim)
        self.resid_dropout = nn.Dropout(pdrop)

    def forward(self, x, cache=None):
        b, t, d = x.shape
        q, k, v = self.c_attn(x).split(d, dim=2)
        q, k, v = (z.view(b, t, self.heads, d // self.heads) for z in (q, k, v))
        return self.resid_dropout(self.c_proj(self.attn(q, k, v, cache=cache)))


class GPT2Block(nn.Module):
    def __init__(self, dim=768, heads=12, pdrop=0.1, eps=1e-5):
        super().__init__()
        self.ln_1 = nn.LayerNorm(dim, eps=eps)
        self.attn = GPT2Attention(dim, heads, pdrop)
        self.ln_2 = nn.LayerNorm(dim, eps=eps)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(approximate="tanh"), nn.Linear(4 * dim, dim),
                                 nn.Dropout(pdrop))  # c_fc, act, c_proj, dropout

    def forward(self, x, cache=None):
        x = x + self.attn(self.ln_1(x), cache=cache)
        return x + self.mlp(self.ln_2(x))


class GPT2(nn.Module):
    """wte, wpe, drop, h (12 blocks), ln_f, lm_head (weight is wte.weight). ``forward(ids, cache=None)``: with
    a cache (a list of one dict per layer, empty at the prefill) the positions continue after the cached ones."""

    def __init__(self, vocab=50257, n_positions=1024, dim=768, layers=12, heads=12, pdrop=0.1):
        super().__init__()
        self.wte = nn.Embedding(vocab, dim)
        self.wpe = nn.Embedding(n_positions, dim)
        self.drop = nn.Dropout(pdrop)
        self.h = nn.ModuleList([GPT2Block(dim, heads, pdrop) for _ in range(layers)])
        self.ln_f = nn.LayerNorm(dim)
        self.lm_head = nn.Linear(dim, vocab, bias=False)
        self.lm_head.weight = self.wte.weight  # tied

    def forward(self, ids, cache=None):
        past = cache[0]["k"].shape[2] if cache and "k" in cache[0] else 0
        pos = torch.arange(past, past + ids.shape[1]).unsqueeze(0)  # HF: position_ids (1, T)
        x = self.drop(self.wte(ids) + self.wpe(pos))
        for i, block in enumerate(self.h):
            x = block(x, cache=cache[i] if cache is not None else None)
        return self.lm_head(self.ln_f(x))


def gpt2_small():
    return GPT2()


# -- LLaMA-style (Meta's llama / HF LlamaForCausalLM) at a small config ------------------------------

def llama_hidden(dim, multiple_of=16, ffn_dim_multiplier=None):
    """Meta's FeedForward: int(2 * 4 * dim / 3), times ffn_dim_multiplier, rounded up to multiple_of."""
    hidden = int(2 * 4 * dim / 3)
    if ffn_dim_multiplier is not None:
        hidden = int(ffn_dim_multiplier * hidden)
    return multiple_of * ((hidden + multiple_of - 1) // multiple_of)


class RotaryEmbedding(nn.Module):
    """RoPE, HF's form: x * cos + rotate_half(x) * sin on (B, T, H, hd); cos, sin: (max_pos, hd) non-persistent
    buffers, the frequencies theta^(-2i/hd) repeated for the two halves."""

    def __init__(self, head_dim, max_pos=128, theta=10000.0):
        super().__init__()
        inv_freq = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim))
        freqs = torch.outer(torch.arange(max_pos, dtype=torch.float32), inv_freq)
        emb = torch.cat([freqs, freqs], dim=-1)
        self.register_buffer("cos", emb.cos(), persistent=False)
        self.register_buffer("sin", emb.sin(), persistent=False)

    def forward(self, x, start=0):
        t, half = x.shape[1], x.shape[-1] // 2
        cos, sin = self.cos[start:start + t, None, :], self.sin[start:start + t, None, :]
        rotated = torch.cat([-x[..., half:], x[..., :half]], dim=-1)
        return x * cos + rotated * sin


class LlamaAttention(nn.Module):
    def __init__(self, dim, heads, kv_heads):
        super().__init__()
        self.heads, self.kv_heads, self.head_dim = heads, kv_heads, dim // heads
        self.wq = nn.Linear(dim, heads * self.head_dim, bias=False)
        self.wk = nn.Linear(dim, kv_heads * self.head_dim, bias=False)
        self.wv = nn.Linear(dim, kv_heads * self.head_dim, bias=False)
        self.attn = ScaledDotProductAttention(heads, kv_heads, causal=True)
        self.wo = nn.Linear(heads * self.head_dim, dim, bias=False)

    def forward(self, x, rope, cache=None, start=0):
        b, t, _ = x.shape
        q = self.wq(x).view(b, t, self.heads, self.head_dim)
        k = self.wk(x).view(b, t, self.kv_heads, self.head_dim)
        v = self.wv(x).view(b, t, self.kv_heads, self.head_dim)
        return self.wo(self.attn(rope(q, start), rope(k, start), v, cache=cache))


class SwiGLU(nn.Module):
    """Meta's FeedForward: w2(silu(w1(x)) * w3(x)), with the SiLU as a module."""

    def __init__(self, dim, hidden):
        super().__init__()
        self.w1 = nn.Linear(dim, hidden, bias=False)
        self.act = nn.SiLU()
        self.w3 = nn.Linear(dim, hidden, bias=False)
        self.w2 = nn.Linear(hidden, dim, bias=False)

    def forward(self, x):
        gate = self.act(self.w1(x))
        return self.w2(gate * self.w3(x))


class LlamaBlock(nn.Module):
    def __init__(self, dim, heads, kv_heads, hidden, eps):
        super().__init__()
        self.attention_norm = nn.RMSNorm(dim, eps=eps)
        self.attention = LlamaAttention(dim, heads, kv_heads)
        self.ffn_norm = nn.RMSNorm(dim, eps=eps)
        self.feed_forward = SwiGLU(dim, hidden)

    def forward(self, x, rope, cache=None, start=0):
        h = x + self.attention(self.attention_norm(x), rope, cache, start)
        return h + self.feed_forward(self.ffn_norm(h))


class Llama(nn.Module):
    """tok_embeddings, layers, norm, output (untied); one RotaryEmbedding for all layers (model.rope)."""

    def __init__(self, vocab=1000, dim=256, layers=4, heads=8, kv_heads=2, multiple_of=16, eps=1e-5, max_pos=128):
        super().__init__()
        self.tok_embeddings = nn.Embedding(vocab, dim)
        self.rope = RotaryEmbedding(dim // heads, max_pos)
        self.layers = nn.ModuleList([LlamaBlock(dim, heads, kv_heads, llama_hidden(dim, multiple_of), eps)
                                     for _ in range(layers)])
        self.norm = nn.RMSNorm(dim, eps=eps)
        self.output = nn.Linear(dim, vocab, bias=False)

    def forward(self, ids, cache=None):
        """With a cache (one dict per layer, empty at the prefill): keys after RoPE, Hkv heads, as Meta's."""
        start = cache[0]["k"].shape[2] if cache and "k" in cache[0] else 0
        x = self.tok_embeddings(ids)
        for i, layer in enumerate(self.layers):
            x = layer(x, self.rope, cache[i] if cache is not None else None, start)
        return self.output(self.norm(x))


def llama_small():
    return Llama()


LLAMA_CONFIG = {"vocab": 1000, "dim": 256, "layers": 4, "heads": 8, "kv_heads": 2, "head_dim": 32,
                "ffn_hidden": llama_hidden(256, 16), "multiple_of": 16, "norm_eps": 1e-5, "rope_theta": 10000.0,
                "rope_max_positions": 128, "tied": False, "bias": False}
assert LLAMA_CONFIG["ffn_hidden"] == 688
