"""The README's first commands and the docs stay true."""

from __future__ import annotations

import re
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]


def test_readme_opens_with_make_demo_and_make_test() -> None:
    text = (PROJECT / "README.md").read_text()
    commands = re.findall(r"^make (\w+)", text, flags=re.MULTILINE)
    assert commands[:2] == ["demo", "test"]
    makefile = (PROJECT / "Makefile").read_text()
    assert re.search(r"^demo:", makefile, re.MULTILINE) and re.search(r"^test:", makefile, re.MULTILINE)
    assert "make test" in (PROJECT / ".ci" / "run").read_text()


def test_architecture_names_every_package() -> None:
    text = (PROJECT / "docs" / "architecture.md").read_text()
    packages = [p.name for p in (PROJECT / "src" / "hashwarden").iterdir() if (p / "__init__.py").exists()]
    for package in packages:
        assert f"`{package}/`" in text, package


def test_readme_python_api_example_runs() -> None:
    """The README's Python API example is executed as written: the public names exist and do what it says."""
    text = (PROJECT / "README.md").read_text()
    section = text.split("## Python API", 1)[1]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    exec(compile(code, "README.md (Python API)", "exec"), {})


def test_public_api_names() -> None:
    import hashwarden
    import hashwarden.index

    assert set(hashwarden.__all__) >= {"hash_file", "open_store", "PDQIndex", "Matcher"}
    assert hashwarden.PDQIndex is hashwarden.index.PDQIndex
    for name in hashwarden.__all__:
        assert getattr(hashwarden, name) is not None
