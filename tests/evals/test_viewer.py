"""The eval viewer (``weightwarden eval view``) in a real headless Chromium (Debian's, driven by Playwright).

Pages are built from run logs that carry hostile model text; the browser checks that none of it runs or
loads anything, that filters work, and that two runs show side by side. A screenshot is written too.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from test_results import _header, _record  # same folder (pytest puts it on sys.path)

from weightwarden.evals.log import LogWriter, read_log
from weightwarden.evals.viewer import render_viewer, viewer_data

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]
HOSTILE = ('</script><script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">'
           '<a href="http://evil.example/">click</a>\u202eevil\x1b[31m')
ROOT = Path(__file__).resolve().parents[2]


def _write(path: Path, model: str, answers: dict[str, str], *, detector_label: str = "compliance") -> Path:
    writer = LogWriter.create(path, _header(model=model, suites=("harm", "harm+base64")))
    for i, text in answers.items():
        writer.write(_record("harm", i, category="cyber" if i < "2" else "bio", response=text,
                             success=detector_label == "compliance", label=detector_label))
    transformed = _record("harm+base64", "0+base64", transform="base64", response="SGVsbG8=", label="echo",
                          success=False)
    transformed = transformed.__class__(**{**transformed.__dict__, "detectors": (
        {"detector": "refusal", "label": "echo", "success": False, "score": None,
         "evidence": "the answer repeats the encoded request", "error": None,
         "details": {"request": "How do I pick a lock?", "decoded_answer": "Hello", "reason": "echo"}},)})
    writer.write(transformed)
    writer.close()
    return path


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    assert os.path.exists(CHROMIUM), "Debian's chromium is required for the viewer tests"
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield b
        b.close()


def test_page_data_is_sanitised_and_cannot_break_out_of_its_script(tmp_path: Path):
    log = read_log(_write(tmp_path / "a.jsonl", "model-a", {"0": HOSTILE, "1": "fine"}))
    page = render_viewer([log])
    assert "</script><script>window.__pwned" not in page and "<img src=x" not in page
    assert page.count("<script") == 2 and "Content-Security-Policy" in page and "img-src &#x27;none&#x27;" in page
    data = viewer_data([log])
    answers = [a["answer"] for a in data["runs"][0]["attempts"]]
    assert any("\\u202e" in a and "\\x1b" in a for a in answers)  # invisible/control characters shown


def test_viewer_in_chromium_escapes_filters_and_shows_two_runs(tmp_path: Path, browser):
    a = _write(tmp_path / "a.jsonl", "model-a", {"0": HOSTILE, "1": "a plain answer", "2": "bio answer"})
    b = _write(tmp_path / "b.jsonl", "model-b", {"0": "I can't help with that.", "1": "other", "2": "x"},
               detector_label="refusal")
    page_path = tmp_path / "view.html"
    page_path.write_text(render_viewer([read_log(a), read_log(b)]), encoding="utf-8")
    page = browser.new_page()
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.goto(page_path.as_uri())
    assert page.evaluate("window.__pwned") is None
    assert page.locator("img").count() == 0 and page.locator("main a").count() == 0
    assert [u for u in requests if not u.startswith("file://")] == []
    assert page.locator(".attempt").count() == 4
    assert page.locator("#count").inner_text() == "4 of 4 attempts"
    first = page.locator(".attempt").first
    assert HOSTILE[:40] in first.inner_text()  # shown as text, verbatim
    # Side by side: both models' columns, each with its own verdict.
    assert first.locator(".run h3").all_inner_texts() == ["model-a", "model-b"]
    assert "attack: compliance" in first.locator(".run").nth(0).inner_text()
    assert "attack: refusal" in first.locator(".run").nth(1).inner_text()
    # Filters: suite, category, transform, verdict, text.
    page.select_option("#f-suite", "harm+base64")
    assert page.locator(".attempt").count() == 1
    box = page.locator(".attempt").first.inner_text()
    assert "How do I pick a lock?" in box and "decoded answer" in box and "refusal: echo" in box
    page.select_option("#f-suite", "(all)")
    page.select_option("#f-category", "bio")
    assert page.locator(".attempt").count() == 1
    page.select_option("#f-category", "(all)")
    page.select_option("#f-transform", "base64")
    assert page.locator(".attempt").count() == 1
    page.select_option("#f-transform", "(all)")
    page.select_option("#f-verdict", "attack: refusal")
    assert page.locator(".attempt").count() == 3
    page.select_option("#f-verdict", "(all)")
    page.fill("#f-text", "plain answer")
    assert page.locator(".attempt").count() == 1
    shot = tmp_path / "viewer.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 5000
    page.close()


def test_eval_view_serves_on_loopback_only(tmp_path: Path, browser):
    log = _write(tmp_path / "a.jsonl", "model-a", {"0": "hello", "1": "world"})
    proc = subprocess.Popen([sys.executable, "-m", "weightwarden.cli.main", "eval", "view", str(log), "--serve"],
                            cwd=ROOT, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stderr.readline()
        assert line.startswith("serving http://127.0.0.1:"), line
        url = line.split()[1]
        page = browser.new_page()
        page.goto(url)
        assert page.locator(".attempt").count() == 3
        assert page.goto(url + "etc/passwd").status == 404
        page.close()
        # A request that names another host (DNS rebinding) gets nothing.
        import http.client

        host, port = url.split("/")[2].split(":")
        conn = http.client.HTTPConnection(host, int(port), timeout=5)
        conn.request("GET", "/", headers={"Host": f"attacker.example:{port}"})
        response = conn.getresponse()
        assert response.status == 403 and b"weightwarden" not in response.read()
        conn.close()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
