"""Runs that survive a stop: checkpoints, resume, and saves that a kill or a full disk cannot truncate."""

import dataclasses
import os
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path

import gymnasium as gym
import numpy as np
import pandas as pd
import pytest
from helpers import assert_one_line_error, needs
from stable_baselines3.common.callbacks import BaseCallback

from sb3_ddpg_ext import PaperDDPG
from sb3_ddpg_ext.checkpoint import CHECKPOINTS, FINISHED, latest_checkpoint
from sb3_ddpg_ext.run import RunConfig, read_config, train
from sb3_ddpg_ext.rundir import LOCK_FILE


class CtrlCAt(BaseCallback):
    """Ctrl-C (KeyboardInterrupt, as SIGINT raises it) once the run reaches ``step``."""

    def __init__(self, step: int) -> None:
        super().__init__()
        self.step = step

    def _on_step(self) -> bool:
        if self.num_timesteps >= self.step:
            raise KeyboardInterrupt
        return True


def config(**changes) -> RunConfig:
    params = {"buffer_size": 2000, "policy_kwargs": {"net_arch": [32, 32]}}
    return RunConfig(
        **{
            "env_id": "Pendulum-v1",
            "timesteps": 1000,
            "seed": 0,
            "eval_every": 200,
            "eval_episodes": 2,
            "checkpoint_every": 200,
            "params": params,
            **changes,
        }
    )


def test_interrupted_run_resumes_to_its_budget_with_every_update_and_evaluation_once(tmp_path: Path) -> None:
    out = tmp_path / "run"
    out.mkdir()
    first = train(config(), out, callbacks=[CtrlCAt(530)])
    assert first.interrupted and first.model.num_timesteps == 530
    assert latest_checkpoint(out / CHECKPOINTS).name == "step-000000000400"
    assert list(pd.read_csv(out / "evaluations.csv").timesteps) == [200, 400]  # the evaluation at 600 never came

    resumed = train(read_config(out), out, resume=True)
    model = resumed.model
    assert resumed.resumed_from == 400 and not resumed.interrupted
    assert model.num_timesteps == 1000
    # Updates start once a minibatch (64) is stored: steps 64..1000 are 937 updates, as in an uninterrupted run. The
    # 130 steps after the checkpoint are the work lost, redone.
    assert model._n_updates == 1000 - 64 + 1
    assert model._current_progress_remaining == pytest.approx(0.0)  # schedules measured against the whole budget
    assert model.replay_buffer.size() == 1000  # 400 restored, 600 new
    log = pd.read_csv(out / "evaluations.csv")
    assert list(log.timesteps) == [200, 400, 600, 800, 1000]  # every evaluation step once
    assert log.wall_s.is_monotonic_increasing
    assert list(resumed.evaluation.evaluations_timesteps) == list(log.timesteps)
    assert latest_checkpoint(out / CHECKPOINTS).name == "step-000000001000"
    assert len(list((out / CHECKPOINTS).iterdir())) == 1  # older checkpoints are removed


def test_resume_puts_back_the_best_model_the_checkpoint_knew(tmp_path: Path) -> None:
    # A run stopped after its checkpoint may have saved a new best_model.zip (SB3's EvalCallback) from weights that the
    # resumed run never has; the resumed run must not list it as the best of its evaluations.
    from stable_baselines3.common.evaluation import evaluate_policy

    from sb3_ddpg_ext.envs import eval_seed, make_vec_env

    out = tmp_path / "run"
    out.mkdir()
    first = train(config(checkpoint_every=400), out, callbacks=[CtrlCAt(700)])
    assert latest_checkpoint(out / CHECKPOINTS).name == "step-000000000400"
    first.model.save(out / "best_model.zip")  # as EvalCallback does on a new best after the checkpoint: step 700's weights

    resumed = train(read_config(out), out, resume=True, callbacks=[CtrlCAt(401)])  # stop before anything new is evaluated
    log = pd.read_csv(out / "evaluations.csv")
    assert list(log.timesteps) == [200, 400]
    history = np.load(out / "evaluations.npz")  # the stopped run's evaluation at 600 leaves it too
    assert list(history["timesteps"]) == [200, 400]
    np.testing.assert_allclose(history["results"].mean(axis=1), log.mean_return)
    best = PaperDDPG.load(out / "best_model.zip")
    assert not np.array_equal(
        best.get_parameters()["policy"]["actor.mu.1.weight"], first.model.get_parameters()["policy"]["actor.mu.1.weight"]
    )
    # best_model.zip is the model of the best logged evaluation: evaluated as EvalAfterUpdates did, it scores the same.
    step = int(log.timesteps[log.mean_return.idxmax()])
    env = make_vec_env("Pendulum-v1", n_envs=1, seed=eval_seed(0))
    env.seed(eval_seed(0) + step)
    returns, _ = evaluate_policy(best, env, n_eval_episodes=2, deterministic=True, return_episode_rewards=True)
    assert np.mean(returns) == pytest.approx(log.mean_return.max(), abs=1e-6)
    assert resumed.interrupted


def test_the_best_evaluation_reported_is_the_one_best_model_zip_holds_when_evaluations_tie(
    zero_reward_pendulum: str, tmp_path: Path
) -> None:
    # SB3's EvalCallback keeps the first of equal means; sparse-reward tasks tie often (-50 for every failed Fetch run).
    out = tmp_path / "run"
    out.mkdir()
    result = train(config(env_id=zero_reward_pendulum, timesteps=600, checkpoint_every=None), out)
    assert list(pd.read_csv(out / "evaluations.csv").mean_return) == [0.0, 0.0, 0.0]
    assert result.best() == (200, 0.0, 0.0)
    assert PaperDDPG.load(out / "best_model.zip").num_timesteps == 200


def tensorboard_scalars(run_dir: Path) -> dict[str, list[tuple[int, float]]]:
    """(step, value) of every scalar tag as TensorBoard shows them: EventAccumulator applies the purge events."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run_dir))
    events.Reload()
    return {tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]}


def test_resumed_run_tensorboard_shows_each_step_once(tmp_path: Path) -> None:
    # Stopped after the checkpoint at 600 with the lost timeline's events (the episode log at 800, the evaluation at
    # 900) in the event file, then resumed in the same TensorBoard run folder: TensorBoard shows what the run did, each
    # step once, the checkpoint's own step (its evaluation, written before it) included. The evaluations are off the
    # logged episodes' steps (every 4th episode: 800), where any run also logs train/* twice at one step.
    out, tb = tmp_path / "run", tmp_path / "tb"
    out.mkdir()
    run = config(eval_every=300, eval_episodes=1, checkpoint_every=600, tensorboard_log=str(tb))
    first = train(run, out, callbacks=[CtrlCAt(950)])
    assert first.interrupted and latest_checkpoint(out / CHECKPOINTS).name == "step-000000000600"
    first.model.logger.close()  # the lost timeline's events on disk, as a process's writes may be when it is killed
    run_dir = tb / "PaperDDPG_1"
    lost = tensorboard_scalars(run_dir)
    assert [step for step, _ in lost["eval/mean_reward"]] == [300, 600, 900]
    assert [step for step, _ in lost["rollout/ep_rew_mean"]] == [800]
    # Another run logs to the same TensorBoard folder meanwhile (PaperDDPG_2, the newest): not the resumed run's.
    (tmp_path / "other").mkdir()
    other_run = config(timesteps=900, eval_every=300, eval_episodes=1, checkpoint_every=None, tensorboard_log=str(tb))
    train(other_run, tmp_path / "other").model.logger.close()
    others = tensorboard_scalars(tb / "PaperDDPG_2")

    resumed = train(read_config(out), out, resume=True)
    assert resumed.resumed_from == 600 and resumed.model.num_timesteps == 1000
    resumed.model.logger.close()
    assert sorted(p.name for p in tb.iterdir()) == ["PaperDDPG_1", "PaperDDPG_2"]  # the run's own folder continues
    assert tensorboard_scalars(tb / "PaperDDPG_2") == others
    scalars = tensorboard_scalars(run_dir)
    assert {"eval/mean_reward", "train/critic_loss", "rollout/ep_rew_mean", "time/fps"} <= set(scalars)
    for tag, points in scalars.items():
        steps = [step for step, _ in points]
        assert len(steps) == len(set(steps)), f"{tag}: {steps}"
    log = pd.read_csv(out / "evaluations.csv")
    assert list(log.timesteps) == [300, 600, 900]
    shown = dict(scalars["eval/mean_reward"])
    assert list(shown) == list(log.timesteps)  # the evaluation steps, each once
    np.testing.assert_allclose(list(shown.values()), log.mean_return, rtol=1e-6)  # the resumed run's values
    assert shown[900] != dict(lost["eval/mean_reward"])[900]  # the lost timeline's evaluation is hidden


def test_resume_restores_noise_buffer_normalization_and_optimizer(tmp_path: Path) -> None:
    out = tmp_path / "run"
    out.mkdir()
    first = train(config(timesteps=400, normalize=True), out)
    saved = first.model
    from sb3_ddpg_ext.checkpoint import load_checkpoint
    from sb3_ddpg_ext.run import make_envs

    env, _ = make_envs(read_config(out))
    model, state = load_checkpoint(latest_checkpoint(out / CHECKPOINTS), env)
    assert isinstance(model, PaperDDPG) and model.num_timesteps == 400 and state["config"] == read_config(out)
    np.testing.assert_array_equal(model.action_noise.noise_prev, saved.action_noise.noise_prev)
    # The buffer had not wrapped: the checkpoint holds its 400 rows (and one), not its 2000; loaded, it has them all.
    for name in ("observations", "next_observations", "actions", "rewards", "dones", "timeouts"):
        np.testing.assert_array_equal(getattr(model.replay_buffer, name), getattr(saved.replay_buffer, name))
    assert (model.replay_buffer.pos, model.replay_buffer.full, model.replay_buffer.buffer_size) == (400, False, 2000)
    whole = len(pickle.dumps(saved.replay_buffer))
    assert (latest_checkpoint(out / CHECKPOINTS) / "replay_buffer.pkl").stat().st_size < whole * 0.3
    np.testing.assert_allclose(model.get_vec_normalize_env().obs_rms.mean, saved.get_vec_normalize_env().obs_rms.mean)
    assert model.critic.optimizer.state_dict()["state"][0]["step"] == saved.critic.optimizer.state_dict()["state"][0]["step"]
    model.learn(50, reset_num_timesteps=False)  # it goes on filling rows 400..449
    assert model.replay_buffer.pos == 450


def interrupted_run(out: Path, **changes) -> RunConfig:
    """A run of ``config(**changes)`` (400 steps, a checkpoint every 100) stopped by Ctrl-C at step 250: its newest
    checkpoint is at step 200, and it has not finished."""
    out.mkdir()
    run = config(**{"timesteps": 400, "checkpoint_every": 100, **changes})
    assert train(run, out, callbacks=[CtrlCAt(250)]).interrupted
    return run


def files_of(folder: Path) -> dict[Path, tuple[int, bytes]]:
    """Every file under ``folder`` with its modification time and content: what a refused command must leave as is.
    The folder's lock file is left out: a command holds the folder (writing its pid there) before it reads the run."""
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.name != LOCK_FILE)
    return {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in files}


def test_resume_refuses_conflicting_options_and_folders_without_checkpoints(tmp_path: Path, cli) -> None:
    out = tmp_path / "run"
    interrupted_run(out)
    code, _, err = cli("train", "--resume", str(out), "--timesteps", "5000", "-p", "tau=0.01")
    assert code == 2 and "Traceback" not in err
    assert err.strip() == (
        "sb3-ddpg train: error: --resume takes the run's options from its checkpoint; these differ: --timesteps 5000 "
        "(the run's: 400); -p tau=0.01 (the run's: 0.001). Drop them, or start a new run"
    )
    code, _, err = cli(
        "train",
        "--resume",
        str(out),
        "--timesteps",
        "400",
        "-p",
        "buffer_size=2000",
        "--out",
        f"{out}/../run",
        "--no-progress-bar",
    )
    assert code == 0, err  # the same values, and the same folder written otherwise: fine
    code, _, err = cli("train", "--resume", str(tmp_path))
    assert code == 2 and "holds no checkpoint to resume: a run writes its first after --checkpoint-every N" in err
    assert_one_line_error(cli("train", "--resume", str(tmp_path / "nope")), f"{tmp_path / 'nope'}: no such run folder")
    code, _, err = cli("train", "--env", "Pendulum-v1")
    assert code == 2 and err.strip().endswith("--timesteps, --out required (or --resume RUN_FOLDER to continue a run)")


def test_resume_takes_a_value_given_at_its_default_and_another_device(tmp_path: Path, cli) -> None:
    # -p tau=0.001 is the run's tau (the default); the device is the machine's: a run of a GPU machine resumes on a CPU.
    import cloudpickle
    import torch as th

    from sb3_ddpg_ext.checkpoint import read_state

    out = tmp_path / "run"
    interrupted_run(out)
    checkpoint = latest_checkpoint(out / CHECKPOINTS)
    state = read_state(checkpoint)
    state["config"] = dataclasses.replace(state["config"], device="cuda")  # as a run started with --device cuda
    (checkpoint / "state.pkl").write_bytes(cloudpickle.dumps(state))
    if not th.cuda.is_available():
        message = f"{out} trained on device 'cuda', which this machine cannot use: resume with --device cpu"
        assert_one_line_error(cli("train", "--resume", str(out)), message)
    code, _, err = cli("train", "--resume", str(out), "--device", "cpu", "-p", "tau=0.001", "--no-progress-bar")
    assert code == 0, err
    assert_one_line_error(cli("train", "--resume", str(out / "evaluations.csv")), "is a file: --resume takes the run's folder")


def test_resume_compares_a_p_value_with_what_the_run_trains_with(tmp_path: Path, cli) -> None:
    # A preset sets values that the run's -p does not hold: rllab's reading uses running statistics for y.
    out = tmp_path / "run"
    interrupted_run(out, preset="rllab")
    refused = cli("train", "--resume", str(out), "-p", "bn_stats_for_y='batch'")
    assert_one_line_error(refused, "these differ: -p bn_stats_for_y='batch' (the run's: 'running')")
    code, _, err = cli("train", "--resume", str(out), "-p", "bn_stats_for_y='running'", "--no-progress-bar")
    assert code == 0, err


def test_resume_from_a_checkpoint_without_best_model_keeps_the_one_saved_before_it(tmp_path: Path) -> None:
    # Checkpoints of 0.3.0-0.5.0 hold no copy of best_model.zip: the one in the folder, saved at step 200 (the
    # checkpoint's), is the best the restored evaluations know; it was deleted. What a killed run left is cleaned up.
    out = tmp_path / "run"
    run = interrupted_run(out)
    checkpoint = latest_checkpoint(out / CHECKPOINTS)
    (checkpoint / "run-best_model.zip").unlink()
    assert PaperDDPG.load(out / "best_model.zip").num_timesteps == 200
    scratch = [out / ".evaluations-123-456.partial.npz", out / ".evaluations.csv.x1y2.partial"]
    for path in scratch:
        path.write_bytes(b"")
    (out / CHECKPOINTS / ".step-000000000300.partial").mkdir()
    result = train(run, out, resume=True)
    best_step = result.best()[0]
    assert PaperDDPG.load(out / "best_model.zip").num_timesteps == best_step  # kept, or replaced by a better one
    assert not any(path.exists() for path in scratch) and not (out / CHECKPOINTS / ".step-000000000300.partial").exists()


def test_a_damaged_checkpoint_is_one_line(tmp_path: Path, cli) -> None:
    out = tmp_path / "run"
    interrupted_run(out)
    checkpoint = latest_checkpoint(out / CHECKPOINTS)
    model = (checkpoint / "model.zip").read_bytes()
    (checkpoint / "model.zip").write_bytes(model[:1000])  # cut short by a copy
    message = f"{checkpoint} is damaged ({checkpoint / 'model.zip'} is damaged (a zip file cut short)"
    assert_one_line_error(cli("train", "--resume", str(out)), message)
    (checkpoint / "model.zip").write_bytes(model)
    (checkpoint / "replay_buffer.pkl").unlink()
    assert_one_line_error(cli("train", "--resume", str(out)), f"{checkpoint} is damaged (replay_buffer.pkl is missing)")


def test_resume_refuses_given_options_that_differ_even_at_their_default(tmp_path: Path, cli) -> None:
    # An option given on the command line counts, whatever its value: --seed 0 is the default, not the run's seed.
    out = tmp_path / "run"
    interrupted_run(out, seed=3, eval_every=100, eval_episodes=1)
    before = files_of(out)
    for given, message in (
        (["--seed", "0"], "these differ: --seed 0 (the run's: 3). Drop them"),
        (["--eval-episodes", "10"], "these differ: --eval-episodes 10 (the run's: 1). Drop them"),
        (["--eval-every", "5000"], "these differ: --eval-every 5000 (the run's: 100). Drop them"),
        (["--device", "auto", "--seed", "0"], "these differ: --seed 0 (the run's: 3). Drop them"),
        (["--overwrite"], "--overwrite replaces a run and --resume continues one: drop --overwrite"),
    ):
        assert_one_line_error(cli("train", "--resume", str(out), *given), message)
    assert files_of(out) == before  # refused before anything was built or written
    code, _, err = cli("train", "--resume", str(out), "--seed", "3", "--eval-episodes", "1", "--no-progress-bar")
    assert code == 0, err  # given, and the run's own values: fine


def test_resume_refuses_a_finished_run_and_rewrites_nothing(tmp_path: Path, cli) -> None:
    # Budget 300, checkpoints every 200: the run finished (model.zip, the evaluation at 300) after its last checkpoint
    # (200). Resuming it would train 200..300 again and replace its finished files.
    out = tmp_path / "run"
    options = "--env Pendulum-v1 --timesteps 300 --eval-every 150 --eval-episodes 1 --checkpoint-every 200".split()
    small = ["-p", "policy_kwargs=dict(net_arch=[32, 32])", "-p", "buffer_size=500", "--no-progress-bar"]
    code, _, err = cli("train", *options, *small, "--out", str(out))
    assert code == 0, err
    assert latest_checkpoint(out / CHECKPOINTS).name == "step-000000000200"
    assert PaperDDPG.load(out / "model.zip").num_timesteps == 300
    before = files_of(out)
    refused = cli("train", "--resume", str(out))
    assert_one_line_error(refused, f"{out} finished at step 300 of 300: nothing to resume; ")
    assert refused[1] == "" and files_of(out) == before
    # A run of a version before runs recorded their end (0.4.x: no checkpoints/finished.json): its model.zip at the
    # budget says it finished. The same file from 0.5.0 on without the record is a run stopped in its last evaluation.
    import zipfile

    from sb3_ddpg_ext import __version__ as PACKAGE_VERSION

    (out / CHECKPOINTS / FINISHED).unlink()
    with zipfile.ZipFile(out / "model.zip") as archive:
        entries = {name: archive.read(name) for name in archive.namelist()}
    saved_by = f'"sb3_ddpg_ext_version": "{PACKAGE_VERSION}"'.encode()
    assert saved_by in entries["data"]
    entries["data"] = entries["data"].replace(saved_by, b'"sb3_ddpg_ext_version": "0.4.0"')
    with zipfile.ZipFile(out / "model.zip", "w") as archive:
        for name, content in entries.items():
            archive.writestr(name, content)
    before = files_of(out)
    assert_one_line_error(cli("train", "--resume", str(out)), f"{out} finished at step 300 of 300: nothing to resume; ")
    assert files_of(out) == before


def test_only_a_completed_run_is_recorded_finished(ctrl_c_pendulum: str, tmp_path: Path, cli) -> None:
    # A real SIGINT at the training env's 150th step: exit code 130, model.zip saved, and no record of a finished run
    # (the checkpoint at 100 is resumed). The resumed env starts its count again and the run completes: recorded.
    out = tmp_path / "run"
    options = ["--timesteps", "200", "--eval-every", "1000", "--checkpoint-every", "100", "--no-progress-bar"]
    code, _, err = cli("train", "--env", ctrl_c_pendulum, *options, "-p", "buffer_size=500", "--out", str(out))
    assert code == 130 and "continues from the checkpoint at step 100" in err, err
    assert (out / "model.zip").is_file() and not (out / CHECKPOINTS / FINISHED).exists()
    code, out_text, err = cli("train", "--resume", str(out), "--no-progress-bar")
    assert code == 0 and f"resumed {out} from its checkpoint at step 100 of 200" in out_text, err
    assert (out / CHECKPOINTS / FINISHED).read_text() == '{"timesteps": 200}\n'
    assert_one_line_error(cli("train", "--resume", str(out)), f"{out} finished at step 200 of 200: nothing to resume; ")


def wait_for(condition, timeout: float = 240.0, every: float = 0.002) -> None:
    deadline = time.time() + timeout
    while not condition():
        assert time.time() < deadline, "timed out"
        time.sleep(every)


def test_a_run_folder_is_used_by_one_process_at_a_time(tmp_path: Path, cli) -> None:
    # A real run trains in the folder (the console script, a large budget). A second --resume of it and an --overwrite
    # of it are refused in one line naming its pid, and remove nothing; so is the run layer's train() (the harness and
    # the tuning trials). Once the run is killed with kill -9, the kernel has dropped its hold: the folder is free.
    from sb3_ddpg_ext.errors import UserError
    from sb3_ddpg_ext.rundir import run_folder_lock

    out = tmp_path / "run"
    small = ["-p", "policy_kwargs=dict(net_arch=[32, 32])", "-p", "buffer_size=5000", "--no-progress-bar"]
    options = "--env Pendulum-v1 --timesteps 100000 --eval-every 50000 --checkpoint-every 200".split()
    proc = subprocess.Popen([str(Path(sys.executable).parent / "sb3-ddpg"), "train", *options, *small, "--out", str(out)])
    try:
        wait_for(lambda: (out / CHECKPOINTS / "step-000000000200").is_dir(), every=0.05)
        in_use = f"{out} is in use by another process (pid {proc.pid}): wait for it to end, or stop it, then try again"
        assert_one_line_error(cli("train", "--resume", str(out), "--no-progress-bar"), in_use)
        overwrite = ["--env", "Pendulum-v1", "--timesteps", "1000", "--out", str(out), "--overwrite"]
        assert_one_line_error(cli("train", *overwrite, "--no-progress-bar"), in_use)
        assert (out / CHECKPOINTS / "step-000000000200").is_dir()  # the refused --overwrite removed nothing
        with pytest.raises(UserError, match=f"in use by another process \\(pid {proc.pid}\\)"):
            train(read_config(out), out, resume=True)
        assert proc.poll() is None  # the checks ran while it trained
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait(timeout=60)
    with run_folder_lock(out):
        pass


@pytest.mark.parametrize("moment", ["training", "saving"])
def test_sigkill_then_resume_finishes_at_the_budget(tmp_path: Path, moment: str, cli_run) -> None:
    # A real kill -9 of the console script, between checkpoints or while one is being written (a 1e6 replay buffer
    # takes a while to write), then --resume (in this process): the run ends at its budget with every evaluation once.
    out = tmp_path / "run"
    exe = str(Path(sys.executable).parent / "sb3-ddpg")
    options = "--env Pendulum-v1 --timesteps 1200 --eval-every 200 --eval-episodes 1 --checkpoint-every 200"
    cmd = [
        exe,
        "train",
        *options.split(),
        "--out",
        str(out),
        "--no-progress-bar",
        "-p",
        "policy_kwargs=dict(net_arch=[32, 32])",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    folder = out / CHECKPOINTS
    try:
        if moment == "training":
            wait_for(lambda: (folder / "step-000000000400").is_dir(), every=0.05)
        else:  # a checkpoint after the first one, caught while its files are written
            wait_for(
                lambda: folder.is_dir() and any(p.name.endswith(".partial") and "000400" in p.name for p in folder.iterdir())
            )
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    kept = latest_checkpoint(folder)
    assert kept is not None and kept.name in ("step-000000000200", "step-000000000400")
    if moment == "saving":
        assert kept.name == "step-000000000200"  # the checkpoint being written is not taken as one
    assert not (out / "model.zip").exists()
    resumed = cli_run("train", "--resume", str(out), "--no-progress-bar")
    assert resumed.returncode == 0, resumed.stderr
    assert "Traceback" not in resumed.stderr
    assert f"resumed {out} from its checkpoint at step {int(kept.name[5:])} of 1200" in resumed.stdout
    assert list(pd.read_csv(out / "evaluations.csv").timesteps) == [200, 400, 600, 800, 1000, 1200]
    assert PaperDDPG.load(out / "model.zip").num_timesteps == 1200
    assert not [p for p in folder.iterdir() if p.name.endswith(".partial")]
    assert (folder / FINISHED).is_file()  # the resumed run finished: a second --resume is refused


def test_sigterm_stops_a_run_as_ctrl_c_does(tmp_path: Path, cli_run) -> None:
    # SIGTERM, what a preempted machine sends: the run stops as for Ctrl-C (model and logs saved, the checkpoint to
    # resume from named), with exit code 143, and resumes to its budget.
    out = tmp_path / "run"
    options = "--env Pendulum-v1 --timesteps 1200 --eval-every 200 --eval-episodes 1 --checkpoint-every 200".split()
    small = ["-p", "policy_kwargs=dict(net_arch=[32, 32])", "--no-progress-bar", "--out", str(out)]
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "sb3-ddpg"), "train", *options, *small], stderr=subprocess.PIPE, text=True
    )
    try:
        wait_for(lambda: (out / CHECKPOINTS / "step-000000000400").is_dir(), every=0.05)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 143 and "Traceback" not in err, err
    assert "'sb3-ddpg train --resume" in err and (out / "model.zip").is_file()
    assert not [p for p in out.rglob("*") if ".partial" in p.name]
    resumed = cli_run("train", "--resume", str(out), "--no-progress-bar")
    assert resumed.returncode == 0, resumed.stderr
    assert list(pd.read_csv(out / "evaluations.csv").timesteps) == [200, 400, 600, 800, 1000, 1200]


def test_save_that_fails_mid_write_keeps_the_previous_file(tmp_path: Path) -> None:
    # A real write failure from the OS: a file-size limit (RLIMIT_FSIZE, as a full disk, fails the write with an
    # OSError) while saving over a good model. The good file stays, no partial file is left.
    path = tmp_path / "model.zip"
    PaperDDPG("MlpPolicy", "Pendulum-v1", buffer_size=100, seed=0).save(path)
    before = path.read_bytes()
    script = f"""
import resource, signal
from sb3_ddpg_ext import PaperDDPG
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
model = PaperDDPG("MlpPolicy", "Pendulum-v1", buffer_size=100, seed=1)
resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, resource.RLIM_INFINITY))
try:
    model.save({str(path)!r})
except OSError as e:
    print("OSError", e.errno)
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.stdout.startswith("OSError"), done.stdout + done.stderr
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.zip"]
    PaperDDPG.load(path)


def test_full_disk_mid_run_is_one_line_and_leaves_no_truncated_file(tmp_path: Path) -> None:
    # The OS refuses a write mid-run (a file-size limit, which fails writes as a full disk does): best_model.zip (about
    # 3.5 MB with its optimizers) does not fit at the first evaluation. One line naming the file, exit code 4, and no
    # truncated file left under a real name.
    import resource

    def limit() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (2_000_000, resource.RLIM_INFINITY))

    out = tmp_path / "run"
    exe = str(Path(sys.executable).parent / "sb3-ddpg")
    options = "--env Pendulum-v1 --timesteps 400 --eval-every 100 --eval-episodes 1 --checkpoint-every 200"
    done = subprocess.run(
        [exe, "train", *options.split(), "--out", str(out), "--no-progress-bar"],
        capture_output=True,
        text=True,
        timeout=300,
        preexec_fn=limit,
    )
    assert done.returncode == 4, done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert done.stderr == (
        f"sb3-ddpg train: error: cannot write ({out / 'best_model.zip'}): File too large; the files written before are "
        "intact (each is replaced whole or not at all)\n"
    )
    assert not (out / "best_model.zip").exists() and not (out / "model.zip").exists()
    assert not [p for p in out.rglob("*") if p.name.endswith(".partial")]


class CtrlCAtGlobalStep(gym.Wrapper):
    """Pendulum sending this process SIGINT at the ``at``-th step taken by any of its instances (training and
    evaluation envs together): 300 training steps, then the evaluation's."""

    steps = 0

    def __init__(self, env: gym.Env, at: int) -> None:
        super().__init__(env)
        self.at = at

    def step(self, action):
        CtrlCAtGlobalStep.steps += 1
        if CtrlCAtGlobalStep.steps == self.at:
            os.kill(os.getpid(), signal.SIGINT)
        return self.env.step(action)


def test_ctrl_c_in_the_last_evaluation_leaves_a_run_that_resumes(tmp_path: Path, cli_run) -> None:
    # Ctrl-C during the episodes of the evaluation at the budget: model.zip is at the budget, but the run did not
    # finish; the hint's --resume continues from the checkpoint and ends with the evaluation.
    from conftest import wrapped_pendulum

    CtrlCAtGlobalStep.steps = 0
    out = tmp_path / "run"
    with wrapped_pendulum("CtrlCLastEvalPendulum-v0", lambda env: CtrlCAtGlobalStep(env, 350)) as env_id:
        args = ["--timesteps", "300", "--eval-every", "300", "--eval-episodes", "1", "--checkpoint-every", "100"]
        first = cli_run("train", "--env", env_id, *args, "--out", str(out), "--no-progress-bar")
        assert first.returncode == 130, first.stderr
        assert "'sb3-ddpg train --resume" in first.stderr and "continues from the checkpoint at step 200" in first.stderr
        assert PaperDDPG.load(out / "model.zip").num_timesteps == 300 and not (out / CHECKPOINTS / FINISHED).exists()
        resumed = cli_run("train", "--resume", str(out), "--no-progress-bar")
    assert resumed.returncode == 0, resumed.stderr
    assert list(pd.read_csv(out / "evaluations.csv").timesteps) == [300] and (out / CHECKPOINTS / FINISHED).is_file()


def test_ctrl_c_after_the_evaluation_episodes_keeps_the_logs_and_best_model_agreeing(
    tmp_path: Path, cli_run, monkeypatch
) -> None:
    # Ctrl-C once SB3 has appended the evaluation, before it saves best_model.zip and the log (simulated at its
    # write of evaluations.npz): the run keeps that evaluation whole, best model and logs included, and no scratch file.
    savez, pressed = np.savez, []

    def savez_then_ctrl_c(file, *args, **kwargs):
        savez(file, *args, **kwargs)
        if ".evaluations-" in str(file) and 200 in list(kwargs.get("timesteps", [])) and not pressed:
            pressed.append(file)
            raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez", savez_then_ctrl_c)
    out = tmp_path / "run"
    args = ["--timesteps", "400", "--eval-every", "100", "--eval-episodes", "1", "--checkpoint-every", "100"]
    first = cli_run("train", "--env", "Pendulum-v1", *args, "--out", str(out), "--no-progress-bar")
    assert first.returncode == 130, first.stderr
    evaluations = pd.read_csv(out / "evaluations.csv")
    assert list(evaluations.timesteps) == [100, 200]
    assert list(np.load(out / "evaluations.npz")["timesteps"]) == [100, 200]
    best = int(evaluations.timesteps[evaluations.mean_return.idxmax()])
    assert PaperDDPG.load(out / "best_model.zip").num_timesteps == best
    assert f"at step {best} " in first.stdout
    assert not [p.name for p in out.iterdir() if "partial" in p.name]


@needs("robotics")
def test_a_her_run_resumes_from_a_checkpoint_of_its_written_rows(tmp_path: Path) -> None:
    # FetchReach with HER (on for a goal env): the checkpoint holds the rows written, not the 1e6 allocated; resumed,
    # the run ends at its budget with the buffer's rows and episode bounds continued (a new episode starts).
    from stable_baselines3 import HerReplayBuffer

    out = tmp_path / "run"
    out.mkdir()
    run = RunConfig("FetchReach-v4", 300, eval_every=100, eval_episodes=1, checkpoint_every=120, device="cpu")
    train(run, out, callbacks=[CtrlCAt(230)])
    checkpoint = latest_checkpoint(out / CHECKPOINTS)
    assert checkpoint.name == "step-000000000120"  # in the third episode
    assert (checkpoint / "replay_buffer.pkl").stat().st_size < 5_000_000  # whole: 300 MB
    resumed = train(read_config(out), out, resume=True)
    buffer = resumed.model.replay_buffer
    assert isinstance(buffer, HerReplayBuffer) and resumed.model.num_timesteps == 300
    assert buffer.pos == 300 and buffer.observations["observation"].shape[0] == buffer.buffer_size
    # Episodes of 50 steps; the one cut by the checkpoint ends at it (SB3's truncate_last_trajectory), and the last
    # one, unfinished, has no length yet.
    assert list(buffer.ep_length[:300, 0]) == [50] * 100 + [20] * 20 + [50] * 150 + [0] * 30
    assert list(pd.read_csv(out / "evaluations.csv").timesteps) == [100, 200, 300]


@pytest.mark.parametrize("float32, optimize", [(False, True), (True, False), (True, True)])
def test_a_checkpoint_saves_the_rows_written_and_loads_back_the_whole_buffer(
    tmp_path: Path, float32: bool, optimize: bool
) -> None:
    # Two envs, SB3's buffer or the float32 one, with and without optimize_memory_usage (the next observation of the
    # last row lives in the row after it): saved with its rows only, loaded with its capacity, every array equal.
    from stable_baselines3.common.env_util import make_vec_env

    from sb3_ddpg_ext.checkpoint import save_replay_buffer_rows
    from sb3_ddpg_ext.paper_ddpg.buffers import ROW_ARRAYS, Float32ReplayBuffer

    kwargs: dict = {"replay_buffer_class": Float32ReplayBuffer} if float32 else {}
    if optimize:  # SB3 supports only this combination
        kwargs["replay_buffer_kwargs"] = {"handle_timeout_termination": False}
    env = make_vec_env("Pendulum-v1", n_envs=2, seed=0)
    model = PaperDDPG(
        "MlpPolicy", env, buffer_size=5000, batch_size=16, optimize_memory_usage=optimize, seed=0, **kwargs
    ).learn(100)
    save_replay_buffer_rows(model, tmp_path / "buffer.pkl")
    loaded = PaperDDPG(
        "MlpPolicy",
        make_vec_env("Pendulum-v1", n_envs=2, seed=1),
        buffer_size=5000,
        batch_size=16,
        optimize_memory_usage=optimize,
        seed=1,
        **kwargs,
    )
    loaded.load_replay_buffer(tmp_path / "buffer.pkl")
    assert type(loaded.replay_buffer) is type(model.replay_buffer) and loaded.replay_buffer.pos == 50
    for name in ROW_ARRAYS:
        if getattr(model.replay_buffer, name, None) is not None:
            np.testing.assert_array_equal(getattr(loaded.replay_buffer, name), getattr(model.replay_buffer, name))
    assert (tmp_path / "buffer.pkl").stat().st_size < len(pickle.dumps(model.replay_buffer)) * 0.2
    loaded.learn(20, reset_num_timesteps=False)  # samples and fills as before
