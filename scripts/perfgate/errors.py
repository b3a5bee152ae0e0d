"""The two ways a gate can stop short of a verdict, with their exit codes."""

EXIT_PASS = 0
EXIT_FAIL = 1
EXIT_USAGE = 2
EXIT_NO_VERDICT = 3


class GateError(Exception):
    exit_code = EXIT_NO_VERDICT


class ConfigError(GateError):
    """Bad usage or configuration: the message names the file, the place and what was expected."""

    exit_code = EXIT_USAGE


class NoVerdict(GateError):
    """Nothing trustworthy to judge: backend never healthy, no requests, results unreadable."""

    exit_code = EXIT_NO_VERDICT
