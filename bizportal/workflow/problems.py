"""Problems found in permit-type files, each with the place to fix it.

Every check in the validator reports a `Problem` instead of raising, so an admin
sees all the mistakes of a file in one pass.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True, order=True)
class Problem:
    """One error in one file, at a 1-based line and column."""

    file: str
    line: int
    column: int
    message: str
    hint: str = ""
    code: str = "invalid"

    def format(self) -> str:
        """Render as `file:line:column: message (hint)` for terminals and editors."""
        text = f"{self.file}:{self.line}:{self.column}: {self.message}"
        if self.hint:
            text += f"\n    hint: {self.hint}"
        return text

    def as_dict(self) -> dict[str, object]:
        """Return the JSON form used by `--format json` and the admin console."""
        return asdict(self)


class SpecError(Exception):
    """Raised when a specification cannot be used; carries every problem found."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sorted(problems)
        super().__init__("\n".join(problem.format() for problem in self.problems))
