"""Exceptions shown to users."""
from __future__ import annotations

MAX_ERRORS = 20  # a program's errors reported at once; checking stops after these


class VoxLogicaError(Exception):
    """Syntax or static errors in an ImgQL program.

    Carries the position of the (first) offending text; ``str()`` gives
    ``source:line:col: message`` followed by the source line and a caret.
    ``errors`` lists every error found (each a :class:`VoxLogicaError` with
    its own position), in program order; ``line``, ``col`` and ``message``
    are those of the first.
    """

    def __init__(self, message, source_name="<program>", line=0, col=0, source_line="", hint="",
                 errors=None, note=""):
        self.message = message
        self.source_name = source_name
        self.line = line
        self.col = col
        self.source_line = source_line
        self.hint = hint
        self.errors = list(errors) if errors else [self]
        self.note = note  # a closing remark for several errors (e.g. where checking stopped)
        super().__init__(self.render())

    @classmethod
    def combine(cls, errors, note: str = "") -> "VoxLogicaError":
        """One error standing for ``errors`` (the error itself if alone)."""
        flat = [e for err in errors for e in err.errors]
        if len(flat) == 1 and not note:
            return flat[0]
        first = flat[0]
        return cls(first.message, first.source_name, first.line, first.col, first.source_line,
                   first.hint, errors=flat, note=note)

    def render_one(self) -> str:
        """This error alone: the head line, then the source line and a caret."""
        head = f"{self.source_name}:{self.line}:{self.col}: {self.message}"
        if self.hint:
            head += f" ({self.hint})"
        if not self.source_line:
            return head
        line, col = _window(self.source_line, max(self.col, 1))
        return f"{head}\n  {line}\n  {' ' * (col - 1)}^"

    def render(self) -> str:
        if len(self.errors) == 1 and self.errors[0] is self and not self.note:
            return self.render_one()
        parts = [e.render_one() for e in self.errors]
        n = len(self.errors)
        summary = f"{n} error{'' if n == 1 else 's'}"
        parts.append(f"{summary}; {self.note}" if self.note else summary)
        return "\n".join(parts)

    def __str__(self) -> str:
        return self.render()

    def _render_traceback_(self):
        # IPython shows this instead of a Python traceback.
        return self.render().splitlines()


def _window(line: str, col: int, width: int = 100) -> tuple[str, int]:
    """At most ``width`` characters of a long source line around column
    ``col`` (elided ends marked with …), and the column within them."""
    if len(line) <= width:
        return line, col
    start = max(0, min(col - 1 - width // 3, len(line) - width))
    end = start + width
    head = "…" if start > 0 else ""
    tail = "…" if end < len(line) else ""
    return head + line[start:end] + tail, col - start + len(head)


class PrimitiveError(Exception):
    """Raised by a primitive for bad input; its message is shown as is."""


class RuntimeSetupError(Exception):
    """The run cannot start at all (a store that cannot be used, a cluster
    that cannot be reached); ``str()`` is one line meant for users."""

    def _render_traceback_(self):  # IPython shows this instead of a traceback
        return [str(self)]
