"""The README and docs/: every page renders, every relative link and anchor
resolves (anchors computed as GitHub computes them), and the README stays a
first-five-minutes page that links every docs page. Read only: nothing is
written anywhere."""

import re
from functools import cache
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from markdown_it import MarkdownIt
from markdown_it.token import Token

from perfgate import thresholds
from tests.conftest import ROOT

README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))
PAGES = [README, ROOT / "CHANGELOG.md", *DOCS, ROOT / "examples" / "github-workflow" / "README.md"]
EXAMPLE_WORKFLOW = ROOT / "examples" / "github-workflow" / "perf.yml"
README_MAX_LINES = 250

MD = MarkdownIt("commonmark").enable("table")
NOT_IN_SLUG = re.compile(r"[^\w\- ]")  # GitHub keeps letters, digits, marks, "_", "-" and spaces


def ids(paths: list[Path]) -> list[str]:
    return [str(p.relative_to(ROOT)) for p in paths]


@cache
def tokens(path: Path) -> list[Token]:
    return MD.parse(path.read_text(encoding="utf-8"))


def inline_text(inline: Token) -> str:
    """A heading's text as GitHub renders it: text and code spans, no markup, no HTML."""
    parts = []
    for child in inline.children or []:
        if child.type in ("text", "code_inline"):
            parts.append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            parts.append(" ")
        elif child.type == "image":
            parts.append(inline_text(child))
    return "".join(parts)


def slug(text: str) -> str:
    """GitHub's anchor for a heading (github-slugger): lower case, punctuation
    and symbols removed, each space a hyphen."""
    return NOT_IN_SLUG.sub("", text.strip().lower()).replace(" ", "-")


def headings(path: Path) -> list[tuple[int, str]]:
    toks = tokens(path)
    return [(int(t.tag[1]), inline_text(toks[i + 1])) for i, t in enumerate(toks) if t.type == "heading_open"]


@cache
def anchors(path: Path) -> frozenset[str]:
    """Every anchor GitHub gives the page's headings, duplicates numbered as it does."""
    seen: dict[str, int] = {}
    found = set()
    for _, text in headings(path):
        base = slug(text)
        n = seen.get(base, 0)
        seen[base] = n + 1
        found.add(base if n == 0 else f"{base}-{n}")
    return frozenset(found)


def links(path: Path) -> list[str]:
    found = []
    for tok in tokens(path):
        for child in tok.children or []:
            if child.type == "link_open":
                found.append(str(child.attrs["href"]))
            elif child.type == "image":
                found.append(str(child.attrs["src"]))
    return found


def broken(path: Path, href: str, root: Path = ROOT) -> str | None:
    """Why a link from `path` does not resolve, or None. Links with a scheme or
    a host (https:, mailto:) are not followed; nothing may point out of `root`."""
    parts = urlsplit(href)
    if parts.scheme or parts.netloc:
        return None
    target = (path.parent / unquote(parts.path)).resolve() if parts.path else path
    if not target.is_relative_to(root):
        return f"{href}: outside the repository"
    if not target.exists():
        return f"{href}: no such file"
    if parts.fragment:
        if target.suffix != ".md":
            return f"{href}: an anchor into a file that is not Markdown"
        if unquote(parts.fragment) not in anchors(target):
            return f"{href}: no heading with anchor #{parts.fragment} in {target.relative_to(root)}"
    return None


# -- the computation of anchors, against what GitHub gives -----------------------------


@pytest.mark.parametrize(
    ("heading", "anchor"),
    [
        ("Quick start", "quick-start"),
        ("thresholds.json reference", "thresholdsjson-reference"),
        ("Calibration: what can your runner tell apart?", "calibration-what-can-your-runner-tell-apart"),
        ("A/A with the defaults", "aa-with-the-defaults"),
        ("This repository's workflows", "this-repositorys-workflows"),
        ("Confidence: 90%, because each decision is one-sided", "confidence-90-because-each-decision-is-one-sided"),
        ("Where `--pin-cpus` applies", "where---pin-cpus-applies"),
        ("snake_case and  two spaces", "snake_case-and--two-spaces"),
    ],
)
def test_slug_is_githubs(heading, anchor):
    assert slug(heading) == anchor


def test_anchors_of_a_page_number_duplicates_and_read_code_spans(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("# Title\n\n## The service: `{port}`\n\n## Notes\n\n## Notes\n\n```md\n## Not a heading\n```\n")
    assert anchors(page) == {"title", "the-service-port", "notes", "notes-1"}
    assert broken(page, "#notes-1", root=tmp_path) is None
    assert broken(page, "#not-a-heading", root=tmp_path) is not None


def test_a_link_checker_that_catches_what_it_should(tmp_path):
    (tmp_path / "a.md").write_text("# A\n\n## Here\n")
    page = tmp_path / "b.md"
    page.write_text("# B\n")
    assert broken(page, "a.md#here", root=tmp_path) is None
    assert broken(page, "https://example.com/x#y", root=tmp_path) is None
    assert "no such file" in broken(page, "c.md", root=tmp_path)
    assert "no heading" in broken(page, "a.md#there", root=tmp_path)
    assert "outside the repository" in broken(page, "../elsewhere.md", root=tmp_path)


# -- the README ---------------------------------------------------------------------------


def test_readme_is_a_first_five_minutes_page():
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= README_MAX_LINES, f"README.md has {len(lines)} lines; the rest belongs in docs/"


def test_readme_links_every_docs_page_and_the_example_workflow():
    linked = {(README.parent / urlsplit(h).path).resolve() for h in links(README) if not urlsplit(h).scheme}
    missing = [str(p.relative_to(ROOT)) for p in DOCS if p.resolve() not in linked]
    assert not missing, f"docs pages the README does not link: {missing}"
    assert EXAMPLE_WORKFLOW.parent.resolve() / "README.md" in linked or EXAMPLE_WORKFLOW.resolve() in linked


def test_readme_shows_the_quick_start_the_fast_tier_and_the_schema():
    text = README.read_text(encoding="utf-8")
    assert ".venv/bin/python -m pytest\n" in text  # the whole suite: what CI runs
    assert 'python -m pytest -m "not slow"' in text
    assert "perf-gate schema" in text
    assert "/perf-gate/v1/scripts/perfgate/thresholds.schema.json" in text
    assert (ROOT / "scripts" / "perfgate" / "thresholds.schema.json").exists()


@pytest.mark.parametrize("path", [README, *DOCS], ids=ids([README, *DOCS]))
def test_no_figure_depends_on_an_unnamed_machine(path):
    """Measured figures say what they were measured on, not "this machine"."""
    text = path.read_text(encoding="utf-8")
    found = re.findall(r"[^.\n]*\bthis (?:\d+-core )?(?:machine|runner)\b[^.\n]*", text, re.IGNORECASE)
    assert not found


# -- every page -------------------------------------------------------------------------


def thresholds_examples() -> list[tuple[Path, int, str]]:
    """Every JSON code block in the README and docs/ that is a whole thresholds file."""
    found = []
    for path in [README, *DOCS]:
        for tok in tokens(path):
            if tok.type == "fence" and tok.info.strip() == "json" and tok.content.lstrip().startswith("{"):
                found.append((path, tok.map[0] + 1, tok.content))
    return found


@pytest.mark.parametrize(
    ("path", "line", "text"), thresholds_examples(), ids=[f"{p.name}:{n}" for p, n, _ in thresholds_examples()]
)
def test_thresholds_examples_are_files_the_gate_accepts(path, line, text):
    parsed = thresholds.parse(thresholds.loads(text, path), path)
    assert parsed.limits


def module_file(name: str) -> Path | None:
    """Where `python -m name` finds this repository's module, or None."""
    base = ROOT / "scripts" if name.split(".")[0] == "perfgate" else ROOT
    path = base.joinpath(*name.split("."))
    for candidate in (path.with_suffix(".py"), path / "__main__.py"):
        if candidate.is_file():
            return candidate
    return None


@pytest.mark.parametrize("path", [README, *DOCS], ids=ids([README, *DOCS]))
def test_every_module_the_docs_run_exists(path):
    """`python -m benchmarks.research.start_order` and the like: the docs name
    modules that are where they say (the research analyses moved once)."""
    text = path.read_text(encoding="utf-8")
    names = set(re.findall(r"python3? -m\s+((?:benchmarks|backend|perfgate)(?:\.\w+)+)\b(?!\.)", text))
    assert names or path.name not in ("research.md", "benchmarks.md")
    assert [n for n in sorted(names) if module_file(n) is None] == []


def test_docs_exist():
    assert len(DOCS) >= 8


@pytest.mark.parametrize("path", PAGES, ids=ids(PAGES))
def test_every_relative_link_and_anchor_resolves(path):
    problems = [why for href in links(path) if (why := broken(path, href))]
    assert not problems


@pytest.mark.parametrize("path", PAGES, ids=ids(PAGES))
def test_headings_are_unique_and_there_is_one_title(path):
    found = headings(path)
    slugs = [slug(text) for _, text in found]
    assert len(slugs) == len(set(slugs)), sorted(s for s in slugs if slugs.count(s) > 1)
    assert [level for level, _ in found].count(1) == 1
    assert found[0][0] == 1


def open_fences(path: Path) -> list[int]:
    """Lines where a code fence opens and is never closed: markdown-it ends such
    a fence with the document (or its container), so its last line is then not
    a closing fence."""
    lines = path.read_text(encoding="utf-8").splitlines()
    found = []
    for tok in tokens(path):
        if tok.type == "fence" and tok.map:
            start, end = tok.map
            closing = lines[end - 1].strip() if end - 1 > start else ""
            if not (len(closing) >= len(tok.markup) and set(closing) == {tok.markup[0]}):
                found.append(start + 1)
    return found


def test_an_open_fence_is_found(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("# T\n\n```sh\nclosed\n```\n\n- item\n\n  ~~~~\n  x\n  ~~~~\n\n````py\nnever closed\n```\n")
    assert open_fences(page) == [13]


@pytest.mark.parametrize("path", PAGES, ids=ids(PAGES))
def test_no_code_fence_is_left_open(path):
    assert open_fences(path) == [], f"{path.name}: code fences never closed, opened on these lines"
