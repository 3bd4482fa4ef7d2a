"""`sealign report`: one self-contained HTML page, checked as text and rendered in headless Chromium."""

from __future__ import annotations

import io
import re
import shutil

import pytest

from sealign.cli import main
from sealign.records.samples import read_samples

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]  # as tests/e2e/test_human_browser.py


@pytest.fixture(scope="module")
def report(finished_tiny_run, tmp_path_factory):
    out = tmp_path_factory.mktemp("report") / "report.html"
    assert main(["report", str(finished_tiny_run), "--out", str(out)]) == 0
    return out


def test_evaluations_save_a_few_responses_beside_the_sft_policy(finished_tiny_run):
    records = read_samples(finished_tiny_run)
    assert records[0]["queries"] == 0 and records[-1]["queries"] == 48
    first = records[0]["samples"]
    assert len(first) == 4 and set(first[0]) == {"prompt", "response", "sft_response"}
    assert [s["response"] for s in first] == [s["sft_response"] for s in first]  # the SFT policy, same seed


def test_the_page_holds_curves_summary_config_cost_and_samples_with_no_external_asset(report, finished_tiny_run):
    html = report.read_text()
    assert "data:image/png;base64," in html
    assert not re.search(r"""(src|href)=['"](https?:)?//""", html) and "<script" not in html and "<link" not in html
    for text in ("Summary", "unanswered", "oracle cost", "Config", "starting policy", "final policy",
                 "learn_policy: true"):
        assert text in html, text
    last = read_samples(finished_tiny_run)[-1]["samples"][0]
    assert last["prompt"].split(" ")[0] in html


def test_a_folder_that_is_not_a_run_is_one_line(tmp_path, capsys):
    assert main(["report", str(tmp_path), "--out", str(tmp_path / "r.html")]) == 2
    assert "not a run directory" in capsys.readouterr().err


def test_the_page_renders_in_headless_chromium_without_console_errors(report):
    sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
    if not shutil.which(CHROMIUM):
        pytest.skip("Debian chromium is not installed (apt-get install -y chromium)")
    from PIL import Image, ImageStat

    errors: list[str] = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        page = browser.new_page(viewport={"width": 1100, "height": 900})
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("requestfailed", lambda r: errors.append(f"failed request {r.url}"))
        page.goto(report.as_uri())
        assert page.evaluate("document.images[0].complete && document.images[0].naturalWidth") > 100  # plot decoded
        shot = page.screenshot(full_page=True)
        browser.close()
    assert errors == []
    image = Image.open(io.BytesIO(shot)).convert("L")
    assert ImageStat.Stat(image).stddev[0] > 10  # not a blank page


def test_a_resumed_run_keeps_the_samples_up_to_its_checkpoint(tmp_path):
    from sealign.records.samples import append_samples, keep_samples_until

    for step in (0, 3, 6):
        append_samples(tmp_path / "samples.jsonl", step, step * 8, [])
    keep_samples_until(tmp_path, 3)
    assert [r["step"] for r in read_samples(tmp_path)] == [0, 3]
