"""A study spec is checked in full before the storage is touched (fixed values and range bounds as -p values are),
a study locked by a failed paper trial can go on with a corrected spec, and the paper trial is enqueued once on every
storage, however many workers start together."""

import threading
from pathlib import Path

import numpy as np
import pytest
import yaml
from helpers import assert_one_line_error

from sb3_ddpg_ext.errors import UserError
from sb3_ddpg_ext.search_space import PAPER_PARAMS
from sb3_ddpg_ext.tune.spec import StudySpec
from sb3_ddpg_ext.tune.workers import create_study

optuna = pytest.importorskip("optuna")  # the tune extra: every test here checks a study or its spec

BASE = {"env_id": "Pendulum-v1", "n_trials": 1, "timesteps": 200, "eval_every": 100, "eval_episodes": 1}


@pytest.mark.parametrize(
    "spec, message",
    [
        ({"fixed": {"batch_size": 0}}, "fixed: batch_size=0 must be >= 1 (the paper uses 64)"),
        ({"fixed": {"tau": "fast"}}, "fixed: tau='fast' is a str; expected float"),
        ({"fixed": {"action_noise": None}}, "fixed: action_noise=None keeps the paper's OU noise"),
        ({"fixed": {"gradient_steps": 0}}, "fixed: gradient_steps=0 makes no gradient step"),
        ({"fixed": {"buffer_size": 32}}, "fixed: batch_size=64 is larger than buffer_size=32"),
        ({"fixed": {"learning_starts": 200}}, "learning_starts=200 >= the spec's timesteps=200: no gradient step"),
        ({"timesteps": 50, "eval_every": 50}, "batch_size=64 > the 50 transitions stored by the spec's timesteps=50"),
        ({"search_space": {"tau": {"low": 0, "high": 0.01}}}, "search_space.tau: tau=0.0 must be in (0, 1]"),
        ({"search_space": {"ou_sigma": {"low": -0.1, "high": 1}}}, "search_space.ou_sigma: ou_sigma=-0.1 must be >= 0"),
        ({"search_space": {"batch_size": {"low": 16.5, "high": 64}}}, "search_space.batch_size: batch_size=16.5 must be an"),
        ({"search_space": {"batch_size": {"low": 16, "high": 512}}}, "batch_size=512 > the 200 transitions stored by"),
        ({"search_space": {"critic_l2_on": {"low": 0, "high": 1}}}, "search_space: critic_l2_on is not a number"),
        ({"n_trials": 2.5}, "n_trials=2.5 must be an integer"),
        ({"n_seeds": "two"}, "n_seeds='two' must be an integer"),
    ],
)
def test_spec_is_checked_in_full_before_the_storage_is_touched(spec: dict, message: str, cli, tmp_path: Path) -> None:
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump({**BASE, **spec}))
    assert_one_line_error(cli("tune", "--spec", str(path), "--out", str(tmp_path / "t")), message)
    assert not (tmp_path / "t").exists()  # no storage, no run folder


def test_yaml_numbers_are_read_as_the_command_line_reads_them(cli, journal, tmp_path: Path) -> None:
    # YAML 1.1 reads 1e-3 and 2e2 as strings: they are numbers here, as on the command line (trials used to fail).
    path = tmp_path / "spec.yaml"
    path.write_text(
        "env_id: Pendulum-v1\nn_trials: 1\ntimesteps: 2e2\neval_every: 1e2\neval_episodes: 1\n"
        "fixed:\n  critic_weight_decay: 1e-3\n"
    )
    spec = StudySpec.from_yaml(path)
    assert (spec.timesteps, spec.fixed_values()) == (200, {"critic_weight_decay": 1e-3})
    assert cli("tune", "--spec", str(path), "--out", str(tmp_path), "--study-name", "y")[0] == 0
    (trial,) = optuna.load_study(study_name="y", storage=journal(tmp_path / "study.journal")).trials
    assert trial.state == optuna.trial.TrialState.COMPLETE


def test_integer_parameters_are_searched_as_integers(cli, journal, tmp_path: Path) -> None:
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump({**BASE, "n_trials": 2, "search_space": {"batch_size": {"low": 16, "high": 64}}}))
    assert cli("tune", "--spec", str(path), "--out", str(tmp_path), "--study-name", "i", "--sampler-seed", "0")[0] == 0
    trials = optuna.load_study(study_name="i", storage=journal(tmp_path / "study.journal")).trials
    assert [t.state for t in trials] == [optuna.trial.TrialState.COMPLETE] * 2
    assert all(isinstance(t.params["batch_size"], int) and 16 <= t.params["batch_size"] <= 64 for t in trials)


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


def locked_study(storage, name: str, fixed: dict) -> None:
    """A study as the earlier version left it when ``fixed`` was refused only inside the trial: the spec recorded,
    the paper trial enqueued, then failed."""
    study = optuna.create_study(study_name=name, storage=storage, direction="maximize")
    study.set_user_attr("spec", {**StudySpec(**BASE).to_dict(), "fixed": fixed})
    study.enqueue_trial(dict(PAPER_PARAMS), user_attrs={"paper_defaults": True})
    trial = study.ask()
    study.tell(trial, state=optuna.trial.TrialState.FAIL)


def test_a_study_locked_by_a_failed_paper_trial_goes_on_with_a_corrected_spec(cli, journal, tmp_path: Path) -> None:
    storage = journal(tmp_path / "study.journal")
    locked_study(storage, "locked", {"batch_size": 0})
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump({**BASE, "fixed": {"batch_size": 32}}))
    # No trial finished under the old spec: nothing to compare with, so no --allow-spec-change is needed.
    assert cli("tune", "--spec", str(path), "--out", str(tmp_path), "--study-name", "locked")[0] == 0
    study = optuna.load_study(study_name="locked", storage=storage)
    failed, paper = study.trials
    assert failed.state == optuna.trial.TrialState.FAIL
    assert paper.state == optuna.trial.TrialState.COMPLETE and paper.params == PAPER_PARAMS  # the paper row is filled
    assert paper.user_attrs["paper_defaults"] and paper.user_attrs["retry_of"] == 0
    assert study.user_attrs["spec"]["fixed"] == {"batch_size": 32}  # the next resume compares with the corrected spec


@pytest.mark.parametrize("kind", ["journal", "sqlite", "postgresql"])
def test_workers_started_together_enqueue_the_paper_trial_once(kind: str, request, tmp_path: Path) -> None:
    from sb3_ddpg_ext.tune.storage import open_storage

    url = None  # the journal file in tmp_path, the embedded default
    if kind == "sqlite":
        url = f"sqlite:///{tmp_path / 'study.db'}"
        optuna.storages.RDBStorage(url)  # the schema, made once (open_storage retries a race on it)
    elif kind == "postgresql":
        url = request.getfixturevalue("postgres_url")  # only this case needs the server, and skips without it
    spec = StudySpec(**BASE, study_name=f"together-{kind}")
    for _ in range(3):  # three rounds of four workers, each worker with its own storage object, as its own process has
        spec.study_name += "+"
        barrier, errors = threading.Barrier(4), []
        threads = [threading.Thread(target=start_worker, args=(spec, url, tmp_path, barrier, errors)) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors, errors
        study = optuna.load_study(study_name=spec.name, storage=open_storage(url, tmp_path))
        assert [t.user_attrs.get("paper_defaults") for t in study.trials] == [True]  # one trial: the paper's


def test_a_worker_that_loses_the_schema_race_on_postgresql_opens_the_winners_schema(postgres_url: str, tmp_path: Path) -> None:
    # The race, made to happen: the winner creates Optuna's tables in a transaction; the loser checks, finds none
    # (uncommitted), and just before its first CREATE the winner commits. PostgreSQL then says 'type "studydirection"
    # already exists': open_storage must try again and open the schema the winner made.
    import psycopg
    import sqlalchemy
    from optuna.storages._rdb.models import BaseModel

    from sb3_ddpg_ext.tune.storage import open_storage

    server = postgres_url.removeprefix("postgresql+psycopg://").rsplit("/", 1)[0]
    with psycopg.connect(f"postgresql://{server}/postgres", autocommit=True) as conn:
        conn.execute("CREATE DATABASE schema_race")
    url = f"postgresql+psycopg://{server}/schema_race"
    winner = sqlalchemy.create_engine(url)
    transaction = winner.connect()
    pending = transaction.begin()
    BaseModel.metadata.create_all(transaction)  # the winner's schema, not committed yet
    loser_started_creating = []

    def commit_before_the_losers_create_table(conn, cursor, statement, *args) -> None:
        if statement.lstrip().startswith("CREATE ") and not loser_started_creating:  # its first CREATE TYPE or TABLE
            loser_started_creating.append(statement)
            pending.commit()

    sqlalchemy.event.listen(sqlalchemy.engine.Engine, "before_cursor_execute", commit_before_the_losers_create_table)
    try:
        storage = open_storage(url, tmp_path)
    finally:
        sqlalchemy.event.remove(sqlalchemy.engine.Engine, "before_cursor_execute", commit_before_the_losers_create_table)
        transaction.close()
        winner.dispose()
    assert loser_started_creating  # the race happened
    assert storage.get_all_studies() == []  # and the loser works on the winner's schema
    storage.engine.dispose()


def start_worker(spec: StudySpec, url: str | None, run_dir: Path, barrier: threading.Barrier, errors: list) -> None:
    """What ``sb3-ddpg tune`` does when it starts: open the storage, then create or resume the study."""
    from sb3_ddpg_ext.tune.storage import open_storage

    try:
        storage = open_storage(url, run_dir)
        barrier.wait(timeout=120)
        create_study(spec, storage, sampler_seed=0)
    except Exception as e:  # a worker that fails before the barrier breaks it: the others fail too, none waits forever
        barrier.abort()
        errors.append(e)
