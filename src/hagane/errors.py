"""The one exception type for a user's mistake: the CLI prints it without a traceback."""


class HaganeError(Exception):
    """An error the user can fix: says what, where (file, line, offset, key) and what to do."""
