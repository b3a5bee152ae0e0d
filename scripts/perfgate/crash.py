"""The last line of defence: an unexpected exception becomes one line and a
saved traceback, and the run ends without a verdict (exit 3), never as
"a check failed" (exit 1)."""

import traceback
from pathlib import Path

FILE = "perf-gate-traceback.txt"


def describe(exc: BaseException, results: Path) -> str:
    """One line for the reports; the traceback goes to a file in `results` when it can."""
    text = "".join(traceback.format_exception(exc))
    where = results / FILE
    try:
        where.write_text(text, encoding="utf-8")
        saved = f"traceback saved to {where}"
    except OSError:
        saved = "the traceback could not be saved"
    first = str(exc).splitlines()[0][:300] if str(exc) else ""
    return f"internal error, no verdict: {type(exc).__name__}: {first} ({saved}; please report it)"
