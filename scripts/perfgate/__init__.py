"""perfgate: load an asynchronous request backend with Locust and judge the result."""
