"""ULMFiT's fine-tuning schedule over a network's layer groups: discriminative learning rates (each
group below the top learns ``decay`` times slower than the one above) and gradual unfreezing (the
top group first, then one more group down per epoch).

Torch only: the schedule sets ``requires_grad`` on the groups' parameters and says each parameter's
learning-rate scale; whatever runs the optimizer applies the scales (the thinc shim of
``knbc.RNNClassifier.v2`` passes them to thinc's optimizer as ``lr_scale``, see
:mod:`pipeline.components.architectures`). It lives here rather than in ``pipeline.training`` so that
the component, which drives it, keeps the imports one way (nn -> components -> training).
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn


class FinetuneSchedule:
    """Layer groups ``groups[0]`` (lowest, e.g. the embedding) .. ``groups[-1]`` (top, the classifier head).

    * :meth:`lr_scale` of group g is ``decay ** -(n - 1 - g)``: 1 for the top group, 1/decay below it, ...
    * :meth:`trainable` at epoch e (0-based) is the top ``e + 1`` groups with ``unfreeze``, every group without.
    * :meth:`apply` sets ``requires_grad`` accordingly (a frozen parameter gets no gradient, so no update).
    """

    def __init__(self, groups: Sequence[Sequence[nn.Parameter]], decay: float = 2.6, unfreeze: bool = True):
        if not groups:
            raise ValueError("no layer groups")
        if decay < 1.0:
            raise ValueError(f"decay must be >= 1, not {decay}")
        self.groups = [list(group) for group in groups]
        self.decay, self.unfreeze = decay, unfreeze
        self.epoch = 0
        self._group_of = {id(p): g for g, group in enumerate(self.groups) for p in group}

    def __len__(self) -> int:
        return len(self.groups)

    def lr_scale(self, group: int) -> float:
        """The learning-rate factor of ``group`` (0 = lowest)."""
        return self.decay ** -(len(self.groups) - 1 - group)

    def parameter_lr_scale(self, parameter: nn.Parameter) -> float:
        """The learning-rate factor of a parameter (1 for one in no group)."""
        group = self._group_of.get(id(parameter))
        return 1.0 if group is None else self.lr_scale(group)

    def trainable(self, epoch: int) -> list[bool]:
        """Per group (lowest first): whether it trains during ``epoch`` (0-based)."""
        n = len(self.groups)
        return [not self.unfreeze or g >= n - 1 - epoch for g in range(n)]

    def apply(self, epoch: int) -> None:
        """Freeze and unfreeze the groups for ``epoch`` (0-based)."""
        self.epoch = epoch
        for group, trains in zip(self.groups, self.trainable(epoch)):
            for parameter in group:
                parameter.requires_grad_(trains)
