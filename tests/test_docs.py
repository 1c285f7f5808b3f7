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


def test_dependencies_point_down_and_nothing_imports_cli() -> None:
    """docs/architecture.md: "Dependencies point down ... Nothing imports `cli`". The import-linter contracts in
    pyproject.toml say it (a layers contract over every package, lazy imports included) and `make test` runs them
    first; here they run too, so a targeted pytest run sees a broken boundary."""
    import subprocess
    import sys

    config = (PROJECT / "pyproject.toml").read_text()
    assert 'name = "packages import only downwards"' in config and '"hashwarden.cli | hashwarden.service",' in config
    run = subprocess.run([str(Path(sys.executable).parent / "lint-imports"), "--no-cache"], cwd=PROJECT,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert "packages import only downwards KEPT" in run.stdout and ", 0 broken." in run.stdout


def test_make_bench_runs_every_benchmark_with_its_baselines() -> None:
    """README: `make bench` runs the benchmarks in bench/ and installs python-threatexchange, pdqhash, faiss-cpu and
    Debian's hashdeep, sqlite3 and wrk. corpus.py is the photo corpus the others import, not a benchmark."""
    makefile = (PROJECT / "Makefile").read_text()
    target = makefile.split("\nbench:", 1)[1].split("\n\n", 1)[0]
    benchmarks = {p.name for p in (PROJECT / "bench").glob("*.py")} - {"corpus.py"}
    assert set(re.findall(r"bench/(\w+\.py)", target)) == benchmarks
    extra = (PROJECT / "pyproject.toml").read_text().split("\nbench = [", 1)[1].split("]", 1)[0]
    assert all(f'"{name}' in extra for name in ("threatexchange", "pdqhash", "faiss-cpu"))
    sysdeps = makefile.split("\nsysdeps-bench:", 1)[1].split("\n\n", 1)[0]
    assert all(f"install -y -qq {tool}" in sysdeps for tool in ("hashdeep", "sqlite3", "wrk"))


def test_counts_in_the_architecture_are_the_tests_own() -> None:
    """The figures docs/architecture.md gives for the test corpora are what the tests hold: the hostile inputs and
    the generated images the PDQ engine is compared on."""
    import sys

    text = (PROJECT / "docs" / "architecture.md").read_text()
    sys.path.insert(0, str(PROJECT / "tests" / "corpus"))
    try:
        import hostile
    finally:
        sys.path.remove(str(PROJECT / "tests" / "corpus"))
    from tests.signals import test_pdq_engine as engine

    assert re.search(r"\b(\d+) crafted hostile inputs", text).group(1) == str(len(hostile.INPUTS))
    assert re.search(r"tests compare (\d+) generated images", text).group(1) == str(engine.corpus_size())


def test_documented_limits_and_cadences_are_the_codes() -> None:
    """The numbers the README and docs/architecture.md give for defaults are the constants the code uses, so
    changing one without the other fails here (their behaviour is tested where each is used)."""
    from hashwarden import config
    from hashwarden.formats.nsrl import untrusted_sqlite

    docs = " ".join(((PROJECT / "README.md").read_text() + (PROJECT / "docs" / "architecture.md").read_text()).split())
    claims = [  # (the words of the docs, the code's value, the value those words give)
        ("default the larger of 4 GiB and 100 times the file's size", (config.EXPANSION_FLOOR, config.EXPANSION_RATIO),
         (4 << 30, 100)),
        ("`--max-members`, default 10 million", config.MAX_MEMBERS, 10_000_000),
        ("a member expanding past 1,000 times its compressed size", config.MAX_MEMBER_RATIO, 1000),
        ("containers nested deeper than 16 levels", config.MAX_CONTAINER_DEPTH, 16),
        ("held in memory up to 512 MiB (a video: 2 GiB)", (config.MAX_NESTED_BYTES, config.MAX_VIDEO_MEMBER_BYTES),
         (512 << 20, 2 << 30)),
        ("a child silent for 60 s is killed", config.CHILD_STALL_SECONDS, 60),
        ("(`MAX_IMAGE_PIXELS`, 200 MP)", config.MAX_IMAGE_PIXELS, 200_000_000),
        ("the worst case per worker is 1.5 GiB", config.MAX_DECODE_BYTES, 1536 << 20),
        ("committing every 200 items or 2 s", (config.COMMIT_EVERY_ITEMS, config.COMMIT_EVERY_SECONDS), (200, 2)),
        ("PDQ threshold 31 and quality 50 (vPDQ", (config.PDQ_MATCH_THRESHOLD, config.PDQ_MIN_QUALITY), (31, 50)),
        ("JSON (VICS, JSON lines) nesting beyond 64 levels is refused", config.MAX_JSON_DEPTH, 64),
        ("`SQLITE_LIMIT_*`s (32 MiB values, no ATTACH)", config.MAX_SQLITE_VALUE_BYTES, 32 << 20),
        ("past their limit (names 4096 characters)", config.MAX_RDS_NAME_CHARS, 4096),
        ("at most one row per 64 bytes of file", untrusted_sqlite._MIN_ROW_BYTES, 64),
        ("A lookup takes up to 10,000 items", config.MAX_LOOKUP_ITEMS, 10_000),
        ("`vpdq` frames as `hashwarden hash` writes them, up to 36,000 an item and 100,000 a request",
         (config.MAX_LOOKUP_VPDQ_FRAMES, config.MAX_LOOKUP_REQUEST_VPDQ_FRAMES), (36_000, 100_000)),
    ]
    for phrase, actual, documented in claims:
        assert phrase in docs, phrase
        assert actual == documented, phrase


def test_make_demo_needs_what_the_readme_says() -> None:
    """README: `make demo` needs Python >= 3.11 and installs Debian's p7zip-full and libarchive13 when missing."""
    makefile = (PROJECT / "Makefile").read_text()
    assert re.search(r"^demo: .*\bsysdeps-run\b", makefile, re.MULTILINE)
    sysdeps = makefile.split("\nsysdeps-run:", 1)[1].split("\n\n", 1)[0]
    assert "$(RUN_TOOLS)" in sysdeps and "libarchive13" in sysdeps
    assert re.search(r"^RUN_TOOLS := 7z:p7zip-full$", makefile, re.MULTILINE)
    assert 'requires-python = ">=3.11"' in (PROJECT / "pyproject.toml").read_text()


def test_make_test_checks_the_layering_then_runs_on_every_core_in_random_order() -> None:
    """README: `make test` "checks the import layering, runs the whole pytest suite on every core in a random
    order": lint-imports before pytest, pytest with xdist on every core, pytest-randomly installed by the test
    extra (it shuffles whenever it is installed) and not switched off in the pytest configuration."""
    makefile = (PROJECT / "Makefile").read_text()
    recipe = makefile.split("\ntest:", 1)[1].split("\n\n", 1)[0].splitlines()[1:]
    assert [line.strip() for line in recipe] == ["$(BIN)/lint-imports", "$(BIN)/python -m pytest -n auto --dist worksteal"]
    pyproject = (PROJECT / "pyproject.toml").read_text()
    extra = pyproject.split("\ntest = [", 1)[1].split("]", 1)[0]
    assert all(f'"{name}' in extra for name in ("pytest-randomly", "pytest-xdist", "import-linter"))
    assert "no:randomly" not in pyproject.split("[tool.pytest.ini_options]", 1)[1].split("\n[", 1)[0]
