"""A plain synchronous JSON API under load: Datasette's, on an in-memory SQLite.

An ordinary Locust HttpUser, with nothing of perf-gate in it: the gate's
plugin adds raw samples, run info and side-by-side pairing when perf-gate
runs it. Three entries: a small JSON document, a SQL query that does some
work, and a table listing.
"""

from locust import HttpUser, between, task

QUERY = "with recursive c(x) as (select 1 union all select x + 1 from c where x < 3000) select sum(x) as total from c"


class ApiUser(HttpUser):
    wait_time = between(0.05, 0.15)

    @task(3)
    def query(self):
        with self.client.get("/_memory.json", params={"sql": QUERY, "_shape": "array"}, name="/_memory.json?sql",
                             catch_response=True) as resp:  # fmt: skip
            if resp.status_code == 200 and resp.json() != [{"total": 4501500}]:
                resp.failure(f"wrong answer: {resp.text[:80]}")

    @task(2)
    def versions(self):
        self.client.get("/-/versions.json")

    @task(1)
    def databases(self):
        self.client.get("/-/databases.json")
