"""The base of every error a user can fix: the CLI prints these as one line, no traceback.

Every other exception is a bug in the harness (or in a library) and keeps its
traceback. Concrete errors also derive from the builtin they refine
(``ValueError``, ``KeyError``, ...) so callers that catch those keep working.
"""


class HarnessError(Exception):
    """Bad input the user can fix: the message names the file, the value and the fix."""


class DataError(HarnessError, ValueError):
    """A dataset file or folder that is missing, unreadable or not as distributed."""


class DataMissingError(DataError, FileNotFoundError):
    """A file the protocol's data should contain does not exist."""
