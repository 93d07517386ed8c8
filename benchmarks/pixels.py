"""Learning from pixels against the low-dimensional agent at the same budget of simulator steps (paper, Table 2).

The pixel agent acts every 3 simulator steps (action repeat 3), so at one simulator-step budget it makes a third of
the decisions and a third of the gradient updates; the returns of both sum the same per-simulator-step rewards (the
episodes are 200 simulator steps on Pendulum-v1). Runs are sequential in this one process, one torch thread; each
is a run of the run layer (``sb3_ddpg_ext.run``: evaluation after the updates of the step it is labelled with, the
evaluation env seeded by the step) and rewrites ``<results>/<task>/<config>/seed<k>.csv`` after each evaluation.

    python benchmarks/pixels.py run --task Pendulum-v1 --sim-steps 18000 --seeds 0 1 --configs pixels low-dim-no-bn paper
    python benchmarks/pixels.py report --task Pendulum-v1 --out docs/pixels_pendulum.png
"""

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results" / "pixels"

# config -> (pixel observations, PaperDDPG arguments over the defaults, simulator steps per agent step). The pixel
# config takes the paper's pixel settings (CnnPolicy, batch 16, uint8 replay) from the run layer (RunConfig.pixels).
CONFIGS: dict[str, tuple[bool, dict[str, Any], int]] = {
    "pixels": (True, {}, 3),
    "paper": (False, {}, 1),
    "low-dim-no-bn": (False, {"policy_kwargs": dict(batch_norm=False)}, 1),
}


def run_one(task: str, config: str, seed: int, sim_steps: int, n_evals: int, eval_episodes: int, results: Path) -> None:
    """One run through the run layer (``sb3_ddpg_ext.run.train``, as ``sb3-ddpg train``): its evaluation CSV (agent
    steps in ``timesteps``) is written to ``<results>/<task>/<config>/seed<k>.csv`` after each evaluation."""
    import torch as th

    from sb3_ddpg_ext.run import RunConfig, train

    th.set_num_threads(1)
    pixels, params, repeat = CONFIGS[config]
    agent_steps = sim_steps // repeat
    eval_every = max(agent_steps // n_evals, 1)
    out = results / task / config / f"seed{seed}.csv"
    out.parent.mkdir(parents=True, exist_ok=True)
    run = RunConfig(
        task, agent_steps, seed=seed, params=params, pixels=pixels, eval_every=eval_every, eval_episodes=eval_episodes
    )
    start = time.time()
    with tempfile.TemporaryDirectory(prefix="pixels-") as folder:  # best_model.zip and the .npz are not kept
        result = train(run, Path(folder), eval_csv=out)
    if result.stopped is not None:
        print(f"{task} {config} seed {seed}: {result.stopped}", flush=True)
        return
    out.with_suffix(".done").write_text(f"{time.time() - start:.0f} s, {agent_steps} agent steps\n")


def _sim_steps(run: np.ndarray, config: str) -> np.ndarray:
    """Simulator steps of each evaluation: CSVs before the run layer recorded them, later ones record agent steps."""
    if "sim_steps" in (run.dtype.names or ()):
        return run["sim_steps"]
    return run["timesteps"] * CONFIGS[config][2]


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
        x = _sim_steps(runs[0], config_dir.name)[:n]
        y = np.stack([r["mean_return"][:n] for r in runs])
        ax.plot(x, y.mean(0), label=f"{config_dir.name} ({len(runs)} seeds)")
        ax.fill_between(x, y.min(0), y.max(0), alpha=0.2)
        final = ", ".join(f"{r['mean_return'][-1]:.0f} @ {int(_sim_steps(r, config_dir.name)[-1])}" for r in runs)
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
    if args.command == "report":  # the figure's format comes from --out's extension: checked before any result is read
        from sb3_ddpg_ext.errors import UserError
        from sb3_ddpg_ext.plots import check_figure_path

        try:
            check_figure_path(args.out, "--out")
        except UserError as e:
            parser.error(str(e))
    if args.command == "run":
        for seed in args.seeds:
            for config in args.configs:
                run_one(args.task, config, seed, args.sim_steps, args.n_evals, args.eval_episodes, args.results)
    else:
        report(args.task, args.results, args.out)


if __name__ == "__main__":
    main()
