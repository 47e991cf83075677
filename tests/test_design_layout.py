"""hscnet/DESIGN.md's module table names every Python file of hscnet/ and extractors/, and only files that exist."""

from __future__ import annotations

import re

from conftest import REPO_ROOT

DESIGN = REPO_ROOT / "hscnet" / "DESIGN.md"
PACKAGES = ("hscnet", "extractors")
# The first cell of a table row, when it is one back-quoted path to a Python file: | `hscnet/cli.py` | ... |
ROW = re.compile(r"^\|\s*`([^`\s]+\.py)`\s*\|", re.M)


def module_table(text: str) -> list[str]:
    """The paths in the first column of the table under the ``## Modules`` heading (up to the next ``## ``)."""
    _, found, rest = text.partition("\n## Modules\n")
    assert found, "hscnet/DESIGN.md has no '## Modules' heading"
    section = re.split(r"^## ", rest, maxsplit=1, flags=re.M)[0]
    return ROW.findall(section)


def modules() -> set[str]:
    return {
        path.relative_to(REPO_ROOT).as_posix()
        for package in PACKAGES
        for path in (REPO_ROOT / package).rglob("*.py")
        if "__pycache__" not in path.parts
    }


def test_every_module_has_a_row():
    missing = sorted(modules() - set(module_table(DESIGN.read_text(encoding="utf-8"))))
    assert not missing, f"modules without a row in hscnet/DESIGN.md's module table: {missing}"


def test_every_row_names_a_file_that_exists():
    gone = [path for path in module_table(DESIGN.read_text(encoding="utf-8")) if not (REPO_ROOT / path).is_file()]
    assert not gone, f"rows of hscnet/DESIGN.md's module table whose file does not exist: {gone}"


def test_no_module_has_two_rows():
    rows = module_table(DESIGN.read_text(encoding="utf-8"))
    assert sorted({p for p in rows if rows.count(p) > 1}) == []


def test_the_table_is_read_from_its_own_section_only():
    text = (
        "# X\n\n| paper | code |\n|---|---|\n| `a/before.py` | x |\n\n## Modules\n\nSome prose.\n\n"
        "| module | role |\n|---|---|\n|`a/one.py`| role |\n| `a/b/two.py` | `a/not_first.py` |\n"
        "| a/plain.py | no quotes |\n\n## Next\n\n| `a/after.py` | x |\n"
    )
    assert module_table(text) == ["a/one.py", "a/b/two.py"]
