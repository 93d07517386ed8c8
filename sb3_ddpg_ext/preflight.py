"""Checks of a user's values before anything is built, for the command line, zoo configs and study specs alike.

The values themselves (ranges, and arguments that would have no effect together) are PaperDDPG's own checks
(``paper_ddpg/checks.py``), run here on the values as they enter; the budget check refuses a run in which no
gradient step can happen. Each problem becomes one UserError line naming where the value came from.
"""

from typing import Any

from stable_baselines3.common.noise import ActionNoise

from sb3_ddpg_ext.errors import UserError
from sb3_ddpg_ext.paper_ddpg import PaperDDPG
from sb3_ddpg_ext.paper_ddpg.budget import check_budget
from sb3_ddpg_ext.paper_ddpg.noise import noise_from_text


def _one_line(error: Exception) -> str:
    return str(error).strip().splitlines()[0].removeprefix("PaperDDPG: ")


def make_action_noise(form: str, action_shape: int | tuple[int, ...]) -> ActionNoise:
    """A short-form ``action_noise`` (``normal:SIGMA``, ``ou:SIGMA``), the OU one with the paper's theta."""
    return noise_from_text(form, action_shape, PaperDDPG.hyperparameter_defaults()["ou_theta"])


def check_values(params: dict[str, Any], where: str) -> dict[str, Any]:
    """``params`` (typed already) through PaperDDPG's value checks, the others at their defaults; returns them with
    integral floats of integer arguments as ints. A short-form ``action_noise`` ("normal:0.1") counts as an explicit
    noise, as it will be one."""
    values = dict(params)
    if isinstance(values.get("action_noise"), str):  # the noise it names, for one action dimension
        values["action_noise"] = make_action_noise(values["action_noise"], 1)
    try:
        checked = PaperDDPG.check_hyperparameters(**values)
    except (TypeError, ValueError) as e:
        raise UserError(f"{where}: {_one_line(e)}") from None
    return {k: params[k] if k == "action_noise" else v for k, v in checked.items()}


def check_run_budget(params: dict[str, Any], timesteps: int, where: str, n_envs: int = 1) -> None:
    """Refuse ``timesteps`` env steps in which no gradient step can happen with ``params`` (the others at PaperDDPG's
    defaults), naming the setting; ``where`` names the budget (``--timesteps``, a spec's ``timesteps``)."""
    hp = {**PaperDDPG.hyperparameter_defaults(), **params}
    try:
        check_budget(timesteps, hp["learning_starts"], hp["batch_size"], hp["train_freq"], n_envs, budget=where)
    except ValueError as e:
        raise UserError(_one_line(e)) from None


def check_planned_run(
    params: dict[str, Any],
    timesteps: int,
    n_envs: int,
    pixels: bool,
    preset: str | None,
    her: bool,
    her_flag: bool | None = None,
) -> None:
    """The values ``sb3-ddpg train`` will train with, as far as they are known before the model is built (the pixel
    and preset values under the ``-p`` ones, HER as :func:`check_her_options` found it): checked together, and
    refused if no gradient step can happen in ``timesteps``. The her-paper preset's HER needs goals: without them,
    only ``--no-her`` (``her_flag`` False) takes the preset's other values."""
    from stable_baselines3 import HerReplayBuffer

    from sb3_ddpg_ext.presets import HER_PAPER, NOISE_STD, RLLAB

    preset_values = {"her-paper": {**HER_PAPER, "action_noise": f"normal:{NOISE_STD}"}, "rllab": RLLAB}.get(preset or "", {})
    planned = {**(PaperDDPG.pixel_hyperparameters() if pixels else {}), **preset_values, **params}
    if her:
        planned["replay_buffer_class"] = HerReplayBuffer
    elif planned.get("replay_buffer_class") is HerReplayBuffer:  # the preset's HER, off for this env
        if her_flag is not False:
            raise UserError(
                f"--preset {preset} is the HER paper's DDPG, with HER, for goal-conditioned envs (FetchReach-v4): "
                "this env has no goals; drop --preset, or add --no-her for its other values without HER"
            )
        planned = {k: v for k, v in planned.items() if k not in ("replay_buffer_class", "replay_buffer_kwargs")}
    planned.setdefault("replay_buffer_class", None)  # the buffer is known now: its kwargs are checked
    check_run_budget(check_values(planned, "-p"), timesteps, "--timesteps", n_envs)


def check_her_options(
    env_id: str, pixels: bool, her: bool | None, params: dict[str, Any], strategy: str | None, n_goals: int | None
) -> bool:
    """``--her``/``--no-her``, ``--her-strategy``, ``--her-n-goals`` and ``-p replay_buffer_class`` against the env
    (made once, and checked: an unknown id or discrete actions stop here) and each other: each takes effect or is
    refused. Returns whether the run uses HER."""
    from stable_baselines3 import HerReplayBuffer

    from sb3_ddpg_ext.envs import check_env

    goal_conditioned = check_env(env_id) and not pixels  # pixel observations have no goals
    buffer = params.get("replay_buffer_class")
    if buffer is HerReplayBuffer and her is False:
        raise UserError("--no-her contradicts -p replay_buffer_class=HerReplayBuffer: give one of them")
    if her and buffer not in (None, HerReplayBuffer):
        raise UserError(f"--her contradicts -p replay_buffer_class={buffer.__name__}: give one of them")
    on = buffer is HerReplayBuffer or (her if her is not None else goal_conditioned and buffer is None)
    if on and not goal_conditioned:
        what = "pixel observations" if pixels else f"{env_id} has no goals"
        raise UserError(
            f"HER needs a goal-conditioned env (Dict observations with observation, achieved_goal and desired_goal, "
            f"and compute_reward): {what}"
        )
    given = params.get("replay_buffer_kwargs") or {}
    for flag, key, value in (
        ("--her-strategy", "goal_selection_strategy", strategy),
        ("--her-n-goals", "n_sampled_goal", n_goals),
    ):
        if value is not None and key in given and given[key] != value:
            raise UserError(f"{flag} {value} contradicts -p replay_buffer_kwargs {key}={given[key]!r}: give one of them")
    flags = [flag for flag, value in (("--her-strategy", strategy), ("--her-n-goals", n_goals)) if value is not None]
    if flags and not on:
        why = (
            "--no-her"
            if her is False
            else (f"-p replay_buffer_class={buffer.__name__}" if buffer else f"{env_id} has no goals")
        )
        raise UserError(f"{flags[0]} sets HER, which is off here ({why}): drop it")
    return bool(on)
