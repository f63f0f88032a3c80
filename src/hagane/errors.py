"""The one exception type for a user's mistake: the CLI prints it without a traceback."""


class HaganeError(Exception):
    """An error the user can fix: says what, where (file, line, offset, key) and what to do."""


class FileFault(HaganeError):
    """An input file's own bytes are at fault (empty, damaged past finding the next record): a source's
    `on_file_error` decides between quarantining the file and failing. A mistake in the configuration (a
    missing column, a wrong builder) stays a HaganeError and always fails."""
