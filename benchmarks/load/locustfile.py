"""As many GETs as a user can make: no think time."""

from locust import FastHttpUser, constant, task


class Hammer(FastHttpUser):
    wait_time = constant(0)

    @task
    def get(self):
        self.client.get("/")
