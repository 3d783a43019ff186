"""Exceptions shown to users."""
from __future__ import annotations


class VoxLogicaError(Exception):
    """A syntax or static error in an ImgQL program.

    Carries the position of the offending text; ``str()`` gives
    ``source:line:col: message`` followed by the source line and a caret.
    """

    def __init__(self, message, source_name="<program>", line=0, col=0, source_line="", hint=""):
        self.message = message
        self.source_name = source_name
        self.line = line
        self.col = col
        self.source_line = source_line
        self.hint = hint
        super().__init__(self.render())

    def render(self) -> str:
        head = f"{self.source_name}:{self.line}:{self.col}: {self.message}"
        if self.hint:
            head += f" ({self.hint})"
        if not self.source_line:
            return head
        caret = " " * (max(self.col, 1) - 1) + "^"
        return f"{head}\n  {self.source_line}\n  {caret}"

    def _render_traceback_(self):
        # IPython shows this instead of a Python traceback.
        return self.render().splitlines()


class PrimitiveError(Exception):
    """Raised by a primitive for bad input; its message is shown as is."""
