"""The Python API is as clear as the command line: integral floats work, a policy on the wrong observation space, an
env id of an extra not imported and a replay buffer of another env are one error naming them, and a stop on
divergence says so once."""

import os
import re
import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import pytest
from helpers import REPO, needs
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.envs import SimpleMultiObsEnv

from sb3_ddpg_ext import PaperDDPG
from sb3_ddpg_ext.callbacks import StopTrainingOnDivergence


def assert_raised_here(error: pytest.ExceptionInfo) -> None:
    """Raised by this package with its own message: no chained traceback from inside SB3, torch or gymnasium."""
    assert error.value.__cause__ is None and (error.value.__suppress_context__ or error.value.__context__ is None)
    assert "sb3_ddpg_ext" in str(error.traceback[-1].path)


def test_integral_floats_work_where_integers_are_expected() -> None:
    model = PaperDDPG(
        "MlpPolicy",
        "Pendulum-v1",
        buffer_size=1e3,
        batch_size=64.0,
        learning_starts=1e1,
        gradient_steps=1.0,
        train_freq=(1.0, "step"),
        seed=0,
    )
    assert (model.buffer_size, model.batch_size, model.learning_starts, model.gradient_steps) == (1000, 64, 10, 1)
    assert all(type(v) is int for v in (model.buffer_size, model.batch_size, model.learning_starts, model.gradient_steps))
    model.learn(100)
    assert model._n_updates == 100 - 63 and model.replay_buffer.buffer_size == 1000


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(batch_size=64.5), "PaperDDPG: batch_size=64.5 must be an integer"),
        (dict(buffer_size="1e5"), "PaperDDPG: buffer_size='1e5' must be an integer, got str"),
        (dict(stats_window_size=True), "PaperDDPG: stats_window_size=True must be an integer, got bool"),
        (dict(policy_kwargs=[400, 300]), "PaperDDPG: policy_kwargs=[400, 300] must be a dict or None"),
    ],
)
def test_wrong_integers_give_one_type_error_naming_the_parameter(kwargs: dict, message: str) -> None:
    with pytest.raises(TypeError, match=f"^{re.escape(message)}") as error:
        PaperDDPG("MlpPolicy", "Pendulum-v1", **kwargs)
    assert_raised_here(error)


@pytest.mark.parametrize(
    "policy, env, message",
    [
        ("CnnPolicy", "Pendulum-v1", r"Pendulum-v1 has observation space Box\(.*\(3,\), float32\): CnnPolicy needs image"),
        ("MultiInputPolicy", "Pendulum-v1", r"Pendulum-v1 has observation space Box.*: MultiInputPolicy needs Dict obs"),
        pytest.param(
            "CnnPolicy",
            "HalfCheetah-v5",
            r"HalfCheetah-v5 has observation space Box.*\(17,\), float64\): CnnPolicy needs",
            marks=needs("mujoco"),
        ),
    ],
)
def test_policy_on_the_wrong_observation_space_is_one_line(policy: str, env: str, message: str) -> None:
    with pytest.raises(ValueError, match=f"^PaperDDPG: {message}") as error:
        PaperDDPG(policy, env, buffer_size=100)
    assert_raised_here(error)
    assert len(str(error.value).splitlines()) == 1


def test_cnn_policy_on_dict_observations_names_the_policy() -> None:
    with pytest.raises(ValueError, match=r"CnnPolicy needs image observations .*; use MultiInputPolicy"):
        PaperDDPG("CnnPolicy", SimpleMultiObsEnv(discrete_actions=False), buffer_size=100)


def test_robotics_id_without_its_import_says_to_import_it(monkeypatch) -> None:
    # As in a fresh interpreter: gymnasium-robotics registers the Fetch ids only when imported.
    for env_id in [k for k in gym.registry if k.startswith("Fetch")]:
        monkeypatch.delitem(gym.registry, env_id)
    with pytest.raises(
        ValueError,
        match=r"FetchReach-v4 is a gymnasium-robotics env: import gymnasium_robotics and "
        r"call gymnasium.register_envs\(gymnasium_robotics\) first",
    ) as error:
        PaperDDPG("MultiInputPolicy", "FetchReach-v4")
    assert_raised_here(error)
    with pytest.raises(ValueError, match=r"^PaperDDPG: cannot make NoSuchEnv-v0: Environment `NoSuchEnv` doesn't exist$"):
        PaperDDPG("MlpPolicy", "NoSuchEnv-v0")


@pytest.fixture(scope="module")
def buffers(tmp_path_factory) -> dict[str, Path]:
    """Replay buffers saved by models on Pendulum-v1 (1 and 2 envs) and MountainCarContinuous-v0."""
    folder = tmp_path_factory.mktemp("buffers")
    for name, env in (("pendulum", "Pendulum-v1"), ("mountaincar", "MountainCarContinuous-v0")):
        PaperDDPG("MlpPolicy", env, buffer_size=200, seed=0).learn(70).save_replay_buffer(folder / f"{name}.pkl")
    two = make_vec_env("Pendulum-v1", n_envs=2, seed=0)
    PaperDDPG("MlpPolicy", two, buffer_size=200, seed=0).learn(70).save_replay_buffer(folder / "pendulum_2envs.pkl")
    (folder / "notes.pkl").write_bytes(b"not a pickle")
    return {p.stem: p for p in folder.iterdir()}


@pytest.mark.parametrize(
    "name, message",
    [
        ("mountaincar", r"its transitions have observation space Box\(\[-1.2 .*\(2,\).*but this model has Box\(.*\(3,\)"),
        ("pendulum_2envs", "it was filled by 2 envs at a time, this model steps 1"),
        ("notes", "it cannot be read as a replay buffer"),
    ],
)
def test_a_replay_buffer_of_another_env_is_refused_at_load(name: str, message: str, buffers: dict, pendulum) -> None:
    model = pendulum()
    model.learn(70)
    with pytest.raises(ValueError, match=f"^PaperDDPG.load_replay_buffer: {re.escape(str(buffers[name]))}: {message}"):
        model.load_replay_buffer(buffers[name])
    assert model.replay_buffer.size() == 70  # the model keeps its own buffer, and learns on
    model.learn(10, reset_num_timesteps=False)
    assert model.replay_buffer.size() == 80
    other = pendulum()
    other.load_replay_buffer(buffers["pendulum"])  # the same env's buffer loads
    assert other.replay_buffer.size() == 70


def test_stop_on_divergence_says_it_once(nan_pendulum: str, capsys) -> None:
    model = PaperDDPG("MlpPolicy", nan_pendulum, buffer_size=1000, seed=0)
    model.learn(300, callback=StopTrainingOnDivergence())
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and out.startswith("StopTrainingOnDivergence: training stopped at step 81: reward is nan")
    assert "do not save this model as the result" in out
    model.learn(300, callback=StopTrainingOnDivergence(verbose=0))
    assert capsys.readouterr().out == ""


@needs("pixels", "robotics")
def test_the_pixel_example_prints_nothing_on_a_headless_machine(tmp_path: Path) -> None:
    """README's pixel example, then a Fetch id, in a fresh interpreter without a display: SDL's complaints
    (XDG_RUNTIME_DIR, ALSA) about a display and a sound card it does not need, and gymnasium-robotics' notice about the
    Adroit tasks' rewards, are not the user's to read."""
    readme = (REPO / "README.md").read_text()
    example = re.search(r"## From pixels.*?```python\n(.*?)```", readme, re.S).group(1)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DISPLAY", "WAYLAND", "XDG_", "SDL_"))}
    script = example + "model.learn(20)\nfrom sb3_ddpg_ext.envs import check_env_id\ncheck_env_id('FetchReach-v4')\n"
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert result.returncode == 0, result.stderr
    assert not {"XDG_RUNTIME_DIR", "ALSA", "Adroit"} & set(re.findall(r"XDG_RUNTIME_DIR|ALSA|Adroit", result.stderr)), (
        result.stderr
    )


def _tanh_instance() -> object:
    import torch

    return torch.nn.Tanh()


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        (dict(critic_learning_rate=float("inf")), ValueError, "critic_learning_rate=inf must be a finite number"),
        (dict(ou_sigma=float("inf")), ValueError, "ou_sigma=inf must be a finite number"),
        (dict(batch_size=1), ValueError, "batch_size=1 with batch norm: a batch-norm layer needs 2 or more samples"),
        (dict(verbose="1"), TypeError, "verbose='1' must be 0 (none), 1 (info) or 2 (debug)"),
        (dict(tensorboard_log=3), TypeError, "tensorboard_log=3 must be a folder path or None"),
        (dict(policy_kwargs=dict(net_arch=[-5, 3])), ValueError, "policy_kwargs net_arch=[-5, 3] must be a list of"),
        (dict(policy_kwargs=dict(net_arch="400,300")), ValueError, "policy_kwargs net_arch='400,300' must be a list"),
        (dict(policy_kwargs=dict(net_arch=dict(pi=[64], vf=[64]))), ValueError, "policy_kwargs net_arch={'pi': [64],"),
        (dict(policy_kwargs=dict(activation_fn="tanh")), TypeError, "activation_fn='tanh' must be a torch.nn.Module class"),
        (dict(policy_kwargs=dict(activation_fn=_tanh_instance())), TypeError, "activation_fn=Tanh() must be a torch.nn"),
        (dict(policy_kwargs=dict(final_layer_init=-1)), ValueError, "policy_kwargs final_layer_init=-1 must be a number > 0"),
        (dict(policy_kwargs=dict(norm_layer_kwargs=dict(foo=1))), ValueError, "BatchNorm1d takes no argument 'foo'"),
        (
            dict(policy_kwargs=dict(net_arc=[64])),
            ValueError,
            "PaperDDPGPolicy takes no argument 'net_arc'; did you mean 'net_arch'",
        ),
        (dict(policy_kwargs=dict(optimizer_kwargs=dict(weight_decay=0.5))), ValueError, "weight_decay=0.5 would decay the"),
        (dict(policy_kwargs=dict(optimizer_kwargs=dict(lr=0.1))), ValueError, "optimizer_kwargs lr: the learning rates are"),
    ],
)
def test_values_that_failed_inside_torch_or_sb3_are_one_error_at_the_constructor(kwargs, error, message) -> None:
    # Each of these failed deep inside torch or SB3 (or, inf, trained to NaN), or was silently ignored (weight_decay).
    with pytest.raises(error, match=f"^PaperDDPG: (policy_kwargs:? )?.*{re.escape(message)}") as raised:
        PaperDDPG("MlpPolicy", "Pendulum-v1", buffer_size=100, **kwargs)
    assert_raised_here(raised)
    assert len(str(raised.value).splitlines()) == 1


def test_wrong_policy_env_or_noise_size_are_one_error() -> None:
    import numpy as np
    from stable_baselines3.common.noise import NormalActionNoise
    from stable_baselines3.td3.policies import TD3Policy

    with pytest.raises(TypeError, match=r"^PaperDDPG: policy=TD3Policy is not a PaperDDPG policy"):
        PaperDDPG(TD3Policy, "Pendulum-v1", buffer_size=100)
    with pytest.raises(ValueError, match=r"^PaperDDPG: env=None: pass the env to learn from"):
        PaperDDPG("MlpPolicy", None)
    one = NormalActionNoise(np.zeros(1), np.ones(1))  # LunarLander has 2 action dimensions: it would be broadcast
    with pytest.raises(ValueError, match=r"has shape \(1,\) but the actions have \(2,\): build it with np.zeros\(2\)"):
        PaperDDPG("MlpPolicy", "LunarLanderContinuous-v3", action_noise=one, buffer_size=100)


def test_numpy_floats_are_learning_rates() -> None:
    import numpy as np

    model = PaperDDPG("MlpPolicy", "Pendulum-v1", actor_learning_rate=np.float32(2e-4), critic_learning_rate=np.float64(3e-3))
    assert model.actor.optimizer.param_groups[0]["lr"] == pytest.approx(2e-4)
    assert model.critic.optimizer.param_groups[0]["lr"] == pytest.approx(3e-3)


def test_load_refuses_what_it_would_ignore_or_cannot_take(tmp_path: Path) -> None:
    model = PaperDDPG("MlpPolicy", "Pendulum-v1", buffer_size=100)
    model.save(tmp_path / "model.zip")
    with pytest.raises(ValueError, match="'lr_schedule' would be ignored: load rebuilds it from actor_learning_rate"):
        PaperDDPG.load(tmp_path / "model.zip", custom_objects={"lr_schedule": lambda _: 0.1})
    with pytest.raises(ValueError, match="'critic_lr_schedule' would be ignored"):
        PaperDDPG.load(tmp_path / "model.zip", critic_lr_schedule=lambda _: 0.1)
    with pytest.raises(ValueError, match=r"policy_kwargs=\{'net_arch': \[64, 64\]\} cannot replace the saved"):
        PaperDDPG.load(tmp_path / "model.zip", custom_objects={"policy_kwargs": dict(net_arch=[64, 64])})
    assert PaperDDPG.load(tmp_path / "model.zip", custom_objects={"policy_kwargs": {}}).num_timesteps == 0  # the same


def test_every_constructor_argument_is_checked_where_values_are_checked() -> None:
    # A new argument must join NUMBERS (with its range rule), CHOICES or OBJECTS in checks.py: otherwise the
    # constructor, -p, zoo configs and study specs would all take any value for it.
    from sb3_ddpg_ext.paper_ddpg import checks

    groups = [set(checks.NUMBERS), set(checks.CHOICES), set(checks.OBJECTS)]
    assert set().union(*groups) == set(PaperDDPG.hyperparameter_defaults())
    assert sum(map(len, groups)) == len(PaperDDPG.hyperparameter_defaults())  # each in one group
    assert {name for name, _, _ in checks.RANGES} == set(checks.NUMBERS)  # each number has its range
    with pytest.raises(ValueError, match="optimize_memory_usage='yes' must be one of"):
        PaperDDPG("MlpPolicy", "Pendulum-v1", buffer_size=100, optimize_memory_usage="yes")
