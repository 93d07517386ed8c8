"""A study spec (``tuning/*.yaml``): environment, budget, evaluation schedule, seeds, search space, sampler and pruner."""

import inspect
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from sb3_ddpg_ext.errors import UserError
from sb3_ddpg_ext.paper_ddpg.checks import NUMBERS
from sb3_ddpg_ext.params import check_names, parse_value, read_config_values
from sb3_ddpg_ext.preflight import check_run_budget, check_values
from sb3_ddpg_ext.resources import find_spec
from sb3_ddpg_ext.search_space import DEFAULT_SEARCH_SPACE, PAPER_PARAMS, Range

SAMPLERS = ("tpe", "random", "gp")
PRESETS = ("her-paper",)
PRUNERS = ("median", "halving", "none")


@dataclass
class StudySpec:
    """One study. Every check runs at construction, so a bad spec fails before any storage is touched."""

    env_id: str
    n_trials: int = 20
    timesteps: int = 10_000
    n_seeds: int = 1
    seed: int = 0
    eval_every: int = 2_000
    eval_episodes: int = 5
    search_space: dict[str, Range] = field(default_factory=lambda: dict(DEFAULT_SEARCH_SPACE))
    fixed: dict[str, Any] = field(default_factory=dict)
    sampler: dict[str, Any] = field(default_factory=lambda: {"name": "tpe", "n_startup_trials": 5})
    pruner: dict[str, Any] = field(default_factory=lambda: {"name": "median", "n_startup_trials": 5, "n_warmup_steps": 0})
    study_name: str | None = None
    # What to train: the policy alias (default: from the observation space), a named preset of settings under
    # ``fixed`` ("her-paper": sb3_ddpg_ext.presets), gymnasium wrappers ("module.Class" or {"module.Class": kwargs}),
    # and SB3's VecNormalize (true, or its keyword arguments; the preset's when it has one). The replay buffer is named
    # in ``fixed`` (replay_buffer_class: HerReplayBuffer, replay_buffer_kwargs: {...}); goal-conditioned envs get HER
    # when it names none. The objective is the success rate where the env reports one (info["is_success"]).
    policy: str | None = None
    preset: str | None = None
    env_wrapper: list[Any] = field(default_factory=list)
    normalize: bool | dict[str, Any] | None = None

    def __post_init__(self) -> None:
        for name in ("n_trials", "timesteps", "n_seeds", "seed", "eval_every", "eval_episodes"):
            value = parse_value(getattr(self, name)) if isinstance(getattr(self, name), str) else getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not float(value).is_integer():
                raise UserError(f"{name}={getattr(self, name)!r} must be an integer")
            setattr(self, name, int(value))  # 1e4 (a string to YAML 1.1) is 10000
            if value < (0 if name == "seed" else 1):
                raise UserError(f"{name}={value} must be >= {0 if name == 'seed' else 1}")
        check_names(self.search_space, "search_space")
        fixed = self.fixed_values()  # names, types and values, as -p checks them
        for name, r in self.search_space.items():
            if name in PAPER_PARAMS and not r.low <= PAPER_PARAMS[name] <= r.high:
                raise UserError(
                    f"search_space: {name} range [{r.low}, {r.high}] must contain the paper's {PAPER_PARAMS[name]}"
                )
            if name in self.fixed:
                raise UserError(f"'{name}' is both fixed and in the search space: keep it in one of them")
            if name not in NUMBERS:
                raise UserError(f"search_space: {name} is not a number; search numbers only, and set {name} under fixed:")
            for bound in (r.low, r.high):  # each bound as a value of the parameter, with the fixed values
                check_values({**self.preset_values(), **fixed, name: bound}, f"search_space.{name}")
        # The worst case of the search space: the highest learning_starts and batch_size it may sample.
        worst: dict[str, Any] = {
            k: self.search_space[k].high for k in ("learning_starts", "batch_size") if k in self.search_space
        }
        planned = check_values({**self.preset_values(), **fixed, **worst}, "search_space")
        check_run_budget(planned, self.timesteps, "the spec's timesteps")
        if self.timesteps % self.eval_every:
            raise UserError(f"timesteps={self.timesteps} must be a multiple of eval_every={self.eval_every}")
        if self.sampler.get("name") not in SAMPLERS:
            raise UserError(f"sampler '{self.sampler.get('name')}' is not one of {', '.join(SAMPLERS)}")
        if self.preset not in (None, *PRESETS):
            raise UserError(f"preset '{self.preset}' is not one of {', '.join(PRESETS)}")
        if self.policy not in (None, "MlpPolicy", "CnnPolicy", "MultiInputPolicy"):
            raise UserError(f"policy '{self.policy}' is not one of MlpPolicy, CnnPolicy, MultiInputPolicy")
        if self.pruner.get("name") not in PRUNERS:
            raise UserError(f"pruner '{self.pruner.get('name')}' is not one of {', '.join(PRUNERS)}")

    def check_env(self) -> None:
        """The env can be made and has continuous actions, and ``fixed``'s buffer settings fit the buffer its trials
        will have (HER for a goal-conditioned env that names none)."""
        from stable_baselines3 import HerReplayBuffer

        from sb3_ddpg_ext.envs import check_env

        goal_conditioned = check_env(self.env_id)
        values = {**self.preset_values(), **self.fixed_values()}
        values.setdefault("replay_buffer_class", HerReplayBuffer if goal_conditioned else None)
        if values["replay_buffer_class"] is HerReplayBuffer and not goal_conditioned:
            raise UserError(f"{self.env_id} is not goal-conditioned: HerReplayBuffer (fixed or the preset's) needs one")
        check_values(values, "fixed")

    def fixed_values(self) -> dict[str, Any]:
        """``fixed`` read as ``-p`` values are (``1e-4``, a string to YAML 1.1, is a number; ``HerReplayBuffer`` the
        class), names, types and values checked; ``fixed`` itself keeps the text, as the study stores it."""
        return read_config_values(self.fixed, "fixed")

    def preset_values(self) -> dict[str, Any]:
        """The preset's values under ``fixed`` (its noise stands for the one built per env)."""
        if self.preset != "her-paper":
            return {}
        from sb3_ddpg_ext.presets import HER_PAPER, NOISE_STD

        return {**HER_PAPER, "action_noise": f"normal:{NOISE_STD}"}

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "spec") -> "StudySpec":
        known = set(inspect.signature(cls).parameters)
        unknown = set(data) - known
        if unknown:
            raise UserError(f"{source}: unknown key(s) {', '.join(sorted(unknown))}; valid keys: {', '.join(sorted(known))}")
        data = dict(data)
        if "search_space" in data:
            space = {}
            for name, r in (data["search_space"] or {}).items():
                try:
                    space[name] = Range(float(r["low"]), float(r["high"]), bool(r.get("log", False)))
                except (KeyError, TypeError) as e:
                    raise UserError(f"{source}: search_space.{name} needs low, high and optional log, got {r!r}") from e
                except ValueError as e:
                    raise UserError(f"{source}: search_space.{name}: {e}") from e
            if not space:
                raise UserError(f"{source}: search_space is empty")
            data["search_space"] = space
        return cls(**data)

    @classmethod
    def from_yaml(cls, name_or_path: str | Path) -> "StudySpec":
        """A spec file, or the name of a shipped one (``pendulum``)."""
        path = find_spec(str(name_or_path))
        return cls.from_dict(yaml.safe_load(path.read_text()) or {}, source=str(path))

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["search_space"] = {k: asdict(v) for k, v in self.search_space.items()}
        return data

    @property
    def name(self) -> str:
        return self.study_name or f"paper_ddpg-{self.env_id}"
