"""No file in the repository names an absolute path of a build machine.

Sources are cited as their primary public source (paper and table, vendor page and date); a path
such as ``/work/shared/...`` or ``/tmp/...`` means nothing on a user's machine.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# A path component that starts at the filesystem root (not inside a URL or a relative path).
MACHINE_PATH = re.compile(r"(?<![\w.\-/~])/(?:work|root|tmp|home/[\w.\-]+|Users/[\w.\-]+)/")
SKIP_DIRS = {".git", ".venv", "venv", "__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache",
             ".hypothesis", "build", "dist", "node_modules"}


def repository_files() -> list[Path]:
    """Tracked files (git), or every file under the root when there is no git checkout."""
    try:
        listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True)
        return [ROOT / name for name in listed.stdout.decode().split("\0") if name]
    except (OSError, subprocess.CalledProcessError):
        return [p for p in ROOT.rglob("*")
                if p.is_file() and not SKIP_DIRS.intersection(p.relative_to(ROOT).parts)]


def machine_paths(text: str) -> list[tuple[int, str]]:
    """(line number, line) of every line naming an absolute build-machine path."""
    return [(n, line.strip()) for n, line in enumerate(text.splitlines(), 1) if MACHINE_PATH.search(line)]


def test_pattern_catches_machine_paths_and_spares_urls() -> None:
    assert machine_paths("see /work/shared/spec/hardware.md")
    assert machine_paths('Path("/tmp/x.json")')
    assert machine_paths("cd /home/alice/trnsim")
    assert machine_paths("`/root/.cache/x`")
    assert not machine_paths("https://example.org/work/tmp/x and src/trnsim/data/calibration")
    assert not machine_paths("~/work/ and ./tmp/ and a/home/b/")


def test_no_file_names_a_build_machine_path() -> None:
    me = Path(__file__).resolve()
    found = []
    for path in repository_files():
        if path.resolve() == me or not path.is_file():
            continue
        data = path.read_bytes()
        if b"\0" in data:
            continue  # binary (images)
        for n, line in machine_paths(data.decode("utf-8", errors="replace")):
            found.append(f"{path.relative_to(ROOT)}:{n}: {line}")
    assert not found, "absolute build-machine paths (cite the public source instead):\n" + "\n".join(found)
