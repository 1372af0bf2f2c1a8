"""Exceptions the factory raises for problems a user can fix.

Every error a user can cause derives from :class:`FactoryError`; the command line turns it into a
one-line message and exit code 2 instead of a traceback.
"""

from __future__ import annotations

from dataclasses import dataclass, field


class FactoryError(Exception):
    """Base class for user-facing errors (bad input, bad configuration)."""


class ConfigError(FactoryError):
    """A configuration file or override is invalid (unknown key, wrong type, bad value)."""


@dataclass(frozen=True)
class Issue:
    """One finding of a data check.

    ``check`` is a stable short name (e.g. ``"sorted"``), ``column`` the column concerned (or ``None``),
    ``rows`` the first offending row positions (0-based, at most a handful) and ``message`` a human sentence.
    ``severity`` is ``"error"`` or ``"warning"`` (gaps are warnings). ``line_offset`` (2 for a CSV file with a
    header: data row 0 is file line 2) makes the message name file lines as well.
    """

    check: str
    column: str | None
    rows: tuple[int, ...]
    message: str
    severity: str = "error"
    line_offset: int | None = None

    def one_line(self) -> str:
        col = f" column '{self.column}'" if self.column else ""
        rows = ""
        if self.rows:
            rows = f" (first rows, counted from 0: {', '.join(map(str, self.rows))}"
            if self.line_offset is not None:
                rows += f"; file lines {', '.join(str(r + self.line_offset) for r in self.rows)}"
            rows += ")"
        return f"[{self.check}]{col}: {self.message}{rows}"


@dataclass
class DataValidationError(FactoryError):
    """Input data failed one or more checks. ``str(err)`` is the first error on one line."""

    issues: list[Issue] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__(self.__str__())

    @property
    def errors(self) -> list[Issue]:
        return [i for i in self.issues if i.severity == "error"]

    def __str__(self) -> str:
        errs = self.errors or self.issues
        if not errs:
            return "data validation failed"
        head = errs[0].one_line()
        more = len(errs) - 1
        return head + (f" (+{more} more problem{'s' if more > 1 else ''})" if more > 0 else "")


class LeakageError(FactoryError):
    """A split or configuration would let information from the future reach training."""
