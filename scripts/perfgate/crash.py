"""The last line of defence: an unexpected exception becomes one line and a
saved traceback, and the run ends without a verdict (exit 3), never as
"a check failed" (exit 1). Nothing here may raise: it runs when something
already went wrong, out of memory included."""

import traceback
from pathlib import Path

FILE = "perf-gate-traceback.txt"
MESSAGE_CHARS = 300


def _traceback(exc: BaseException) -> str:
    try:
        return "".join(traceback.format_exception(exc))
    except Exception:  # noqa: BLE001 - e.g. out of memory again while formatting
        return f"{type(exc).__name__} (its traceback could not be formatted)\n"


def _first_line(exc: BaseException) -> str:
    try:
        text = str(exc)
    except Exception:  # noqa: BLE001 - an exception whose own message fails
        return ""
    return text.splitlines()[0][:MESSAGE_CHARS] if text.strip() else ""


def describe(exc: BaseException, results: Path, doing: str = "") -> str:
    """One line for the reports; the traceback goes to a file in `results` when it can.
    `doing` says what failed ("writing the reports") when it is not the judging."""
    where = results / FILE
    try:
        where.write_text(_traceback(exc), encoding="utf-8")
        saved = f"traceback saved to {where}"
    except Exception:  # noqa: BLE001 - a folder that cannot be written, or no memory left to write with
        saved = "the traceback could not be saved"
    while_ = f" while {doing}" if doing else ""
    if isinstance(exc, MemoryError):
        return f"out of memory{while_}, no verdict: an input is too large for this machine ({saved})"
    first = _first_line(exc)
    what = f"{type(exc).__name__}: {first}" if first else type(exc).__name__
    return f"internal error{while_}, no verdict: {what} ({saved}; please report it)"
