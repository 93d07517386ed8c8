"""The whole gradient step as one graph: ``torch.compile(fullgraph=True)`` over critic step, actor step and target
update, with the Adam updates inside the graph (``compile_update`` in :class:`PaperDDPG`).

``torch._fused_adam_`` cannot be functionalized by the compiler, so the graph uses :func:`adam_`, Adam's update
written once with tensor ops (the formula of ``torch.optim.Adam``'s single-tensor path) on the optimizer's own
state tensors; ``tests/test_equivalence.py`` checks it against ``torch.optim.Adam``. Gradients come from
``torch.autograd.grad``, traced with dynamo's ``trace_autograd_ops``. Learning rates enter as tensors, so
schedules do not recompile.
"""

import os
import shutil
import time
from collections.abc import Callable

import torch as th


def check_cpp_compiler() -> None:
    """Inductor builds C++ kernels on CPU: say so before training starts, not at the first update."""
    candidates = [os.environ.get("CXX", ""), "g++", "c++", "clang++"]
    if not any(c and shutil.which(c) for c in candidates):
        raise ValueError(
            "compile_update needs a C++ compiler for torch.compile's Inductor (none of $CXX, g++, c++, clang++ found): "
            "install one (e.g. `apt-get install g++`) or use compile_update=False"
        )


def adam_(
    params: list[th.Tensor],
    grads: list[th.Tensor],
    exp_avgs: list[th.Tensor],
    exp_avg_sqs: list[th.Tensor],
    steps: list[th.Tensor],
    lr: th.Tensor,
    beta1: float,
    beta2: float,
    eps: float,
    weight_decay: float,
) -> None:
    """In place, what ``torch.optim.Adam`` (no amsgrad, L2 ``weight_decay`` added to the gradient) does in one step."""
    with th.no_grad():
        for param, grad, exp_avg, exp_avg_sq, step in zip(params, grads, exp_avgs, exp_avg_sqs, steps, strict=True):
            step.add_(1)
            if weight_decay != 0:  # not grad.add(param, alpha=...): torch 2.13's traced graph drops that alpha
                grad = grad + weight_decay * param.detach()
            exp_avg.lerp_(grad, 1 - beta1)
            exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
            t = step.to(th.float64)  # torch.optim.Adam computes the bias corrections in Python floats
            bias_correction1 = 1 - beta1**t
            bias_correction2_sqrt = (1 - beta2**t).sqrt()
            denom = (exp_avg_sq.sqrt() / bias_correction2_sqrt).add_(eps)
            param.sub_(exp_avg / denom * (lr / bias_correction1))


class GraphAdamStep:
    """``zero_grad; backward; step`` of a plain ``torch.optim.Adam`` as traceable tensor code (:func:`adam_`)."""

    def __init__(self, optimizer: th.optim.Optimizer) -> None:
        self.optimizer = optimizer
        self.params = [p for group in optimizer.param_groups for p in group["params"]]
        self.lrs = [th.tensor(0.0, dtype=th.float64) for _ in optimizer.param_groups]

    def ready(self) -> bool:
        """Adam's state exists (after its first step) and the learning rates are copied in: call outside the graph."""
        for lr, group in zip(self.lrs, self.optimizer.param_groups, strict=True):
            lr.fill_(group["lr"])
        return all(p in self.optimizer.state for p in self.params)

    def __call__(self, loss: th.Tensor) -> None:
        grads = th.autograd.grad(loss, self.params)
        state, i = self.optimizer.state, 0
        for group, lr in zip(self.optimizer.param_groups, self.lrs, strict=True):
            params = group["params"]
            n = len(params)
            beta1, beta2 = group["betas"]
            adam_(
                params,
                list(grads[i : i + n]),
                [state[p]["exp_avg"] for p in params],
                [state[p]["exp_avg_sq"] for p in params],
                [state[p]["step"] for p in params],
                lr,
                beta1,
                beta2,
                group["eps"],
                group["weight_decay"],
            )
            i += n


def graph_step_supported(optimizer: th.optim.Optimizer) -> bool:
    """Plain Adam: the update :func:`adam_` reproduces."""
    return type(optimizer) is th.optim.Adam and not any(
        g["amsgrad"] or g["maximize"] or g["differentiable"] or g["decoupled_weight_decay"] or isinstance(g["lr"], th.Tensor)
        for g in optimizer.param_groups
    )


class CompiledUpdate:
    """``gradient_step(data, critic_step, actor_step)`` compiled once into one graph (fullgraph, inductor).

    :param gradient_step: the eager gradient step (``PaperDDPG._gradient_step``)
    :param critic_optimizer: the critic's Adam
    :param actor_optimizer: the actor's Adam
    :param cpp_wrapper: Inductor's C++ wrapper in place of the generated Python one
    """

    def __init__(
        self,
        gradient_step: Callable,
        critic_optimizer: th.optim.Optimizer,
        actor_optimizer: th.optim.Optimizer,
        cpp_wrapper: bool = False,
    ) -> None:
        for optimizer in (critic_optimizer, actor_optimizer):
            if not graph_step_supported(optimizer):
                raise ValueError(
                    f"compile_update needs plain torch.optim.Adam (no amsgrad, maximize or AdamW), got {optimizer}"
                )
        self.critic_step, self.actor_step = GraphAdamStep(critic_optimizer), GraphAdamStep(actor_optimizer)
        self.optimizers = (critic_optimizer, actor_optimizer)
        self.compile_seconds: float | None = None  # wall time of the first (compiling) call

        def step(data):
            return gradient_step(data, self.critic_step, self.actor_step)

        self._compiled = th.compile(step, fullgraph=True, options={"cpp_wrapper": cpp_wrapper})

    def ready(self) -> bool:
        """The compiled step can run: both Adams have state (else the caller takes the eager step)."""
        return self.critic_step.ready() & self.actor_step.ready()

    def __call__(self, data) -> th.Tensor:
        start = time.perf_counter() if self.compile_seconds is None else 0.0
        with th._dynamo.config.patch(trace_autograd_ops=True):
            stats = self._compiled(data)
        if self.compile_seconds is None:
            self.compile_seconds = time.perf_counter() - start
        return stats
