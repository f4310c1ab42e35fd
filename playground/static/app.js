// gptkit playground: three views over the JSON API of playground/app.py. No framework, no build step.
"use strict";

const $ = (selector) => document.querySelector(selector);

// Every node is built as elements and text nodes, never parsed from HTML: a run's name, its settings or an error
// shows as the characters it holds, whatever they are (and the server's CSP forbids inline script besides).
// el("li", { class: "error" }, "text", node): attributes set one by one, strings appended as text.
const el = (tag, attributes = {}, ...children) => fill(document.createElement(tag), attributes, children);
const svgEl = (tag, attributes = {}, ...children) =>
  fill(document.createElementNS("http://www.w3.org/2000/svg", tag), attributes, children);

function fill(node, attributes, children) {
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  node.append(...children);
  return node;
}

// fetch JSON; a refusal ({"error": ...} with a 4xx) becomes an Error carrying the server's message
async function api(path, body, signal) {
  const options = body === undefined ? { signal } :
    { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body), signal };
  const response = await fetch(path, options);
  const data = await response.json().catch(() => ({ error: `${response.status} ${response.statusText}` }));
  if (!response.ok) throw new Error(data.error || `${response.status} ${response.statusText}`);
  return data;
}

// The server answers at most limits.heavy_requests heavy requests at once (a tiktoken check, a long text to
// encode) and refuses more with a 429: the page queues its own, so it never trips that bound by itself.
// A request whose answer is no longer wanted by the time its turn comes is not sent (null).
const heavy = { free: 1, waiting: [] };

async function heavyApi(path, body, wanted) {
  if (heavy.free > 0) heavy.free -= 1;
  else await new Promise((turn) => heavy.waiting.push(turn));
  try {
    return wanted() ? await api(path, body) : null;
  } finally {
    const next = heavy.waiting.shift();
    if (next) next(); else heavy.free += 1;
  }
}

// --- views ----------------------------------------------------------------------------------------------------
function show(view) {
  for (const tab of document.querySelectorAll(".tab")) tab.setAttribute("aria-selected", tab.dataset.view === view);
  for (const section of document.querySelectorAll(".view")) section.hidden = section.id !== `view-${view}`;
  if (view === "tokens") refreshTokenizers();
  if (view === "runs") refreshRuns();
  if (view === "samples") fillRunSelect();
}
for (const tab of document.querySelectorAll(".tab")) tab.addEventListener("click", () => show(tab.dataset.view));

// --- tokens ---------------------------------------------------------------------------------------------------
const tokens = { seq: 0, inputAt: 0, results: new Map(), timer: null, checkTimer: null, limits: null };

async function initTokens() {
  const info = await api("/api/tokenizers");
  tokens.limits = info.limits;
  heavy.free = info.limits.heavy_requests;
  $("#policy").replaceChildren(...info.policies.map((p) => el("option", p === "all" ? { selected: "" } : {}, p)));
  listTokenizers(info.tokenizers);
  // only now: an input before it would be encoded with no tokenizer chosen and mark the (empty) panels painted
  $("#text").addEventListener("input", scheduleEncode);
  $("#policy").addEventListener("change", scheduleEncode);
  scheduleEncode();
}

// the tokenizers offered, as checkboxes: new ones (a run that appeared) checked, gone ones removed
function listTokenizers(names) {
  const list = $("#tokenizer-list"), shown = new Map([...list.querySelectorAll("input")].map((b) => [b.value, b]));
  let changed = false;
  for (const [name, box] of shown) if (!names.includes(name)) { box.parentElement.remove(); changed = true; }
  for (const name of names.filter((n) => !shown.has(n))) {
    const box = el("input", { type: "checkbox", value: name, checked: "" });
    box.addEventListener("change", scheduleEncode);
    list.append(el("label", {}, box, ` ${name}`));
    changed = true;
  }
  return changed;
}

async function refreshTokenizers() {
  if (!tokens.limits) return;  // initTokens lists them first
  const info = await api("/api/tokenizers").catch(() => null);
  if (info && listTokenizers(info.tokenizers)) scheduleEncode();
}

// seq numbers the inputs, not the encodes, and the panels are busy from the input on: an encode still running for
// an earlier input is stale from the moment a new one comes, and must not mark the panels painted (data-state done)
// while the newer input waits for its timer
function scheduleEncode() {
  tokens.seq += 1;
  tokens.inputAt = performance.now();
  $("#panels").dataset.state = "busy";
  clearTimeout(tokens.timer);
  clearTimeout(tokens.checkTimer);
  tokens.timer = setTimeout(encodeAll, 60);
}

function panelFor(name) {
  const panels = $("#panels");
  let panel = [...panels.children].find((p) => p.dataset.tokenizer === name);
  if (!panel) {
    panel = el("section", { class: "panel", "data-tokenizer": name }, el("h2", {}, name), el("div", { class: "stats" }),
      el("div", { class: "twin stats" }), el("div", { class: "tokens" }));
    panels.append(panel);
  }
  return panel;
}

async function encodeAll() {
  const seq = tokens.seq, started = tokens.inputAt;
  const text = $("#text").value, policy = $("#policy").value;
  const chosen = [...document.querySelectorAll("#tokenizer-list input:checked")].map((box) => box.value);
  const panels = $("#panels");
  for (const panel of [...panels.children]) if (!chosen.includes(panel.dataset.tokenizer)) panel.remove();
  await Promise.all(chosen.map(async (name) => {
    const panel = panelFor(name), request = { tokenizer: name, text, allowed_special: policy };
    try {
      // the server's count is of code points, never more than JavaScript's UTF-16 length: this never misses one
      const result = text.length > tokens.limits.heavy_text_chars ?
        await heavyApi("/api/encode", request, () => seq === tokens.seq) : await api("/api/encode", request);
      if (seq !== tokens.seq) return;
      tokens.results.set(name, result);
      drawTokens(panel, result);
    } catch (error) {
      if (seq !== tokens.seq) return;
      tokens.results.delete(name);
      panel.querySelector(".stats").replaceChildren(el("span", { class: "error" }, error.message));
      panel.querySelector(".tokens").replaceChildren();
      clearTwin(panel);
      panel.querySelector(".more")?.remove();
    }
  }));
  if (seq !== tokens.seq) return;
  // painted: after the next frame has been laid out and drawn
  requestAnimationFrame(() => setTimeout(() => {
    if (seq !== tokens.seq) return;
    panels.dataset.paintMs = (performance.now() - started).toFixed(1);
    panels.dataset.seq = String(seq);
    panels.dataset.state = "done";
  }, 0));
  // the tiktoken check runs the exact (slower) Python path: only once typing pauses, so keystrokes stay quick
  tokens.checkTimer = setTimeout(() => {
    for (const panel of panels.children) {
      if (tokens.results.has(panel.dataset.tokenizer)) checkTwin(panel, panel.dataset.tokenizer, text, policy, seq);
    }
  }, 300);
}

// a long text's tokens are drawn a chunk at a time, the next chunk when the panel is scrolled near its end: the
// first screen paints at once whatever the size (laying out 270,000 spans of 1 MB at once takes seconds)
const CHUNK = 5000;

const counted = (n, noun) => `${n.toLocaleString()} ${noun}${n === 1 ? "" : "s"}`;

function drawTokens(panel, result) {
  const bpt = result.bytes_per_token === null ? "-" : result.bytes_per_token.toFixed(2);
  // a character-level run's tokenizer has no id for a character its training text lacked: its model cannot read
  // it, which the panel shows (struck through) rather than refusing the whole text
  const unknown = result.unknown ? ` · ${counted(result.unknown, "character")} not in its alphabet (struck out)` : "";
  panel.querySelector(".stats").textContent =
    `${counted(result.count, "token")} · ${counted(result.bytes, "byte")} · ${bpt} bytes/token${unknown}`;
  const box = panel.querySelector(".tokens");
  box.replaceChildren();
  box.scrollTop = 0;
  panel.dataset.shown = "0";
  appendTokens(panel, result);
  clearTwin(panel);
}

// a panel's tiktoken line, emptied with its verdict (data-same, colour): they were about the text before
function clearTwin(panel) {
  const line = panel.querySelector(".twin");
  line.className = "twin stats";
  line.textContent = "";
  delete line.dataset.same;
  return line;
}

function appendTokens(panel, result) {
  const start = Number(panel.dataset.shown), end = Math.min(start + CHUNK, result.ids.length);
  const chunk = document.createDocumentFragment();  // one insertion into the page, one layout
  for (let i = start; i < end; i++) {
    const span = document.createElement("span"), text = result.spans[i], id = result.ids[i];
    span.className = id === null ? "t unknown" : text === "" ? `t c${i % 8} part` : `t c${i % 8}`;
    if (id !== null) span.setAttribute("data-token-id", id);
    span.setAttribute("data-i", i);
    span.textContent = text;
    chunk.append(span);
  }
  panel.querySelector(".tokens").append(chunk);
  panel.dataset.shown = String(end);
  const more = panel.querySelector(".more") || panel.appendChild(el("div", { class: "more stats" }));
  more.textContent = end < result.ids.length ?
    `showing the first ${end.toLocaleString()} of ${result.ids.length.toLocaleString()} tokens: scroll for more` : "";
}

async function checkTwin(panel, name, text, policy, seq) {
  const line = clearTwin(panel);
  line.textContent = "tiktoken: checking…";
  try {
    const check = await heavyApi("/api/check", { tokenizer: name, text, allowed_special: policy },
      () => seq === tokens.seq);
    if (seq !== tokens.seq) return;
    if (!check.checked) {
      line.textContent = check.twin ? `tiktoken ${check.twin}: ${check.why}` : check.why;
    } else if (check.same) {
      line.classList.add("same");
      line.textContent = `tiktoken ${check.twin}: same ids (checked against the exact Python merge loop)`;
    } else {
      line.classList.add("differ");
      line.textContent = `tiktoken ${check.twin}: DIFFERENT ids, first at token ${check.first_mismatch}`;
    }
    line.dataset.same = String(check.same);
  } catch (error) {
    if (seq === tokens.seq) line.textContent = `tiktoken check failed: ${error.message}`;
  }
}

$("#panels").addEventListener("mousemove", (e) => {
  const tip = $("#tip"), token = e.target.closest(".t");
  if (!token) { tip.hidden = true; return; }
  const result = tokens.results.get(token.closest(".panel").dataset.tokenizer);
  const id = token.dataset.tokenId, code = token.textContent.codePointAt(0) || 0;
  tip.textContent = id === undefined ?
    `U+${code.toString(16).toUpperCase().padStart(4, "0")} has no id: a model on this tokenizer never reads it` :
    `id ${id}   ${result ? result.pieces[id] : ""}\ntoken ${Number(token.dataset.i) + 1} of ${result ? result.ids.length : "?"}`;
  tip.style.left = `${e.clientX + 12}px`;
  tip.style.top = `${e.clientY + 14}px`;
  tip.hidden = false;
});
$("#panels").addEventListener("mouseleave", () => { $("#tip").hidden = true; });
$("#panels").addEventListener("scroll", (e) => {
  const box = e.target;
  if (!box.classList || !box.classList.contains("tokens") || box.scrollTop + box.clientHeight < box.scrollHeight - 400) return;
  const panel = box.closest(".panel"), result = tokens.results.get(panel.dataset.tokenizer);
  if (result && Number(panel.dataset.shown) < result.ids.length) appendTokens(panel, result);
}, true);

// --- runs -----------------------------------------------------------------------------------------------------
const runs = { list: [], selected: null, timer: null };

async function refreshRuns() {
  try {
    const data = await api("/api/runs");
    runs.list = data.runs;
    const items = data.runs.map((run) => {
      const item = el("li", { "data-run": run.name, "aria-selected": run.name === runs.selected }, el("div", {}, run.name),
        el("div", { class: "kind" }, run.error ? el("span", { class: "error" }, run.error) : `${run.kind} · step ${run.step}`));
      item.addEventListener("click", () => selectRun(run.name));
      return item;
    });
    $("#run-list").replaceChildren(...(items.length ? items :
      [el("li", { class: "muted" }, `No runs under ${data.root || "(no --runs)"}: train one (gptkit train-gpt).`)]));
    if (runs.selected) await drawRun();
  } catch (error) {
    $("#run-list").replaceChildren(el("li", { class: "error" }, error.message));
  }
}

function selectRun(name) {
  runs.selected = name;
  for (const item of document.querySelectorAll("#run-list li")) item.setAttribute("aria-selected", item.dataset.run === name);
  drawRun();
}

async function drawRun() {
  const detail = $("#run-detail"), run = runs.list.find((r) => r.name === runs.selected);
  if (!run) return;
  detail.dataset.run = run.name;
  const heading = el("h2", {}, run.name);
  if (run.error) { detail.replaceChildren(heading, el("p", { class: "error" }, run.error)); return; }
  let curves;
  try {
    curves = await api(`/api/curves?run=${encodeURIComponent(run.name)}`);
  } catch (error) {
    if (runs.selected === run.name) detail.replaceChildren(heading, el("p", { class: "error" }, error.message));
    return;
  }
  if (runs.selected !== run.name) return;
  // a setting is a plain value or a list of them (the server checks)
  const rows = Object.entries(run.settings).filter(([, v]) => v !== null)
    .map(([k, v]) => el("tr", {}, el("td", {}, k), el("td", {}, Array.isArray(v) ? v.join(", ") : String(v))));
  detail.replaceChildren(heading, el("div", { class: "muted" }, `${run.model} · tokenizer ${run.tokenizer} · step ${run.step}`),
    ...chart("loss (nats per token)", [["train", "#2f6fdb", curves.train], ["val", "#e8590c", curves.val]]),
    ...(curves.val_bpb && curves.val_bpb.length ? chart("val bits per byte", [["val_bpb", "#067647", curves.val_bpb]]) : []),
    el("table", { class: "settings" }, ...rows));
}

// an inline SVG line chart of [name, colour, [[step, value], ...]] series: its legend and the chart, as nodes
function chart(title, allSeries) {
  const W = 640, H = 220, L = 52, R = 12, T = 24, B = 28;
  // a diverged run's nan / inf losses come as null: they are left out
  const series = allSeries.map(([name, colour, p]) => [name, colour, p.filter(([, y]) => y !== null)]);
  const points = series.flatMap(([, , p]) => p);
  if (!points.length) return [el("p", { class: "muted" }, `${title}: nothing logged yet.`)];
  const xs = points.map((p) => p[0]), ys = points.map((p) => p[1]);
  const x0 = Math.min(...xs), x1 = Math.max(...xs, x0 + 1), y0 = Math.min(...ys), y1 = Math.max(...ys, y0 + 1e-9);
  const px = (x) => L + ((x - x0) / (x1 - x0)) * (W - L - R), py = (y) => T + (1 - (y - y0) / (y1 - y0)) * (H - T - B);
  const drawn = series.filter(([, , p]) => p.length);
  const keys = drawn.map(([name, colour, p]) => {
    const key = el("span", {}, `■ ${name} (last ${p[p.length - 1][1].toFixed(4)})`);
    key.style.color = colour;  // set through the DOM, which the CSP allows (a style="" attribute it blocks)
    return key;
  });
  const lines = drawn.map(([name, colour, p]) => svgEl("polyline", { "data-series": name, "data-points": p.length,
    fill: "none", stroke: colour, "stroke-width": 1.6, points: p.map(([x, y]) => `${px(x).toFixed(1)},${py(y).toFixed(1)}`).join(" ") }));
  return [el("div", { class: "legend" }, el("b", {}, title), " ", ...keys),
    svgEl("svg", { class: "chart", width: W, height: H, viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": title },
      svgEl("line", { x1: L, y1: H - B, x2: W - R, y2: H - B, stroke: "#d9dce3" }),
      svgEl("line", { x1: L, y1: T, x2: L, y2: H - B, stroke: "#d9dce3" }),
      svgEl("text", { x: L - 6, y: T + 4, "text-anchor": "end" }, y1.toFixed(3)),
      svgEl("text", { x: L - 6, y: H - B, "text-anchor": "end" }, y0.toFixed(3)),
      svgEl("text", { x: L, y: H - 8 }, `step ${x0}`),
      svgEl("text", { x: W - R, y: H - 8, "text-anchor": "end" }, `step ${x1}`),
      ...lines)];
}

// a run that is training grows its log: redraw the open run every 2 s while the runs view is shown
setInterval(() => { if (!$("#view-runs").hidden) refreshRuns(); }, 2000);

// --- samples --------------------------------------------------------------------------------------------------
const sampling = { id: null, controller: null };

async function fillRunSelect() {
  try {
    const data = await api("/api/runs");
    const select = $("#run-select"), current = select.value;
    const usable = data.runs.filter((r) => !r.error);
    select.replaceChildren(...usable.map((r) => el("option", { value: r.name }, `${r.name} (${r.kind}, step ${r.step})`)));
    if (usable.some((r) => r.name === current)) select.value = current;
    if (!usable.length) $("#gen-status").textContent = "No runs to sample from: train one (gptkit train-gpt).";
  } catch (error) {
    $("#gen-status").textContent = error.message;
  }
}

function numberOf(selector) {
  const value = $(selector).value;
  return value === "" ? null : Number(value);
}

async function generate() {
  const output = $("#output"), status = $("#gen-status"), prompt = $("#prompt").value;
  const text = document.createTextNode("");
  output.replaceChildren(el("span", { class: "prompt" }, prompt), text);
  delete output.dataset.firstPieceMs;
  output.dataset.state = "streaming";
  const body = { run: $("#run-select").value, prompt, temperature: numberOf("#temperature"), top_k: numberOf("#top-k"),
    top_p: numberOf("#top-p"), max_new_tokens: numberOf("#max-tokens"), seed: numberOf("#seed") };
  sampling.controller = new AbortController();
  $("#generate").disabled = true;
  $("#stop").disabled = false;
  status.textContent = "starting…";
  const started = performance.now();
  let ended = "closed";
  try {
    const response = await fetch("/api/generate", { method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body), signal: sampling.controller.signal });
    if (!response.ok) {
      const data = await response.json().catch(() => ({}));
      throw new Error(data.error || `${response.status} ${response.statusText}`);
    }
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value;
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const frame = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        const name = (frame.match(/^event: (.*)$/m) || [])[1], data = JSON.parse((frame.match(/^data: (.*)$/m) || [])[1]);
        if (name === "start") { sampling.id = data.id; status.textContent = data.warning ? `generating… (${data.warning})` : "generating…"; }
        if (name === "piece") {
          if (output.dataset.firstPieceMs === undefined) output.dataset.firstPieceMs = (performance.now() - started).toFixed(1);
          text.appendData(data.text);
        }
        if (name === "end") { ended = data.reason; status.textContent = `${data.reason} · ${data.pieces} pieces · first after ${data.first_piece_ms} ms on the server`; }
        if (name === "error") { ended = "error"; status.replaceChildren(el("span", { class: "error" }, data.error)); }
      }
    }
  } catch (error) {
    if (error.name === "AbortError") { ended = "stopped"; status.textContent = "stopped"; }
    else { ended = "error"; status.replaceChildren(el("span", { class: "error" }, error.message)); }
  } finally {
    output.dataset.state = ended;
    sampling.id = null;
    sampling.controller = null;
    $("#generate").disabled = false;
    $("#stop").disabled = true;
  }
}

async function stopGeneration() {
  $("#stop").disabled = true;
  if (sampling.id !== null) await api(`/api/generate/${encodeURIComponent(sampling.id)}/stop`, {}).catch(() => null);
  // the server ends the stream with "stopped"; if it does not within a second, close it (that stops it too)
  const controller = sampling.controller;
  setTimeout(() => { if (controller && sampling.controller === controller) controller.abort(); }, 1000);
}

$("#generate").addEventListener("click", generate);
$("#stop").addEventListener("click", stopGeneration);

initTokens().catch((error) => { $("#panels").replaceChildren(el("p", { class: "error" }, error.message)); });
