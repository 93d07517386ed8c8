"""rl-zoo3 integration (the ``zoo`` extra): paper_ddpg through rl-zoo3's own ExperimentManager, train, enjoy and
optimize. The shipped configs' values are checked in test_shipped_configs.py; the zoo command's own messages (a bad
-conf, Ctrl-C) in test_zoo_commands.py."""

import sys
from pathlib import Path

import numpy as np
import pytest
import torch as th
import yaml
from helpers import REPO, assert_one_line_error, env_param, needs

from sb3_ddpg_ext import PaperDDPG
from sb3_ddpg_ext.cli import main as cli_main
from sb3_ddpg_ext.errors import UserError

pytestmark = needs("zoo")  # rl-zoo3 is imported inside the tests (sb3_ddpg_ext.zoo imports it): collected without it

CONFIG = REPO / "zoo_configs" / "paper_ddpg.yml"
ENTRIES = yaml.safe_load(CONFIG.read_text())


def zoo_main(*args: str) -> int:
    from sb3_ddpg_ext import zoo

    return zoo.main([*args])


@pytest.mark.parametrize("env_id", map(env_param, ENTRIES))
def test_every_entry_builds_and_trains(env_id: str, tmp_path: Path) -> None:
    assert zoo_main("train", "--env", env_id, "-n", "150", "-conf", str(CONFIG), "-f", str(tmp_path), "--seed", "0") == 0
    model = PaperDDPG.load(tmp_path / "paper_ddpg" / f"{env_id}_1" / f"{env_id}.zip", buffer_size=1)
    assert model.num_timesteps == 150 and model._n_updates == 150 - 63
    assert (model.tau, model.batch_size, model.ou_sigma) == (1e-3, 64, ENTRIES[env_id]["ou_sigma"])


def test_tuned_config_trains_through_rl_zoo(tmp_path: Path) -> None:
    tuned = CONFIG.with_name("paper_ddpg_tuned.yml")
    entry = yaml.safe_load(tuned.read_text())["Pendulum-v1"]
    assert zoo_main("train", "--env", "Pendulum-v1", "-n", "100", "-conf", str(tuned), "-f", str(tmp_path)) == 0
    model = PaperDDPG.load(tmp_path / "paper_ddpg" / "Pendulum-v1_1" / "Pendulum-v1.zip")
    assert model.tau == entry["tau"] and model.ou_sigma == entry["ou_sigma"]


def test_default_config_is_found_from_any_directory_and_nothing_leaks(tmp_path: Path, monkeypatch) -> None:
    import rl_zoo3.train
    from rl_zoo3.hyperparams_opt import HYPERPARAMS_SAMPLER
    from rl_zoo3.utils import ALGOS

    monkeypatch.chdir(tmp_path)  # no zoo_configs/ here: the shipped config must be found without -conf
    argv, manager = list(sys.argv), rl_zoo3.train.ExperimentManager
    assert zoo_main("train", "--env", "Pendulum-v1", "-n", "100", "-f", "logs", "--seed", "2") == 0
    model = PaperDDPG.load(tmp_path / "logs" / "paper_ddpg" / "Pendulum-v1_1" / "Pendulum-v1.zip")
    assert model.num_timesteps == 100 and model.tau == ENTRIES["Pendulum-v1"]["tau"]
    # rl-zoo3's globals are as they were: no algorithm, sampler, manager or argv left behind.
    assert "paper_ddpg" not in ALGOS and "paper_ddpg" not in HYPERPARAMS_SAMPLER
    assert rl_zoo3.train.ExperimentManager is manager and sys.argv == argv


def test_train_then_enjoy_round_trip(sb3_ddpg, tmp_path: Path) -> None:
    # The smoke test of zoo train and zoo enjoy: each in its own process, through the installed console script.
    common = ["--env", "Pendulum-v1", "-f", str(tmp_path)]
    train = sb3_ddpg("zoo", "train", *common, "-n", "300", "-conf", str(CONFIG), "--seed", "1")
    assert train.returncode == 0, train.stderr
    saved = tmp_path / "paper_ddpg" / "Pendulum-v1_1" / "Pendulum-v1.zip"
    model = PaperDDPG.load(saved)
    assert type(model) is PaperDDPG and model.num_timesteps == 300
    enjoy = sb3_ddpg("zoo", "enjoy", *common, "--no-render", "-n", "400", "--exp-id", "1")
    assert enjoy.returncode == 0, enjoy.stderr
    assert "Episode Reward" in enjoy.stdout and "Mean reward" in enjoy.stdout


def test_enjoy_normalizes_a_checkpoint_with_its_own_statistics(cli_run, tmp_path: Path) -> None:
    # rl-zoo3's enjoy reads the folder's vecnormalize.pkl (the run's end) for any model it loads; a PaperDDPG
    # checkpoint keeps the statistics of its own step, and enjoy plays it as `sb3-ddpg evaluate` does.
    config = tmp_path / "normalized.yml"
    config.write_text("Pendulum-v1:\n  n_timesteps: 600\n  policy: MlpPolicy\n  buffer_size: 1000\n  normalize: true\n")
    common = ["--env", "Pendulum-v1", "-f", str(tmp_path)]
    train = cli_run("zoo", "train", *common, "-conf", str(config), "--save-freq", "200", "--seed", "1")
    assert train.returncode == 0, train.stderr
    folder = tmp_path / "paper_ddpg" / "Pendulum-v1_1"
    enjoy = cli_run("zoo", "enjoy", *common, "--no-render", "-n", "200", "--exp-id", "1", "--load-checkpoint", "200")
    assert enjoy.returncode == 0, enjoy.stderr
    played = float(next(line for line in enjoy.stdout.splitlines() if line.startswith("Episode Reward:")).split()[-1])
    evaluate = cli_run(
        "evaluate",
        str(folder / "rl_model_200_steps.zip"),
        "--seed",
        "0",
        "--episodes",
        "1",
        "--histogram",
        str(tmp_path / "h.png"),
    )
    assert evaluate.returncode == 0, evaluate.stderr
    expected = float(evaluate.stdout.split("mean ")[1].split(",")[0])
    assert played == pytest.approx(expected, abs=0.05)  # enjoy sums float32 rewards in float32


def test_zoo_learning_matches_cli_learning(tmp_path: Path) -> None:
    assert (
        zoo_main("train", "--env", "Pendulum-v1", "-n", "300", "--seed", "5", "-conf", str(CONFIG), "-f", str(tmp_path)) == 0
    )
    out = tmp_path / "cli"
    assert (
        cli_main(
            [
                "train",
                "--env",
                "Pendulum-v1",
                "--timesteps",
                "300",
                "--seed",
                "5",
                "--out",
                str(out),
                "--eval-every",
                "1000",
                "--no-progress-bar",
            ]
        )
        == 0
    )
    through_zoo = PaperDDPG.load(tmp_path / "paper_ddpg" / "Pendulum-v1_1" / "Pendulum-v1.zip")
    through_cli = PaperDDPG.load(out / "model.zip")
    assert through_zoo._n_updates == through_cli._n_updates > 0
    for a, b in zip(through_zoo.policy.state_dict().values(), through_cli.policy.state_dict().values(), strict=True):
        assert th.equal(a, b)


def test_optimize_samples_the_four_parameters_and_trial_id_reloads(sb3_ddpg, tmp_path: Path) -> None:
    import optuna  # rl-zoo3 needs it

    storage = str(tmp_path / "study.log")
    args = ["--env", "Pendulum-v1", "-n", "200", "-conf", str(CONFIG), "-f", str(tmp_path), "--seed", "3"]
    # The smoke test of zoo optimize: in its own process, through the installed console script.
    optimize = sb3_ddpg(
        "zoo",
        "optimize",
        *args,
        "--n-trials",
        "2",
        "--n-evaluations",
        "1",
        "--eval-episodes",
        "1",
        "--storage",
        storage,
        "--study-name",
        "zoo-test",
        "--no-optim-plots",
    )
    assert optimize.returncode == 0, optimize.stderr
    study = optuna.load_study(
        study_name="zoo-test", storage=optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(storage))
    )
    assert len(study.trials) == 2
    for trial in study.trials:
        assert set(trial.params) == {"tau", "actor_learning_rate", "critic_learning_rate", "ou_sigma"}
    # --trial-id 0 must load trial 0 (rl-zoo3 alone ignores 0).
    assert zoo_main("train", *args, "--storage", storage, "--study-name", "zoo-test", "--trial-id", "0") == 0
    run = max((tmp_path / "paper_ddpg").glob("Pendulum-v1_*"), key=lambda p: int(p.name.rsplit("_", 1)[1]))
    model = PaperDDPG.load(run / "Pendulum-v1.zip")
    expected = study.trials[0].params
    assert model.tau == expected["tau"] and model.ou_sigma == expected["ou_sigma"]
    assert model.critic.optimizer.param_groups[0]["lr"] == pytest.approx(expected["critic_learning_rate"])


@pytest.mark.parametrize(
    "key, value, message",
    [
        ("ou_thetta", 0.15, "Pendulum-v1 config: unknown PaperDDPG parameter 'ou_thetta'; did you mean 'ou_theta'?"),
        ("noise_type", "ornstein-uhlenbeck", "builds rl-zoo3's OU noise with dt=0.01"),
    ],
)
def test_config_typos_give_a_clear_error(key: str, value, message: str, tmp_path: Path, capsys) -> None:
    bad = dict(ENTRIES["Pendulum-v1"], **{key: value})
    config = tmp_path / "bad.yml"
    config.write_text(yaml.safe_dump({"Pendulum-v1": bad}))
    assert cli_main(["zoo", "train", "--env", "Pendulum-v1", "-n", "10", "-conf", str(config), "-f", str(tmp_path)]) == 2
    assert message in capsys.readouterr().err


def test_lin_schedules_for_both_learning_rates(tmp_path: Path) -> None:
    entry = dict(ENTRIES["Pendulum-v1"], actor_learning_rate="lin_2e-4")
    config = tmp_path / "lin.yml"
    config.write_text(yaml.safe_dump({"Pendulum-v1": entry}))
    assert zoo_main("train", "--env", "Pendulum-v1", "-n", "100", "-conf", str(config), "-f", str(tmp_path)) == 0
    model = PaperDDPG.load(tmp_path / "paper_ddpg" / "Pendulum-v1_1" / "Pendulum-v1.zip")
    assert model.lr_schedule(1.0) == pytest.approx(2e-4) and model.lr_schedule(0.5) == pytest.approx(1e-4)


def test_zoo_help(cli_run) -> None:
    for args, text in (
        (("zoo", "--help"), "usage: sb3-ddpg zoo {train,enjoy,optimize}"),
        (("zoo", "-h"), "--threads N"),
        (("zoo", "train", "--help"), "--algo"),
    ):
        result = cli_run(*args)
        assert result.returncode == 0 and text in result.stdout and "Traceback" not in result.stderr, result.stderr


@pytest.mark.parametrize(
    "args, message",
    [
        (("train", "--env", "CarRacing-v3"), "CarRacing-v3 has no entry in"),
        (("enjoy", "--env", "Pendulum-v1", "-f", "/nonexistent/logs", "--no-render"), "folder was not found"),
        (
            ("optimize", "--env", "Pendulum-v1", "--storage", "postgresql+psycopg://u:pw@127.0.0.1:1/db"),
            "cannot open storage postgresql+psycopg://u:***@127.0.0.1:1/db",
        ),
        (("train", "--env", "Pendulum-v1", "--threads", "0"), "--threads: must be >= 1, got 0"),
        (("fly",), "give one of train, enjoy, optimize"),
    ],
)
def test_zoo_mistakes_give_one_line(args: tuple, message: str, cli) -> None:
    assert_one_line_error(cli("zoo", *args), message)


def test_config_values_are_read_and_typed_as_on_the_command_line() -> None:
    from sb3_ddpg_ext import zoo

    hyperparams = zoo.check_config("Pendulum-v1", {"actor_learning_rate": "1e-4", "buffer_size": 1e6, "n_timesteps": 1e4})
    assert hyperparams == {"actor_learning_rate": 1e-4, "buffer_size": 1_000_000, "n_timesteps": 1e4}
    with pytest.raises(UserError, match=r"Pendulum-v1 config: tau='fast' is a str; expected float"):
        zoo.check_config("Pendulum-v1", {"tau": "fast"})


def test_pixel_config_without_pygame_names_the_pixels_extra(cli, monkeypatch, tmp_path: Path) -> None:
    """rl-zoo3 applies the pixel wrapper itself: without pygame, its error is the same one line as ``train --pixels``."""
    monkeypatch.setitem(sys.modules, "pygame", None)  # as if it were not installed (Pendulum imports it in render())
    pixels = CONFIG.with_name("paper_ddpg_pixels.yml")
    result = cli("zoo", "train", "--env", "Pendulum-v1", "-n", "40", "-conf", str(pixels), "-f", str(tmp_path))
    assert_one_line_error(result, "cannot render Pendulum-v1 as pixels: pygame is not installed")
    assert "Fix: pip install 'sb3-ddpg-ext[pixels]'" in result[2]


@needs("pixels")
def test_pixel_config_trains_from_pixels_through_rl_zoo(tmp_path: Path) -> None:
    """zoo_configs/paper_ddpg_pixels.yml: env_wrapper and env_kwargs give the paper's pixels to train and eval envs."""
    pixels = CONFIG.with_name("paper_ddpg_pixels.yml")
    args = ["--env", "Pendulum-v1", "-n", "40", "-conf", str(pixels), "-f", str(tmp_path), "--seed", "0"]
    assert zoo_main("train", *args, "--eval-freq", "40", "--eval-episodes", "1") == 0
    model = PaperDDPG.load(tmp_path / "paper_ddpg" / "Pendulum-v1_1" / "Pendulum-v1.zip", buffer_size=1)
    assert model.observation_space.shape == (9, 64, 64) and model.observation_space.dtype == np.uint8
    assert (model.batch_size, model.optimize_memory_usage, model.policy.final_layer_init) == (16, True, 3e-4)
    assert model.num_timesteps == 40 and model._n_updates == 40 - 15
    evaluations = np.load(tmp_path / "paper_ddpg" / "Pendulum-v1_1" / "evaluations.npz")
    assert evaluations["ep_lengths"].tolist() == [[200]]  # the eval env renders too: one 200-simulator-step episode


@needs("robotics")
def test_zoo_train_then_enjoy_fetch_logs_success(cli_run, tmp_path: Path) -> None:
    common = ["--env", "FetchReach-v4", "-f", str(tmp_path)]
    # batch_size:64: the config's batch of 256 would need 256 steps before the first update
    train = cli_run(
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
    enjoy = cli_run("zoo", "enjoy", *common, "--no-render", "-n", "120", "--exp-id", "1")
    assert enjoy.returncode == 0, enjoy.stderr
    assert "Success rate" in enjoy.stdout


@needs("robotics")
def test_optimize_a_config_with_its_own_noise_samples_no_ou_sigma(cli_run, tmp_path: Path) -> None:
    # zoo_configs/paper_ddpg_her.yml brings Gaussian noise (noise_type: normal, ou_sigma: 0): a sampled ou_sigma was
    # refused next to it, and every trial failed with a traceback.
    import optuna

    storage = str(tmp_path / "study.log")
    optimize = cli_run(
        *("zoo", "optimize", "--env", "FetchReach-v4", "-n", "200", "-f", str(tmp_path), "--n-trials", "1"),
        *("--n-evaluations", "1", "--eval-episodes", "1", "--storage", storage, "--study-name", "her", "--no-optim-plots"),
        *("-params", "batch_size:64", "buffer_size:5000"),
    )
    assert optimize.returncode == 0, optimize.stderr
    backend = optuna.storages.journal.JournalFileBackend(storage)
    (trial,) = optuna.load_study(study_name="her", storage=optuna.storages.JournalStorage(backend)).trials
    assert trial.state == optuna.trial.TrialState.COMPLETE
    assert set(trial.params) == {"tau", "actor_learning_rate", "critic_learning_rate"}
