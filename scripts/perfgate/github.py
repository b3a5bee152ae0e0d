"""GitHub's environment files, read from a given environment once. Outside
Actions (locally, under tests) they are simply absent and nothing is written."""

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path


@dataclass
class GitHub:
    step_summary: Path | None
    output: Path | None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> "GitHub":
        def path(name: str) -> Path | None:
            return Path(env[name]) if env.get(name) else None

        return cls(step_summary=path("GITHUB_STEP_SUMMARY"), output=path("GITHUB_OUTPUT"))

    def append_summary(self, markdown: str) -> None:
        if self.step_summary:
            with self.step_summary.open("a", encoding="utf-8") as f:
                f.write(markdown)

    def set_outputs(self, values: Mapping[str, str]) -> None:
        if self.output:
            with self.output.open("a", encoding="utf-8") as f:
                for key, value in values.items():
                    f.write(f"{key}={value}\n")
