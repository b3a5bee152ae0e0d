"""What perf-gate passes to Locust's -f beside the user's locustfile: it loads
the plugin (perfgate.locust_plugin) once, under its package name, so that a
locustfile importing it too shares the same one. Alone in its folder, because
Locust puts a locustfile's folder first on sys.path."""

import perfgate.locust_plugin  # noqa: F401 - its event listeners are the plugin
