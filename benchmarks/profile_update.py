"""Gradient updates per second (no env steps) of PaperDDPG variants vs SB3's DDPG, and a cProfile of the full loop.

python benchmarks/profile_update.py [--env HalfCheetah-v5] [--updates 200] [--repeats 5] [--profile]
"""

import argparse
import cProfile
import pstats
import statistics
import time

import torch as th
from stable_baselines3 import DDPG

from sb3_ddpg_ext import PaperDDPG

VARIANTS = {
    "PaperDDPG (default: fused Adam)": dict(),
    "PaperDDPG, per-tensor Adam": dict(optimizer_kwargs={}),
    "PaperDDPG, foreach Adam": dict(optimizer_kwargs={"foreach": True}),
    "PaperDDPG, no batch norm": dict(batch_norm=False),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default="HalfCheetah-v5")
    parser.add_argument("--updates", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--profile", action="store_true", help="cProfile 1000 env steps of PaperDDPG.learn")
    args = parser.parse_args()
    th.set_num_threads(1)

    models = {"SB3 DDPG": DDPG("MlpPolicy", args.env, batch_size=64, tau=1e-3, buffer_size=10_000, learning_starts=64,
                               policy_kwargs=dict(net_arch=[400, 300]), device="cpu")}  # fmt: skip
    for name, policy_kwargs in VARIANTS.items():
        models[name] = PaperDDPG("MlpPolicy", args.env, buffer_size=10_000, policy_kwargs=policy_kwargs, device="cpu")
    for model in models.values():
        model.learn(300)
    rates: dict[str, list[float]] = {name: [] for name in models}
    for _ in range(args.repeats):  # interleaved
        for name, model in models.items():
            start = time.perf_counter()
            model.train(args.updates, 64)
            rates[name].append(args.updates / (time.perf_counter() - start))
    sb3 = statistics.median(rates["SB3 DDPG"])
    print(f"{args.env}, 1 thread, median of {args.repeats} x {args.updates} updates")
    for name, r in rates.items():
        print(f"{name:34s} {statistics.median(r):6.0f} updates/s  {statistics.median(r) / sb3:.2f}x SB3")
    if args.profile:
        model = models["PaperDDPG (default: fused Adam)"]
        profiler = cProfile.Profile()
        profiler.enable()
        model.learn(1000, reset_num_timesteps=False)
        profiler.disable()
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)


if __name__ == "__main__":
    main()
