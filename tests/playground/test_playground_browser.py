"""The playground in a real browser (Playwright driving the system Chromium), served by `cli.py serve`.

Each view is used as a person would: type a text and read every panel's token spans back as ids; open a run
and watch its curve grow while its log grows; generate a sample and see it stream in; stop one. A screenshot
of each view is saved under build/test-artifacts/playground/. Without Playwright or a Chromium these skip,
saying which is missing (.ci/run installs Debian's chromium when it is absent).

And as an attacker would: runs whose names, settings and logs are markup must show as text and run nothing,
the page must keep to its Content-Security-Policy, and a page on another host name (DNS rebinding) is refused.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys

import pytest
import torch
from playground_runs import PAYLOAD, make_hostile_runs

import minbpe
from conftest import ROOT, TINYSHAKESPEARE
from gpt.checkpoint import checkpoint_tokenizer, load_checkpoint, load_model
from gpt.generate import SampleConfig, stream_text
from playground import PlaygroundConfig, PlaygroundServer

sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed (pip install -e '.[dev]')")
CHROMIUM = next((path for name in ("chromium", "chromium-browser", "google-chrome") if (path := shutil.which(name))),
                None)
pytestmark = pytest.mark.skipif(CHROMIUM is None,
                                reason="no Chromium on this machine (Debian: apt-get install chromium)")
ARTIFACTS = ROOT / "build" / "test-artifacts" / "playground"
# a root Chromium needs --no-sandbox; the rest keeps it off this machine's closed network; evil.example is a DNS
# rebinding attacker's name, already re-pointed at this machine
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--no-first-run", "--disable-quic", "--host-resolver-rules=MAP evil.example 127.0.0.1"]
# run in every page before its own script: what the CSP blocked (the page's script never sees these)
RECORD_VIOLATIONS = """window.__violations = [];
document.addEventListener("securitypolicyviolation",
                          (e) => window.__violations.push(`${e.violatedDirective} ${e.blockedURI}`));"""
TEXTS = "(nodes) => nodes.map((node) => node.textContent)"
ENDED = "() => document.querySelector('#output').dataset.state !== 'streaming'"  # a generation's end, however it ended


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
        context = browser.new_context(viewport={"width": 1280, "height": 860})
        context.add_init_script(RECORD_VIOLATIONS)
        page = context.new_page()
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
    # the char tokenizer has no '—', 'é', '日'...: the panel shows the ids of the characters it has, and the others
    # as characters its model cannot read, in their place, not an error
    known = char.encode_known(text, "all")
    unknown = [m for m in known if isinstance(m, str)]
    assert "".join(unknown) == "—ïé日本語🎉()**2#1234567"
    assert got["run:gpt"] == [m for m in known if not isinstance(m, str)]
    assert page.eval_on_selector_all("[data-tokenizer='run:gpt'] .unknown", TEXTS) == unknown
    assert page.inner_text("[data-tokenizer='run:gpt'] .tokens") == text
    assert f"{len(unknown)} characters not in its alphabet" in page.inner_text("[data-tokenizer='run:gpt'] .stats")
    assert page.query_selector("#panels .error") is None
    page.hover("[data-tokenizer='run:gpt'] .unknown")
    assert page.inner_text("#tip") == f"U+{ord(unknown[0]):04X} has no id: a model on this tokenizer never reads it"
    assert char.encode("ROMEO") == painted_ids(page, "ROMEO")["run:gpt"]
    assert page.query_selector("[data-tokenizer='run:gpt'] .unknown") is None
    painted_ids(page, text)
    # each twin's verdict is about this text (a verdict on the text before is cleared when it is redrawn)
    for name in ("gpt2", "gpt4"):
        page.wait_for_selector(f"[data-tokenizer='{name}'] .twin[data-same='true']")
        assert "same ids" in page.inner_text(f"[data-tokenizer='{name}'] .twin")
    # the page's text is the spans put together, as typed
    assert page.inner_text("[data-tokenizer='gpt4'] .tokens") == text
    page.hover("[data-tokenizer='gpt2'] [data-token-id]:nth-child(3)")
    assert page.inner_text("#tip").startswith(f"id {expected['gpt2'][2]}")
    page.screenshot(path=str(ARTIFACTS / "tokens.png"))
    # a twin's verdict was about the text before: a new text's panels never show it (checked or not yet)
    painted_ids(page, "ROMEO")
    assert page.evaluate("""() => [...document.querySelectorAll('.twin')].every((line) =>
        line.dataset.same === undefined || !['', 'tiktoken: checking…'].includes(line.textContent))""")


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
        page.wait_for_selector(f"#run-detail polyline[data-series='train'][data-points='{steps + 2}']")
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
    page.wait_for_function(ENDED)
    assert page.get_attribute("#output", "data-state") == "done", page.inner_text("#gen-status")
    model, state = load_model(runs.root / "gpt")
    expected = "".join(stream_text(model, checkpoint_tokenizer(runs.root / "gpt", state), "ROMEO:",
                                   SampleConfig(120, 0.8, 10, 0.9), torch.Generator().manual_seed(42)))
    assert page.inner_text("#output") == "ROMEO:" + expected
    assert float(page.get_attribute("#output", "data-first-piece-ms")) > 0
    page.screenshot(path=str(ARTIFACTS / "samples.png"))


def test_stop_button_stops_the_generation(page):
    page.click("button[data-view=samples]")
    page.select_option("#run-select", "gpt")
    page.fill("#max-tokens", "2000")
    page.fill("#prompt", "")
    page.click("#generate")
    page.wait_for_function("() => document.querySelector('#output').dataset.firstPieceMs !== undefined")
    page.click("#stop")
    page.wait_for_function(ENDED)
    assert page.get_attribute("#output", "data-state") == "stopped", page.inner_text("#gen-status")
    assert len(page.inner_text("#output")) < 2000
    # the server has ended it: it runs no generation. (wait_for_function takes a promise for true: the predicate
    # asks the server again each time its last answer is in, and reads that answer.)
    page.wait_for_function("""() => {
        window.__asking ??= fetch('/api/status').then((r) => r.json())
          .then((status) => { window.__running = status.generations; window.__asking = null; });
        return window.__running === 0;
    }""", polling=50)
    assert page.is_enabled("#generate") and not page.is_enabled("#stop")


def test_the_page_keeps_to_its_content_security_policy(page):
    """Every view, drawn, breaks no rule of the CSP (no inline script, no style="" attribute: the chart's legend
    is coloured through the DOM); and the CSP holds: a script put into the page as text does not run."""
    page.click("button[data-view=runs]")
    page.click("#run-list li[data-run='gpt']")
    page.wait_for_selector("#run-detail .legend span")
    # in one evaluation: the view is redrawn every 2 s, and a key no longer in the page has no computed colour
    assert page.evaluate("getComputedStyle(document.querySelector('#run-detail .legend span')).color") == \
        "rgb(47, 111, 219)"  # the train curve's colour, #2f6fdb
    page.click("button[data-view=samples]")
    page.click("button[data-view=tokens]")
    painted_ids(page, "hello")
    assert page.evaluate("window.__violations") == []
    assert page.evaluate("""() => { const script = document.createElement('script');
        script.textContent = 'window.__inline = 1'; document.body.append(script); return window.__inline; }""") is None
    page.wait_for_function("window.__violations.length > 0")
    assert page.evaluate("window.__violations") == ["script-src-elem inline"]


@pytest.fixture(scope="module")
def hostile_address(runs, tmp_path_factory):
    """A server on the hostile runs (playground_runs.make_hostile_runs)."""
    server = PlaygroundServer(PlaygroundConfig(make_hostile_runs(runs.root / "gpt", tmp_path_factory.mktemp("hostile")),
                                               device="cpu"), "127.0.0.1", 0)
    with server.in_background():
        yield server.address


def test_markup_from_runs_shows_as_text_and_runs_nothing(page, hostile_address):
    """A run named PAYLOAD, with PAYLOAD in its settings, a step that is PAYLOAD, a log row whose loss is PAYLOAD: each
    view shows them as the characters they are (or the run's error), no element is made from them, nothing runs."""
    tab = page.context.new_page()
    dialogs = []
    tab.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    tab.goto(hostile_address)
    tab.wait_for_selector("#panels[data-state='done']")
    assert "run:" + PAYLOAD in tab.eval_on_selector_all("#panels .panel h2", TEXTS)
    assert " run:" + PAYLOAD in tab.eval_on_selector_all("#tokenizer-list label", TEXTS)

    tab.click("button[data-view=runs]")
    assert "is not a whole number >= 0" in tab.inner_text("#run-list li[data-run='step-markup'] .error")
    tab.evaluate("(name) => [...document.querySelectorAll('#run-list li')].find((li) => li.dataset.run === name)"
                 ".click()", PAYLOAD)
    tab.wait_for_selector("#run-detail polyline[data-series='train']")
    assert tab.text_content("#run-detail h2") == PAYLOAD
    settings = dict(tab.eval_on_selector_all("#run-detail table tr",
                                             "(rows) => rows.map((row) => [...row.cells].map((c) => c.textContent))"))
    assert settings["data"] == PAYLOAD and settings[PAYLOAD] == "1"
    tab.click("#run-list li[data-run='loss-markup']")
    tab.wait_for_selector("#run-detail[data-run='loss-markup'] p.error")
    assert "metrics.jsonl line" in tab.inner_text("#run-detail p.error")

    tab.click("button[data-view=samples]")
    tab.wait_for_selector("#run-select option", state="attached")
    assert PAYLOAD in tab.eval_on_selector_all("#run-select option", "(options) => options.map((o) => o.value)")
    # had any of it been parsed as HTML, there would be an <img> (and, without the CSP, a dialog and the flag)
    assert tab.evaluate("() => [document.querySelectorAll('img').length, window.__pwned, window.__violations]") == \
        [0, None, []]
    assert dialogs == [] and tab.title() == "gptkit playground"
    tab.close()


def test_a_page_on_another_host_name_is_refused(page, address):
    """DNS rebinding: evil.example now resolves to 127.0.0.1 (the browser's --host-resolver-rules), so its page could
    read this server as its own origin; the server answers neither the page nor its requests."""
    port = address.rstrip("/").rsplit(":", 1)[1]
    tab = page.context.new_page()
    response = tab.goto(f"http://evil.example:{port}/")
    assert response.status == 403 and response.json()["error"].startswith("this server answers only to 127.0.0.1")
    assert tab.evaluate("fetch('/api/runs').then((r) => r.status)") == 403
    assert tab.goto(f"http://localhost:{port}/").status == 200  # the same server, by one of its own names
    tab.close()
