"""Optuna tuning (the ``tune`` extra): embedded journal storage, a real PostgreSQL server, pruning, divergence,
resume, report. In process (``cli``) but for the smoke tests of tune and tune-report, a killed worker, Ctrl-C, and
workers on another host."""

import re
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from helpers import SB3_DDPG, needs

from sb3_ddpg_ext import PaperDDPG
from sb3_ddpg_ext.cli import main as cli_main
from sb3_ddpg_ext.search_space import DEFAULT_SEARCH_SPACE, PAPER_PARAMS
from sb3_ddpg_ext.tune import workers
from sb3_ddpg_ext.tune.report import validate_on_fresh_seeds
from sb3_ddpg_ext.tune.spec import StudySpec
from sb3_ddpg_ext.tune.workers import WorkerInterrupted, create_study, requeue, run_worker

optuna = pytest.importorskip("optuna")  # the tune extra: every test here runs or reads a study

TINY = ["--env", "Pendulum-v1", "--timesteps", "200", "--eval-every", "100"]
FINISHED = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)


def test_embedded_study_completes_and_resumes_without_repeating_the_paper_trial(journal, tmp_path: Path, capsys) -> None:
    args = ["tune", *TINY, "--n-trials", "2", "--out", str(tmp_path), "--study-name", "s", "--sampler-seed", "1"]
    assert cli_main(args) == 0
    assert "study 's': 2 finished trials of 2 (2 finished by this worker)" in capsys.readouterr().out
    study = optuna.load_study(study_name="s", storage=journal(tmp_path / "study.journal"))
    assert [t.state for t in study.trials] == [optuna.trial.TrialState.COMPLETE] * 2
    assert study.trials[0].params == PAPER_PARAMS and study.trials[0].user_attrs["paper_defaults"]
    # The same command again would do nothing: refused in one line. A larger budget: resumes where it stopped.
    assert cli_main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(
        "sb3-ddpg tune: error: study 's' already has 2 finished trials of the 2 asked: no trial to run; raise"
    )
    assert len(err.splitlines()) == 1
    assert cli_main([*args[:-6], "--n-trials", "3", "--out", str(tmp_path), "--study-name", "s", "--sampler-seed", "2"]) == 0
    study = optuna.load_study(study_name="s", storage=journal(tmp_path / "study.journal"))
    assert len(study.trials) == 3
    assert sum(t.params == PAPER_PARAMS for t in study.trials) == 1
    assert sum(bool(t.user_attrs.get("paper_defaults")) for t in study.trials) == 1


@needs("zoo")
def test_report_plots_and_zoo_yaml_that_rl_zoo_loads(journal, tmp_path: Path, capsys) -> None:
    from sb3_ddpg_ext import zoo

    assert (
        cli_main(["tune", *TINY, "--n-trials", "3", "--out", str(tmp_path), "--study-name", "r", "--sampler-seed", "0"]) == 0
    )
    assert cli_main(["tune-report", "--study-name", "r", "--out", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    assert "| paper (#0) |" in printed and "| best (#" in printed and "Parameter importances:" in printed
    for name in ("optimization_history", "param_importances", "parallel_coordinate"):
        assert (tmp_path / f"{name}.png").stat().st_size > 1000 and (tmp_path / f"{name}.html").exists()
    exported = tmp_path / "paper_ddpg_tuned.yml"
    entry = yaml.safe_load(exported.read_text())["Pendulum-v1"]
    best = optuna.load_study(study_name="r", storage=journal(tmp_path / "study.journal")).best_trial
    assert {k: entry[k] for k in PAPER_PARAMS} == best.params
    assert entry["critic_weight_decay"] == 0.01 and entry["ou_theta"] == 0.15
    # rl-zoo3's ExperimentManager builds and trains from it.
    assert zoo.main(["train", "--env", "Pendulum-v1", "-n", "100", "-conf", str(exported), "-f", str(tmp_path / "logs")]) == 0


def test_pruner_prunes_a_hopeless_configuration(journal, tmp_path: Path) -> None:
    spec = StudySpec(
        env_id="Pendulum-v1",
        n_trials=4,
        timesteps=400,
        eval_every=100,
        eval_episodes=1,
        pruner={"name": "median", "n_startup_trials": 3, "n_warmup_steps": 0},
    )
    study = create_study(spec, journal(tmp_path / "p.journal"), sampler_seed=0)
    # Three finished trials that learned well (return -150 at every report) make the history to compare with.
    dist = {k: optuna.distributions.FloatDistribution(r.low, r.high, log=r.log) for k, r in spec.search_space.items()}
    for _ in range(3):
        study.add_trial(
            optuna.trial.create_trial(
                params=PAPER_PARAMS,
                distributions=dist,
                value=-150.0,
                intermediate_values={s: -150.0 for s in (100, 200, 300, 400)},
            )
        )
    # The one trial left to run (#0, the enqueued configuration) has 100 steps of training at its first report:
    # an agent that returns about -1200 against a median of -150, so the pruner stops it there.
    run_worker(study, spec, n_trials=4, poll_seconds=0.1)
    trial = study.trials[0]
    assert trial.state == optuna.trial.TrialState.PRUNED
    assert list(trial.intermediate_values) == [100]


def test_diverging_trial_is_recorded_and_the_study_goes_on(nan_pendulum: str, journal, tmp_path: Path) -> None:
    spec = StudySpec(env_id=nan_pendulum, n_trials=2, timesteps=200, eval_every=100, eval_episodes=1)
    study = create_study(spec, journal(tmp_path / "n.journal"), sampler_seed=0)
    run_worker(study, spec, n_trials=2, poll_seconds=0.1)
    assert [t.state for t in study.trials] == [optuna.trial.TrialState.PRUNED] * 2  # both ran: the study went on
    reason = study.trials[0].user_attrs["failure_reason"]
    # SB3's VecCheckNan (every run's envs) names the source, the env's reward, before the critic's loss goes NaN.
    assert reason == "seed 0: the environment gave nan in rewards at step 80 (SB3's VecCheckNan): fix or wrap the env"


def wait_for_running_trial(study_name: str, storage, timeout: float = 120) -> optuna.trial.FrozenTrial:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        time.sleep(0.5)
        try:
            running = optuna.load_study(study_name=study_name, storage=storage).get_trials(
                states=(optuna.trial.TrialState.RUNNING,)
            )
        except KeyError:
            continue
        # Its worker has claimed it (set just after start) and sampled all its parameters: a trial killed before then
        # is re-run with the whole configuration, not the part this snapshot would hold (a race on a loaded machine,
        # where the sampling can come seconds later; seen in a CI rehearsal at load 8).
        running = [t for t in running if "worker" in t.user_attrs and len(t.params) == len(DEFAULT_SEARCH_SPACE)]
        if running:
            return running[0]
    raise AssertionError("the worker never started a trial")


def assert_killed_trial_rerun(study: optuna.Study, killed: optuna.trial.FrozenTrial, n_trials: int) -> None:
    states = [t.state for t in study.trials]
    assert optuna.trial.TrialState.RUNNING not in states
    assert sum(s in FINISHED for s in states) == n_trials
    assert study.trials[killed.number].state == optuna.trial.TrialState.FAIL
    # The killed configuration was re-queued and finished: nothing lost.
    assert any(t.params == killed.params and t.state in FINISHED for t in study.trials if t.number != killed.number)


def test_killed_local_worker_on_the_embedded_storage(journal, cli, tmp_path: Path) -> None:
    # Trials long enough to be killed mid-way; the survivor resumes with the same budget.
    args = [
        "tune",
        *TINY,
        "--n-trials",
        "3",
        "--study-name",
        "k",
        "--out",
        str(tmp_path),
        "--timesteps",
        "600",
        "--eval-every",
        "200",
    ]
    victim = subprocess.Popen([SB3_DDPG, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    killed = wait_for_running_trial("k", journal(tmp_path / "study.journal"))
    time.sleep(1.0)
    victim.send_signal(signal.SIGKILL)
    victim.communicate(timeout=30)
    code, _, err = cli(*args)  # the survivor, in this process: the victim's pid is dead, its trial is re-queued
    assert code == 0, err
    assert_killed_trial_rerun(optuna.load_study(study_name="k", storage=journal(tmp_path / "study.journal")), killed, 3)


@needs("tune")  # rliable
def test_fresh_seed_validation_reports_rliable_iqm(capsys) -> None:
    spec = StudySpec(env_id="Pendulum-v1", n_trials=1, timesteps=100, eval_every=100, eval_episodes=1)
    lines = validate_on_fresh_seeds(spec, PAPER_PARAMS, dict(PAPER_PARAMS, tau=0.005), n_seeds=2)
    progress = capsys.readouterr().err.splitlines()
    assert progress[0] == "fresh seeds: run 1/4 (paper, seed 1000, 100 steps)" and progress[-1].startswith(
        "fresh seeds: run 4/4"
    )
    assert lines[0].startswith("Fresh seeds 1000..1001")
    rows = [line for line in lines if line.startswith(("| paper", "| best"))]
    assert len(rows) == 2
    for row in rows:
        mean, iqm = (float(cell) for cell in row.split("|")[2:4])
        assert -2000 < iqm < 0 and -2000 < mean < 0
    # The best trial is the paper's configuration: its runs are trained once, and the report says so.
    lines = validate_on_fresh_seeds(spec, PAPER_PARAMS, dict(PAPER_PARAMS), n_seeds=2)
    progress = capsys.readouterr().err.splitlines()
    assert progress == [f"fresh seeds: run {k}/2 (paper, seed {999 + k}, 100 steps)" for k in (1, 2)]
    assert "The best trial has the paper's values: its row repeats the paper's runs." in lines
    paper, best = (next(row.split("|")[2:] for row in lines if row.startswith(f"| {label} ")) for label in ("paper", "best"))
    assert paper == best


@pytest.mark.parametrize(
    "spec, message",
    [
        (
            {"env_id": "Pendulum-v1", "search_space": {"tauu": {"low": 1e-4, "high": 1e-2}}},
            "'tauu'; did you mean 'tau'?",
        ),
        ({"env_id": "Pendulum-v1", "search_space": {"tau": {"low": 1e-2, "high": 1e-2}}}, "empty range"),
        ({"env_id": "Pendulum-v1", "search_space": {}}, "search_space is empty"),
        ({"env_id": "Pendulum-v1", "search_space": {"tau": {"low": 1e-2, "high": 1e-1}}}, "must contain the paper's 0.001"),
        ({"env_id": "Pendulum-v1", "n_trails": 3}, "unknown key(s) n_trails"),
        (
            {"env_id": "Pendulum-v1", "fixed": {"batch_sise": 32}},
            "fixed: unknown PaperDDPG parameter 'batch_sise'",
        ),
        ({"env_id": "Pendulum-v1", "timesteps": 1000, "eval_every": 300}, "must be a multiple of eval_every"),
    ],
)
def test_bad_specs(spec: dict, message: str, cli, tmp_path: Path) -> None:
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    code, _, err = cli("tune", "--spec", str(path), "--out", str(tmp_path))
    assert code == 2 and message in err and "Traceback" not in err, err


@pytest.mark.parametrize(
    "url, message",
    [
        ("mysql://u@localhost/db", "unsupported storage URL"),
        ("postgresql+psycopg://u:secret@127.0.0.1:1/db", "cannot open storage postgresql+psycopg://u:***@127.0.0.1:1/db"),
    ],
)
def test_bad_storage_urls(url: str, message: str, cli, tmp_path: Path) -> None:
    code, out, err = cli("tune", *TINY, "--n-trials", "1", "--storage", url, "--out", str(tmp_path))
    assert code == 2 and message in err and "Traceback" not in err, err
    assert "secret" not in err + out


@pytest.mark.parametrize("storage", [[], ["--storage", "sqlite:///{}/s.db"]], ids=["journal", "sqlite"])
def test_heartbeat_options_without_postgres_are_refused(storage: list[str], cli, tmp_path: Path) -> None:
    # They were silently ignored: only PostgreSQL gets heartbeats.
    storage = [a.format(tmp_path) for a in storage]
    code, _, err = cli("tune", *TINY, "--n-trials", "1", "--out", str(tmp_path / "t"), *storage, "--grace-period", "10")
    assert code == 2 and err.strip().endswith(
        "--grace-period has no effect here: heartbeats are for a PostgreSQL --storage; drop it"
    )
    assert not (tmp_path / "t").exists() and not (tmp_path / "s.db").exists()


def test_the_study_line_hides_the_storage_password(postgres_url: str, cli, tmp_path: Path) -> None:
    # The server trusts loopback: a password in the URL is accepted, and must not be printed.
    url = postgres_url.replace("postgres@", "postgres:S3cretPW@")
    code, out, err = cli("tune", *TINY, "--n-trials", "1", "--study-name", "pw", "--storage", url, "--out", str(tmp_path))
    assert code == 0, err
    assert "study 'pw' on postgresql+psycopg://postgres:***@" in out and "S3cretPW" not in out + err


@needs("robotics")
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
    assert trial.user_attrs["value_is"] == "success rate"
    assert cli_main(["tune-report", "--study-name", "f", "--out", str(tmp_path)]) == 0
    report = (tmp_path / "report.md").read_text()
    assert "Value = mean final deterministic success rate over" in report
    assert "other values: the her-paper preset's" in (tmp_path / "paper_ddpg_tuned.yml").read_text()


# --- distributed workers on a real PostgreSQL 15 server (the postgres_url fixture, conftest.py) ---------------


def tune_worker(url: str, study_name: str, n_trials: int, out: Path, *extra: str, host: str | None = None) -> subprocess.Popen:
    """A worker process; with ``host``, in its own UTS namespace under that hostname, as on another machine."""
    args = [
        SB3_DDPG,
        "tune",
        *TINY,
        "--n-trials",
        str(n_trials),
        "--storage",
        url,
        "--study-name",
        study_name,
        "--out",
        str(out),
        *extra,
    ]
    if host:
        args = ["unshare", "--uts", "--", "sh", "-c", f'hostname {host} && exec "$@"', "sh", *args]
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_two_postgres_workers_share_one_study_and_finish_exactly_n(postgres_url: str, tmp_path: Path) -> None:
    workers = [tune_worker(postgres_url, "shared", 5, tmp_path) for _ in range(2)]
    outputs = [w.communicate(timeout=600) for w in workers]
    assert all(w.returncode == 0 for w in workers), outputs
    seeds = {line.rsplit("sampler seed ", 1)[1] for out, _ in outputs for line in out.splitlines() if "sampler seed" in line}
    assert len(seeds) == 2  # each worker samples with its own seed
    study = optuna.load_study(study_name="shared", storage=postgres_url)
    assert sum(t.state in FINISHED for t in study.trials) == 5
    assert not [t for t in study.trials if t.state == optuna.trial.TrialState.RUNNING]
    assert sum(bool(t.user_attrs.get("paper_defaults")) for t in study.trials if t.state in FINISHED) == 1
    # Both workers ran trials: the study was shared, not done twice; each counts its own.
    assert all(re.search(r"Trial \d+ (finished|pruned)", err) for _, err in outputs), outputs
    counts = [int(re.search(r"\((\d+) finished by this worker\)", out).group(1)) for out, _ in outputs]
    assert sum(counts) == 5 and min(counts) >= 1, counts


def test_killed_worker_leaves_no_running_trial_and_its_configuration_is_rerun(postgres_url: str, cli, tmp_path: Path) -> None:
    if subprocess.run(["unshare", "--uts", "true"], capture_output=True).returncode != 0:
        pytest.skip("needs unshare --uts (root) to run a worker under another hostname")
    heartbeat = ["--heartbeat-interval", "1", "--grace-period", "3"]
    # The victim runs as host "worker-b": only the heartbeat can tell that it died (its pid is not ours to check).
    victim = tune_worker(
        postgres_url, "killed", 3, tmp_path, "--timesteps", "600", "--eval-every", "200", *heartbeat, host="worker-b"
    )
    killed = wait_for_running_trial("killed", postgres_url)
    assert killed.user_attrs["worker"].startswith("worker-b:")
    time.sleep(1.5)
    victim.send_signal(signal.SIGKILL)
    victim.communicate(timeout=30)

    # The survivor, in this process: the victim's heartbeat stopped, its trial is re-queued.
    code, _, err = cli(
        "tune",
        *TINY,
        "--n-trials",
        "3",
        "--storage",
        postgres_url,
        "--study-name",
        "killed",
        "--out",
        str(tmp_path),
        "--timesteps",
        "600",
        "--eval-every",
        "200",
        *heartbeat,
    )
    assert code == 0, err
    assert_killed_trial_rerun(optuna.load_study(study_name="killed", storage=postgres_url), killed, 3)


def test_shipped_spec_by_name_from_any_directory(journal, tmp_path: Path) -> None:
    """``--spec pendulum`` finds the spec shipped in the package; the run folder is relative to the user's directory.
    The smoke test of tune: in its own process, through the installed console script."""
    result = subprocess.run(
        [
            SB3_DDPG,
            "tune",
            "--spec",
            "pendulum",
            "--n-trials",
            "1",
            "--timesteps",
            "200",
            "--eval-every",
            "100",
            "--n-seeds",
            "1",
            "--study-name",
            "shipped",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    study = optuna.load_study(study_name="shipped", storage=journal(tmp_path / "runs" / "tune" / "study.journal"))
    assert study.user_attrs["spec"]["env_id"] == "Pendulum-v1" and study.user_attrs["spec"]["eval_episodes"] == 5
    assert study.trials[0].params == PAPER_PARAMS


def test_discrete_env_is_refused_before_the_storage_is_touched(cli, tmp_path: Path) -> None:
    code, _, err = cli("tune", "--env", "CartPole-v1", "--out", str(tmp_path / "t"))
    assert code == 2 and "CartPole-v1: PaperDDPG needs a continuous" in err and "Traceback" not in err, err
    assert not (tmp_path / "t").exists()


@pytest.mark.parametrize("nth_write", [1, 2, 3, 4])  # the 1st: optuna starting the trial, before it is tagged
def test_ctrl_c_inside_the_journal_lock_is_a_ctrl_c(journal, tmp_path: Path, monkeypatch, nth_write: int) -> None:
    # Ctrl-C right after optuna's journal lock removed its lock file: optuna's handler removes it again and raises
    # FileNotFoundError over the KeyboardInterrupt (seen in a full test run). The worker must still stop as interrupted, with
    # the trial it was running re-queued, not fail as a write error. The signal's timing is simulated after the real
    # unlink of the n-th lock release, on the real journal storage.
    import os

    spec = StudySpec(env_id="Pendulum-v1", n_trials=1, timesteps=100, eval_every=100, eval_episodes=1)
    study = create_study(spec, journal(tmp_path / "s.journal"), sampler_seed=0)
    unlink, releases = os.unlink, []

    def unlink_then_ctrl_c(path, *args, **kwargs):
        unlink(path, *args, **kwargs)
        if str(path).endswith(".rename"):
            releases.append(path)
            if len(releases) == nth_write:
                raise KeyboardInterrupt

    monkeypatch.setattr(os, "unlink", unlink_then_ctrl_c)
    with pytest.raises(WorkerInterrupted) as stopped:
        run_worker(study, spec, n_trials=1, poll_seconds=0.1)
    monkeypatch.undo()
    trials = study.get_trials(deepcopy=False)
    assert not [t for t in trials if t.state == optuna.trial.TrialState.RUNNING]
    for number, copy in stopped.value.requeued.items():
        assert trials[number].state == optuna.trial.TrialState.FAIL
        assert copy is None or trials[copy].state == optuna.trial.TrialState.WAITING


def test_ctrl_c_requeues_the_running_paper_trial_and_the_study_resumes(journal, cli, tmp_path: Path) -> None:
    args = [
        SB3_DDPG,
        "tune",
        "--env",
        "Pendulum-v1",
        "--n-trials",
        "1",
        "--study-name",
        "c",
        "--out",
        str(tmp_path),
        "--timesteps",
        "600",
        "--eval-every",
        "200",
    ]
    worker = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    running = wait_for_running_trial("c", journal(tmp_path / "study.journal"))
    assert running.number == 0 and running.user_attrs["paper_defaults"]
    worker.send_signal(signal.SIGINT)
    _, err = worker.communicate(timeout=60)
    assert worker.returncode == 130 and "Traceback" not in err, err
    assert "interrupted; re-queued trial #0 as #1" in err
    study = optuna.load_study(study_name="c", storage=journal(tmp_path / "study.journal"))
    assert [t.state for t in study.trials] == [optuna.trial.TrialState.FAIL, optuna.trial.TrialState.WAITING]
    # The same command resumes (here in this process): the paper's configuration runs, still marked as the paper trial.
    code, _, err = cli(*args[1:])
    assert code == 0, err
    paper = optuna.load_study(study_name="c", storage=journal(tmp_path / "study.journal")).trials[1]
    assert paper.state == optuna.trial.TrialState.COMPLETE and paper.params == PAPER_PARAMS
    assert paper.user_attrs["paper_defaults"] and paper.user_attrs["retry_of"] == 0


def test_ctrl_c_before_a_trial_sampled_is_not_reported_as_requeued(tmp_path: Path, monkeypatch, capsys) -> None:
    study = optuna.create_study()
    study.ask()  # RUNNING, nothing sampled yet: requeue fails it and has nothing to re-queue
    assert requeue(study, 0) is None and [t.state for t in study.trials] == [optuna.trial.TrialState.FAIL]

    def interrupted(*_: object, **__: object) -> None:
        raise WorkerInterrupted({0: None, 1: 2})

    monkeypatch.setattr(workers, "run_worker", interrupted)
    assert cli_main(["tune", *TINY, "--out", str(tmp_path), "--study-name", "i"]) == 130
    err = capsys.readouterr().err
    assert "interrupted; re-queued trial #1 as #2; trial #0 stopped before sampling, nothing to re-queue; the same" in err


def test_resuming_with_another_budget_is_refused_unless_allowed(journal, tmp_path: Path, capsys) -> None:
    base = ["tune", "--env", "Pendulum-v1", "--eval-every", "100", "--out", str(tmp_path), "--study-name", "b"]
    assert cli_main([*base, "--n-trials", "1", "--timesteps", "100"]) == 0
    assert cli_main([*base, "--n-trials", "2", "--timesteps", "200"]) == 2
    assert "study 'b' was run with timesteps=100 (now 200)" in capsys.readouterr().err
    assert len(optuna.load_study(study_name="b", storage=journal(tmp_path / "study.journal")).trials) == 1
    assert cli_main([*base, "--n-trials", "2", "--timesteps", "200", "--allow-spec-change"]) == 0
    trials = optuna.load_study(study_name="b", storage=journal(tmp_path / "study.journal")).trials
    assert [t.user_attrs["budget"]["timesteps"] for t in trials] == [100, 200]
    capsys.readouterr()
    assert cli_main(["tune-report", "--study-name", "b", "--out", str(tmp_path)]) == 0
    assert "Budgets differ (the study was resumed with --allow-spec-change)" in capsys.readouterr().out


def test_the_zoo_entry_takes_the_budget_of_the_best_trial(journal, tmp_path: Path) -> None:
    # A study of 100-step trials resumed with --allow-spec-change at 200 steps: its best trial ran 200 steps, and
    # the rl-zoo3 entry said the study's 100.
    from sb3_ddpg_ext.tune.report import write_report
    from sb3_ddpg_ext.tune.workers import budget

    spec = StudySpec(env_id="Pendulum-v1", n_trials=2, timesteps=100, eval_every=100, eval_episodes=1)
    storage = journal(tmp_path / "study.journal")
    study = create_study(spec, storage, sampler_seed=0)
    dist = {k: optuna.distributions.FloatDistribution(r.low, r.high, log=r.log) for k, r in spec.search_space.items()}
    longer = StudySpec(env_id="Pendulum-v1", n_trials=2, timesteps=200, eval_every=100, eval_episodes=1)
    for value, run_under in ((-900.0, spec), (-300.0, longer)):
        study.add_trial(
            optuna.trial.create_trial(
                params=PAPER_PARAMS, distributions=dist, value=value, user_attrs={"budget": budget(run_under)}
            )
        )
    write_report(storage, study.study_name, tmp_path / "report")
    entry = yaml.safe_load((tmp_path / "report" / "paper_ddpg_tuned.yml").read_text())["Pendulum-v1"]
    assert entry["n_timesteps"] == 200


def test_resuming_with_other_env_settings_is_refused_and_the_zoo_entry_keeps_them(journal, tmp_path: Path, capsys) -> None:
    from sb3_ddpg_ext import zoo

    settings = {
        "normalize": {"norm_obs": True, "norm_reward": False},
        "env_wrapper": ["gymnasium.wrappers.TimeAwareObservation"],
    }
    spec = {"env_id": "Pendulum-v1", "n_trials": 1, "timesteps": 100, "eval_every": 100, "eval_episodes": 2}
    tuned, plain = tmp_path / "tuned.yaml", tmp_path / "plain.yaml"
    tuned.write_text(yaml.safe_dump({**spec, **settings}))
    plain.write_text(yaml.safe_dump({**spec, "n_trials": 2}))
    base = ["--out", str(tmp_path), "--study-name", "e"]
    assert cli_main(["tune", "--spec", str(tuned), *base]) == 0
    capsys.readouterr()
    # Trials without the normalization and the wrapper would not compare with the first.
    assert cli_main(["tune", "--spec", str(plain), *base]) == 2
    err = capsys.readouterr().err
    assert "env_wrapper=['gymnasium.wrappers.TimeAwareObservation'] (now None)" in err and "normalize={" in err
    study = optuna.load_study(study_name="e", storage=journal(tmp_path / "study.journal"))
    assert len(study.trials) == 1
    assert cli_main(["tune-report", "--study-name", "e", "--out", str(tmp_path)]) == 0
    exported = tmp_path / "paper_ddpg_tuned.yml"
    entry = yaml.safe_load(exported.read_text())["Pendulum-v1"]
    assert entry["normalize"] == "dict(norm_obs=True, norm_reward=False)"  # rl-zoo3 evaluates a string, ignores a dict
    assert entry["env_wrapper"] == ["gymnasium.wrappers.TimeAwareObservation"]
    assert zoo.main(["train", "--env", "Pendulum-v1", "-n", "100", "-conf", str(exported), "-f", str(tmp_path / "logs")]) == 0
    trained = tmp_path / "logs" / "paper_ddpg" / "Pendulum-v1_1"
    assert (trained / "Pendulum-v1" / "vecnormalize.pkl").exists()
    assert PaperDDPG.load(trained / "Pendulum-v1.zip").observation_space.shape == (4,)  # the wrapper's time feature

    # A trial of 0.5.0 recorded a budget without the env settings: the report does not call it another budget.
    (done,) = study.trials
    old_budget = {
        k: v for k, v in done.user_attrs["budget"].items() if k not in ("policy", "preset", "env_wrapper", "normalize")
    }
    study.add_trial(
        optuna.trial.create_trial(
            params=done.params, distributions=done.distributions, value=-1500.0, user_attrs={"budget": old_budget}
        )
    )
    assert cli_main(["tune-report", "--study-name", "e", "--out", str(tmp_path)]) == 0
    assert "Budgets differ" not in capsys.readouterr().out

    # A study saved by a version before these keys were compared resumes with the same settings as before.
    old = {k: v for k, v in study.user_attrs["spec"].items() if k not in ("policy", "preset", "env_wrapper", "normalize")}
    study.set_user_attr("spec", old)
    assert cli_main(["tune", "--spec", str(plain), *base, "--n-trials", "1"]) == 2  # complete: refused for that reason
    assert "already has 2 finished trials" in capsys.readouterr().err


def test_report_on_a_wrong_name_lists_the_studies_and_a_wrong_path_creates_nothing(cli, tmp_path: Path) -> None:
    assert (
        cli_main(
            ["tune", *TINY, "--timesteps", "100", "--n-trials", "1", "--out", str(tmp_path), "--study-name", "pendulum-study"]
        )
        == 0
    )
    code, _, err = cli("tune-report", "--study-name", "pendulum_study", "--out", str(tmp_path), "--threads", "1")
    assert code == 2 and "Traceback" not in err, err
    assert "no study named 'pendulum_study' in this storage; did you mean 'pendulum-study'?" in err
    missing = tmp_path / "nowhere"
    code, _, err = cli("tune-report", "--study-name", "s", "--out", str(missing))
    assert code == 2 and f"no study storage at {missing / 'study.journal'}" in err, err
    assert not missing.exists()


def test_report_html_renders_offline(sb3_ddpg, tmp_path: Path) -> None:
    assert cli_main(["tune", *TINY, "--timesteps", "100", "--n-trials", "1", "--out", str(tmp_path), "--study-name", "h"]) == 0
    # The smoke test of tune-report: in its own process, through the installed console script.
    report = sb3_ddpg("tune-report", "--study-name", "h", "--out", str(tmp_path))
    assert report.returncode == 0 and "| paper (#0) |" in report.stdout, report.stderr
    html = (tmp_path / "optimization_history.html").read_text()
    assert '<script src="https://cdn.plot.ly' not in html and "plotly.js v" in html and "h (Pendulum-v1)" in html


def test_worker_device_is_checked_and_reaches_each_run(cli, tmp_path: Path) -> None:
    """``tune --device`` is checked before the study is touched, and each trial's runs are built on it."""
    from sb3_ddpg_ext.tune.objective import run_config

    code, _, err = cli("tune", "--env", "Pendulum-v1", "--device", "gpu", "--out", str(tmp_path / "study"))
    assert code == 2 and "--device 'gpu' is not a torch device" in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "study").exists()
    spec = StudySpec.from_dict({"env_id": "Pendulum-v1"})
    assert run_config(spec, 0, {}, device="cuda:1").device == "cuda:1"


def test_a_trial_trains_each_seed_as_sb3_ddpg_train_would(tmp_path: Path) -> None:
    # A learning-rate schedule and the OU sigma annealing both run over the whole budget, the action noise is not reset
    # between evaluations, and two seeds in one trial do not share their random streams: each seed's evaluations are
    # those of run.train alone (sb3-ddpg train), to the last digit, and the trial reports their mean at every step.
    from sb3_ddpg_ext.run import train
    from sb3_ddpg_ext.tune.objective import objective, run_config

    space = {k: v for k, v in DEFAULT_SEARCH_SPACE.items() if k != "critic_learning_rate"}
    fixed = {"critic_learning_rate": "lin_1e-3", "ou_sigma_final": 0.0, "learning_starts": 100}
    spec = StudySpec("Pendulum-v1", timesteps=600, eval_every=200, eval_episodes=1, n_seeds=2, search_space=space, fixed=fixed)
    params = {k: PAPER_PARAMS[k] for k in space}
    reported: dict[int, float] = {}

    class Recording(optuna.trial.FixedTrial):
        def report(self, value: float, step: int) -> None:
            reported[step] = value

    value = objective(Recording(params), spec)
    alone = []
    for k, seed in enumerate((spec.seed, spec.seed + 1)):
        (tmp_path / str(k)).mkdir()
        result = train(run_config(spec, seed, params), tmp_path / str(k))
        alone.append([float(np.mean(r)) for r in result.evaluation.evaluations_results])
        assert result.evaluation.evaluations_timesteps == [200, 400, 600]
    assert reported == {step: float(np.mean([alone[0][j], alone[1][j]])) for j, step in enumerate((200, 400, 600))}
    assert value == np.mean([alone[0][-1], alone[1][-1]])


def test_ctrl_c_in_a_trial_leaves_no_seed_thread_running() -> None:
    # Ctrl-C (KeyboardInterrupt in the main thread, here from a timer) stops every seed of the trial, and the objective
    # returns only once their threads have ended: one left inside torch aborts the interpreter at exit.
    import threading

    from sb3_ddpg_ext.tune.objective import objective

    spec = StudySpec("Pendulum-v1", timesteps=20_000, eval_every=1_000, eval_episodes=1, n_seeds=2)

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGALRM, interrupt)
    signal.setitimer(signal.ITIMER_REAL, 3.0)
    try:
        with pytest.raises(KeyboardInterrupt):
            objective(optuna.trial.FixedTrial(PAPER_PARAMS), spec)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert not [t.name for t in threading.enumerate() if t.name.startswith("trial seed")]


def test_a_trials_recorded_budget_gives_back_its_spec() -> None:
    # A trial records "no wrapper" as None (workers.budget); the spec rebuilt from it for --fresh-seeds and the zoo
    # entry has a list again (tune-report --fresh-seeds crashed on list(None)).
    import optuna

    from sb3_ddpg_ext.tune.report import trial_spec
    from sb3_ddpg_ext.tune.spec import StudySpec
    from sb3_ddpg_ext.tune.workers import budget

    spec = StudySpec(env_id="Pendulum-v1")
    recorded = budget(spec)
    assert recorded["env_wrapper"] is None
    trial = optuna.trial.create_trial(value=-1000.0, params={}, distributions={}, user_attrs={"budget": recorded})
    assert trial_spec(trial, spec).env_wrapper == []
