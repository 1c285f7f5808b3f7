"""Running the self-hash page's modules (web/selfhash/, a link to src/hashwarden/service/selfhash/) under Node, so
that their results can be compared with hashwarden's engine without a browser."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pytest

PROJECT = Path(__file__).resolve().parents[2]
WEB = PROJECT / "web" / "selfhash"
CLI = WEB / "pdq-cli.mjs"


def node() -> str:
    """The node binary; missing is a failure (make test installs Debian's nodejs: Makefile TEST_TOOLS)."""
    found = shutil.which("node")
    if found is None:
        pytest.fail("node missing: make test installs it (Makefile TEST_TOOLS, Debian package nodejs)")
    return found


def rgb_stream(images: Iterable[np.ndarray]) -> bytes:
    """The CLI's input: for each (H, W, 3) uint8 image, `width height\\n` and its bytes."""
    parts = []
    for rgb in images:
        array = np.ascontiguousarray(rgb, dtype=np.uint8)
        parts += [f"{array.shape[1]} {array.shape[0]}\n".encode(), array.tobytes()]
    return b"".join(parts)


def node_pdq(images: list[np.ndarray], dihedral: bool = False) -> list[tuple[tuple[str, ...], int]]:
    """(hashes, quality) of each image as pdq-cli.mjs computes them, all in one Node process: hashes holds the
    hash, or with `dihedral` the 8 forms."""
    args = [node(), str(CLI)] + (["--dihedral"] if dihedral else [])
    done = subprocess.run(args, input=rgb_stream(images), capture_output=True, timeout=600)
    assert done.returncode == 0, done.stderr.decode()
    lines = done.stdout.decode().splitlines()
    assert len(lines) == len(images)
    return [(tuple(line.split()[:-1]), int(line.split()[-1])) for line in lines]


def run_module(code: str, stdin: bytes = b"") -> str:
    """Run ES module `code` and return its stdout; `WEB/` in the code is web/selfhash/'s URL (imports of the page's
    modules: `import {md5Hex} from "WEB/md5.mjs"`)."""
    done = subprocess.run([node(), "--input-type=module", "-e", code.replace("WEB/", WEB.resolve().as_uri() + "/")],
                          input=stdin, capture_output=True, timeout=300)
    assert done.returncode == 0, done.stderr.decode()
    return done.stdout.decode()
