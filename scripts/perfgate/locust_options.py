"""Locust's effective options for a run, resolved by Locust's own parser
(command line, LOCUST_* environment, locust.conf) after importing the
locustfile, so a bad option or a broken locustfile stops the gate before
anything starts.

Run as `python -m perfgate.locust_options <locust arguments>` (importing
Locust patches the standard library with gevent, so never in the gate's own
process): prints the options as one JSON object, or exits 2 with one line on
stderr saying what Locust would refuse.
"""

import json
import sys
import traceback

HEADLESS_USERS, HEADLESS_SPAWN_RATE = 1, 1.0  # what `locust --headless` runs when neither is given


def _import_error(exc: BaseException) -> str:
    if isinstance(exc, SyntaxError):
        return f"{exc.filename}:{exc.lineno}: SyntaxError: {exc.msg}"
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if "site-packages" not in (f.filename or "")]
    where = f"{frames[-1].filename}:{frames[-1].lineno}: " if frames else ""
    return f"{where}{type(exc).__name__}: {exc}"


def resolve(argv: list[str]) -> dict:
    """Raises SystemExit(2) with the reason on stderr."""
    import locust  # noqa: F401 - sets up gevent before Locust's modules load
    from locust.argument_parser import get_locustfiles_locally, get_parser, parse_locustfile_option
    from locust.main import merge_locustfiles_content

    try:
        files = get_locustfiles_locally(parse_locustfile_option(argv))
        users, _, _, shape_class = merge_locustfiles_content(files)
    except SystemExit:
        raise SystemExit(2) from None  # Locust has said why on stderr
    except Exception as exc:  # noqa: BLE001 - whatever the locustfile raises on import
        sys.stderr.write(f"locustfile: {_import_error(exc)}\n")
        raise SystemExit(2) from None
    if not users:
        sys.stderr.write(f"locustfile {', '.join(files)}: no User class found\n")
        raise SystemExit(2)
    shape = type(shape_class).__name__ if shape_class is not None else None
    options = get_parser().parse_args(argv)  # exits 2 with Locust's own message
    if options.headless and not options.run_time:
        sys.stderr.write(
            "run time: not set, or 0 (Locust's 'no limit'): a headless run would never end; "
            "give --run-time (e.g. --run-time 1m) or run-time in locust.conf\n"
        )
        raise SystemExit(2)
    if options.num_users is not None and options.num_users < 1:
        sys.stderr.write(f"users: expected at least 1, got {options.num_users}\n")
        raise SystemExit(2)
    return {
        "locustfiles": files,
        # Locust's own headless defaults, which it applies when the load starts
        "users": options.num_users if options.num_users is not None else HEADLESS_USERS,
        "spawn_rate": options.spawn_rate if options.spawn_rate is not None else HEADLESS_SPAWN_RATE,
        "run_time_s": options.run_time,
        "stop_timeout_s": options.stop_timeout or 0,
        "user_classes": sorted(users),
        "shape": shape,
    }


def main(argv: list[str] | None = None) -> int:
    sys.argv[0] = "locust"  # Locust's messages say "locust: error: ..."
    print(json.dumps(resolve(sys.argv[1:] if argv is None else argv)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
