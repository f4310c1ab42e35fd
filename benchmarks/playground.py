"""Benchmark: how quickly the playground (`gptkit serve`) answers a person, in a real browser.

    python benchmarks/playground.py            # about a minute on a laptop CPU

1. Keystroke to painted tokens: the text box gets a text of 10 kB, then 1 MB (Tiny
   Shakespeare, repeated as needed), pasted (one input event), with the gpt2 and gpt4 panels
   open; the page measures from its input event to the first frame after both panels' first
   chunk of spans is in the document (the panels' data-paint-ms): the whole text encoded, the
   counts shown, and up to 5,000 tokens of each panel drawn (the rest are drawn as the panel
   is scrolled). Each size 3 times with a different text; the median.
2. Time to first streamed token: a GPT of the bundled character recipe's shape
   (shakespeare-char-cpu: 4 layers, 4 heads, 128 wide, block 64) trained for 50 steps on the
   bundled Tiny Shakespeare; generate is clicked and the page measures from the click to
   the first piece of text painted (data-first-piece-ms), the server from the request to its
   first piece. The first click loads the model (cold); the median of the next 5 is warm.

There is no anchor to compare with (no other tool serves these pages), so this prints
figures, not a verdict; it exits non-zero if Chromium or Playwright is missing or a
measurement fails. The browser is Debian's chromium (/usr/bin/chromium), driven by
Playwright's Python package.
"""

from __future__ import annotations

import shutil
import statistics
import sys
import tempfile
from pathlib import Path

from harness import ROOT, machine, now  # first: it puts this checkout on sys.path

# isort: split
from gpt.config import config_from
from gpt.train import prepare_run_data, train
from playground import PlaygroundConfig, PlaygroundServer

FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--no-first-run", "--disable-quic"]
SIZES = {"10 kB": 10_000, "1 MB": 1_000_000}


def text_of(n_bytes: int, variant: int) -> str:
    """n_bytes of Tiny Shakespeare (ASCII), starting at a different place for each variant."""
    text = (ROOT / "data" / "tinyshakespeare.txt").read_text(encoding="utf-8")
    start = (variant * 7919) % len(text)
    return ((text[start:] + text) * (n_bytes // len(text) + 2))[:n_bytes]


def make_run(root: Path) -> Path:
    run = root / "runs" / "shakespeare-char"
    data = prepare_run_data([str(ROOT / "data" / "tinyshakespeare.txt")], str(root), "char").directory
    train(config_from("shakespeare-char-cpu", data=str(data), out=str(run), max_iters=50, eval_interval=50,
                      eval_iters=2, device="cpu"))
    return run


def measure(page, address: str) -> dict[str, float]:
    figures: dict[str, float] = {}
    page.goto(address)
    page.wait_for_selector("#panels[data-state='done']")
    for box in page.query_selector_all("#tokenizer-list input"):
        if box.get_attribute("value") not in ("gpt2", "gpt4"):
            box.uncheck()
    for label, n_bytes in SIZES.items():
        times = []
        for variant in range(3):
            seq = int(page.get_attribute("#panels", "data-seq") or 0)
            # a paste: the value changes and the page gets one input event (Playwright's fill types 1 MB too slowly)
            page.evaluate("(text) => { const box = document.querySelector('#text'); box.value = text; "
                          "box.dispatchEvent(new Event('input')); }", text_of(n_bytes, variant))
            page.wait_for_function(f"() => Number(document.querySelector('#panels').dataset.seq) > {seq} && "
                                   "document.querySelector('#panels').dataset.state === 'done'", timeout=120_000)
            times.append(float(page.get_attribute("#panels", "data-paint-ms")))
        figures[f"keystroke to painted tokens, {label} (ms)"] = statistics.median(times)

    page.goto(address)  # a fresh page: the 1 MB panels' spans would slow every later paint
    page.click("button[data-view=samples]")
    page.wait_for_selector("#run-select option", state="attached")
    page.fill("#max-tokens", "20")
    page.fill("#prompt", "ROMEO:")
    browser_ms, server_ms = [], []
    for _ in range(6):
        page.click("#generate")
        page.wait_for_selector("#output[data-state='done']", timeout=120_000)
        browser_ms.append(float(page.get_attribute("#output", "data-first-piece-ms")))
        server_ms.append(float(page.inner_text("#gen-status").split("first after ")[1].split(" ms")[0]))
    figures["first streamed token, cold: click to painted (ms)"] = browser_ms[0]
    figures["first streamed token, warm: click to painted (ms)"] = statistics.median(browser_ms[1:])
    figures["first streamed token, warm: on the server (ms)"] = statistics.median(server_ms[1:])
    return figures


def main() -> int:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        print("not measured: Playwright is not installed (pip install -e '.[dev]')")
        return 1
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        print("not measured: no Chromium (Debian: apt-get install chromium)")
        return 1
    with tempfile.TemporaryDirectory() as tmp:
        run = make_run(Path(tmp))
        server = PlaygroundServer(PlaygroundConfig(run.parent, device="cpu"), "127.0.0.1", 0)
        with server.in_background(), sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium, args=FLAGS)
            figures = measure(browser.new_page(viewport={"width": 1280, "height": 860}), server.address)
            browser.close()
    print(f"# playground, {now()}, {machine()}\n")
    print("| measurement | value |\n|---|--:|")
    for name, value in figures.items():
        print(f"| {name} | {value:,.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
