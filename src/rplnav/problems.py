"""A problem with the input as a structured object: the field path, the message, and a hint when there is one.

Problems are made here once, where the intake reports them, and travel as objects to every front end: the
command line prints `path: message`, the HTTP problem body lists `{field, message, hint}`; nothing downstream
re-parses the text.
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict

DOCUMENT = "(document)"
_PATH = re.compile(r"^[A-Za-z_][\w.\[\]-]*$")  # labs[0].unit, current.gestational_age, pregnancies[2]
_HINT = " (did you mean "


class Problem(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    path: str
    message: str
    hint: str | None = None

    @classmethod
    def of(cls, text: str) -> Problem:
        """A problem from its `path: message` form (the intake's wording); a suggestion of the closest name
        ('did you mean …?') becomes the hint."""
        path, sep, message = text.partition(": ")
        if not (sep and _PATH.match(path)):
            path, message = DOCUMENT, text
        hint = None
        at = message.find(_HINT)
        if at >= 0 and message.endswith(")"):
            hint = message[at + 2:-1]
        return cls(path=path, message=message, hint=hint)

    def __str__(self) -> str:
        return message_line(self.path, self.message)

    def as_body(self) -> dict[str, str]:
        """The entry of an HTTP problem body."""
        out = {"field": self.path, "message": self.message}
        if self.hint:
            out["hint"] = self.hint
        return out


def message_line(path: str, message: str) -> str:
    """The one-line form the command line prints (the intake's own wording)."""
    return message if path == DOCUMENT else f"{path}: {message}"


def problems_of(texts: list[str]) -> list[Problem]:
    return [Problem.of(t) for t in texts]
