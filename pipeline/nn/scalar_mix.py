"""ELMo's scalar mix: a learned, softmax-normalised weighted sum of a network's layers, scaled by gamma."""

from __future__ import annotations

import torch
from torch import nn


class ScalarMix(nn.Module):
    """``gamma * sum_k softmax(w)_k * h_k`` over ``n_layers`` layers h_k of one shape (B, T, D).

    * the weights ``softmax(w)`` (``n_layers``,) sum to 1; ``w`` starts at zero (an even mix), gamma at 1;
    * with ``layer_norm`` each layer is first normalised over its real positions only (mean and variance
      over the positions where ``mask`` is True and all D features, as in AllenNLP's ScalarMix);
    * the output is zero at padding positions (``mask`` False), whatever the layers hold there.
    """

    def __init__(self, n_layers: int, layer_norm: bool = False):
        super().__init__()
        if n_layers < 1:
            raise ValueError(f"n_layers must be >= 1, not {n_layers}")
        self.n_layers, self.layer_norm = n_layers, layer_norm
        self.scalars = nn.Parameter(torch.zeros(n_layers))  # (n_layers,) before the softmax
        self.gamma = nn.Parameter(torch.ones(1))  # (1,)

    def reset_parameters(self) -> None:
        with torch.no_grad():
            self.scalars.zero_()
            self.gamma.fill_(1.0)

    @property
    def weights(self) -> torch.Tensor:
        """The normalised layer weights (n_layers,), summing to 1."""
        return torch.softmax(self.scalars, dim=0)

    def forward(self, layers: list[torch.Tensor], mask: torch.Tensor) -> torch.Tensor:
        """``layers``: ``n_layers`` tensors (B, T, D), ``mask`` (B, T) bool -> the mix (B, T, D), zero at padding."""
        if len(layers) != self.n_layers:
            raise ValueError(f"expected {self.n_layers} layers, got {len(layers)}")
        keep = mask.unsqueeze(-1).to(layers[0].dtype)  # (B, T, 1)
        weights = self.weights
        mixed = torch.zeros_like(layers[0])  # (B, T, D)
        for weight, layer in zip(weights, layers):
            if self.layer_norm:
                layer = _masked_layer_norm(layer, keep)
            mixed = mixed + weight * layer
        return self.gamma * mixed * keep


def _masked_layer_norm(layer: torch.Tensor, keep: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """``layer`` (B, T, D) normalised by the mean and variance of its real positions (``keep`` (B, T, 1))."""
    count = (keep.sum() * layer.size(-1)).clamp(min=1.0)
    mean = (layer * keep).sum() / count
    variance = (((layer - mean) * keep) ** 2).sum() / count
    return (layer - mean) / torch.sqrt(variance + eps)
