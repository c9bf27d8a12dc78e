"""End-to-end test of the web page in headless Chromium (Debian's chromium, driven by Playwright).

The test needs ``/usr/bin/chromium`` (or ``chromium`` on PATH) and the ``playwright`` Python package. It never
installs them: ``make browser-deps`` does (``make test`` runs it where it can); when one is missing the browser
tests skip with the reason. ``playwright install`` (a browser download) is never run: the system Chromium is used
through ``executable_path``.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path

import httpx
import pytest
from inference_helpers import CREMA_CLIP

pytestmark = pytest.mark.browser

CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
    "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",  # a fake microphone for recording
]
TRANSCRIPT = "Don't forget a jacket"
INSTALL_HINT = "run `make browser-deps` (apt-get install chromium as root; pip install 'amber2[browser]')"


def _chromium() -> str | None:
    for cand in (shutil.which("chromium"), "/usr/bin/chromium", shutil.which("chromium-browser")):
        if cand and os.path.isfile(cand) and os.access(cand, os.X_OK):
            return cand
    return None


@functools.lru_cache(maxsize=1)
def _browser() -> tuple[str | None, str]:
    """``(chromium path, "")`` or ``(None, why the browser tests cannot run)``; installs nothing."""
    path = _chromium()
    if path is None:
        return None, f"chromium is not installed: {INSTALL_HINT}"
    if importlib.util.find_spec("playwright") is None:
        return None, f"the playwright package is not installed: {INSTALL_HINT}"
    return path, ""


@pytest.fixture(scope="module")
def browser_context():
    path, why = _browser()
    if path is None:
        pytest.skip(why)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        try:
            ctx = pw.chromium.launch_persistent_context(tempfile.mkdtemp(prefix="amber2-chromium-"),
                                                        executable_path=path, headless=True, args=CHROMIUM_ARGS)
        except Exception as exc:  # pragma: no cover - depends on the machine
            pytest.skip(f"headless chromium does not start here: {str(exc).splitlines()[0]}")
        ctx.set_default_timeout(60_000)
        yield ctx
        ctx.close()


def _rows(page) -> list[tuple[str, str, float, str]]:
    return [(h, c, float(p), txt) for h, c, p, txt in page.eval_on_selector_all(
        ".bar-row", "els => els.map(e => [e.dataset.head, e.dataset.class, e.dataset.prob, "
                    "e.querySelector('.bar-value').textContent])")]


def test_upload_type_transcript_and_see_the_bars(browser_context, base_url: str):
    from playwright.sync_api import expect

    page = browser_context.new_page()
    page.goto(base_url + "/")
    # the page runs under its Content-Security-Policy: no string evaluation, so wait with locators
    expect(page.locator("#model-info")).to_have_text(re.compile(r"^classes:"), timeout=30000)
    assert "neutral, happy, angry, sad" in page.inner_text("#model-info")
    page.set_input_files("#file", str(CREMA_CLIP))
    page.fill("#transcript", TRANSCRIPT)
    page.click("#predict")
    page.wait_for_selector('#results[data-state="done"]')

    with httpx.Client(base_url=base_url, timeout=60) as c:
        api = c.post("/predict", files={"file": (CREMA_CLIP.name, CREMA_CLIP.read_bytes(), "audio/wav")},
                     data={"transcript": TRANSCRIPT}).json()
    rows = _rows(page)
    assert len(rows) == 3 * 4 and {r[0] for r in rows} == {"audio", "text", "fusion"}
    for head, cls, prob, text in rows:
        assert prob == api["heads"][head][cls]  # the exact number the API returned
        assert text.endswith("%") and abs(float(text[:-1]) - 100 * prob) <= 0.05 + 1e-9
    assert page.eval_on_selector(".head", "e => e.dataset.head") == "fusion"  # the prediction's head comes first
    assert page.inner_text("#label") == api["label"]
    assert float(page.get_attribute("#entropy", "data-value")) == api["entropy"]
    assert float(page.get_attribute("#conflict", "data-value")) == api["conflict"]
    assert page.inner_text("#entropy").startswith(f"{api['entropy']:.3f} bits")
    assert page.is_hidden("#partial-note")
    page.close()


def test_record_a_clip_with_the_fake_microphone(browser_context, base_url: str):
    from playwright.sync_api import expect

    page = browser_context.new_page()
    page.goto(base_url + "/")
    page.click("#record")
    expect(page.locator("#status")).to_have_text(re.compile(r"^recording"), timeout=30000)
    page.wait_for_timeout(1500)
    page.click("#stop")
    expect(page.locator("#clip-info")).to_have_text(re.compile(r"^recording\.wav"), timeout=30000)
    page.click("#predict")
    page.wait_for_selector('#results[data-state="done"]')  # the server decoded the browser-made WAV
    rows = _rows(page)
    assert {r[0] for r in rows} == {"audio"} and abs(sum(r[2] for r in rows) - 1) < 1e-9
    assert page.is_visible("#partial-note") and "no text input" in page.inner_text("#partial-note").lower()
    assert page.inner_text("#conflict").startswith("n/a")
    page.close()


def test_server_errors_are_shown(browser_context, base_url: str):
    page = browser_context.new_page()
    page.goto(base_url + "/")
    page.set_input_files("#file", files=[{"name": "fake.wav", "mimeType": "audio/wav",
                                          "buffer": b"this is not audio"}])
    page.click("#predict")
    page.wait_for_selector('#results[data-state="error"]', state="attached")
    status = page.inner_text("#status")
    assert status.startswith("error 415") and "fake.wav" in status
    page.close()


def test_page_assets_exist():
    from amber2.serve import STATIC_DIR

    assert {p.name for p in Path(STATIC_DIR).iterdir()} >= {"index.html", "app.js", "style.css"}


def _fresh_browser_check() -> tuple[str | None, str]:
    _browser.cache_clear()
    try:
        return _browser()
    finally:
        _browser.cache_clear()


def test_a_missing_browser_is_a_skip_with_a_reason(monkeypatch):
    monkeypatch.setattr(sys.modules[__name__], "_chromium", lambda: None)
    path, why = _fresh_browser_check()
    assert path is None and "chromium is not installed" in why and "make browser-deps" in why


def test_a_missing_playwright_is_a_skip_with_a_reason(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(sys.modules[__name__], "_chromium", lambda: "/usr/bin/chromium")  # found or not here
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "playwright" else real(name, *a))
    path, why = _fresh_browser_check()
    assert path is None and "playwright package is not installed" in why and "make browser-deps" in why


def test_page_has_an_inline_icon():
    """The page links an inline (data:) icon, so browsers never request /favicon.ico and log a 404."""
    from amber2.serve import STATIC_DIR

    html = (Path(STATIC_DIR) / "index.html").read_text(encoding="utf-8")
    icon = re.search(r'<link rel="icon" href="([^"]+)"', html)
    assert icon is not None and icon.group(1).startswith("data:image/svg+xml,")
