"""Goal-conditioned robotics (the ``robotics`` extra): HER, the HER paper's preset and its two PaperDDPG options,
the Fetch tasks through the Python API, the CLI, the zoo and tuning, and a FetchReach learning check."""

import copy
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch as th
import yaml
from helpers import REPO
from stable_baselines3 import HerReplayBuffer
from stable_baselines3.common.env_util import make_vec_env

from sb3_ddpg_ext import PaperDDPG
from sb3_ddpg_ext.cli import main as cli_main
from sb3_ddpg_ext.envs import check_env_id, is_goal_env
from sb3_ddpg_ext.errors import UserError
from sb3_ddpg_ext.experiment import evaluate_episodes
from sb3_ddpg_ext.presets import HER_PAPER, her_paper, her_paper_env

pytest.importorskip("gymnasium_robotics")
HER_CONFIG = REPO / "zoo_configs" / "paper_ddpg_her.yml"


# --- the two PaperDDPG options of the HER paper (fidelity) -----------------------------------------------------------


def test_actor_action_l2_is_the_only_gradient_when_the_critic_is_flat(pendulum) -> None:
    """With dQ/da = 0 (the critic's output layer zeroed), the actor's gradient in ``train()`` is exactly that of
    ``actor_action_l2 * mean(mu(s)^2)`` on the sampled batch (HER paper, appendix A), and zero at the default 0."""
    for l2 in (0.0, 1.0):
        model = pendulum(actor_action_l2=l2, policy_kwargs=dict(batch_norm=False), batch_size=32)
        model.learn(64)
        with th.no_grad():
            for head in (model.critic.q_net[-1], model.critic_target.q_net[-1]):
                head.weight.zero_()
        model.critic_lr_schedule = lambda _: 0.0  # the critic's own step keeps it flat
        model.actor.optimizer = th.optim.SGD(model.actor.parameters())  # keeps .grad after its step
        reference = copy.deepcopy(model.actor)
        np.random.seed(1)
        model.train(gradient_steps=1, batch_size=32)
        np.random.seed(1)
        actions = reference(model.replay_buffer.sample(32).observations)
        expected = th.autograd.grad(l2 * actions.pow(2).mean(), list(reference.parameters()), allow_unused=True)
        for p, g in zip(model.actor.parameters(), expected, strict=True):
            assert th.allclose(p.grad, th.zeros_like(p) if g is None else g, atol=1e-7)
        assert any(p.grad.abs().max() > 0 for p in model.actor.parameters()) == (l2 > 0)
        assert th.allclose(model.actor_action_penalty(actions), l2 * actions.pow(2).mean())
    assert PaperDDPG.hyperparameter_defaults()["actor_action_l2"] == 0.0


def test_random_action_eps_replaces_actions_with_uniform_ones(pendulum) -> None:
    model = pendulum(ou_sigma=0.0)
    model._last_obs = model.env.reset()
    policy_action, _ = model._sample_action(learning_starts=0)
    assert all(np.array_equal(model._sample_action(0)[0], policy_action) for _ in range(5))  # eps 0: the policy
    model.random_action_eps = 1.0
    actions = np.array([model._sample_action(0)[0][0, 0] for _ in range(2000)])
    assert np.all(np.abs(actions) <= 2.0) and abs(actions.std() - 4 / np.sqrt(12)) < 0.1  # uniform on [-2, 2]
    model.random_action_eps = 0.3
    share = np.mean([not np.array_equal(model._sample_action(0)[0], policy_action) for _ in range(2000)])
    assert 0.25 < share < 0.35
    assert PaperDDPG.hyperparameter_defaults()["random_action_eps"] == 0.0
    with pytest.raises(ValueError, match="random_action_eps"):
        pendulum(random_action_eps=1.5)


def test_her_paper_preset_builds_the_her_papers_ddpg() -> None:
    env = her_paper_env(make_vec_env("FetchPush-v4", seed=0))
    model = PaperDDPG("MultiInputPolicy", env, **her_paper(env, buffer_size=1000))
    assert is_goal_env(env) and isinstance(model.replay_buffer, HerReplayBuffer)
    assert model.replay_buffer.n_sampled_goal == 4 and model.replay_buffer.goal_selection_strategy.name == "FUTURE"
    assert (model.tau, model.gamma, model.batch_size, model.actor_action_l2, model.random_action_eps) == (
        0.05,
        0.98,
        256,
        1.0,
        0.3,
    )
    assert model.actor.optimizer.param_groups[0]["lr"] == model.critic.optimizer.param_groups[0]["lr"] == 1e-3
    assert all(g["weight_decay"] == 0.0 for g in model.critic.optimizer.param_groups)
    assert [m.out_features for m in model.actor.modules() if isinstance(m, th.nn.Linear)] == [256, 256, 256, 4]
    assert not any(isinstance(m, th.nn.BatchNorm1d) for m in model.policy.modules())
    assert model.action_noise._sigma.tolist() == [0.2] * 4 and env.norm_obs and not env.norm_reward
    assert HER_PAPER["replay_buffer_kwargs"] == {"goal_selection_strategy": "future", "n_sampled_goal": 4}


# --- env helpers -----------------------------------------------------------------------------------------------------


def test_fetch_ids_register_gymnasium_robotics_or_name_the_extra(monkeypatch) -> None:
    assert check_env_id("FetchSlide-v4").id == "FetchSlide-v4"
    import gymnasium as gym

    monkeypatch.setitem(sys.modules, "gymnasium_robotics", None)  # as if the extra were not installed
    monkeypatch.setattr(gym.envs.registration, "registry", {})
    monkeypatch.setattr(gym, "registry", {})
    with pytest.raises(UserError, match=r"FetchPush-v4 needs gymnasium-robotics: pip install 'sb3-ddpg-ext\[robotics\]'"):
        check_env_id("FetchPush-v4")


# --- Python API: the README example, as written ------------------------------------------------------------------


def test_readme_her_example_runs_as_written(tmp_path: Path, monkeypatch) -> None:
    readme = (REPO / "README.md").read_text()
    block = re.search(r"<!-- her-example.*?-->\n```python\n(.*?)```", readme, re.S).group(1)
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(block, "README.md", "exec"), namespace)
    assert namespace["action"].shape == (1, 4) and isinstance(namespace["model"].replay_buffer, HerReplayBuffer)
    assert (tmp_path / "paper_ddpg_fetchreach.zip").exists()


# --- CLI --------------------------------------------------------------------------------------------------------------


def test_cli_train_and_evaluate_fetch_with_success_rate(sb3_ddpg, tmp_path: Path) -> None:
    # -p batch_size=64: the preset's batch of 256 would need 256 steps before the first update
    args = [
        "--timesteps",
        "200",
        "--eval-every",
        "100",
        "--eval-episodes",
        "2",
        "--preset",
        "her-paper",
        "--her-n-goals",
        "2",
        "-p",
        "batch_size=64",
    ]
    run = sb3_ddpg("train", "--env", "FetchReach-v4", *args, "--out", str(tmp_path), "--no-progress-bar")
    assert run.returncode == 0, run.stderr
    assert "HER: {'goal_selection_strategy': 'future', 'n_sampled_goal': 2}" in run.stdout and "success rate" in run.stdout
    log = pd.read_csv(tmp_path / "evaluations.csv")
    assert list(log["timesteps"]) == [100, 200] and log["success_rate"].between(0, 1).all()
    assert (tmp_path / "vecnormalize.pkl").exists() and (tmp_path / "learning_curve.png").exists()
    evaluate = sb3_ddpg("evaluate", str(tmp_path / "model.zip"), "--env", "FetchReach-v4", "--episodes", "2")
    assert evaluate.returncode == 0, evaluate.stderr
    assert re.search(r"success rate \d\.\d\d", evaluate.stdout)


def test_cli_her_is_on_for_goal_envs_only(tmp_path: Path, capsys) -> None:
    common = ["--timesteps", "70", "--eval-every", "1000", "--no-progress-bar"]
    assert cli_main(["train", "--env", "FetchReach-v4", *common, "--out", str(tmp_path / "a")]) == 0
    assert "HER:" in capsys.readouterr().out
    assert isinstance(PaperDDPG.load(tmp_path / "a" / "model.zip", env=make_vec_env("FetchReach-v4")), PaperDDPG)
    assert cli_main(["train", "--env", "FetchReach-v4", *common, "--no-her", "--out", str(tmp_path / "b")]) == 0
    assert "HER:" not in capsys.readouterr().out
    assert cli_main(["train", "--env", "Pendulum-v1", *common, "--her", "--out", str(tmp_path / "c")]) == 2
    assert "HER needs a goal-conditioned env" in capsys.readouterr().err


# --- rl-zoo3 ----------------------------------------------------------------------------------------------------------


def test_zoo_config_has_the_four_fetch_tasks_with_her() -> None:
    config = yaml.safe_load(HER_CONFIG.read_text())
    assert sorted(config) == ["FetchPickAndPlace-v4", "FetchPush-v4", "FetchReach-v4", "FetchSlide-v4"]
    for entry in config.values():
        assert entry["replay_buffer_class"] == "HerReplayBuffer" and entry["actor_action_l2"] == 1.0


def test_zoo_train_then_enjoy_fetch_logs_success(sb3_ddpg, tmp_path: Path) -> None:
    common = ["--env", "FetchReach-v4", "-f", str(tmp_path)]
    # batch_size:64: the config's batch of 256 would need 256 steps before the first update
    train = sb3_ddpg(
        "zoo",
        "train",
        *common,
        "-n",
        "200",
        "--eval-freq",
        "100",
        "--eval-episodes",
        "2",
        "--seed",
        "1",
        "-params",
        "batch_size:64",
    )
    assert train.returncode == 0, train.stderr
    assert "success_rate" in train.stdout  # rl-zoo3's eval/success_rate (and rollout/success_rate from Monitor)
    saved = tmp_path / "paper_ddpg" / "FetchReach-v4_1"
    assert (saved / "FetchReach-v4" / "vecnormalize.pkl").exists()
    enjoy = sb3_ddpg("zoo", "enjoy", *common, "--no-render", "-n", "120", "--exp-id", "1")
    assert enjoy.returncode == 0, enjoy.stderr
    assert "Success rate" in enjoy.stdout


# --- tuning -----------------------------------------------------------------------------------------------------------


def test_tune_fetch_optimizes_the_success_rate(journal, tmp_path: Path) -> None:
    args = [
        "tune",
        "--spec",
        "fetchpush",
        "--n-trials",
        "1",
        "--timesteps",
        "300",
        "--eval-every",
        "300",
        "--n-seeds",
        "1",
        "--out",
        str(tmp_path),
        "--study-name",
        "f",
        "--sampler-seed",
        "0",
    ]
    assert cli_main(args) == 0
    import optuna

    (trial,) = optuna.load_study(study_name="f", storage=journal(tmp_path / "study.journal")).trials
    assert trial.state == optuna.trial.TrialState.COMPLETE and 0.0 <= trial.value <= 1.0
    assert trial.params["tau"] == 0.05 and trial.params["random_action_eps"] == 0.3  # the preset is the reference


# --- learning ---------------------------------------------------------------------------------------------------------


def test_fetchreach_succeeds_with_the_her_paper_preset() -> None:
    """HER paper preset, 1500 steps (600 updates): seeds 0, 1 and 2 each succeeded in 10 of 10 deterministic
    episodes by 1000 steps (docs/results.md)."""
    env = her_paper_env(make_vec_env("FetchReach-v4", seed=0))
    model = PaperDDPG("MultiInputPolicy", env, seed=0, **her_paper(env))
    model.learn(1500)
    eval_env = her_paper_env(make_vec_env("FetchReach-v4", seed=10_000), training=False)
    eval_env.obs_rms = env.obs_rms
    assert evaluate_episodes(model, eval_env, 20).success_rate >= 0.9


def test_robotics_extra_pins_a_mujoco_that_builds_fetch() -> None:
    import mujoco

    lines = (REPO / "constraints.txt").read_text().splitlines()
    pins = dict(line.split("==") for line in lines if "==" in line and not line.startswith("#"))
    assert pins["mujoco"] == mujoco.__version__ and "mujoco-core" not in pins
    subprocess.run(
        [sys.executable, "-c", "import gymnasium as g, gymnasium_robotics; g.make('FetchPickAndPlace-v4').reset()"],
        check=True,
        capture_output=True,
    )


def test_study_spec_names_wrappers_normalization_and_policy() -> None:
    from stable_baselines3.common.vec_env import VecNormalize

    from sb3_ddpg_ext.run import make_envs
    from sb3_ddpg_ext.tune.objective import run_config
    from sb3_ddpg_ext.tune.spec import StudySpec

    wrappers = [{"gymnasium.wrappers.TimeLimit": {"max_episode_steps": 7}}]
    spec = StudySpec.from_dict(
        {"env_id": "Pendulum-v1", "env_wrapper": wrappers, "normalize": {"norm_reward": False}, "policy": "MlpPolicy"}
    )
    env, eval_env = make_envs(run_config(spec, 0, {}))
    assert env.get_attr("spec")[0].id == "Pendulum-v1"
    env, eval_env = env.venv, eval_env.venv  # inside SB3's VecCheckNan, as every run's
    assert isinstance(env, VecNormalize) and env.training and not eval_env.training and not env.norm_reward
    env.reset()
    dones = [env.step(np.zeros((1, 1)))[2][0] for _ in range(7)]
    assert dones == [False] * 6 + [True]
    with pytest.raises(UserError, match=r"env wrapper 'nowhere\.Wrapper' cannot be imported"):
        make_envs(run_config(StudySpec.from_dict({"env_id": "Pendulum-v1", "env_wrapper": ["nowhere.Wrapper"]}), 0, {}))
    with pytest.raises(UserError, match="preset 'her' is not one of her-paper"):
        StudySpec.from_dict({"env_id": "FetchPush-v4", "preset": "her"})
