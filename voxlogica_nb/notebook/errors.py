"""Exceptions a cell raises: shown as a few located lines, never a Python
traceback from the package (IPython calls ``_render_traceback_``)."""
from __future__ import annotations


def _located(source_text: str, line: int, col: int) -> list[str]:
    lines = source_text.splitlines()
    if not 0 < line <= len(lines):
        return []
    return ["  " + lines[line - 1], "  " + " " * (max(col, 1) - 1) + "^"]


class CellFailed(Exception):
    """Some tasks of a cell failed; the values that did not depend on them
    were shown. ``result`` keeps every failure with its full traceback."""

    def __init__(self, result, sources: dict):
        self.result = result
        self.lines = []
        fails = result.failures
        self.lines.append(f"{len(fails)} task(s) failed; values that did not depend on them are shown above")
        for f in fails:
            self.lines.append(str(f))
            if f.pos is not None:
                self.lines.extend(_located(sources.get(f.pos.source, ""), f.line, f.col))
        self.lines.extend(result.not_done)
        super().__init__("\n".join(self.lines))

    def _render_traceback_(self):
        return self.lines


class Interrupted(KeyboardInterrupt):
    """The kernel's interrupt stopped a run."""

    def __init__(self, text: str):
        self.text = text
        super().__init__(text)

    def _render_traceback_(self):
        return [self.text]
