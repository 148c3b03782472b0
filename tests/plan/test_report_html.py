"""The HTML report renders in a real headless Chromium: charts drawn, no JavaScript errors.

Skipped, with the reason, where no ``chromium`` is installed (CI must install it; the test never
installs anything itself).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.plan.test_compare import FAST_LINKS, H200, JOB, SPACE, TRN1, TRN2
from tests.plan.toy_steps import toy_model
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


def _toy_page(tmp_path: Path) -> Path:
    comparison = compare_systems(toy_model(), [TRN2, TRN1, H200], JOB, 32, space=SPACE, steps=FAST_LINKS,
                                 scaling_chips=(8, 16, 32, 64, 128))
    page = tmp_path / "report.html"
    meta = {"reference": comparison.reference, "systems": {
        r.system.name: {"price_usd_per_node_hour": r.system.price_usd_per_node_hour,
                        "price_source": "toy list", "price_date": "2026", "power_w_per_chip": 500.0,
                        "power_source": "toy"}
        for r in comparison.rows}}
    page.write_text(render_html("toy comparison", entries_from_comparison(comparison), ["a note"], meta))
    return page


@needs_chromium
def test_report_renders_all_charts_without_errors(tmp_path: Path) -> None:
    page = _toy_page(tmp_path)
    text = page.read_text()
    assert not re.search(r"<script[^>]+src=", text)  # self-contained: plotly.js embedded
    dom, log = dump_dom(page, tmp_path / "profile")
    # Seven figures (time/cost, equal budget, break-even, scaling, Pareto, breakdown, memory), each
    # drawn into at least one .main-svg by plotly.js.
    assert len(re.findall(r"class=\"plotly-graph-div", dom)) == 7
    assert dom.count('class="main-svg"') >= 7
    assert page_errors(dom) == ""
    assert console_errors(log) == []
    # The answer comes first, the unpriced toy-trn2's break-even prices are charted, sources listed.
    assert re.search(r"<p class=\"headline\">At 32 chips each, \S+ trains fastest", dom)
    assert "Unpriced systems: job cost against their hourly price" in text
    assert "Prices and power: sources" in dom and "toy list" in dom


@needs_chromium
@pytest.mark.parametrize(("width", "name"), [(1440, "desktop"), (1024, "laptop")])
def test_report_screenshots_at_desktop_and_laptop_widths(tmp_path: Path, width: int, name: str) -> None:
    """Screenshots a person looks at (kept under $TRNSIM_SCREENSHOT_DIR when set)."""
    page = _toy_page(tmp_path)
    keep = os.environ.get("TRNSIM_SCREENSHOT_DIR")
    shot = Path(keep) / f"report-{name}.png" if keep else tmp_path / f"report-{name}.png"
    shot.parent.mkdir(parents=True, exist_ok=True)
    assert CHROMIUM is not None
    result = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
         f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=15000",
         f"--window-size={width},1400", f"--screenshot={shot}", page.as_uri()],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    # PNG header: width and height of the image are the window's
    assert int.from_bytes(data[16:20], "big") == width and int.from_bytes(data[20:24], "big") == 1400
    assert len(data) > 50_000  # charts drawn, not a blank page


@needs_chromium
def test_error_hook_catches_a_broken_page(tmp_path: Path) -> None:
    """The checks above can fail: a page that throws is caught by the same hook."""
    page = tmp_path / "broken.html"
    page.write_text(f"<html><head>{ERROR_HOOK}</head><body><script>undefinedFunction();</script>"
                    "<pre id='trnsim-errors'></pre></body></html>")
    dom, _ = dump_dom(page, tmp_path / "profile")
    assert "undefinedFunction" in page_errors(dom)
