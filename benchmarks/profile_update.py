"""Gradient updates per second (no env steps) of PaperDDPG variants vs SB3's DDPG, and a cProfile of the full loop.

python benchmarks/profile_update.py [--env HalfCheetah-v5] [--updates 200] [--repeats 5] [--profile] [--ops]

``--ops`` counts, per update and for each variant, what does not depend on the machine's load: BLAS calls
(``mm``/``addmm``), batch-norm kernels, dispatcher calls (every ``aten::`` event, nested ones included), top-level
operator calls, and the process CPU time (``time.process_time``: less sensitive to other processes than wall time,
but still slowed by a busy sibling core's cache and memory traffic).
"""

import argparse
import collections
import cProfile
import importlib.util
import os
import pstats
import statistics
import time
from typing import Any

import torch as th
from stable_baselines3 import DDPG
from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm

from sb3_ddpg_ext import PaperDDPG
from sb3_ddpg_ext.paper_ddpg.buffers import Float32ReplayBuffer

# name: (PaperDDPG keyword arguments, policy_kwargs)
VARIANTS: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "PaperDDPG (default)": ({}, {}),
    "PaperDDPG, Optimizer.step": ({}, {}),  # AdamStep's lean path off: zero_grad, backward, Optimizer.step
    "PaperDDPG, Float32ReplayBuffer": ({"replay_buffer_class": Float32ReplayBuffer}, {}),
    "PaperDDPG, compile_update": ({"compile_update": True}, {}),
    "PaperDDPG, compile_update cpp_wrapper": ({"compile_update": "cpp_wrapper"}, {}),
    "PaperDDPG, per-tensor Adam": ({}, {"optimizer_kwargs": {}}),
    "PaperDDPG, no batch norm": ({}, {"batch_norm": False}),
}


def without_lean_adam(model: PaperDDPG) -> None:
    """AdamStep's lean path off: the model's cached AdamStep of each optimizer (made here) takes ``Optimizer.step``."""
    for optimizer in (model.critic.optimizer, model.actor.optimizer):
        model._adam_step(optimizer).lean = False


def op_counts(model: OffPolicyAlgorithm, updates: int = 50) -> dict[str, float]:
    """Operator counts per update from ``torch.profiler`` over ``updates`` updates (``train`` after warm-up)."""
    with th.profiler.profile(activities=[th.profiler.ProfilerActivity.CPU]) as prof:
        model.train(updates, 64)
    names = collections.Counter(e.name for e in prof.events())
    top = sum(1 for e in prof.events() if e.cpu_parent is None)
    per = {
        "BLAS": names["aten::mm"] + names["aten::addmm"] + names["aten::bmm"],
        "BN fwd": names["aten::native_batch_norm"] + names["aten::_native_batch_norm_legit"],
        "BN bwd": names["aten::native_batch_norm_backward"],
        "aten calls": sum(n for k, n in names.items() if k.startswith("aten::")),
        "top-level": top,
    }
    return {k: v / updates for k, v in per.items()}


def print_op_counts(models: dict[str, OffPolicyAlgorithm], updates: int) -> None:
    print("| variant | BLAS | BN fwd | BN bwd | aten calls | top-level calls | CPU ms/update (process_time) |")
    print("|---|---|---|---|---|---|---|")
    for name, model in models.items():
        counts = op_counts(model)
        cpu = []
        for _ in range(3):
            start = time.process_time()
            model.train(updates, 64)
            cpu.append((time.process_time() - start) * 1000 / updates)
        cells = " | ".join(f"{counts[k]:.0f}" for k in ("BLAS", "BN fwd", "BN bwd", "aten calls", "top-level"))
        print(f"| {name} | {cells} | {statistics.median(cpu):.2f} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default="HalfCheetah-v5")
    parser.add_argument("--updates", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--profile", action="store_true", help="cProfile 1000 env steps of PaperDDPG.learn")
    parser.add_argument("--ops", action="store_true", help="operator counts per update (load-independent)")
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), help="names from VARIANTS")
    parser.add_argument("--no-sbx", action="store_true", help="leave SBX's DDPG out even if sbx-rl is installed")
    args = parser.parse_args()
    th.set_num_threads(1)
    os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")  # SBX: 1 thread

    models: dict[str, OffPolicyAlgorithm] = {
        "SB3 DDPG": DDPG(
            "MlpPolicy",
            args.env,
            batch_size=64,
            tau=1e-3,
            buffer_size=10_000,
            learning_starts=64,
            policy_kwargs=dict(net_arch=[400, 300]),
            device="cpu",
        )
    }
    if importlib.util.find_spec("sbx") is not None and not args.no_sbx and not args.ops:
        import sbx  # one jitted function per train() call: the updates of the call in one XLA loop

        models["SBX DDPG"] = sbx.DDPG(
            "MlpPolicy",
            args.env,
            batch_size=64,
            tau=1e-3,
            buffer_size=10_000,
            learning_starts=64,
            policy_kwargs=dict(net_arch=[400, 300]),
        )
    for name in args.variants:
        kwargs, policy_kwargs = VARIANTS[name]
        variant = PaperDDPG("MlpPolicy", args.env, buffer_size=10_000, policy_kwargs=policy_kwargs, device="cpu", **kwargs)
        if name == "PaperDDPG, Optimizer.step":
            without_lean_adam(variant)
        models[name] = variant
    for name, model in models.items():
        model.learn(300)
        model.train(args.updates, 64)  # SBX jits one function per number of gradient steps: compile it here
        if model_compile := getattr(model, "_compiled_update", None):
            print(f"{name}: first compiled step took {model_compile.compile_seconds:.0f} s (compile)")
    if args.ops:
        print_op_counts(models, args.updates)
        return
    rates: dict[str, list[float]] = {name: [] for name in models}
    for _ in range(args.repeats):  # interleaved
        for name, model in models.items():
            start = time.perf_counter()
            model.train(args.updates, 64)
            rates[name].append(args.updates / (time.perf_counter() - start))
    sb3 = statistics.median(rates["SB3 DDPG"])
    sbx_rate = statistics.median(rates["SBX DDPG"]) if "SBX DDPG" in rates else None
    print(f"{args.env}, 1 thread, median of {args.repeats} x {args.updates} updates")
    for name, r in rates.items():
        rate = statistics.median(r)
        vs_sbx = f"  {rate / sbx_rate:.2f}x SBX" if sbx_rate else ""
        print(f"{name:40s} {rate:6.0f} updates/s  {1000 / rate:5.2f} ms/update  {rate / sb3:.2f}x SB3{vs_sbx}")
    if args.profile:
        model = models["PaperDDPG (default)"]
        profiler = cProfile.Profile()
        profiler.enable()
        model.learn(1000, reset_num_timesteps=False)
        profiler.disable()
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)


if __name__ == "__main__":
    main()
