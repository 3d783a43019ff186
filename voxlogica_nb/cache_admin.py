"""Store management for the CLI and the ``%voxlogica_cache`` line magic.

Everything returns plain text (or plain data) and never prints, so the CLI
prints it and the magic displays it. Only the verbs of the store interface
(:class:`~voxlogica_nb.engine.store.Store`) are used::

    cache_command(store, ["info"])
    cache_command(store, ["prune", "2G"])            # LRU down to 2 GB
    cache_command(store, ["prune", "--older-than", "7d"])
    cache_command(store, ["clear"]) / ["failures"] / ["running"] / ["sweep"]
"""
from __future__ import annotations

import re
import time

from .text import summarize_cleared

__all__ = [
    "parse_size", "parse_age", "format_bytes", "format_age",
    "info_text", "failures_text", "running_text", "sweep_text", "prune_text", "clear_text",
    "cache_command", "USAGE",
]

USAGE = (
    "usage: info | clear | prune [SIZE] [--older-than AGE] | failures [N] | running | sweep\n"
    "  SIZE like 500M, 2G, 1.5GB, 1048576; AGE like 30s, 15m, 12h, 7d, 2w"
)

_UNITS = {"": 1, "B": 1, "K": 1024, "M": 1024 ** 2, "G": 1024 ** 3, "T": 1024 ** 4}
_AGE = {"": 1, "S": 1, "M": 60, "H": 3600, "D": 86400, "W": 7 * 86400}


def _quantity(text, pattern, units, error):
    """A number with an optional unit letter, times that unit."""
    if isinstance(text, (int, float)):
        return float(text)
    m = re.fullmatch(pattern, str(text).upper())
    if not m:
        raise ValueError(error)
    return float(m.group(1)) * units[m.group(2)]


def parse_size(text) -> int:
    """``"500M"`` → 524288000 (binary units; "KB", "KiB", "K" all mean 1024)."""
    return int(_quantity(text, r"\s*([0-9]*\.?[0-9]+)\s*([KMGT]?)(?:I?B)?\s*", _UNITS,
                         f"not a size: {text!r} (e.g. 500M, 2G)"))


def parse_age(text) -> float:
    """``"7d"`` → 604800.0 seconds."""
    return _quantity(text, r"\s*([0-9]*\.?[0-9]+)\s*([SMHDW]?)\s*", _AGE,
                     f"not an age: {text!r} (e.g. 30s, 15m, 12h, 7d)")


def format_bytes(n) -> str:
    n = float(n or 0)
    for unit in ("B", "KB", "MB", "GB"):
        if abs(n) < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TB"  # pragma: no cover


def format_age(seconds) -> str:
    s = max(0.0, float(seconds))
    if s < 90:
        return f"{s:.0f} s"
    if s < 5400:
        return f"{s / 60:.0f} min"
    if s < 2 * 86400:
        return f"{s / 3600:.1f} h"
    return f"{s / 86400:.1f} days"


def _when(t, now=None):
    if not t:
        return "?"
    return format_age((now or time.time()) - t) + " ago"


def info_text(store) -> str:
    i = store.info()
    lines = [
        f"cache folder: {i['root']}" if i.get("root") else "no cache folder (values in memory)",
        f"values: {i['count']} ({format_bytes(i['bytes'])})",
        f"failure records: {i['failures']}",
        f"claims running: {i.get('running', 0)}",
    ]
    if not i.get("writable", True):
        lines.append("not writable: results are kept in memory only")
    if i.get("shared"):
        lines.append("shared store: others may write it (values are unpickled: trust them)")
    return "\n".join(lines)


def failures_text(store, limit: int = 20) -> str:
    fs = store.failures()
    if not fs:
        return "no failure records"
    now = time.time()
    lines = [f"{len(fs)} failure record(s), most recent first:"]
    for f in fs[:limit]:
        pos = f" at {f['position']}" if f.get("position") else ""
        msg = str(f.get("message", "")).strip().splitlines()
        lines.append(f"  {str(f.get('id', ''))[:12]}  {f.get('op')} v{f.get('version')}{pos}, "
                     f"{_when(f.get('time'), now)}: {msg[0] if msg else ''}")
    if len(fs) > limit:
        lines.append(f"  ... and {len(fs) - limit} more")
    return "\n".join(lines)


def _owner_line(r, now):
    sess = f" session {r['session']}" if r.get("session") else ""
    return (f"  {str(r.get('task_id', ''))[:12]}  {r.get('op')}  on {r.get('host')} pid {r.get('pid')}"
            f"{sess}, started {_when(r.get('started'), now)}")


def running_text(store) -> str:
    rs = store.running()
    if not rs:
        return "no task is running"
    now = time.time()
    return "\n".join([f"{len(rs)} task(s) running:"] + [_owner_line(r, now) for r in rs])


def sweep_text(store) -> str:
    return summarize_cleared(store.sweep())


def prune_text(store, max_bytes=None, older_than_seconds=None) -> str:
    r = store.prune(max_bytes=max_bytes, older_than_seconds=older_than_seconds)
    text = (f"removed {r['removed']} value(s) ({format_bytes(r['freed'])}); "
            f"{r['count']} left ({format_bytes(r['bytes'])})")
    if r.get("lock_files") is None:
        text += "; lock files kept (store in use by another process)"
    return text


def clear_text(store) -> str:
    r = store.clear()
    return (f"removed {r['removed']} value(s) ({format_bytes(r['freed'])}) "
            f"and {r['failures']} failure record(s)")


def cache_command(store, args) -> str:
    """Run one management command (a list of words) and return its text."""
    args = list(args) or ["info"]
    cmd, rest = args[0], args[1:]
    if cmd == "info":
        return info_text(store)
    if cmd == "clear":
        return clear_text(store)
    if cmd == "failures":
        return failures_text(store, int(rest[0]) if rest else 20)
    if cmd == "running":
        return running_text(store)
    if cmd == "sweep":
        return sweep_text(store)
    if cmd == "prune":
        size = age = None
        i = 0
        while i < len(rest):
            if rest[i] in ("--older-than", "--age"):
                if i + 1 >= len(rest):
                    raise ValueError(USAGE)
                age = parse_age(rest[i + 1])
                i += 2
            elif rest[i].startswith("--older-than="):
                age = parse_age(rest[i].split("=", 1)[1])
                i += 1
            else:
                size = parse_size(rest[i])
                i += 1
        return prune_text(store, size, age)
    raise ValueError(f"unknown cache command {cmd!r}\n{USAGE}")
