"""What a fixture case is made of (see generate.py for the layout of the written files)."""
import hashlib
from dataclasses import dataclass, field
from typing import Callable, Optional

import torch


@dataclass
class Built:
    """A reference module with its weights set, and how the release calls it.

    `run` maps features [B, T, D_enc] (float32) to what the LLM side receives, [B, T_out, D_out];
    `state` holds the module's parameters under its own (PyTorch) names, for the scheme writers."""
    module: torch.nn.Module
    run: Callable
    state: dict
    reference: str
    eps: dict = field(default_factory=dict)


@dataclass
class Spec:
    name: str
    family: str
    variant: str
    dims: dict            # connkit's dimension keys -> value (as validate reports them)
    tokens: int           # T, the tokens describe lists as TOKENS IN
    build: Callable       # dims -> Built
    schemes: Callable     # (state, dims) -> [schemes.Checkpoint] (primary first)
    grid: Optional[list] = None
    batch: int = 1
    weights_from: Optional[str] = None   # reuse another case's checkpoints (same seed, same weights)
    cli_dims: dict = field(default_factory=dict)   # scheme -> {key: value} that files cannot state
    notes: list = field(default_factory=list)
    real: Optional[dict] = None          # release dimensions for --real: {"release", "dims", "tokens", "grid"}
    expect_invalid: dict = field(default_factory=dict)  # scheme -> why validate is expected to refuse it today
    expect_warnings: dict = field(default_factory=dict)  # scheme -> {warning code: why the release deserves it}


def seed_of(text):
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little") & ((1 << 63) - 1)


NORM_TYPES = ("LayerNorm", "RMSNorm", "LayerNormAct2d")


def randomize(module, name):
    """Seeded weights, scaled so activations stay O(1): Linear/conv weights N(0, 1/fan_in), biases
    N(0, 0.1^2), norm scales 1 + N(0, 0.1^2) and shifts N(0, 0.1^2), queries/latents/newlines N(0, 1).
    Parameters that do not require grad (fixed sin-cos tables) keep their computed values. Every value
    is rounded to the nearest f16 so that f16 copies (mmproj) hold exactly the same weights."""
    gen = torch.Generator().manual_seed(seed_of("weights:" + name))
    norm_params = set()
    for module_name, sub in module.named_modules():
        if type(sub).__name__.endswith(NORM_TYPES):
            for param_name, _ in sub.named_parameters(recurse=False):
                norm_params.add(f"{module_name}.{param_name}" if module_name else param_name)
    with torch.no_grad():
        for param_name, param in module.named_parameters():
            if not param.requires_grad:
                continue
            shape = param.shape
            noise = torch.randn(shape, generator=gen, dtype=torch.float32)
            leaf = param_name.rsplit(".", 1)[-1]
            if param_name in norm_params:
                value = 1.0 + 0.1 * noise if leaf == "weight" else 0.1 * noise
            elif leaf == "bias" or leaf.endswith("_bias"):
                value = 0.1 * noise
            elif leaf in ("query", "latents", "query_tokens", "image_newline") or param.ndim == 1:
                value = noise
            else:
                fan_in = 1
                for size in shape[1:]:
                    fan_in *= size
                value = noise / max(fan_in, 1) ** 0.5
            param.copy_(value.to(torch.float16).to(torch.float32))
    return module


def features(name, batch, tokens, width):
    """Seeded standard-normal float32 features [batch, tokens, width]."""
    gen = torch.Generator().manual_seed(seed_of("input:" + name))
    return torch.randn((batch, tokens, width), generator=gen, dtype=torch.float32)


def state_of(module):
    """Parameters and persistent buffers under the module's own names (float tensors only)."""
    return {k: v for k, v in module.state_dict().items() if v.is_floating_point()}
