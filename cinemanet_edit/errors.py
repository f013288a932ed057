"""The one exception type the CLI turns into a one-line message."""


class CinemanetError(Exception):
    """A problem the user can act on (bad input, missing file); printed without a traceback."""
