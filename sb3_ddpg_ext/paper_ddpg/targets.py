"""Soft target updates, section 3: theta' <- tau * theta + (1 - tau) * theta', for both networks in one call."""

from collections.abc import Sequence

import torch as th
from torch import nn

from sb3_ddpg_ext.paper_ddpg.layers import running_statistics


class SoftTargetUpdate:
    """The target update of Algorithm 1 for ``(online, target)`` module pairs, as one ``torch._foreach_lerp_``.

    ``bn_stats`` says what the targets' batch-norm running statistics do: "average" (rllab): soft-updated with tau
    like every other parameter, so each target is a lagged copy of its network; "copy" (SB3's TD3): copied from the
    online networks. The integer batch counters are left alone: a target never normalizes in train mode.
    Build it again if the modules' tensors are replaced (``.double()``).
    """

    def __init__(self, pairs: Sequence[tuple[nn.Module, nn.Module]], bn_stats: str) -> None:
        self.online: list[th.Tensor] = [p for online, _ in pairs for p in online.parameters()]
        self.target: list[th.Tensor] = [p for _, target in pairs for p in target.parameters()]
        self.online_stats = [s for online, _ in pairs for s in running_statistics(online)]
        self.target_stats = [s for _, target in pairs for s in running_statistics(target)]
        self.copy_stats = bn_stats == "copy" and bool(self.online_stats)
        if bn_stats == "average":
            self.online, self.target = self.online + self.online_stats, self.target + self.target_stats

    @th.no_grad()
    def __call__(self, tau: float) -> None:
        th._foreach_lerp_(self.target, self.online, tau)
        if self.copy_stats:
            th._foreach_copy_(self.target_stats, self.online_stats)
