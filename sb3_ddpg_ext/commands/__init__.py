"""The ``sb3-ddpg`` commands, one module each: ``run(args)`` takes the parsed arguments and returns the exit code.

``cli.py`` parses the arguments and turns a UserError into one line; the commands call the run layer (``run.py``),
tuning (``tune/``) or the zoo glue (``zoo.py``). Heavy imports (torch, SB3, Optuna) happen inside ``run``, so that
``--help`` and argument errors answer at once.
"""

import argparse
import importlib.util
from typing import Any

from sb3_ddpg_ext.errors import UserError

# Exit codes: 0 done, 2 a mistake in the command (one line), 3 training stopped on non-finite values (divergence,
# or NaN/inf from the env), 4 a write failed (full disk, read-only folder), 130 interrupted (Ctrl-C), 143 terminated
# (SIGTERM: train stops as for Ctrl-C).
EXIT_USER_ERROR, EXIT_NON_FINITE, EXIT_WRITE_ERROR, EXIT_INTERRUPTED, EXIT_TERMINATED = 2, 3, 4, 130, 143


def require_extra(extra: str, module: str) -> None:
    """A UserError naming the extra to install when ``module`` is missing."""
    if importlib.util.find_spec(module) is None:
        raise UserError(f"this command needs the '{extra}' extra: pip install 'sb3-ddpg-ext[{extra}]'")


def at_least(minimum: int) -> Any:
    """An argparse type: an integer >= ``minimum``."""

    def parse(text: str) -> int:
        try:
            number = float(text)  # 1e4 and 10_000 are integers too
            if not number.is_integer():
                raise ValueError
            value = int(number)
        except (ValueError, OverflowError):
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be >= {minimum}, got {value}")
        return value

    parse.__name__ = f"integer >= {minimum}"
    return parse
