"""Rollout side alone: env steps/s of PaperDDPG.learn with train() stubbed out, lean action path vs SB3's predict path.

Interleaved repeats in one process, one torch thread, medians. ``--profile`` adds a cProfile of the lean path.

    python benchmarks/profile_rollout.py [--env HalfCheetah-v5] [--steps 2000] [--repeats 5] [--profile]
"""

import argparse
import cProfile
import pstats
import statistics
import time

import torch as th
from stable_baselines3.td3 import TD3

from sb3_ddpg_ext import PaperDDPG


class RolloutOnly(PaperDDPG):
    """PaperDDPG with ``train()`` stubbed out: the rollout side only, PaperDDPG's lean ``_sample_action``."""

    def train(self, gradient_steps: int, batch_size: int = 64) -> None:
        pass


class SB3PredictPath(RolloutOnly):
    """The same with SB3's action path (``OffPolicyAlgorithm._sample_action``, through ``predict``)."""

    _sample_action = TD3._sample_action


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default="HalfCheetah-v5")
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    th.set_num_threads(1)

    models: dict[str, RolloutOnly] = {}
    for name, algorithm in (("lean _sample_action", RolloutOnly), ("SB3 predict path", SB3PredictPath)):
        model = algorithm("MlpPolicy", args.env, buffer_size=100_000, seed=0, device="cpu")
        model.learn(100)
        models[name] = model
    rates: dict[str, list[float]] = {name: [] for name in models}
    for _ in range(args.repeats):
        for name, model in models.items():
            start = time.perf_counter()
            model.learn(args.steps, reset_num_timesteps=False)
            rates[name].append(args.steps / (time.perf_counter() - start))
    base = statistics.median(rates["SB3 predict path"])
    print(f"{args.env}, 1 thread, train() stubbed, median of {args.repeats} x {args.steps} env steps")
    for name, r in rates.items():
        m = statistics.median(r)
        print(f"{name:22s} {m:7.0f} steps/s  {1e3 / m:.3f} ms/step  {m / base:.2f}x")
    if args.profile:
        profiler = cProfile.Profile()
        profiler.enable()
        models["lean _sample_action"].learn(args.steps, reset_num_timesteps=False)
        profiler.disable()
        pstats.Stats(profiler).sort_stats("tottime").print_stats(20)


if __name__ == "__main__":
    main()
