"""Connector modules that exist only as repository code, transcribed for the runtime fixtures.

Each class or function below follows one file of the release's own repository, line for line where
the computation is concerned (training-only branches, initialisers and device plumbing are left out);
the comment above it names the repository, the file and the commit read. Where a release builds its
module from a library's blocks (MobileVLM uses torchvision's InvertedResidual and timm's
LayerNormAct2d), the library's own classes are imported, not re-written.

Used by Tests/Fixtures/runtime/generate.py; nothing here is imported by connkit.
"""
import math
import re
from functools import partial

import numpy as np
import torch
import torch.nn.functional as F
from einops import rearrange, repeat
from einops_exts import rearrange_many
from torch import einsum, nn

# ---------------------------------------------------------------------------------------------------
# LLaVA and Yi-VL projectors.
# github.com/haotian-liu/LLaVA llava/model/multimodal_projector/builder.py
#   @44e0562f9497fb79f042427307472a87d266d90a  (linear, mlpNx_gelu)
# github.com/01-ai/Yi VL/llava/model/multimodal_projector/builder.py
#   @42dd1d3e4b2181975b77da5ba248f5a49420485e  (mlpNx_gelu_Norm: Linear, LayerNorm, then GELU, Linear, LayerNorm)
LLAVA_BUILDER = "github.com/haotian-liu/LLaVA llava/model/multimodal_projector/builder.py@44e0562f9497fb79f042427307472a87d266d90a"
YI_BUILDER = "github.com/01-ai/Yi VL/llava/model/multimodal_projector/builder.py@42dd1d3e4b2181975b77da5ba248f5a49420485e"


def build_vision_projector(mm_hidden_size, hidden_size, projector_type):
    """`build_vision_projector` of LLaVA (and, for `_Norm` types, Yi-VL's variant of it)."""
    if projector_type == "linear":
        return nn.Linear(mm_hidden_size, hidden_size)
    use_norm = "_Norm" in projector_type
    projector_type = projector_type.replace("_Norm", "")
    mlp_gelu_match = re.match(r"^mlp(\d+)x_gelu$", projector_type)
    if not mlp_gelu_match:
        raise ValueError(f"Unknown projector type: {projector_type}")
    mlp_depth = int(mlp_gelu_match.group(1))
    modules = [nn.Linear(mm_hidden_size, hidden_size)]
    if use_norm:
        modules.append(nn.LayerNorm(hidden_size))
    for _ in range(1, mlp_depth):
        modules.append(nn.GELU())
        modules.append(nn.Linear(hidden_size, hidden_size))
        if use_norm:
            modules.append(nn.LayerNorm(hidden_size))
    return nn.Sequential(*modules)


# ---------------------------------------------------------------------------------------------------
# OpenFlamingo's Perceiver Resampler.
# github.com/mlfoundations/open_flamingo open_flamingo/src/helpers.py@090874958aeee23e73dc319b53c34621ffb16e6b
# (Flamingo builds it as PerceiverResampler(dim=vis_dim): no frame or media-time embeddings.)
FLAMINGO_HELPERS = "github.com/mlfoundations/open_flamingo open_flamingo/src/helpers.py@090874958aeee23e73dc319b53c34621ffb16e6b"


def exists(val):
    return val is not None


def FeedForward(dim, mult=4):
    inner_dim = int(dim * mult)
    return nn.Sequential(
        nn.LayerNorm(dim),
        nn.Linear(dim, inner_dim, bias=False),
        nn.GELU(),
        nn.Linear(inner_dim, dim, bias=False),
    )


class PerceiverAttention(nn.Module):
    def __init__(self, *, dim, dim_head=64, heads=8):
        super().__init__()
        self.scale = dim_head**-0.5
        self.heads = heads
        inner_dim = dim_head * heads
        self.norm_media = nn.LayerNorm(dim)
        self.norm_latents = nn.LayerNorm(dim)
        self.to_q = nn.Linear(dim, inner_dim, bias=False)
        self.to_kv = nn.Linear(dim, inner_dim * 2, bias=False)
        self.to_out = nn.Linear(inner_dim, dim, bias=False)

    def forward(self, x, latents):
        x = self.norm_media(x)
        latents = self.norm_latents(latents)
        h = self.heads
        q = self.to_q(latents)
        kv_input = torch.cat((x, latents), dim=-2)
        k, v = self.to_kv(kv_input).chunk(2, dim=-1)
        q, k, v = rearrange_many((q, k, v), "b t n (h d) -> b h t n d", h=h)
        q = q * self.scale
        sim = einsum("... i d, ... j d  -> ... i j", q, k)
        sim = sim - sim.amax(dim=-1, keepdim=True).detach()
        attn = sim.softmax(dim=-1)
        out = einsum("... i j, ... j d -> ... i d", attn, v)
        out = rearrange(out, "b h t n d -> b t n (h d)", h=h)
        return self.to_out(out)


class PerceiverResampler(nn.Module):
    def __init__(self, *, dim, depth=6, dim_head=64, heads=8, num_latents=64, max_num_media=None,
                 max_num_frames=None, ff_mult=4):
        super().__init__()
        self.latents = nn.Parameter(torch.randn(num_latents, dim))
        self.frame_embs = nn.Parameter(torch.randn(max_num_frames, dim)) if exists(max_num_frames) else None
        self.media_time_embs = nn.Parameter(torch.randn(max_num_media, 1, dim)) if exists(max_num_media) else None
        self.layers = nn.ModuleList([])
        for _ in range(depth):
            self.layers.append(nn.ModuleList([
                PerceiverAttention(dim=dim, dim_head=dim_head, heads=heads),
                FeedForward(dim=dim, mult=ff_mult),
            ]))
        self.norm = nn.LayerNorm(dim)

    def forward(self, x):
        """x: (b, T, F, v, D) image features -> (b, T, n, D)."""
        b, T, F_, v = x.shape[:4]
        if exists(self.frame_embs):
            frame_embs = repeat(self.frame_embs[:F_], "F d -> b T F v d", b=b, T=T, v=v)
            x = x + frame_embs
        x = rearrange(x, "b T F v d -> b T (F v) d")
        if exists(self.media_time_embs):
            x = x + self.media_time_embs[:T]
        latents = repeat(self.latents, "n d -> b T n d", b=b, T=T)
        for attn, ff in self.layers:
            latents = attn(x, latents) + latents
            latents = ff(latents) + latents
        return self.norm(latents)


# ---------------------------------------------------------------------------------------------------
# 2-D sin-cos position tables (MAE's helpers as MiniCPM-V and Qwen-VL vendor them) and the attention
# resamplers. The originals live in the model repositories on the Hugging Face hub
# (openbmb/MiniCPM-V-2, openbmb/MiniCPM-Llama3-V-2_5, openbmb/MiniCPM-V-2_6 `resampler.py`;
# Qwen/Qwen-VL `visual.py`), which the code index does not hold; they are transcribed from the copies
# below, which reproduce them:
#   MiniCPM-V 2.0 and Qwen-VL: github.com/vllm-project/vllm vllm/model_executor/layers/resampler.py
#     @0531c2226a6a25cd96ccc856f3bda3f0bb4efb5f (`Resampler2`: adaptive=True for MiniCPM-V 2.0,
#     adaptive=False without post projection for Qwen-VL, whose VisionTransformer then applies
#     ln_post and `x @ proj`; `get_abs_pos` is Qwen-VL's bicubic interpolation).
#   MiniCPM-V 2.5/2.6: openbmb/MiniCPM-V-2_6 resampler.py as vendored verbatim in
#     github.com/404805854/minicpmv2.6-onnx resampler.py@c51365d7f621130e02acb0c31a184d6c31f5b78e
#     (2.5's file is the same module with torch's nn.MultiheadAttention; 2.6's file subclasses it only
#     to re-declare out_proj as nn.Linear and copies torch's forward, so nn.MultiheadAttention is used).
RESAMPLER2_SOURCE = "github.com/vllm-project/vllm vllm/model_executor/layers/resampler.py@0531c2226a6a25cd96ccc856f3bda3f0bb4efb5f"
RESAMPLER25_SOURCE = "github.com/404805854/minicpmv2.6-onnx resampler.py@c51365d7f621130e02acb0c31a184d6c31f5b78e"


def get_abs_pos(abs_pos, tgt_size):
    """Qwen-VL: the stored [L, C] table resized (bicubic) to the target grid."""
    src_size = int(math.sqrt(abs_pos.size(0)))
    dtype = abs_pos.dtype
    if isinstance(tgt_size, int):
        tgt_size = (tgt_size, tgt_size)
    if src_size == tgt_size[0] and src_size == tgt_size[1]:
        return abs_pos
    return (
        F.interpolate(
            abs_pos.float().reshape(1, src_size, src_size, -1).permute(0, 3, 1, 2),
            size=(tgt_size[0], tgt_size[1]),
            mode="bicubic",
            align_corners=False,
        ).permute(0, 2, 3, 1).flatten(0, 2).to(dtype=dtype)
    )


def get_1d_sincos_pos_embed_from_grid(embed_dim, pos, version=(2, 0)):
    assert embed_dim % 2 == 0
    omega = np.arange(embed_dim // 2, dtype=np.float32)
    omega /= embed_dim / 2.0
    omega = 1.0 / 10000**omega
    if version == (2, 0):
        pos = pos.reshape(-1)
        out = np.einsum("m,d->md", pos, omega)
        return np.concatenate([np.sin(out), np.cos(out)], axis=1)
    out = np.einsum("hw,d->hwd", pos, omega)
    return np.concatenate([np.sin(out), np.cos(out)], axis=-1)


def get_2d_sincos_pos_embed_from_grid(embed_dim, grid, version=(2, 0)):
    assert embed_dim % 2 == 0
    emb_h = get_1d_sincos_pos_embed_from_grid(embed_dim // 2, grid[0], version)
    emb_w = get_1d_sincos_pos_embed_from_grid(embed_dim // 2, grid[1], version)
    return np.concatenate([emb_h, emb_w], axis=1 if version == (2, 0) else -1)


def get_2d_sincos_pos_embed(embed_dim, grid_size, version=(2, 0)):
    """[H*W, D] (version (2, 0): MiniCPM-V 2.0, Qwen-VL, llama.cpp's converter) or [H, W, D] (2.5/2.6).
    The first half of the channels encodes the column (meshgrid puts w first), the second the row."""
    if isinstance(grid_size, int):
        grid_h_size, grid_w_size = grid_size, grid_size
    else:
        grid_h_size, grid_w_size = grid_size[0], grid_size[1]
    grid_h = np.arange(grid_h_size, dtype=np.float32)
    grid_w = np.arange(grid_w_size, dtype=np.float32)
    grid = np.meshgrid(grid_w, grid_h)  # here w goes first
    grid = np.stack(grid, axis=0)
    if version == (2, 0):
        grid = grid.reshape([2, 1, grid_h_size, grid_w_size])
    return get_2d_sincos_pos_embed_from_grid(embed_dim, grid, version)


DEFAULT_LN = partial(nn.LayerNorm, eps=1e-6)


class Resampler2(nn.Module):
    """MiniCPM-V 2.0's resampler (adaptive: key positions computed for the grid) and Qwen-VL's attn_pool
    (not adaptive: the stored table interpolated to the grid; no ln_post/proj inside)."""

    def __init__(self, grid_size, embed_dim, num_heads, kv_dim=None, norm_layer=DEFAULT_LN, adaptive=False,
                 do_post_projection=True):
        super().__init__()
        self.num_queries = grid_size**2
        self.embed_dim = embed_dim
        self.num_heads = num_heads
        self.query = nn.Parameter(torch.zeros(self.num_queries, embed_dim))
        self.kv_proj = nn.Linear(kv_dim, embed_dim, bias=False) if kv_dim is not None and kv_dim != embed_dim else nn.Identity()
        self.attn = nn.MultiheadAttention(embed_dim, num_heads)
        self.ln_q = norm_layer(embed_dim)
        self.ln_kv = norm_layer(embed_dim)
        self.do_post_projection = do_post_projection
        self.ln_post = norm_layer(embed_dim) if do_post_projection else None
        self.proj = nn.Parameter((embed_dim**-0.5) * torch.randn(embed_dim, embed_dim)) if do_post_projection else None
        self.adaptive = adaptive
        self.pos_embed = nn.Parameter(torch.from_numpy(get_2d_sincos_pos_embed(embed_dim, grid_size)).float()).requires_grad_(False)

    def forward(self, x, tgt_sizes=None, attn_mask=None):
        if tgt_sizes is None:
            tgt_sizes = int(math.sqrt(x.size(1)))
        if self.adaptive:
            pos_embed = torch.from_numpy(get_2d_sincos_pos_embed(self.embed_dim, tgt_sizes)).to(device=x.device, dtype=x.dtype)
        else:
            pos_embed = get_abs_pos(self.pos_embed, tgt_sizes).to(device=x.device, dtype=x.dtype)
        x = self.kv_proj(x)
        x = self.ln_kv(x).permute(1, 0, 2)
        N = x.shape[1]
        q = self.ln_q(self.query)
        out = self.attn(self._repeat(q, N) + self.pos_embed.unsqueeze(1), x + pos_embed.unsqueeze(1), x, attn_mask=attn_mask)[0]
        x = out.permute(1, 0, 2)
        if self.do_post_projection:
            x = self.ln_post(x)
            x = x @ self.proj
        return x

    def _repeat(self, query, N):
        return query.unsqueeze(1).repeat(1, N, 1)


class QwenVLPool(nn.Module):
    """Qwen-VL's VisionTransformer tail: attn_pool (Resampler2, not adaptive), ln_post, x @ proj."""

    def __init__(self, n_queries, output_dim, width, num_heads):
        super().__init__()
        norm_layer = partial(nn.LayerNorm, eps=1e-6)
        self.attn_pool = Resampler2(grid_size=int(math.sqrt(n_queries)), embed_dim=output_dim, num_heads=num_heads,
                                    kv_dim=width, norm_layer=norm_layer, adaptive=False, do_post_projection=False)
        self.ln_post = norm_layer(output_dim)
        self.proj = nn.Parameter((output_dim**-0.5) * torch.randn(output_dim, output_dim))

    def forward(self, x):
        x = self.attn_pool(x)
        x = self.ln_post(x)
        return x @ self.proj


class Resampler25(nn.Module):
    """MiniCPM-V 2.5 and 2.6: no query positions; key positions from a 70x70 2-D sin-cos cache sliced to
    the (possibly non-square) grid of each image."""

    def __init__(self, num_queries, embed_dim, num_heads, kv_dim=None, adaptive=False, max_size=(70, 70)):
        super().__init__()
        self.num_queries = num_queries
        self.embed_dim = embed_dim
        self.num_heads = num_heads
        self.adaptive = adaptive
        self.max_size = max_size
        self.query = nn.Parameter(torch.zeros(self.num_queries, embed_dim))
        self.kv_proj = nn.Linear(kv_dim, embed_dim, bias=False) if kv_dim is not None and kv_dim != embed_dim else nn.Identity()
        self.attn = nn.MultiheadAttention(embed_dim, num_heads)
        self.ln_q = nn.LayerNorm(embed_dim, eps=1e-6)
        self.ln_kv = nn.LayerNorm(embed_dim, eps=1e-6)
        self.ln_post = nn.LayerNorm(embed_dim, eps=1e-6)
        self.proj = nn.Parameter((embed_dim**-0.5) * torch.randn(embed_dim, embed_dim))
        self._set_2d_pos_cache(self.max_size)

    def _set_2d_pos_cache(self, max_size, device="cpu"):
        pos_embed = torch.from_numpy(get_2d_sincos_pos_embed(self.embed_dim, max_size, version=(2, 5))).float().to(device)
        self.register_buffer("pos_embed", pos_embed, persistent=False)

    def _adjust_pos_cache(self, tgt_sizes, device):
        max_h = torch.max(tgt_sizes[:, 0])
        max_w = torch.max(tgt_sizes[:, 1])
        if max_h > self.max_size[0] or max_w > self.max_size[1]:
            self.max_size = [max(max_h, self.max_size[0]), max(max_w, self.max_size[1])]
            self._set_2d_pos_cache(self.max_size, device)

    def forward(self, x, tgt_sizes=None):
        assert x.shape[0] == tgt_sizes.shape[0]
        bs = x.shape[0]
        device, dtype = x.device, x.dtype
        patch_len = tgt_sizes[:, 0] * tgt_sizes[:, 1]
        self._adjust_pos_cache(tgt_sizes, device=device)
        max_patch_len = torch.max(patch_len)
        key_padding_mask = torch.zeros((bs, max_patch_len), dtype=torch.bool, device=device)
        pos_embed = []
        for i in range(bs):
            tgt_h, tgt_w = tgt_sizes[i]
            pos_embed.append(self.pos_embed[:tgt_h, :tgt_w, :].reshape((tgt_h * tgt_w, -1)).to(dtype))
            key_padding_mask[i, patch_len[i]:] = True
        pos_embed = torch.nn.utils.rnn.pad_sequence(pos_embed, batch_first=True, padding_value=0.0).permute(1, 0, 2)
        x = self.kv_proj(x)
        x = self.ln_kv(x).permute(1, 0, 2)
        q = self.ln_q(self.query)
        out = self.attn(self._repeat(q, bs), x + pos_embed, x, key_padding_mask=key_padding_mask)[0]
        x = out.permute(1, 0, 2)
        x = self.ln_post(x)
        return x @ self.proj

    def _repeat(self, query, N):
        return query.unsqueeze(1).repeat(1, N, 1)


# ---------------------------------------------------------------------------------------------------
# InternVL's original mlp1 and pixel shuffle (ps_version 'v1' leaves height and width swapped).
# github.com/OpenGVLab/InternVL internvl_chat/internvl/model/internvl_chat/modeling_internvl_chat.py
#   @03285798fa1ed6496981887724d0db688581a859 (`__init__`: mlp1; `pixel_shuffle`; `extract_feature`)
INTERNVL_CHAT = ("github.com/OpenGVLab/InternVL internvl_chat/internvl/model/internvl_chat/modeling_internvl_chat.py"
                 "@03285798fa1ed6496981887724d0db688581a859")


class InternVLProjector(nn.Module):
    """`extract_feature` after the ViT: drop nothing (the class token is already dropped by the caller),
    square grid, pixel_shuffle by downsample_ratio, mlp1."""

    def __init__(self, vit_hidden_size, llm_hidden_size, downsample_ratio=0.5, ps_version="v2"):
        super().__init__()
        self.downsample_ratio = downsample_ratio
        self.ps_version = ps_version
        self.mlp1 = nn.Sequential(
            nn.LayerNorm(vit_hidden_size * int(1 / self.downsample_ratio) ** 2),
            nn.Linear(vit_hidden_size * int(1 / self.downsample_ratio) ** 2, llm_hidden_size),
            nn.GELU(),
            nn.Linear(llm_hidden_size, llm_hidden_size),
        )

    def pixel_shuffle(self, x, scale_factor=0.5):
        n, w, h, c = x.size()
        x = x.view(n, w, int(h * scale_factor), int(c / scale_factor))
        x = x.permute(0, 2, 1, 3).contiguous()
        x = x.view(n, int(h * scale_factor), int(w * scale_factor), int(c / (scale_factor * scale_factor)))
        if self.ps_version != "v1":
            x = x.permute(0, 2, 1, 3).contiguous()
        return x

    def forward(self, vit_embeds):
        h = w = int(vit_embeds.shape[1] ** 0.5)
        vit_embeds = vit_embeds.reshape(vit_embeds.shape[0], h, w, -1)
        vit_embeds = self.pixel_shuffle(vit_embeds, scale_factor=self.downsample_ratio)
        vit_embeds = vit_embeds.reshape(vit_embeds.shape[0], -1, vit_embeds.shape[-1])
        return self.mlp1(vit_embeds)


# ---------------------------------------------------------------------------------------------------
# MobileVLM's LDP and LDPv2 projectors, with torchvision's InvertedResidual / SqueezeExcitation and
# timm's LayerNormAct2d as the release imports them.
# github.com/Meituan-AutoML/MobileVLM mobilevlm/model/vision_projector.py@eb0039aa4be3e9b49fbba3672adfe0bb59c056f2
MOBILEVLM_PROJECTOR = "github.com/Meituan-AutoML/MobileVLM mobilevlm/model/vision_projector.py@eb0039aa4be3e9b49fbba3672adfe0bb59c056f2"


class LDPBlock(nn.Module):
    def __init__(self, inc, ouc):
        super().__init__()
        from timm.layers.norm_act import LayerNormAct2d
        from torchvision.models.mobilenetv3 import InvertedResidual, InvertedResidualConfig
        from torchvision.ops.misc import SqueezeExcitation as SElayer
        layer_norm = partial(LayerNormAct2d, act_layer=None)
        se_layer = partial(SElayer, scale_activation=nn.Hardsigmoid)
        self.mlp = nn.Sequential(nn.Identity(), nn.Linear(inc, ouc), nn.GELU(), nn.Linear(ouc, ouc))
        self.mb_block = nn.Sequential(
            nn.Identity(),
            InvertedResidual(InvertedResidualConfig(ouc, 3, ouc, ouc, True, "HS", 1, 1, 1), layer_norm, se_layer),
            InvertedResidual(InvertedResidualConfig(ouc, 3, ouc, ouc, True, "HS", 2, 1, 1), layer_norm, se_layer),
        )

    def forward(self, x):
        b, num_tokens, c = x.shape
        h = int(math.sqrt(num_tokens))
        x = self.mlp(x)
        x = x.permute(0, 2, 1).reshape(b, -1, h, h)
        x = self.mb_block(x)
        return x.flatten(2).permute(0, 2, 1)


class LDPNetProjector(nn.Module):
    def __init__(self, inc, ouc):
        super().__init__()
        self.model = LDPBlock(inc, ouc)

    def forward(self, x):
        return self.model(x)


class FeatureIRLayer(nn.Module):
    def __init__(self, in_dim, out_dim):
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(in_dim, out_dim), nn.GELU(), nn.Linear(out_dim, out_dim))

    def forward(self, x):
        return self.mlp(x)


class TokenDownLayer(nn.Module):
    def __init__(self, shape):
        super().__init__()
        self.dwn = nn.Sequential(nn.AdaptiveAvgPool2d(shape))

    def forward(self, x):
        b, num_tokens, c = x.shape
        h = int(math.sqrt(num_tokens))
        assert h * h == num_tokens
        x = x.permute(0, 2, 1).reshape(b, -1, h, h)
        x = self.dwn(x)
        return x.flatten(2).transpose(1, 2)


class PosInjectLayer(nn.Module):
    def __init__(self, in_dim, out_dim, stride=1):
        super().__init__()
        self.peg = nn.Sequential(nn.Conv2d(in_dim, out_dim, 3, stride, 1, bias=True, groups=out_dim))

    def forward(self, x):
        b, num_tokens, c = x.shape
        h = int(math.sqrt(num_tokens))
        assert h * h == num_tokens
        cnn_feat = x.transpose(1, 2).view(b, c, h, h)
        x = self.peg(cnn_feat) + cnn_feat
        return x.flatten(2).transpose(1, 2)


class LDPNetV2Projector(nn.Module):
    def __init__(self, inc, ouc):
        super().__init__()
        self.mlp = FeatureIRLayer(inc, ouc)
        self.dwn = TokenDownLayer((12, 12))
        self.peg = PosInjectLayer(ouc, ouc, stride=1)

    def forward(self, x):
        return self.peg(self.dwn(self.mlp(x)))
