"""One-off analyses behind the comparison's choices (the side started first,
the CPU each side used, the estimator of a trial's ratio, the warm-up cut,
an outlying trial, the trial's length). The method's documentation gives
their answers; they stay runnable (`python -m benchmarks.research.<name>`)
so the answers can be checked again on another machine or series."""
