"""Learning from pixels against the low-dimensional agent at the same budget of simulator steps (paper, Table 2).

The pixel agent acts every 3 simulator steps (action repeat 3), so at one simulator-step budget it makes a third of
the decisions and a third of the gradient updates; the returns of both sum the same per-simulator-step rewards (the
episodes are 200 simulator steps on Pendulum-v1). Runs are sequential in this one process, one torch thread; each
appends its evaluations to ``<results>/<task>/<config>/seed<k>.csv`` as it goes.

    python benchmarks/pixels.py run --task Pendulum-v1 --sim-steps 18000 --seeds 0 1 --configs pixels low-dim-no-bn paper
    python benchmarks/pixels.py report --task Pendulum-v1 --out docs/pixels_pendulum.png
"""

import argparse
import csv
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results" / "pixels"
HEADER = ["sim_steps", "agent_steps", "mean_return", "std_return", "episodes", "wall_s"]


def pixels(env_id: str, seed: int, n_envs: int = 1) -> Any:
    from sb3_ddpg_ext.envs import make_pixel_env

    return make_pixel_env(env_id, n_envs=n_envs, seed=seed)


def low_dim(env_id: str, seed: int, n_envs: int = 1) -> Any:
    from sb3_ddpg_ext.envs import make_vec_env

    return make_vec_env(env_id, n_envs=n_envs, seed=seed)


# config -> (env maker, PaperDDPG arguments, simulator steps per agent step)
CONFIGS: dict[str, tuple[Callable, Callable[[], dict[str, Any]], int]] = {
    "pixels": (pixels, lambda: {"policy": "CnnPolicy", **_pixel_hyperparameters()}, 3),
    "paper": (low_dim, lambda: {"policy": "MlpPolicy"}, 1),
    "low-dim-no-bn": (low_dim, lambda: {"policy": "MlpPolicy", "policy_kwargs": dict(batch_norm=False)}, 1),
}


def _pixel_hyperparameters() -> dict[str, Any]:
    from sb3_ddpg_ext import PaperDDPG

    return PaperDDPG.pixel_hyperparameters()


def run_one(task: str, config: str, seed: int, sim_steps: int, n_evals: int, eval_episodes: int, results: Path) -> None:
    import torch as th
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.evaluation import evaluate_policy

    from sb3_ddpg_ext import PaperDDPG

    th.set_num_threads(1)
    make_env, hyperparameters, repeat = CONFIGS[config]
    agent_steps = sim_steps // repeat
    eval_every = max(agent_steps // n_evals, 1)
    out = results / task / config / f"seed{seed}.csv"
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", newline="") as f:
        csv.writer(f).writerow(HEADER)
    start = time.time()
    eval_env = make_env(task, seed + 10_000)

    class Evaluate(BaseCallback):
        def _on_step(self) -> bool:
            if self.num_timesteps % eval_every == 0:
                returns, _ = evaluate_policy(
                    self.model, eval_env, n_eval_episodes=eval_episodes, deterministic=True, return_episode_rewards=True
                )
                row = [
                    self.num_timesteps * repeat,
                    self.num_timesteps,
                    float(np.mean(returns)),
                    float(np.std(returns)),
                    len(returns),
                    time.time() - start,
                ]
                with out.open("a", newline="") as f:
                    csv.writer(f).writerow([f"{v:.2f}" if isinstance(v, float) else v for v in row])
                print(task, config, seed, *row, flush=True)
            return True

    kwargs = hyperparameters()
    model = PaperDDPG(kwargs.pop("policy"), make_env(task, seed), seed=seed, **kwargs)
    model.learn(agent_steps, callback=Evaluate())
    out.with_suffix(".done").write_text(f"{time.time() - start:.0f} s, {agent_steps} agent steps\n")


def report(task: str, results: Path, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    print("| config | seeds | final return (per seed) | best return (per seed) | wall s (per seed) |")
    print("|---|---|---|---|---|")
    for config_dir in sorted((results / task).iterdir()):
        runs = [np.genfromtxt(p, delimiter=",", names=True) for p in sorted(config_dir.glob("seed*.csv"))]
        runs = [np.atleast_1d(r) for r in runs if r.size]
        if not runs:
            continue
        n = min(len(r) for r in runs)
        x = runs[0]["sim_steps"][:n]
        y = np.stack([r["mean_return"][:n] for r in runs])
        ax.plot(x, y.mean(0), label=f"{config_dir.name} ({len(runs)} seeds)")
        ax.fill_between(x, y.min(0), y.max(0), alpha=0.2)
        final = ", ".join(f"{r['mean_return'][-1]:.0f} @ {int(r['sim_steps'][-1])}" for r in runs)
        best = ", ".join(f"{r['mean_return'].max():.0f}" for r in runs)
        wall = ", ".join(f"{r['wall_s'][-1]:.0f}" for r in runs)
        print(f"| {config_dir.name} | {len(runs)} | {final} | {best} | {wall} |")
    ax.set_xlabel("simulator steps")
    ax.set_ylabel("deterministic evaluation return")
    ax.set_title(f"PaperDDPG on {task}: pixels vs low-dim (mean; band: min-max of seeds)", fontsize=10)
    ax.legend()
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    print(f"wrote {out}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    run_p = sub.add_parser("run")
    run_p.add_argument("--task", default="Pendulum-v1")
    run_p.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    run_p.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    run_p.add_argument("--sim-steps", type=int, default=18_000, help="simulator steps per run (agent steps x repeat)")
    run_p.add_argument("--n-evals", type=int, default=10)
    run_p.add_argument("--eval-episodes", type=int, default=5)
    run_p.add_argument("--results", type=Path, default=RESULTS)
    rep_p = sub.add_parser("report")
    rep_p.add_argument("--task", default="Pendulum-v1")
    rep_p.add_argument("--results", type=Path, default=RESULTS)
    rep_p.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    if args.command == "run":
        for seed in args.seeds:
            for config in args.configs:
                run_one(args.task, config, seed, args.sim_steps, args.n_evals, args.eval_episodes, args.results)
    else:
        report(args.task, args.results, args.out)


if __name__ == "__main__":
    main()
