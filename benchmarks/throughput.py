"""Env steps per second of PaperDDPG vs SB3's DDPG (and SBX's, if installed) at the paper's settings.

One process, one torch thread, interleaved repeats, medians and ratios. Both run one update per env step
with 400-300 networks, batch 64, tau 1e-3, gamma 0.99, a 1e6 buffer and OU noise (theta 0.15, sigma 0.2, dt 1).

    python benchmarks/throughput.py [--envs Pendulum-v1 HalfCheetah-v5] [--steps 1000] [--repeats 5]
"""

import argparse
import functools
import importlib.util
import os
import platform
import statistics
import time
from collections.abc import Callable
from datetime import date
from typing import TypedDict

import torch as th
from gymnasium import spaces
from stable_baselines3 import DDPG
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.noise import OrnsteinUhlenbeckActionNoise
from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm
from stable_baselines3.common.vec_env import VecEnv

from sb3_ddpg_ext import PaperDDPG
from sb3_ddpg_ext.paper_ddpg.noise import paper_ou_noise


class PaperSettings(TypedDict):
    """The keyword arguments every implementation gets: the paper's buffer, batch, tau and gamma, one update per step."""

    buffer_size: int
    batch_size: int
    tau: float
    gamma: float
    train_freq: int
    gradient_steps: int


def paper_settings(batch_size: int = 64) -> PaperSettings:
    return PaperSettings(buffer_size=1_000_000, batch_size=batch_size, tau=1e-3, gamma=0.99, train_freq=1, gradient_steps=1)


def ou_noise(env: VecEnv) -> OrnsteinUhlenbeckActionNoise:
    assert isinstance(env.action_space, spaces.Box)  # DDPG's continuous actions
    n = env.action_space.shape[0]
    return paper_ou_noise(n, sigma=0.2, theta=0.15)


def paper_ddpg(env_id: str, n_envs: int = 1, batch_size: int = 64) -> PaperDDPG:
    env = make_vec_env(env_id, n_envs=n_envs, seed=0)
    return PaperDDPG("MlpPolicy", env, seed=0, device="cpu", **paper_settings(batch_size))


def paper_ddpg_compiled(env_id: str, n_envs: int = 1, batch_size: int = 64, compile_update: bool | str = True) -> PaperDDPG:
    env = make_vec_env(env_id, n_envs=n_envs, seed=0)
    return PaperDDPG("MlpPolicy", env, seed=0, device="cpu", compile_update=compile_update, **paper_settings(batch_size))


def sb3_ddpg(env_id: str, n_envs: int = 1, batch_size: int = 64) -> DDPG:
    env = make_vec_env(env_id, n_envs=n_envs, seed=0)
    return DDPG(
        "MlpPolicy",
        env,
        learning_rate=1e-3,
        learning_starts=batch_size,
        action_noise=ou_noise(env),
        seed=0,
        device="cpu",
        policy_kwargs=dict(net_arch=[400, 300]),
        **paper_settings(batch_size),
    )


def sbx_ddpg(env_id: str, n_envs: int = 1, batch_size: int = 64) -> OffPolicyAlgorithm:
    import sbx

    env = make_vec_env(env_id, n_envs=n_envs, seed=0)
    return sbx.DDPG(
        "MlpPolicy",
        env,
        learning_rate=1e-3,
        learning_starts=batch_size,
        action_noise=ou_noise(env),
        seed=0,
        policy_kwargs=dict(net_arch=[400, 300]),
        **paper_settings(batch_size),
    )


def steps_per_second(model: OffPolicyAlgorithm, steps: int) -> float:
    start = time.perf_counter()
    model.learn(steps, reset_num_timesteps=False)
    return steps / (time.perf_counter() - start)


# name -> (env_id, n_envs=..., batch_size=...) -> model
Makers = dict[str, Callable[..., OffPolicyAlgorithm]]


def measure(makers: Makers, env_id: str, steps: int, repeats: int, warmup: int, **kwargs: int) -> dict[str, float]:
    models = {name: make(env_id, **kwargs) for name, make in makers.items()}
    for model in models.values():
        model.learn(warmup)  # fills a batch, builds/compiles everything, starts the updates
    rates: dict[str, list[float]] = {name: [] for name in models}
    for _ in range(repeats):  # interleaved, so drifts of a shared machine hit every implementation alike
        for name, model in models.items():
            rates[name].append(steps_per_second(model, steps))
    return {name: statistics.median(r) for name, r in rates.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--envs", nargs="+", default=["Pendulum-v1", "HalfCheetah-v5"])
    parser.add_argument("--steps", type=int, default=1000, help="env steps per timed repeat")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--n-envs", type=int, nargs="+", default=[1])
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[64])
    parser.add_argument(
        "--compile-update",
        nargs="?",
        const="True",
        choices=["True", "cpp_wrapper"],
        help="add PaperDDPG with compile_update=True (or =cpp_wrapper)",
    )
    parser.add_argument(
        "--no-sbx",
        action="store_true",
        help="leave SBX out (e.g. to time the compiled variants in a process without JAX)",
    )
    args = parser.parse_args()

    th.set_num_threads(args.threads)
    if args.threads == 1:  # hold XLA (SBX) to one thread too; read when jax is first imported
        os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")
    makers: Makers = {"PaperDDPG": paper_ddpg, "SB3 DDPG": sb3_ddpg}
    if args.compile_update:
        mode = True if args.compile_update == "True" else args.compile_update
        makers["PaperDDPG compiled"] = functools.partial(paper_ddpg_compiled, compile_update=mode)
    if importlib.util.find_spec("sbx") is not None and not args.no_sbx:
        makers["SBX DDPG"] = sbx_ddpg
    print(
        f"# {date.today()} {platform.node()} {platform.processor() or platform.machine()}, torch {th.__version__}, "
        f"{args.threads} torch thread(s), {args.repeats} repeats x {args.steps} steps, medians"
    )
    ours = [n for n in makers if n.startswith("PaperDDPG")]
    theirs = [n for n in ("SB3 DDPG", "SBX DDPG") if n in makers]
    ratios = [(a, b) for a in ours for b in theirs]
    print(
        "| env | n_envs | batch | "
        + " | ".join(f"{n} steps/s" for n in makers)
        + " | "
        + " | ".join(f"{a} / {b.split()[0]}" for a, b in ratios)
        + " |"
    )
    print("|---" * (3 + len(makers) + len(ratios)) + "|")
    for env_id in args.envs:
        for n_envs in args.n_envs:
            for batch_size in args.batch_sizes:
                rates = measure(makers, env_id, args.steps, args.repeats, args.warmup, n_envs=n_envs, batch_size=batch_size)
                row = f"| {env_id} | {n_envs} | {batch_size} | " + " | ".join(f"{rates[n]:.0f}" for n in makers)
                row += " | " + " | ".join(f"{rates[a] / rates[b]:.2f}" for a, b in ratios) + " |"
                print(row, flush=True)


if __name__ == "__main__":
    main()
