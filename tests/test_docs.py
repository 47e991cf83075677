"""Every relative link in the project's Markdown resolves: the file exists and its ``#anchor`` is a heading there."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import REPO_ROOT

DOCUMENTS = ["README.md", "docs/*.md", "hscnet/**/*.md", "bench/**/*.md", "extractors/**/*.md"]
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^(```|~~~).*?^\1", re.M | re.S)
INLINE_CODE = re.compile(r"`[^`\n]*`")
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.M)


def markdown_files(root: Path) -> list[Path]:
    return sorted({path for pattern in DOCUMENTS for path in root.glob(pattern)})


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: markup dropped, lower case, punctuation but ``-`` and ``_`` removed,
    spaces to ``-``."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading).replace("`", "").strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(text: str) -> set[str]:
    """The anchors of every heading of a Markdown text; a repeated heading gets ``-1``, ``-2``, ... as on GitHub."""
    seen: dict[str, int] = {}
    out = set()
    for heading in HEADING.findall(FENCE.sub("", text)):
        base = slug(heading)
        count = seen.get(base, 0)
        seen[base] = count + 1
        out.add(base if count == 0 else f"{base}-{count}")
    return out


def broken_links(path: Path, root: Path) -> list[str]:
    """``path``'s relative links whose file or anchor does not exist, as "target: why"."""
    text = path.read_text(encoding="utf-8")
    prose = INLINE_CODE.sub("", FENCE.sub("", text))
    problems = []
    for target in LINK.findall(prose):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
            continue
        file_part, _, anchor = target.partition("#")
        linked = (path.parent / file_part).resolve() if file_part else path
        if not linked.exists():
            problems.append(f"{target}: no file {linked}")
        elif root.resolve() not in linked.parents and linked != root.resolve():
            problems.append(f"{target}: points outside the repository")
        elif anchor and (linked.suffix != ".md" or anchor not in anchors(linked.read_text(encoding="utf-8"))):
            problems.append(f"{target}: no heading with anchor #{anchor} in {linked.name}")
    return problems


def test_the_documents_are_found():
    names = {p.relative_to(REPO_ROOT).as_posix() for p in markdown_files(REPO_ROOT)}
    assert {"README.md", "hscnet/DESIGN.md", "bench/README.md", "docs/evaluation.md"} <= names


@pytest.mark.parametrize("path", markdown_files(REPO_ROOT), ids=lambda p: p.relative_to(REPO_ROOT).as_posix())
def test_every_relative_link_resolves(path):
    assert broken_links(path, REPO_ROOT) == []


@pytest.mark.parametrize(
    ("heading", "anchor"),
    [
        ("Results on the demo", "results-on-the-demo"),
        ("Scoring other methods' predictions", "scoring-other-methods-predictions"),
        (
            "Sentence order (hscnet/data/annotations.py, hscnet/metrics.py)",
            "sentence-order-hscnetdataannotationspy-hscnetmetricspy",
        ),
        ("Tables 1-4 on the demo, over three seeds", "tables-1-4-on-the-demo-over-three-seeds"),
        ("GPU benchmark: `bench/gpu.sh`", "gpu-benchmark-benchgpush"),
    ],
)
def test_anchor_follows_githubs_rule(heading, anchor):
    assert slug(heading) == anchor


def test_a_broken_link_and_a_missing_anchor_are_reported(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.md").write_text("# A\n\n## Same\n\n## Same\n")
    (tmp_path / "README.md").write_text(
        "[ok](docs/a.md#same-1) [gone](docs/b.md) [no anchor](docs/a.md#other) [self](#a) [web](https://x.org/#y)\n"
        "`[code](docs/nothing.md)`\n\n```\n[fenced](docs/nothing.md)\n```\n"
    )
    problems = broken_links(tmp_path / "README.md", tmp_path)
    assert [p.split(":")[0] for p in problems] == ["docs/b.md", "docs/a.md#other", "#a"]
