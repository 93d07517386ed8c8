"""The one user-facing error type of the glue: the CLI prints it as one line and exits with code 2."""


class UserError(Exception):
    """A mistake the user can fix. The message says what is wrong and how to fix it, in one line."""


class Interrupted(Exception):
    """Ctrl-C ended a command after its work was saved; the message says where. The CLI exits with code 130."""


def interrupted_message(steps: int, saved_to: object) -> str:
    """What a training command says when Ctrl-C ends it after saving (``sb3-ddpg train``, ``sb3-ddpg zoo train``)."""
    return f"interrupted at {steps} steps; model and logs saved to {saved_to}"
