"""Where a study lives: an Optuna journal file on one machine (the default), PostgreSQL across machines."""

import time
import warnings
from pathlib import Path
from typing import Any

from sb3_ddpg_ext.errors import UserError

EMBEDDED_STORAGE = "study.journal"


def open_storage(
    url: str | None, run_dir: Path, heartbeat_interval: int = 60, grace_period: int = 180, create: bool = True
) -> Any:
    """The study storage: an Optuna journal file under ``run_dir`` by default, or an RDB URL.

    The embedded default is a journal file, not SQLite: several local workers can append to it safely,
    where SQLite fails with "database is locked". PostgreSQL gets heartbeats, so a killed worker's trial
    is failed and re-queued (RetryHeartbeatStaleTrialCallback), and pool_pre_ping for long trials.
    ``create=False`` (reading a study) refuses a journal or SQLite file that does not exist, and creates nothing.
    """
    import optuna
    import optuna.storages.journal
    import sqlalchemy.exc

    if url is None or ("://" not in url and url.endswith((".journal", ".log"))):
        path = run_dir / EMBEDDED_STORAGE if url is None else Path(url)
        if not create and not path.is_file():
            raise UserError(f"no study storage at {path}: give the --out or --storage that 'sb3-ddpg tune' used")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            return optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(path)))
        except OSError as e:
            raise UserError(f"cannot open storage {path}: {e.strerror or e}") from e
    shown = hide_password(url)
    if not url.startswith(("sqlite:///", "postgresql")):
        raise UserError(
            f"unsupported storage URL {shown}: use a path ending in .journal (default: {run_dir / EMBEDDED_STORAGE}), "
            "sqlite:///study.db (one worker only) or postgresql+psycopg://user:password@host:5432/dbname"
        )
    if not create and url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).is_file():
        raise UserError(f"no study storage at {url.removeprefix('sqlite:///')}: give the --storage that 'sb3-ddpg tune' used")
    kwargs: dict[str, Any] = {}
    warnings.filterwarnings("ignore", "RetryHeartbeatStaleTrialCallback", optuna.exceptions.ExperimentalWarning)
    if url.startswith("postgresql"):
        kwargs = dict(
            engine_kwargs={"pool_pre_ping": True},
            heartbeat_interval=heartbeat_interval,
            grace_period=grace_period,
            heartbeat_stale_trial_callback=optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=3),
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            for attempt in range(3):
                try:
                    return optuna.storages.RDBStorage(url, **kwargs)
                except (sqlalchemy.exc.IntegrityError, sqlalchemy.exc.OperationalError, sqlalchemy.exc.ProgrammingError) as e:
                    # Workers started together on an empty database race to create its schema (the loser finds it
                    # made on the next try: a duplicate key, or PostgreSQL's 'relation "studies" already exists');
                    # on SQLite, a writer holds the file lock ("database is locked").
                    race = isinstance(e, sqlalchemy.exc.IntegrityError) or any(
                        sign in str(e) for sign in ("database is locked", "already exists")
                    )
                    if not race or attempt == 2:
                        raise
                    time.sleep(1.0 + attempt)
    except (sqlalchemy.exc.SQLAlchemyError, ImportError, ValueError, OSError) as e:
        reason = str(e).strip().splitlines()[0]
        raise UserError(f"cannot open storage {shown}: {reason}") from e


def hide_password(url: str) -> str:
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url.split("@")[-1]
