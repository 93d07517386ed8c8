"""One gradient step of a ``torch.optim.Adam(fused=True)`` without the Python around ``Optimizer.step``.

``loss.backward()`` + ``Optimizer.step()`` + ``zero_grad()`` spend, at the paper's network sizes, about as long in
Python (hooks, the profiler scope, ``_init_group``'s per-parameter checks, tensor grouping, ``.grad`` bookkeeping)
as in the fused Adam kernel. :class:`AdamStep` takes the gradients with ``torch.autograd.grad`` and calls the same
kernel as ``Adam._fused_adam`` (``torch._foreach_add_`` on the step counters, then ``torch._fused_adam_``) on the
optimizer's own state, so ``state_dict``/``load_state_dict`` and learning-rate schedules work as before and the
result is the same to the bit. Any other optimizer, option or a first step (no state yet) goes through
``Optimizer.step``. Optimizer step hooks are not called on the lean path.

Also here: the critic's Adam with the paper's L2 decay (``critic_adam``), and the denormal flush.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, cast

import torch as th


def critic_adam(policy: Any, l2_on: str, weight_decay: float, lr: float) -> th.optim.Optimizer:
    """The critic's optimizer (``policy.optimizer_class``, Adam) with the paper's L2 weight decay on Q (section 7;
    Adam's ``weight_decay`` adds it to the gradient), on the parameters ``l2_on`` names:

    "weights": two parameter groups, the weight matrices (Linear, Conv) decayed and the biases and BN scale/shift not,
    as rllab does (``regularizable=True``); "hidden_weights": the same without the output layer's weights, as OpenAI
    baselines does (``critic_l2_reg``: every ``/w`` but the output's); "all": every parameter decayed.
    """
    params = [p for group in policy.critic.optimizer.param_groups for p in group["params"]]  # TD3Policy's choice
    if l2_on in ("weights", "hidden_weights"):
        output = policy.critic.q_net[-1].weight
        decayed = [p for p in params if p.dim() > 1 and (l2_on == "weights" or p is not output)]
        groups = [
            {"params": decayed, "weight_decay": weight_decay},
            {"params": [p for p in params if all(p is not d for d in decayed)], "weight_decay": 0.0},
        ]
    else:
        groups = [{"params": params, "weight_decay": weight_decay}]
    return policy.optimizer_class(groups, lr=lr, **policy.optimizer_kwargs)


@contextmanager
def flushed_denormals(enabled: bool = True) -> Iterator[None]:
    """CPU arithmetic with denormal floats (below 1.2e-38 in float32) flushed to zero, the previous mode restored after.

    Not an ingredient of the paper, a floating-point mode: the critic's L2 decay drives Adam's moments (and some
    weights) of weights with no gradient into the denormal range after ~1.5k updates, and x86 arithmetic on denormals
    is many times slower. Measured on Pendulum-v1 (2026-11-30, docs/throughput.md): 220 steps/s, then 75 once 10k
    denormals appeared at 1.8k steps; 220 again with them flushed. ``torch.set_flush_denormal`` has no getter: the
    mode in force is read from how a float64 denormal is stored.
    """
    if not enabled:
        yield
        return
    was_on = th.tensor([1e-323], dtype=th.float64).item() == 0.0
    th.set_flush_denormal(True)
    try:
        yield
    finally:
        if not was_on:
            th.set_flush_denormal(False)


def lean_step_supported(optimizer: th.optim.Optimizer) -> bool:
    """Plain fused Adam on one device: the case :class:`AdamStep` reproduces exactly."""
    return type(optimizer) is th.optim.Adam and all(
        g["fused"]
        and not (g["amsgrad"] or g["maximize"] or g["differentiable"] or g["capturable"] or g["decoupled_weight_decay"])
        and not isinstance(g["lr"], th.Tensor)
        for g in optimizer.param_groups
    )


class AdamStep:
    """``optimizer.zero_grad(); loss.backward(inputs=params); optimizer.step()`` as one call, same result."""

    def __init__(self, optimizer: th.optim.Optimizer) -> None:
        self.optimizer = optimizer
        self.params = [p for group in optimizer.param_groups for p in group["params"]]
        self.lean = lean_step_supported(optimizer)
        self._state_lists: list[tuple[list, list, list]] | None = None
        self._state_owner: object = None
        self._ones: list[list[th.Tensor]] = []

    def _states(self) -> list[tuple[list, list, list]] | None:
        """Per group: (exp_avgs, exp_avg_sqs, steps) of the optimizer's state, or None before its first step.

        Also sets ``_ones``, a 1 per step counter: ``_foreach_add_(steps, ones)`` adds tensors, where
        ``_foreach_add_(steps, 1)`` (what ``Adam._fused_adam`` calls) turns the scalar into a tensor once per counter on
        CPU (``to``, ``_to_copy``, ``empty_strided``, ``copy_``: 76 extra dispatcher calls per update). Same sums.
        """
        state = self.optimizer.state
        if self._state_owner is not state or self._state_lists is None:  # load_state_dict replaces ``state``
            if any(p not in state for p in self.params):
                return None
            self._state_lists = [
                cast(
                    tuple[list, list, list],
                    tuple([state[p][key] for p in g["params"]] for key in ("exp_avg", "exp_avg_sq", "step")),
                )
                for g in self.optimizer.param_groups
            ]
            self._ones = [[th.ones_like(steps[0])] * len(steps) if steps else [] for _, _, steps in self._state_lists]
            self._state_owner = state
        return self._state_lists

    def __call__(self, loss: th.Tensor) -> None:
        states = self._states() if self.lean else None
        if states is None:
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward(inputs=self.params)
            self.optimizer.step()
            return
        grads = th.autograd.grad(loss, self.params, allow_unused=True)
        if any(g is None for g in grads):  # Adam skips parameters without a gradient: leave that to Optimizer.step
            for p, g in zip(self.params, grads, strict=True):
                p.grad = g
            self.optimizer.step()
            self.optimizer.zero_grad(set_to_none=True)
            return
        i = 0
        for group, (exp_avgs, exp_avg_sqs, steps), ones in zip(self.optimizer.param_groups, states, self._ones, strict=True):
            n = len(group["params"])
            beta1, beta2 = group["betas"]
            th._foreach_add_(steps, ones)
            th._fused_adam_(
                group["params"],
                list(grads[i : i + n]),
                exp_avgs,
                exp_avg_sqs,
                [],
                steps,
                amsgrad=False,
                lr=group["lr"],
                beta1=beta1,
                beta2=beta2,
                weight_decay=group["weight_decay"],
                eps=group["eps"],
                maximize=False,
            )
            i += n
