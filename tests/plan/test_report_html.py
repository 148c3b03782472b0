"""The HTML report renders in a real headless Chromium: charts drawn, no JavaScript errors.

Skipped, with the reason, where no ``chromium`` is installed (CI must install it; the test never
installs anything itself).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.plan.test_compare import FAST_LINKS, H200, JOB, SPACE, TRN1, TRN2
from tests.plan.toy_evaluator import toy_model
from trnsim.plan.compare import compare_systems
from trnsim.report.entries import entries_from_comparison
from trnsim.report.html import ERROR_HOOK, render_html

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)"
)


def dump_dom(page: Path, profile: Path) -> tuple[str, str]:
    """Load a page in headless Chromium; return its DOM after scripts ran, and the browser log."""
    assert CHROMIUM is not None
    result = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--no-first-run", f"--user-data-dir={profile}",
         "--enable-logging=stderr", "--v=0", "--virtual-time-budget=15000", "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout, result.stderr


def console_errors(log: str) -> list[str]:
    lines = log.splitlines()
    return [line for line in lines if "CONSOLE" in line and ("Uncaught" in line or "Error" in line)]


def page_errors(dom: str) -> str:
    match = re.search(r"<pre id=\"trnsim-errors\">(.*?)</pre>", dom, re.S)
    assert match, "the error box is missing from the page"
    return match.group(1).strip()


@needs_chromium
def test_report_renders_all_charts_without_errors(tmp_path: Path) -> None:
    comparison = compare_systems(toy_model(), [TRN2, TRN1, H200], JOB, 32, FAST_LINKS, space=SPACE,
                                 scaling_chips=(8, 16, 64))
    page = tmp_path / "report.html"
    page.write_text(render_html("toy comparison", entries_from_comparison(comparison), ["a note"]))
    assert not re.search(r"<script[^>]+src=", page.read_text())  # self-contained: plotly.js embedded
    dom, log = dump_dom(page, tmp_path / "profile")
    # Five figures, each drawn into at least one .main-svg by plotly.js.
    assert len(re.findall(r"class=\"plotly-graph-div", dom)) == 5
    assert dom.count('class="main-svg"') >= 5
    assert page_errors(dom) == ""
    assert console_errors(log) == []


@needs_chromium
def test_error_hook_catches_a_broken_page(tmp_path: Path) -> None:
    """The checks above can fail: a page that throws is caught by the same hook."""
    page = tmp_path / "broken.html"
    page.write_text(f"<html><head>{ERROR_HOOK}</head><body><script>undefinedFunction();</script>"
                    "<pre id='trnsim-errors'></pre></body></html>")
    dom, _ = dump_dom(page, tmp_path / "profile")
    assert "undefinedFunction" in page_errors(dom)
