"""Whisper in PyTorch with openai-whisper's parameter names, loaded from CTranslate2 weights.

`convert_ct2_to_openai` (edge/asr/onnx/ct2.py, numpy only: the runtime builds its graphs from it
too) turns the tensors of a CTranslate2 `model.bin` into openai-whisper's state dict;
`save_openai_checkpoint` writes it as a checkpoint (`{"dims": ..., "model_state_dict": ...}`,
loadable by `whisper.load_model(path)`). `TorchWhisper` runs that state dict with the two entry
points the reference ONNX export needs (`encode_cross`, `step`).
"""

from __future__ import annotations

import math
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from edge.asr.onnx.ct2 import ConversionError, ModelDimensions, convert_ct2_to_openai

__all__ = ["ConversionError", "ModelDimensions", "TorchRunner", "TorchWhisper", "convert_ct2_to_openai",
           "save_openai_checkpoint"]


def save_openai_checkpoint(dims: ModelDimensions, state: dict[str, np.ndarray], path: Path) -> None:
    """Write the checkpoint openai-whisper's `load_model(path)` reads."""
    tensors = {name: torch.from_numpy(np.array(array)) for name, array in state.items()}
    torch.save({"dims": asdict(dims), "model_state_dict": tensors}, path)


class _FusedAttention(torch.autograd.Function):
    """Plain attention in PyTorch; exported as onnxruntime's MultiHeadAttention contrib op (one
    fused CPU kernel instead of transposes, two matrix products and a softmax)."""

    @staticmethod
    def forward(ctx, q, k, v, heads: int):  # noqa: ARG004 (autograd's signature)
        batch, n_q, width = q.shape
        depth = width // heads
        q = q.view(batch, n_q, heads, depth).transpose(1, 2)
        k = k.view(batch, k.shape[1], heads, depth).permute(0, 2, 3, 1)
        v = v.view(batch, v.shape[1], heads, depth).transpose(1, 2)
        weights = torch.softmax((q @ k) / math.sqrt(depth), dim=-1)
        return (weights @ v).transpose(1, 2).reshape(batch, n_q, width)

    @staticmethod
    def symbolic(g, q, k, v, heads: int):
        return g.op("com.microsoft::MultiHeadAttention", q, k, v, num_heads_i=heads)


class _Attention(nn.Module):
    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.query = nn.Linear(width, width)
        self.key = nn.Linear(width, width, bias=False)
        self.value = nn.Linear(width, width)
        self.out = nn.Linear(width, width)

    def attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, fused: bool = False) -> torch.Tensor:
        """q [batch, n, width], k and v [batch, positions, width]. `fused`: one contrib op in ONNX."""
        if fused:
            return self.out(_FusedAttention.apply(q, k, v, self.heads))
        return self.attend_heads(q, *self.split_heads(k, v))

    def split_heads(self, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """k [batch, positions, width] -> [batch, heads, depth, positions]; v -> [batch, heads, positions, depth]."""
        batch, positions, width = k.shape
        depth = width // self.heads
        return (
            k.view(batch, positions, self.heads, depth).permute(0, 2, 3, 1),
            v.view(batch, positions, self.heads, depth).transpose(1, 2),
        )

    def attend_heads(self, q: torch.Tensor, k_heads: torch.Tensor, v_heads: torch.Tensor) -> torch.Tensor:
        batch, n_q, width = q.shape
        depth = width // self.heads
        q = q.view(batch, n_q, self.heads, depth).transpose(1, 2)
        weights = torch.softmax((q @ k_heads) / math.sqrt(depth), dim=-1)
        return self.out((weights @ v_heads).transpose(1, 2).reshape(batch, n_q, width))


class _Block(nn.Module):
    def __init__(self, width: int, heads: int, cross: bool) -> None:
        super().__init__()
        self.attn = _Attention(width, heads)
        self.attn_ln = nn.LayerNorm(width)
        self.cross_attn = _Attention(width, heads) if cross else None
        self.cross_attn_ln = nn.LayerNorm(width) if cross else None
        self.mlp = nn.Sequential(nn.Linear(width, 4 * width), nn.GELU(), nn.Linear(4 * width, width))
        self.mlp_ln = nn.LayerNorm(width)


class _Encoder(nn.Module):
    def __init__(self, dims: ModelDimensions) -> None:
        super().__init__()
        self.conv1 = nn.Conv1d(dims.n_mels, dims.n_audio_state, kernel_size=3, padding=1)
        self.conv2 = nn.Conv1d(dims.n_audio_state, dims.n_audio_state, kernel_size=3, stride=2, padding=1)
        self.register_buffer("positional_embedding", torch.zeros(dims.n_audio_ctx, dims.n_audio_state))
        self.blocks = nn.ModuleList(
            _Block(dims.n_audio_state, dims.n_audio_head, False) for _ in range(dims.n_audio_layer)
        )
        self.ln_post = nn.LayerNorm(dims.n_audio_state)


class _Decoder(nn.Module):
    def __init__(self, dims: ModelDimensions) -> None:
        super().__init__()
        self.token_embedding = nn.Embedding(dims.n_vocab, dims.n_text_state)
        self.positional_embedding = nn.Parameter(torch.zeros(dims.n_text_ctx, dims.n_text_state))
        self.blocks = nn.ModuleList(_Block(dims.n_text_state, dims.n_text_head, True) for _ in range(dims.n_text_layer))
        self.ln = nn.LayerNorm(dims.n_text_state)


class TorchWhisper(nn.Module):
    """openai-whisper's module tree; forward passes shaped for export (one token per step)."""

    def __init__(self, dims: ModelDimensions, state: dict[str, np.ndarray]) -> None:
        super().__init__()
        self.dims = dims
        self.fused_attention = False  # set for the ONNX export: the encoder's self-attention as one op
        self.encoder = _Encoder(dims)
        self.decoder = _Decoder(dims)
        tensors = {name: torch.from_numpy(np.asarray(array, dtype=np.float32)) for name, array in state.items()}
        missing, unexpected = self.load_state_dict(tensors, strict=False)
        if missing or unexpected:
            raise ConversionError(f"state dict does not fit: missing {missing}, unexpected {unexpected}")
        self.eval()

    def encode_cross(self, mel: torch.Tensor) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """mel [1, 80, frames] -> per decoder layer, cross-attention keys [1, heads, depth, frames // 2]
        and values [1, heads, frames // 2, depth], already split into heads so that no decoding
        step has to transpose them again."""
        enc = self.encoder
        x = F.gelu(enc.conv1(mel))
        x = F.gelu(enc.conv2(x)).permute(0, 2, 1)
        x = x + enc.positional_embedding[: x.shape[1]]
        for block in enc.blocks:
            h = block.attn_ln(x)
            x = x + block.attn.attend(block.attn.query(h), block.attn.key(h), block.attn.value(h), self.fused_attention)
            x = x + block.mlp(block.mlp_ln(x))
        x = enc.ln_post(x)
        heads = [
            block.cross_attn.split_heads(block.cross_attn.key(x), block.cross_attn.value(x))
            for block in self.decoder.blocks
        ]
        return [k for k, _ in heads], [v for _, v in heads]

    def step(
        self,
        token: torch.Tensor,
        self_k: torch.Tensor,
        self_v: torch.Tensor,
        cross_k: list[torch.Tensor],
        cross_v: list[torch.Tensor],
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """token [1, 1] int64, caches [layers, 1, past, width], cross keys/values per layer (as
        `encode_cross` gives them) -> logits [1, vocab], grown caches."""
        dec = self.decoder
        past = self_k.shape[2]
        x = dec.token_embedding(token) + dec.positional_embedding[past : past + 1]
        new_k, new_v = [], []
        for i, block in enumerate(dec.blocks):
            h = block.attn_ln(x)
            k = torch.cat([self_k[i], block.attn.key(h)], dim=1)
            v = torch.cat([self_v[i], block.attn.value(h)], dim=1)
            new_k.append(k)
            new_v.append(v)
            x = x + block.attn.attend(block.attn.query(h), k, v)
            h = block.cross_attn_ln(x)
            x = x + block.cross_attn.attend_heads(block.cross_attn.query(h), cross_k[i], cross_v[i])
            x = x + block.mlp(block.mlp_ln(x))
        x = dec.ln(x)
        logits = x[:, -1] @ dec.token_embedding.weight.T
        return logits, torch.stack(new_k), torch.stack(new_v)


class TorchRunner:
    """`WhisperRunner` over `TorchWhisper` (numpy in, numpy out), for checking the conversion."""

    def __init__(self, model: TorchWhisper) -> None:
        self.model = model

    def encode(self, mel: np.ndarray) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        with torch.inference_mode():
            return self.model.encode_cross(torch.from_numpy(mel))

    def empty_cache(self) -> tuple[np.ndarray, np.ndarray]:
        shape = (self.model.dims.n_text_layer, 1, 0, self.model.dims.n_text_state)
        return np.zeros(shape, np.float32), np.zeros(shape, np.float32)

    def step(self, token, self_k, self_v, cross_k, cross_v):
        with torch.inference_mode():
            logits, k, v = self.model.step(
                torch.tensor([[token]]),
                torch.from_numpy(self_k),
                torch.from_numpy(self_v),
                cross_k,
                cross_v,
            )
        return logits[0].numpy(), k.numpy(), v.numpy()
