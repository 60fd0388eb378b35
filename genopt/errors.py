"""The one exception family for mistakes a user can make.

Every error a user can cause (a file, an ID, a value, a config) raises
:class:`GenoptError` with a message that names the file and the offending
line, ID or value. The CLI prints that message as one line and exits 1.
"""

from __future__ import annotations

from pathlib import Path


class GenoptError(Exception):
    """A user-facing error: bad input files, IDs, values or configuration.

    Parameters
    ----------
    message
        What is wrong, naming the offending line, ID or value.
    path
        The file the problem is in, if any; prefixed to the message.
    line
        1-based line number in ``path``, if the problem is on one line.
    """

    def __init__(self, message: str, path: str | Path | None = None, line: int | None = None):
        self.path = None if path is None else str(path)
        self.line = line
        where = ""
        if self.path is not None:
            where = self.path if line is None else f"{self.path}, line {line}"
            where += ": "
        super().__init__(where + message)
