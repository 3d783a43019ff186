"""What a run returns: printed values, saved files, failures and counts."""
from __future__ import annotations


from .text import format_value


class Result:
    """The outcome of running a program.

    ``r["label"]`` is the value printed under ``label`` (the last one if a
    label repeats); ``r.printed`` lists every ``(label, value)`` in program
    order; ``r.warnings`` static warnings, then warnings reported while
    running (one located line each); ``r.failures`` the root failed tasks (operator, message, position,
    traceback); ``r.stats`` counts tasks computed here, loaded from the store
    or memory (``cached``), waited on elsewhere and failed; ``r.dangling``
    the owner records of dead processes' claims reported to this run.
    """

    def __init__(self, outcome, session=None, warnings=()):
        self.printed = outcome.printed
        self.saved = outcome.saved
        self.failures = outcome.failures
        self.stats = outcome.stats
        self.seconds = outcome.seconds
        self.dangling = outcome.dangling
        self._goal_failures = {e.target: f for e, f in outcome.effect_failures if e.kind == "print"}
        # Every print or save that did not happen, as located lines.
        self.not_done = [not_done_line(e, f) for e, f in outcome.effect_failures
                         if not (e.kind == "save" and f.op == "save")]
        self._session = session
        # static warnings (rendered with position and caret), then those
        # primitives reported while running ("source:line:col: message")
        self.warnings = list(warnings) + list(getattr(outcome, "warnings", ()))

    @classmethod
    def failed(cls, failure):
        """The result of evaluating one value whose task failed."""
        from .engine.scheduler import Outcome

        return cls(Outcome(failures=[failure]))

    @property
    def ok(self) -> bool:
        return not self.failures

    @property
    def labels(self) -> list[str]:
        return [label for label, _ in self.printed]

    def __getitem__(self, label):
        found = [v for lab, v in self.printed if lab == label]
        if found:
            return found[-1]
        if label in self._goal_failures:
            raise KeyError(f"{label!r} was not computed: {self._goal_failures[label]}")
        raise KeyError(f"no value printed under {label!r} (printed: {', '.join(self.labels) or 'none'})")

    def __contains__(self, label):
        return label in self.labels

    def get(self, label, default=None):
        try:
            return self[label]
        except KeyError:
            return default

    def value(self, name):
        """Evaluate a name bound in the session that ran this program."""
        if self._session is None:
            raise RuntimeError("this result has no session")
        return self._session.value(name)

    def summary(self) -> str:
        s = self.stats
        head = "ok" if self.ok else f"{len(self.failures)} failed"
        return (f"{head}: computed {s.get('computed', 0)}, from store {s.get('cached', 0)}, "
                f"waited {s.get('waited', 0)}, failed {s.get('failed', 0)} in {self.seconds:.2f} s")

    def __repr__(self):
        lines = [f"<voxlogica result: {self.summary()}>"]
        for label, value in self.printed:
            lines.append(f"  {label}={_short(value)}")
        for f in self.failures:
            lines.append(f"  failed: {f}")
        for line in self.not_done:
            lines.append(f"  {line}")
        return "\n".join(lines)

    def _repr_html_(self):
        import html

        rows = "".join(f"<tr><td>{html.escape(label)}</td><td>{html.escape(_short(v))}</td></tr>"
                       for label, v in self.printed)
        fails = "".join(f"<li>{html.escape(str(f))}</li>" for f in self.failures)
        return (f"<div><b>voxlogica</b> {html.escape(self.summary())}"
                f"<table>{rows}</table>{'<ul>' + fails + '</ul>' if fails else ''}</div>")


def not_done_line(effect, root) -> str:
    """``prog.imgql:3:1: print "v" not computed: `load` at 1:1 failed``."""
    what = "not computed" if effect.kind == "print" else "not saved"
    return f'{effect.pos}: {effect.kind} "{effect.target}" {what}: `{root.op}` at {root.where} failed'


def _short(value) -> str:
    text = format_value(value)
    return text if len(text) <= 200 else text[:197] + "..."
