"""What the demo prints: one line per step held or failed.

:class:`StepFailed` stops a case at its first failure (cleanup still runs);
the report counts failures for the exit status.
"""

from __future__ import annotations

from collections.abc import Callable
import dataclasses


class StepFailed(Exception):
    pass


@dataclasses.dataclass
class Report:
    lines: list[str] = dataclasses.field(default_factory=list)
    failures: int = 0
    out: Callable[[str], None] = print

    def ok(self, text: str) -> None:
        self.lines.append("  ok    " + text)
        self.out("  ok    " + text)

    def fail(self, text: str) -> None:
        self.failures += 1
        self.lines.append("  FAIL  " + text)
        self.out("  FAIL  " + text)

    def check(self, held: bool, text: str) -> None:
        (self.ok if held else self.fail)(text)
        if not held:
            raise StepFailed(text)
