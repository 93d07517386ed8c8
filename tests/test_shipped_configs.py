"""What the package ships is right, checked in the files themselves (no extra needed): the rl-zoo3 configs
(zoo_configs/*.yml) hold the paper's values, and every study spec (tuning/*.yaml) is valid. Running them is tested
with their commands: test_zoo.py, test_tuning.py."""

import pytest
import yaml
from helpers import REPO, missing

from sb3_ddpg_ext.envs import check_env_id
from sb3_ddpg_ext.search_space import PAPER_PARAMS
from sb3_ddpg_ext.tune.spec import StudySpec

CONFIG = REPO / "zoo_configs" / "paper_ddpg.yml"
ENTRIES = yaml.safe_load(CONFIG.read_text())
SPECS = sorted((REPO / "tuning").glob("*.yaml"))

# Lillicrap et al. (2015), section 7, written out here so that the config cannot drift silently.
PAPER = {
    "actor_learning_rate": 1e-4,
    "critic_learning_rate": 1e-3,
    "critic_weight_decay": 1e-2,
    "gamma": 0.99,
    "tau": 1e-3,
    "batch_size": 64,
    "buffer_size": 1_000_000,
    "learning_starts": 0,
    "train_freq": 1,
    "gradient_steps": 1,
    "ou_sigma": 0.2,
    "ou_theta": 0.15,
    "policy_kwargs": "dict(net_arch=[400, 300], batch_norm=True, action_input_layer=1)",
}
# Deviations the config makes visibly, each with a comment on its line.
OVERRIDES = {("MountainCarContinuous-v0", "ou_sigma"): 0.5}
ENVS = [
    "Pendulum-v1",
    "MountainCarContinuous-v0",
    "LunarLanderContinuous-v3",
    "BipedalWalker-v3",
    "HalfCheetah-v5",
    "Hopper-v5",
    "Walker2d-v5",
    "Ant-v5",
    "Reacher-v5",
    "InvertedPendulum-v5",
    "InvertedDoublePendulum-v5",
]


def test_config_has_every_environment_with_the_paper_values() -> None:
    assert sorted(ENTRIES) == sorted(ENVS)
    lines = CONFIG.read_text().splitlines()
    for env_id, entry in ENTRIES.items():
        assert entry["policy"] == "MlpPolicy"
        for key, paper_value in PAPER.items():
            assert entry[key] == OVERRIDES.get((env_id, key), paper_value), (env_id, key)
        assert not {"noise_type", "noise_std", "learning_rate"} & set(entry)
    for (env_id, key), value in OVERRIDES.items():
        assert any(line.strip().startswith(f"{key}: {value}") and "# override" in line for line in lines), (env_id, key)


def test_tuned_zoo_config_is_a_full_entry() -> None:
    entry = yaml.safe_load(CONFIG.with_name("paper_ddpg_tuned.yml").read_text())["Pendulum-v1"]
    assert set(PAPER) - {"policy_kwargs"} <= set(entry)  # the paper's values plus the tuned four


def test_her_zoo_config_has_the_four_fetch_tasks() -> None:
    config = yaml.safe_load(CONFIG.with_name("paper_ddpg_her.yml").read_text())
    assert sorted(config) == ["FetchPickAndPlace-v4", "FetchPush-v4", "FetchReach-v4", "FetchSlide-v4"]
    for entry in config.values():
        assert entry["replay_buffer_class"] == "HerReplayBuffer" and entry["actor_action_l2"] == 1.0


def test_every_study_spec_is_shipped() -> None:
    expected = {"pendulum", "mountaincar_continuous", "lunarlander_continuous", "inverted_pendulum", "halfcheetah"}
    assert {path.stem for path in SPECS} >= expected | {"fetchpush"}


@pytest.mark.parametrize("path", SPECS, ids=lambda path: path.stem)
def test_shipped_spec_is_valid(path) -> None:
    spec = StudySpec.from_yaml(path)
    # The HER preset explores with Gaussian noise, not OU, and tunes its own two options instead of ou_sigma.
    her = {"tau", "actor_learning_rate", "critic_learning_rate", "random_action_eps", "actor_action_l2"}
    assert spec.n_seeds >= 2 and set(spec.search_space) == (her if spec.preset else set(PAPER_PARAMS))
    if spec.env_id.startswith("Fetch") and missing("robotics"):  # its id is registered by gymnasium-robotics' import
        pytest.skip(f"all but the env id checked: {spec.env_id} {missing('robotics')}")
    check_env_id(spec.env_id)
