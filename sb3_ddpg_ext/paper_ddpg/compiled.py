"""The whole gradient step as one graph: ``torch.compile(fullgraph=True)`` over critic step, actor step and target
update, with the Adam updates inside the graph (``compile_update`` in :class:`PaperDDPG`).

``torch._fused_adam_`` cannot be functionalized by the compiler, so the graph uses :func:`adam_`, Adam's update
written once with tensor ops (the formula of ``torch.optim.Adam``'s single-tensor path) on the optimizer's own
state tensors; ``tests/test_equivalence.py`` checks it against ``torch.optim.Adam``. Gradients come from
``torch.autograd.grad``, traced with dynamo's ``trace_autograd_ops``. Learning rates and Adam's bias corrections
enter as tensors filled before each call, so schedules do not recompile.
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
    step_size: th.Tensor,
    bias_correction2_sqrt: th.Tensor,
    beta1: float,
    beta2: float,
    eps: float,
    weight_decay: float,
) -> None:
    """In place, what ``torch.optim.Adam`` (no amsgrad, L2 ``weight_decay`` added to the gradient) does in one step.

    ``step_size`` (lr / (1 - beta1^t)) and ``bias_correction2_sqrt`` (sqrt(1 - beta2^t)) are 0-d tensors computed
    outside the graph in Python floats, as Adam's single-tensor path computes them (:func:`bias_corrections`). Inside
    the graph, Inductor inlined ``beta**t`` into every vectorized iteration of the fused update: two double-precision
    ``std::pow`` per 16 elements, ~16,000 iterations per update at the paper's sizes.
    """
    with th.no_grad():
        for param, grad, exp_avg, exp_avg_sq, step in zip(params, grads, exp_avgs, exp_avg_sqs, steps, strict=True):
            step.add_(1)
            if weight_decay != 0:  # not grad.add(param, alpha=...): torch 2.13's traced graph drops that alpha
                grad = grad + weight_decay * param.detach()
            exp_avg.lerp_(grad, 1 - beta1)
            exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
            denom = (exp_avg_sq.sqrt() / bias_correction2_sqrt).add_(eps)
            param.sub_(exp_avg / denom * step_size)


def bias_corrections(lr: float, beta1: float, beta2: float, step: float) -> tuple[float, float]:
    """Adam's step size lr / (1 - beta1^t) and sqrt(1 - beta2^t) at step t, in Python floats (``torch.optim.Adam``)."""
    return lr / (1 - beta1**step), (1 - beta2**step) ** 0.5


class GraphAdamStep:
    """``zero_grad; backward; step`` of a plain ``torch.optim.Adam`` as traceable tensor code (:func:`adam_`)."""

    def __init__(self, optimizer: th.optim.Optimizer) -> None:
        self.optimizer = optimizer
        self.params = [p for group in optimizer.param_groups for p in group["params"]]
        # Per group: the step size and sqrt(1 - beta2^t) of the coming step, filled outside the graph.
        self.scalars = [(th.tensor(0.0, dtype=th.float64), th.tensor(0.0, dtype=th.float64)) for _ in optimizer.param_groups]

    def ready(self) -> bool:
        """Adam's state exists (after its first step) with one step count per group, and the coming step's scalars are
        filled in: call outside the graph."""
        state = self.optimizer.state
        if not all(p in state for p in self.params):
            return False
        for (step_size, bias_correction2_sqrt), group in zip(self.scalars, self.optimizer.param_groups, strict=True):
            counts = {float(state[p]["step"]) for p in group["params"]}
            if len(counts) != 1:  # a parameter skipped a step (no gradient): the eager Optimizer.step handles it
                return False
            beta1, beta2 = group["betas"]
            size, correction = bias_corrections(group["lr"], beta1, beta2, counts.pop() + 1)
            step_size.fill_(size)
            bias_correction2_sqrt.fill_(correction)
        return True

    def __call__(self, loss: th.Tensor) -> None:
        grads = th.autograd.grad(loss, self.params)
        state, i = self.optimizer.state, 0
        for group, (step_size, bias_correction2_sqrt) in zip(self.optimizer.param_groups, self.scalars, strict=True):
            params = group["params"]
            n = len(params)
            beta1, beta2 = group["betas"]
            adam_(
                params,
                list(grads[i : i + n]),
                [state[p]["exp_avg"] for p in params],
                [state[p]["exp_avg_sq"] for p in params],
                [state[p]["step"] for p in params],
                step_size,
                bias_correction2_sqrt,
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
