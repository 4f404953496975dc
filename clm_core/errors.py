"""Errors that carry their evidence, so a page or the CLI can say exactly what went wrong."""

from __future__ import annotations

__all__ = [
    "ClmError",
    "DataError",
    "DatasetError",
    "MissingTableError",
    "NotEnoughData",
    "QueryError",
    "UsageError",
    "first_line",
]


class ClmError(Exception):
    """Base class of every error CLM Lens shows to a user."""


class UsageError(ClmError):
    """The caller asked for something that cannot be done (bad option, path outside data/)."""


class DataError(ClmError):
    """A value in an input file that cannot be used.

    Carries the file, 1-based file row, column and value so the message points at the cell.
    """

    def __init__(
        self,
        reason: str,
        *,
        file: str | None = None,
        row: int | None = None,
        column: str | None = None,
        value: object = None,
        errors: list[dict] | None = None,
    ) -> None:
        self.reason = reason
        self.file = file
        self.row = row
        self.column = column
        self.value = value
        self.errors = errors or []
        super().__init__(self._message())

    def _message(self) -> str:
        where = []
        if self.file:
            where.append(f"file {self.file}")
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.column:
            where.append(f"column {self.column!r}")
        if self.value is not None:
            shown = str(self.value)
            if len(shown) > 60:
                shown = shown[:57] + "..."
            where.append(f"value {shown!r}")
        return f"{', '.join(where)}: {self.reason}" if where else self.reason


class DatasetError(ClmError):
    """A dataset file that cannot be opened (missing, corrupt, not a DuckDB file)."""


class MissingTableError(ClmError):
    """A feature needs a table the dataset does not have."""

    def __init__(self, table: str, feature: str = "this page") -> None:
        self.table = table
        self.feature = feature
        super().__init__(
            f"Upload a {table} file on the Data page to enable {feature} "
            f"(the dataset has no '{table}' table)."
        )


class NotEnoughData(ClmError):
    """The data cannot support the requested analysis; the message says what is missing."""


class QueryError(ClmError):
    """A DuckDB query failed; raised once in the data layer with the original as __cause__."""


def first_line(err: BaseException) -> str:
    """The first line of an exception's message (DuckDB's run over several), or its type's name
    when it has no message: for a one-line reason in a note or an error."""
    lines = str(err).strip().splitlines()
    return lines[0] if lines else type(err).__name__
