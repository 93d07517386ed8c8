"""Learning curves of PaperDDPG (batch norm on, the paper; and off) and SB3's DDPG at the paper's settings.

Deterministic evaluation every K steps (SB3's EvalCallback, seeded eval env), several seeds, one torch thread.
Prints the curve per config (mean over seeds) and the final return's IQM with a 95% bootstrap CI (rliable).

    python benchmarks/learning.py --env Pendulum-v1 --steps 20000 --eval-every 2000 --seeds 0 1 2
"""

import argparse
import platform
import tempfile
from datetime import date

import numpy as np
import torch as th
from stable_baselines3 import DDPG
from stable_baselines3.common.callbacks import EvalCallback
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.noise import OrnsteinUhlenbeckActionNoise

from sb3_ddpg_ext import PaperDDPG
from sb3_ddpg_ext.stats import iqm_ci


def make_model(config: str, env_id: str, seed: int):
    env = make_vec_env(env_id, seed=seed)
    if config == "paper":
        return PaperDDPG("MlpPolicy", env, seed=seed)
    if config == "paper-no-bn":
        return PaperDDPG("MlpPolicy", env, seed=seed, policy_kwargs=dict(batch_norm=False))
    if config == "sb3-ddpg":  # SB3's DDPG (action at the critic input, one lr, no L2, no BN) at the paper's numbers
        n = env.action_space.shape[0]
        noise = OrnsteinUhlenbeckActionNoise(np.zeros(n), 0.2 * np.ones(n), theta=0.15, dt=1.0)
        return DDPG(
            "MlpPolicy",
            env,
            learning_rate=1e-3,
            batch_size=64,
            tau=1e-3,
            learning_starts=64,
            action_noise=noise,
            seed=seed,
            policy_kwargs=dict(net_arch=[400, 300]),
        )
    raise ValueError(f"unknown config {config}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default="Pendulum-v1")
    parser.add_argument("--steps", type=int, default=20_000)
    parser.add_argument("--eval-every", type=int, default=2_000)
    parser.add_argument("--eval-episodes", type=int, default=10)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--configs", nargs="+", default=["paper", "paper-no-bn", "sb3-ddpg"])
    args = parser.parse_args()
    th.set_num_threads(1)

    print(
        f"# {date.today()} {platform.node()}, torch {th.__version__}, 1 thread; {args.env}, {args.steps} steps, "
        f"seeds {args.seeds}, eval every {args.eval_every} ({args.eval_episodes} episodes, deterministic)"
    )
    finals: dict[str, np.ndarray] = {}
    for config in args.configs:
        curves = []
        for seed in args.seeds:
            log_path = tempfile.mkdtemp(prefix="learning-")  # EvalCallback keeps its results only with a log_path
            eval_cb = EvalCallback(
                make_vec_env(args.env, seed=seed + 10_000),
                eval_freq=args.eval_every,
                n_eval_episodes=args.eval_episodes,
                log_path=log_path,
                verbose=0,
            )
            make_model(config, args.env, seed).learn(args.steps, callback=eval_cb)
            curves.append([np.mean(r) for r in eval_cb.evaluations_results])
            print(f"{config} seed {seed}: " + " ".join(f"{v:.0f}" for v in curves[-1]), flush=True)
        curves_arr = np.array(curves)
        finals[config] = curves_arr[:, -1:]
        print(f"{config} mean curve: " + " ".join(f"{v:.0f}" for v in curves_arr.mean(axis=0)), flush=True)
    print("\n| config | final return, mean over seeds | IQM | 95% CI |\n|---|---|---|---|")
    for config in args.configs:
        iqm, low, high = iqm_ci(finals[config])
        print(f"| {config} | {finals[config].mean():.0f} | {iqm:.0f} | [{low:.0f}, {high:.0f}] |")


if __name__ == "__main__":
    main()
