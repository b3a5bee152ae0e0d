"""The reference asynchronous request-reply backend the perf gate loads."""
