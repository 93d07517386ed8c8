"""The one user-facing error type of the glue: the CLI prints it as one line and exits with code 2."""


class UserError(Exception):
    """A mistake the user can fix. The message says what is wrong and how to fix it, in one line."""
