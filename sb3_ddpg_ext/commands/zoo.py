"""``sb3-ddpg zoo``: rl-zoo3's train, enjoy and optimize with the paper_ddpg algorithm (``sb3_ddpg_ext.zoo``)."""

import argparse
from pathlib import Path

from sb3_ddpg_ext.commands import at_least, require_extra
from sb3_ddpg_ext.errors import UserError


def run(args: argparse.Namespace) -> int:
    require_extra("zoo", "rl_zoo3")
    import torch as th

    zoo_args, threads = take_threads(args.zoo_args)
    th.set_num_threads(threads)
    if zoo_args[:1] == ["optimize"]:
        storage = next((a.split("=", 1)[1] for a in zoo_args if a.startswith("--storage=")), None)
        if "--storage" in zoo_args[:-1]:
            storage = zoo_args[zoo_args.index("--storage") + 1]
        if storage is not None and "://" in storage:  # rl-zoo3 opens it only after building everything
            require_extra("tune", "optuna")
            from sb3_ddpg_ext.tune.storage import open_storage

            open_storage(storage, Path.cwd())
    from sb3_ddpg_ext import zoo

    return zoo.main(zoo_args)


def take_threads(zoo_args: list[str]) -> tuple[list[str], int]:
    """``--threads N`` (default 1) taken out of the arguments handed to rl-zoo3 (whose own flag is --num-threads)."""
    rest, threads, i = [], 1, 0
    while i < len(zoo_args):
        arg = zoo_args[i]
        if arg == "--threads" or arg.startswith("--threads="):
            value = arg.partition("=")[2] if "=" in arg else (zoo_args[i + 1] if i + 1 < len(zoo_args) else "")
            try:
                threads = at_least(1)(value)
            except argparse.ArgumentTypeError as e:
                raise UserError(f"--threads: {e}") from None
            i += 1 if "=" in arg else 2
            continue
        rest.append(arg)
        i += 1
    return rest, threads
