"""The playground in a real browser (Playwright driving the system Chromium), served by `cli.py serve`.

Each view is used as a person would: type a text and read every panel's token spans back as ids; open a run
and watch its curve grow while its log grows; generate a sample and see it stream in; stop one. A screenshot
of each view is saved under build/test-artifacts/playground/. Without Playwright or a Chromium these skip,
saying which is missing (.ci/run installs Debian's chromium when it is absent).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time

import pytest
import torch

import minbpe
from conftest import ROOT, TINYSHAKESPEARE
from gpt.checkpoint import checkpoint_tokenizer, load_checkpoint, load_model
from gpt.generate import SampleConfig, stream_text

sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed (pip install -e '.[dev]')")
CHROMIUM = next((path for name in ("chromium", "chromium-browser", "google-chrome") if (path := shutil.which(name))),
                None)
pytestmark = pytest.mark.skipif(CHROMIUM is None,
                                reason="no Chromium on this machine (Debian: apt-get install chromium)")
ARTIFACTS = ROOT / "build" / "test-artifacts" / "playground"
# a root Chromium needs --no-sandbox; the rest keeps it off this machine's closed network
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--no-first-run", "--disable-quic"]


@pytest.fixture(scope="module")
def runs(playground_runs):
    return playground_runs


@pytest.fixture(scope="module")
def address(runs):
    """`cli.py serve` on a free port: its address, read from what it prints."""
    server = subprocess.Popen([sys.executable, str(ROOT / "cli.py"), "serve", "--runs", str(runs.root), "--tokenizer",
                               str(runs.tokenizer), "--port", "0", "--device", "cpu"],
                              stderr=subprocess.PIPE, text=True, cwd=runs.root.parent)
    line = server.stderr.readline()
    match = re.search(r"at (http://127\.0\.0\.1:\d+/)", line)
    assert match, line + server.stderr.read() if server.poll() is not None else line
    yield match.group(1)
    server.terminate()
    server.wait(10)


@pytest.fixture(scope="module")
def page(address):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_page(viewport={"width": 1280, "height": 860})
        page.set_default_timeout(30_000)
        page.goto(address)
        yield page
        browser.close()


def painted_ids(page, text: str) -> dict[str, list[int]]:
    """Type text into the box and read back each panel's token ids, in order, once all are painted."""
    seq = int(page.get_attribute("#panels", "data-seq") or 0)
    page.fill("#text", text)
    page.wait_for_function(f"() => Number(document.querySelector('#panels').dataset.seq) > {seq} && "
                           "document.querySelector('#panels').dataset.state === 'done'")
    return page.evaluate("""() => Object.fromEntries([...document.querySelectorAll('#panels .panel')].map((p) =>
        [p.dataset.tokenizer, [...p.querySelectorAll('[data-token-id]')].map((t) => Number(t.dataset.tokenId))]))""")


def test_tokens_view_paints_each_tokenizers_ids(page, runs):
    text = "The quick brown fox — naïve café 日本語 🎉\n  def f(x): return x**2  # 1234567"
    got = painted_ids(page, text)
    shakes = minbpe.load(runs.tokenizer)
    char = checkpoint_tokenizer(runs.root / "gpt", load_checkpoint(runs.root / "gpt"))
    expected = {"gpt2": minbpe.get_tokenizer("gpt2").encode(text, "all", backend="python"),
                "gpt4": minbpe.get_tokenizer("gpt4").encode(text, "all", backend="python"),
                "shakes": shakes.encode(text, "all", backend="python"),
                "run:nested/bpe": shakes.encode(text, "all", backend="python")}
    assert {name: got[name] for name in expected} == expected
    assert got["run:gpt"] == []  # the char tokenizer has no '—': the panel shows that error instead
    assert "not in this" in page.inner_text("[data-tokenizer='run:gpt'] .stats")
    assert char.encode("ROMEO") == painted_ids(page, "ROMEO")["run:gpt"]
    painted_ids(page, text)
    page.wait_for_selector("[data-tokenizer='gpt4'] .twin[data-same='true']")
    assert "same ids" in page.inner_text("[data-tokenizer='gpt2'] .twin")
    # the page's text is the spans put together, as typed
    assert page.inner_text("[data-tokenizer='gpt4'] .tokens") == text
    page.hover("[data-tokenizer='gpt2'] [data-token-id]:nth-child(3)")
    assert page.inner_text("#tip").startswith(f"id {expected['gpt2'][2]}")
    page.screenshot(path=str(ARTIFACTS / "tokens.png"))


def test_a_run_that_appears_offers_its_tokenizer(page, runs):
    later = runs.root / "later"
    shutil.copytree(runs.root / "gpt", later)
    try:
        page.click("button[data-view=runs]")
        page.click("button[data-view=tokens]")
        page.wait_for_selector("#tokenizer-list input[value='run:later']:checked", state="attached")
        ids = painted_ids(page, "JULIET")
        assert ids["run:later"] == ids["run:gpt"] and len(ids["run:later"]) == 6
    finally:
        shutil.rmtree(later)
    page.click("button[data-view=runs]")
    page.click("button[data-view=tokens]")
    page.wait_for_selector("#tokenizer-list input[value='run:later']", state="detached")


def test_a_long_text_is_drawn_as_the_panel_scrolls(page):
    """The first 5,000 tokens paint at once; scrolling a panel to its end draws the rest, in order."""
    text = TINYSHAKESPEARE.read_text(encoding="utf-8")[:24_000]
    expected = minbpe.get_tokenizer("gpt2").encode(text, "all")
    assert 5_000 < len(expected) < 10_000
    assert len(painted_ids(page, text)["gpt2"]) == 5_000
    assert "first 5,000 of" in page.inner_text("[data-tokenizer='gpt2'] .more")
    box = "[data-tokenizer='gpt2'] .tokens"
    page.eval_on_selector(box, "(box) => { box.scrollTop = box.scrollHeight; }")
    page.wait_for_selector(f"[data-tokenizer='gpt2'][data-shown='{len(expected)}']")
    ids = page.eval_on_selector_all(f"{box} [data-token-id]", "(spans) => spans.map((t) => Number(t.dataset.tokenId))")
    assert ids == expected
    assert page.inner_text("[data-tokenizer='gpt2'] .more") == ""


def test_runs_view_draws_the_curves_and_follows_a_training_run(page, runs):
    page.click("button[data-view=runs]")
    page.click("#run-list li[data-run='gpt']")
    log = runs.root / "gpt" / "metrics.jsonl"
    steps = sum(json.loads(line)["event"] == "step" for line in log.read_text().splitlines())
    page.wait_for_selector(f"#run-detail polyline[data-series='train'][data-points='{steps}']")
    page.wait_for_selector("#run-detail polyline[data-series='val_bpb'][data-points='3']")
    assert "not a readable checkpoint" in page.inner_text("#run-list li[data-run='broken']")
    before = log.read_text()
    try:  # the run goes on training: its new rows appear without a reload
        with open(log, "a") as f:
            for step in (25, 30):
                f.write(json.dumps({"event": "step", "step": step, "train_loss": 2.0, "lr": 1e-3}) + "\n")
        page.wait_for_selector(f"#run-detail polyline[data-series='train'][data-points='{steps + 2}']", timeout=10_000)
    finally:
        log.write_text(before)
    page.screenshot(path=str(ARTIFACTS / "runs.png"))


def test_samples_view_streams_the_librarys_sample(page, runs):
    page.click("button[data-view=samples]")
    page.wait_for_selector("#run-select option[value='gpt']", state="attached")
    page.select_option("#run-select", "gpt")
    page.fill("#prompt", "ROMEO:")
    for field, value in (("#temperature", "0.8"), ("#top-k", "10"), ("#top-p", "0.9"), ("#max-tokens", "120"),
                         ("#seed", "42")):
        page.fill(field, value)
    page.click("#generate")
    page.wait_for_selector("#output[data-state='done']")
    model, state = load_model(runs.root / "gpt")
    expected = "".join(stream_text(model, checkpoint_tokenizer(runs.root / "gpt", state), "ROMEO:",
                                   SampleConfig(120, 0.8, 10, 0.9), torch.Generator().manual_seed(42)))
    assert page.inner_text("#output") == "ROMEO:" + expected
    assert float(page.get_attribute("#output", "data-first-piece-ms")) > 0
    page.screenshot(path=str(ARTIFACTS / "samples.png"))


def test_stop_button_stops_the_generation(page, address):
    page.click("button[data-view=samples]")
    page.select_option("#run-select", "gpt")
    page.fill("#max-tokens", "2000")
    page.fill("#prompt", "")
    page.click("#generate")
    page.wait_for_function("() => document.querySelector('#output').dataset.firstPieceMs !== undefined")
    page.click("#stop")
    page.wait_for_selector("#output[data-state='stopped']")
    assert len(page.inner_text("#output")) < 2000
    deadline = time.monotonic() + 5
    while page.evaluate(f"fetch('{address}api/status').then((r) => r.json())")["generations"]:
        assert time.monotonic() < deadline, "the generation went on after stop"
        time.sleep(0.05)
    assert page.is_enabled("#generate") and not page.is_enabled("#stop")
