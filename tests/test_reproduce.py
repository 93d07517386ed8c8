"""The reproduction harness (benchmarks/reproduce.py) on a tiny budget: CSVs, resume, aggregation, report."""

import csv
import importlib
import importlib.util
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers import needs

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def reproduce():
    # Imported by name from benchmarks/ (on sys.path, which spawned workers inherit) so that its runs can be pickled.
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        yield importlib.import_module("reproduce")
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))


def rows(path: Path) -> list[dict[str, str]]:
    with path.open() as f:
        return list(csv.DictReader(f))


@needs("tune")  # rliable: the report's IQM and bootstrap CIs
def test_runs_resume_and_report(reproduce, tmp_path: Path, capsys) -> None:
    # 2 seeds x 2 evaluations on Pendulum-v1, the seeds in 2 parallel processes.
    runs = [
        reproduce.Run("Pendulum-v1", "paper", seed, 200, 100, 2, tmp_path / "results", checkpoints=tmp_path / "ckpt")
        for seed in (0, 1)
    ]
    assert reproduce.run_campaign(runs, jobs=2) == runs
    for run in runs:
        evaluations = rows(run.csv)
        assert [int(r["timesteps"]) for r in evaluations] == [100, 200]
        assert all(r["episodes"] == "2" for r in evaluations)
        assert all(-2000 < float(r["mean_return"]) < 0 for r in evaluations)
        assert run.done.exists()
        assert run.csv == tmp_path / "results" / "Pendulum-v1" / "paper" / f"seed{run.seed}.csv"

    # Seed 1 is interrupted after its first evaluation: no marker, a CSV cut short. Seed 0 is finished.
    finished, unfinished = runs
    unfinished.done.unlink()
    unfinished.csv.write_text("\n".join(unfinished.csv.read_text().splitlines()[:2]) + "\n")
    mtime = finished.csv.stat().st_mtime_ns
    assert reproduce.pending(runs) == [unfinished]
    assert reproduce.run_campaign(runs, jobs=1) == [unfinished]  # only the unfinished run executes
    assert finished.csv.stat().st_mtime_ns == mtime
    assert [int(r["timesteps"]) for r in rows(unfinished.csv)] == [100, 200] and unfinished.done.exists()
    assert reproduce.run_campaign(runs, jobs=1) == []
    # A second campaign that listed it as pending before the first finished it: checked again under the run's lock.
    message, settled = reproduce.execute(finished)
    assert settled and message.endswith("finished meanwhile by another process")
    assert finished.csv.stat().st_mtime_ns == mtime
    longer = [reproduce.Run(r.task, r.config, r.seed, 400, 100, 2, r.results, checkpoints=r.checkpoints) for r in runs]
    with pytest.raises(SystemExit) as stop:  # finished at 200 steps: not a run of 400
        reproduce.pending(longer)
    assert stop.value.code == 2 and "last evaluation at step 200, not at the 400 steps asked" in capsys.readouterr().err
    logged = finished.csv.read_text()
    finished.csv.write_text("timesteps,mean_return\n")  # marked done, yet no evaluation logged: not a finished run of 200
    with pytest.raises(SystemExit):
        reproduce.pending(runs)
    assert "last evaluation at step none (no evaluation logged)" in capsys.readouterr().err
    finished.csv.write_text(logged)

    # Aggregation: with 2 seeds the IQM is the mean; the report has the table, the anchor and the plot.
    returns = np.array([[float(r["mean_return"]) for r in rows(run.csv)] for run in runs])  # (seeds, evaluations)
    finals, bests = returns[:, -1], returns.max(axis=1)
    summary = reproduce.summarize("paper", reproduce.load_runs(tmp_path / "results")["Pendulum-v1"]["paper"], 2, reps=100)
    assert summary.final[0] == pytest.approx(np.mean(finals), abs=1e-3)
    assert summary.last10[0] == pytest.approx(returns.mean(), abs=1e-3)  # both evaluations are the last 10
    # TD3's max average: the best point of the mean curve, not the mean of each seed's best.
    mean_curve = returns.mean(axis=0)
    assert summary.max_average == (pytest.approx(mean_curve.max()), [100, 200][int(mean_curve.argmax())])
    assert summary.final[1] <= summary.final[0] <= summary.final[2]
    np.testing.assert_array_equal(summary.steps, [100, 200])
    out = tmp_path / "docs" / "reproduction.md"
    text = reproduce.report(tmp_path / "results", out, reps=100, budget={}, commands=["python benchmarks/reproduce.py"])
    # Two seeds: no CI printed.
    max_average = f"{mean_curve.max():.0f} ({[100, 200][int(mean_curve.argmax())]})"
    assert f"| `paper` | 2 (2) | 200 | {np.mean(finals):.0f} | {returns.mean():.0f} | {max_average} |" in text
    assert "Budget 200 steps, evaluation every 100 steps (2 episodes each)." in text
    # Per seed: final / best / mean after half the budget (here the last evaluation only).
    assert f"| `paper` | {finals[0]:.0f} / {bests[0]:.0f} / {finals[0]:.0f} | {finals[1]:.0f} / {bests[1]:.0f} / " in text
    assert "RL Zoo SB3 DDPG (20k, one agent, +/- 94.28): -152.1 at 20,000 steps. Our budget (200) is 1% of it" in text
    assert (out.parent / "reproduction_Pendulum-v1.png").stat().st_size > 10_000
    assert out.read_text() == text
    assert "- `paper`: `PaperDDPG()` at the paper's settings" in text
    hours = sum(float(rows(run.csv)[-1]["wall_s"]) for run in runs) / 3600
    assert f"Compute: {hours:.1f} process-hours in these CSVs (`paper` {hours:.1f}): each run's" in text

    # Seeded bootstrap: regenerating from the same CSVs gives the same CIs; the hand-written reading is kept.
    notes = tmp_path / "notes.md"
    notes.write_text("## Reading\n\nWhat the evidence shows.\n")
    again = reproduce.report(tmp_path / "results", out, reps=100, budget={}, commands=[], notes=notes)
    assert again.startswith(text.split("## Commands")[0]) and again.rstrip().endswith("What the evidence shows.")


def test_killed_campaign_resumes_from_its_checkpoints(reproduce, tmp_path: Path, capsys) -> None:
    # reproduce.py run killed with SIGKILL after a checkpoint; the same command again (in this process: one job runs
    # in it) resumes the run, which ends at its budget with every evaluation once, and its checkpoint folder is removed.
    import os
    import signal
    import subprocess
    import time

    cmd = [
        sys.executable,
        str(ROOT / "benchmarks" / "reproduce.py"),
        "run",
        "--task",
        "Pendulum-v1",
        "--steps",
        "800",
        "--eval-every",
        "200",
        "--eval-episodes",
        "1",
        "--seeds",
        "0",
        "--configs",
        "paper",
        "--jobs",
        "1",
        "--results",
        str(tmp_path / "results"),
        "--checkpoints",
        str(tmp_path / "ckpt"),
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 300
    try:
        while not list((tmp_path / "ckpt").rglob("step-000000000400")):
            assert time.time() < deadline and proc.poll() is None
            time.sleep(0.05)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the runner and its worker
        proc.wait()
    csv_path = tmp_path / "results" / "Pendulum-v1" / "paper" / "seed0.csv"
    assert not csv_path.with_suffix(".done").exists()
    # A new machine: the checkpoints are copied beside the CSV (to commit), and the cache is gone.
    jobs = cmd.index("--jobs")
    reproduce.main(["stash", *cmd[3:jobs], *cmd[jobs + 2 :]])  # the same runs (stash takes no --jobs)
    stashed = capsys.readouterr().out
    assert "Pendulum-v1 paper seed 0: stashed at step " in stashed and "0 unfinished runs have no checkpoint" in stashed
    stash = csv_path.with_suffix(".checkpoint")
    assert len(list(stash.glob("step-*"))) == 1
    shutil.rmtree(tmp_path / "ckpt")
    reproduce.main(cmd[2:])
    out = capsys.readouterr().out
    assert "resumed from step 400" in out or "resumed from step 600" in out, out
    assert [int(r["timesteps"]) for r in rows(csv_path)] == [200, 400, 600, 800]
    assert "resumed from step" in csv_path.with_suffix(".done").read_text()
    assert not list((tmp_path / "ckpt").rglob("step-*")) and not stash.exists()  # finished: nothing left to resume


@needs("mujoco")
def test_a_stashed_checkpoint_resumes_as_the_checkpoint_itself(reproduce, tmp_path: Path) -> None:
    # SB3's DDPG on a MuJoCo task keeps float64 observations, which the stash keeps as float32: the run continued from
    # the stash takes the same updates as the run continued from the checkpoint (exact equality of every weight).
    import torch as th
    from stable_baselines3 import DDPG
    from stable_baselines3.common.env_util import make_vec_env

    from sb3_ddpg_ext.checkpoint import load_checkpoint, save_checkpoint

    def env():
        return make_vec_env("InvertedPendulum-v5", n_envs=1, seed=3)

    model = DDPG("MlpPolicy", env(), learning_starts=100, batch_size=32, policy_kwargs=dict(net_arch=[16]), seed=3)
    model.learn(300)  # episodes end and restart: rows whose next observation is not the next row's
    assert model.replay_buffer.observations.dtype == np.float64
    checkpoint = save_checkpoint(tmp_path / "ckpt", model, {})
    stashed = reproduce.stash(tmp_path / "ckpt", tmp_path / "stash")
    assert stashed is not None and reproduce.stash(tmp_path / "ckpt", tmp_path / "stash") is None  # nothing newer
    buffer_bytes = (checkpoint / "replay_buffer.pkl").stat().st_size
    assert (stashed / "replay_buffer.npz").stat().st_size < buffer_bytes / 2
    restored = reproduce.unstash(tmp_path / "stash", tmp_path / "new-machine")
    assert restored.name == checkpoint.name

    weights = []
    for source in (checkpoint, restored):
        resumed, _ = load_checkpoint(source, env(), device="cpu")
        for name in ("observations", "next_observations", "actions", "rewards", "dones", "timeouts"):
            array = getattr(resumed.replay_buffer, name)
            assert array.shape == getattr(model.replay_buffer, name).shape  # the capacity, as SB3 allocated it
            np.testing.assert_array_equal(array.astype(np.float32), getattr(model.replay_buffer, name).astype(np.float32))
        resumed.learn(200, reset_num_timesteps=False)
        weights.append(resumed.policy.state_dict())
    for name, value in weights[0].items():
        assert th.equal(value, weights[1][name]), name


@needs("tune")  # rliable
def test_report_says_where_paper_stands_against_zoo_ddpg(reproduce) -> None:
    def seeds(finals: list[float], steps: int = 3) -> dict[int, np.ndarray]:
        return {k: np.array([[5000 * (i + 1), f * (i + 1) / steps] for i in range(steps)]) for k, f in enumerate(finals)}

    zoo = reproduce.summarize("zoo-ddpg", seeds([1000, 1000, 990, 1000]), 4, reps=200)
    behind = reproduce.versus_sb3([reproduce.summarize("paper", seeds([60, 40, 220, 100]), 4, reps=200), zoo])
    assert behind.startswith("- **`paper` against `zoo-ddpg`** (4 and 4 seeds, at 15,000 steps)")
    assert "IQM of 80 against 1000, behind by 920 (CIs apart)" in behind
    level = reproduce.versus_sb3([reproduce.summarize("paper", seeds([1000, 980, 1000, 1000]), 4, reps=200), zoo])
    assert "against 1000" in level and "(CIs overlap)" in level
    # In progress: compared at the last step both reached; one seed gives no interval.
    partial = reproduce.versus_sb3(
        [reproduce.summarize("paper", seeds([-60], 6), 0, 200), reproduce.summarize("zoo-ddpg", seeds([-3], 2), 0, 200)]
    )
    assert "so far (1 and 1 seeds, at 10,000 steps" in partial and "IQM of -20 against -3" in partial
    assert partial.endswith("(too few seeds for CIs).")
    assert reproduce.versus_sb3([zoo]) is None
    diverged = reproduce.summarize("paper", seeds([float("nan")] * 4), 4, reps=200)
    assert "(a run diverged: no gap to give)" in reproduce.versus_sb3([diverged, zoo])


def test_per_seed_table_shows_what_each_run_holds_and_marks_runs_in_progress(reproduce) -> None:
    # Seed 0 reaches 1000 and loses it; seed 2 is at 20k of 40k, so nothing past half the budget yet; no seed 1.
    curve = np.array([[10_000, 1000.0], [20_000, 50.0], [30_000, 40.0], [40_000, 60.0]])
    table = reproduce.per_seed_table({"paper": {0: curve, 2: curve[:2]}}, {"paper": {0}}, budget=40_000)
    assert "after 20,000 steps (half the budget)" in table[0]
    assert table[2:4] == ["| config | seed 0 | seed 1 | seed 2 |", "|---|---|---|---|"]
    assert table[4] == "| `paper` | 60 / 1000 / 50 |  | 50 / 1000 / - *(at 20,000)* |"


@needs("tune")  # rliable
def test_bootstrap_is_seeded_and_leaves_numpy_alone(reproduce) -> None:
    scores = np.array([-810.0, -828.0, -638.0, -226.0, -914.0])  # spread enough that resamples differ between draws
    np.random.seed(5)
    expected_next = np.random.rand()
    np.random.seed(5)
    first = reproduce.iqm_ci(scores, reps=2000)
    assert np.random.rand() == expected_next  # the global generator is restored
    assert reproduce.iqm_ci(scores, reps=2000) == first
    assert first[1] < first[0] < first[2]


@needs("zoo")  # rl-zoo3's hyperparams/ddpg.yml
def test_zoo_ddpg_reads_rl_zoo3_hyperparameters(reproduce) -> None:
    from stable_baselines3 import DDPG
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.noise import NormalActionNoise

    pendulum = reproduce.zoo_ddpg_hyperparams("Pendulum-v1")
    assert (pendulum["gamma"], pendulum["learning_starts"], pendulum["noise_std"]) == (0.98, 10_000, 0.1)
    assert reproduce.zoo_ddpg_hyperparams("HalfCheetah-v5")["batch_size"] == 256  # the -v4 entry
    assert reproduce.zoo_ddpg_hyperparams("InvertedPendulum-v5") == reproduce.zoo_ddpg_hyperparams("HalfCheetah-v4")
    model = reproduce.make_zoo_ddpg(make_vec_env("Pendulum-v1"), "Pendulum-v1", 0)
    assert type(model) is DDPG and (model.gamma, model.buffer_size, model.learning_starts) == (0.98, 200_000, 10_000)
    assert isinstance(model.action_noise, NormalActionNoise)
    np.testing.assert_array_equal(model.action_noise._sigma, [0.1])
    assert model.actor.mu[0].out_features == 400  # policy_kwargs: net_arch=[400, 300]
    assert reproduce.default_eval_every(1_000_000) == 5_000 and reproduce.default_eval_every(30_000) == 600


def test_campaign_blocks_name_known_configs_and_anchored_tasks(reproduce) -> None:
    assert reproduce.CAMPAIGN  # the loop checks something
    for task, steps, seeds, configs in reproduce.CAMPAIGN:
        assert set(configs) <= set(reproduce.CONFIGS) and task in reproduce.ANCHORS and steps >= 100_000 and seeds


def test_every_config_is_described_and_its_values_pass_the_checks_of_p(reproduce) -> None:
    # A typo in a config (tua=1e-2) would otherwise surface hours into a campaign, when its run starts.
    from sb3_ddpg_ext.params import read_config_values
    from sb3_ddpg_ext.preflight import check_values

    assert set(reproduce.CONFIGS) <= set(reproduce.DESCRIPTIONS)
    for name, spec in reproduce.CONFIGS.items():
        if isinstance(spec, dict):  # the others build SB3's DDPG (zoo-ddpg)
            check_values(read_config_values(spec, f"config {name}"), f"config {name}")


def test_a_run_of_two_evaluations_needs_no_checkpoint(reproduce, tmp_path: Path, capsys) -> None:
    # The default checkpoint interval is two evaluations: a run that short had one equal to its budget, which the
    # run layer refuses; it came out as a traceback that stopped the campaign.
    args = ["run", "--task", "Pendulum-v1", "--steps", "200", "--eval-every", "100", "--eval-episodes", "1", "--seeds", "0"]
    reproduce.main(
        [*args, "--configs", "paper", "--jobs", "1", "--results", str(tmp_path / "r"), "--checkpoints", str(tmp_path / "c")]
    )
    assert [int(r["timesteps"]) for r in rows(tmp_path / "r" / "Pendulum-v1" / "paper" / "seed0.csv")] == [100, 200]
    assert (tmp_path / "r" / "Pendulum-v1" / "paper" / "seed0.done").exists()


def test_pixels_report_refuses_a_figure_format_matplotlib_cannot_write(tmp_path: Path, monkeypatch, capsys) -> None:
    # benchmarks/pixels.py report --out: the format comes from the extension, checked before any result is read.
    spec = importlib.util.spec_from_file_location("pixels_benchmark", ROOT / "benchmarks" / "pixels.py")
    pixels = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(pixels)
    out = tmp_path / "pixels.txt"
    monkeypatch.setattr(sys, "argv", ["pixels.py", "report", "--results", str(tmp_path), "--out", str(out)])
    with pytest.raises(SystemExit) as exited:
        pixels.main()
    assert exited.value.code == 2
    assert f"--out {out}: matplotlib cannot write '.txt' files" in capsys.readouterr().err


def test_harness_mistakes_are_one_line_and_exit_2(reproduce, tmp_path: Path, capsys) -> None:
    # The report is written over the committed docs/reproduction.md by default: a mistyped folder or budget, or a CSV
    # cut short by a copy, must stop it with one line instead of writing a wrong or empty report.
    folder = tmp_path / "r" / "Pendulum-v1" / "paper"
    folder.mkdir(parents=True)
    header = "timesteps,mean_return,std_return,min_return,max_return,episodes,wall_s\n"
    good = header + "100,-900.5,1,-901,-899,2,3.0\n200,-800.5,1,-801,-799,2,6.0\n"
    (folder / "seed0.csv").write_text(good)
    (folder / "seed0.done").write_text("finished\n")
    out = tmp_path / "report.md"
    report = ["report", "--results", str(tmp_path / "r"), "--out", str(out), "--reps", "10"]
    run = ["run", "--results", str(tmp_path / "r"), "--checkpoints", str(tmp_path / "c"), "--eval-episodes", "1"]
    cases = [
        (["report", "--results", str(tmp_path / "nope"), "--out", str(out)], "no evaluation under"),
        ([*report, "--budget", "InvertdPendulum-v5=100000"], "cannot make InvertdPendulum-v5"),
        ([*report, "--budget", "Pendulum-v1=300"], "marks a finished run, but its CSV ends at step 200 of the 300"),
        ([*report, "--notes", str(tmp_path / "missing.md")], f"--notes {tmp_path / 'missing.md'}: no such file"),
        ([*run, "--task", "Pendulm-v1", "--steps", "200"], "cannot make Pendulm-v1"),
    ]
    for argv, message in cases:
        with pytest.raises(SystemExit) as stop:
            reproduce.main(argv)
        err = capsys.readouterr().err
        assert stop.value.code == 2 and len(err.strip().splitlines()) == 1 and message in err, err
    assert not out.exists() and not (tmp_path / "c").exists()
    # A budget that is not a multiple of the interval: the last evaluation falls within one interval of it.
    reproduce.main([*report, "--budget", "Pendulum-v1=250"])
    assert out.is_file()
    out.unlink()
    # A row cut inside its return ("200,-80") would read as a return of -80.
    (folder / "seed0.csv").write_text(good[: good.rindex("0.5,1,-801")])
    with pytest.raises(SystemExit) as stop:
        reproduce.main(report)
    assert "seed0.csv: line 3 is incomplete (2 of its 7 columns)" in capsys.readouterr().err and stop.value.code == 2
    # argparse's own checks (the package's at_least, as sb3-ddpg's options: 1e5 is an integer): exit 2, its usage line.
    for argv, message in (
        (["report", "--budget", "Pendulum-v1"], "'Pendulum-v1' is not TASK=STEPS"),
        (["report", "--budget", "Pendulum-v1=1e5x"], "'1e5x' is not an integer"),
        (["run", "--steps", "0"], "must be >= 1, got 0"),
    ):
        with pytest.raises(SystemExit) as stop:
            reproduce.main(argv)
        assert stop.value.code == 2 and message in capsys.readouterr().err
    for option, value, minimum in (
        ("--seeds", "-1", 0),
        ("--eval-every", "0", 1),
        ("--jobs", "0", 1),
        ("--eval-episodes", "0", 1),
    ):
        with pytest.raises(SystemExit) as stop:
            reproduce.main(["run", option, value])
        assert stop.value.code == 2 and f"must be >= {minimum}, got {value}" in capsys.readouterr().err
    # A run that cannot finish (10 steps: no gradient step) says why, and the command does not exit 0.
    with pytest.raises(SystemExit) as stop:
        reproduce.main(
            [*run, "--task", "Pendulum-v1", "--steps", "10", "--eval-every", "5", "--seeds", "1", "--configs", "paper"]
        )
    captured = capsys.readouterr()
    assert stop.value.code == 1 and "1 of 1 runs did not finish" in captured.err
    assert "Pendulum-v1 paper seed 1: not finished: " in captured.out
