"""Errors a user can fix. The CLI prints them as one line, never as a traceback."""


class UserError(Exception):
    """Bad input from the user: a config value, a path, a file. The message names the fix."""


class ConfigError(UserError):
    """A configuration value is missing, unknown or impossible."""
