"""Errors a user can fix. The CLI prints them as one line, never as a traceback."""


class UserError(Exception):
    """Bad input from the user: a config value, a path, a file. The message names the fix."""


class ConfigError(UserError):
    """A configuration value is missing, unknown or impossible."""


def first_line(err: BaseException, limit: int = 200) -> str:
    """The first line of ``err``'s message, for a one-line error that wraps it; the exception's type
    name when the message is empty (a bare ``raise OSError()`` must not end in an IndexError)."""
    text = str(err).strip()
    return text.splitlines()[0][:limit] if text else type(err).__name__
