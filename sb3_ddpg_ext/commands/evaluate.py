"""``sb3-ddpg evaluate``: noise-free episodes of a saved model on the env (and normalization) it was trained with."""

import argparse
from pathlib import Path


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from sb3_ddpg_ext import plots
    from sb3_ddpg_ext.envs import describe_spec, make_pixel_env, make_vec_env
    from sb3_ddpg_ext.models import evaluate_episodes, load_model, model_file, saved_env, trained_on_pixels
    from sb3_ddpg_ext.paper_ddpg import PaperDDPG
    from sb3_ddpg_ext.params import check_device
    from sb3_ddpg_ext.run import saved_normalization
    from sb3_ddpg_ext.rundir import writable_file

    model_path = model_file(Path(args.model))
    check_device(args.device)
    # The env it was trained on: its id, with the kwargs, time limit and wrappers it was made with (if not the id's),
    # and the pixel observations of section 7 if it acts on them (--pixels says so too).
    env_id, spec = (args.env, None) if args.env else saved_env(model_path, with_spec=not args.pixels)
    png = Path(args.histogram) if args.histogram else model_path.with_name(model_path.stem + "_returns.png")
    writable_file(plots.check_figure_path(png, "--histogram"), "--histogram")
    pixels = args.pixels
    if not pixels:
        env = make_vec_env(env_id, n_envs=1, seed=args.seed, spec=spec)
        # A model of the pixel observations, on an env whose own observations are something else: render them.
        pixels = trained_on_pixels(model_path) and env.observation_space != PaperDDPG.read_saved_data(model_path).get(
            "observation_space"
        )
        if pixels:
            env.close()
    if pixels:
        env = make_pixel_env(env_id, n_envs=1, seed=args.seed)
    env = saved_normalization(env, model_path)
    env_name = (describe_spec(spec) if spec else env_id) + (" from pixels" if pixels else "")
    model = load_model(model_path, env=env, seed=args.seed, device=args.device, buffer_size=1)  # no replay needed
    result = evaluate_episodes(model, env, args.episodes)
    returns = result.returns
    success = "" if result.success_rate is None else f", success rate {result.success_rate:.2f}"
    print(
        f"{env_name}, {args.episodes} episodes: mean {returns.mean():.2f}, std {returns.std():.2f}, "
        f"max {returns.max():.2f}, min {returns.min():.2f}, median {np.median(returns):.2f}{success}"
    )
    plots.return_histogram(returns, png, f"{model_path.name} on {env_name} (seed {args.seed})")
    print(f"histogram: {png}")
    return 0
