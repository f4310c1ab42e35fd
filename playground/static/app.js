// gptkit playground: three views over the JSON API of playground/app.py. No framework, no build step.
"use strict";

const $ = (selector) => document.querySelector(selector);
const escapeHtml = (s) => s.replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);

// fetch JSON; a refusal ({"error": ...} with a 4xx) becomes an Error carrying the server's message
async function api(path, body, signal) {
  const options = body === undefined ? { signal } :
    { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body), signal };
  const response = await fetch(path, options);
  const data = await response.json().catch(() => ({ error: `${response.status} ${response.statusText}` }));
  if (!response.ok) throw new Error(data.error || `${response.status} ${response.statusText}`);
  return data;
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
const tokens = { seq: 0, inputAt: 0, results: new Map(), timer: null, checkTimer: null };

async function initTokens() {
  const info = await api("/api/tokenizers");
  $("#policy").innerHTML = info.policies.map((p) => `<option${p === "all" ? " selected" : ""}>${p}</option>`).join("");
  listTokenizers(info.tokenizers);
  scheduleEncode();
}

// the tokenizers offered, as checkboxes: new ones (a run that appeared) checked, gone ones removed
function listTokenizers(names) {
  const list = $("#tokenizer-list"), shown = new Map([...list.querySelectorAll("input")].map((b) => [b.value, b]));
  let changed = false;
  for (const [name, box] of shown) if (!names.includes(name)) { box.parentElement.remove(); changed = true; }
  for (const name of names.filter((n) => !shown.has(n))) {
    const label = document.createElement("label");
    label.innerHTML = `<input type="checkbox" value="${escapeHtml(name)}" checked> ${escapeHtml(name)}`;
    label.querySelector("input").addEventListener("change", scheduleEncode);
    list.append(label);
    changed = true;
  }
  return changed;
}

async function refreshTokenizers() {
  const info = await api("/api/tokenizers").catch(() => null);
  if (info && listTokenizers(info.tokenizers)) scheduleEncode();
}

function scheduleEncode() {
  tokens.inputAt = performance.now();
  clearTimeout(tokens.timer);
  clearTimeout(tokens.checkTimer);
  tokens.timer = setTimeout(encodeAll, 60);
}

function panelFor(name) {
  const panels = $("#panels");
  let panel = [...panels.children].find((p) => p.dataset.tokenizer === name);
  if (!panel) {
    panel = document.createElement("section");
    panel.className = "panel";
    panel.dataset.tokenizer = name;
    panel.innerHTML = `<h2>${escapeHtml(name)}</h2><div class="stats"></div><div class="twin stats"></div><div class="tokens"></div>`;
    panels.append(panel);
  }
  return panel;
}

async function encodeAll() {
  const seq = ++tokens.seq, started = tokens.inputAt;
  const text = $("#text").value, policy = $("#policy").value;
  const chosen = [...document.querySelectorAll("#tokenizer-list input:checked")].map((box) => box.value);
  const panels = $("#panels");
  panels.dataset.state = "busy";
  for (const panel of [...panels.children]) if (!chosen.includes(panel.dataset.tokenizer)) panel.remove();
  await Promise.all(chosen.map(async (name) => {
    const panel = panelFor(name);
    try {
      const result = await api("/api/encode", { tokenizer: name, text, allowed_special: policy });
      if (seq !== tokens.seq) return;
      tokens.results.set(name, result);
      drawTokens(panel, result);
    } catch (error) {
      if (seq !== tokens.seq) return;
      tokens.results.delete(name);
      panel.querySelector(".stats").innerHTML = `<span class="error">${escapeHtml(error.message)}</span>`;
      panel.querySelector(".tokens").innerHTML = "";
      panel.querySelector(".twin").textContent = "";
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

function drawTokens(panel, result) {
  const bpt = result.bytes_per_token === null ? "-" : result.bytes_per_token.toFixed(2);
  panel.querySelector(".stats").textContent =
    `${result.count.toLocaleString()} tokens · ${result.bytes.toLocaleString()} bytes · ${bpt} bytes/token`;
  const box = panel.querySelector(".tokens");
  box.innerHTML = "";
  box.scrollTop = 0;
  panel.dataset.shown = "0";
  appendTokens(panel, result);
  panel.querySelector(".twin").textContent = "";
}

function appendTokens(panel, result) {
  const start = Number(panel.dataset.shown), end = Math.min(start + CHUNK, result.ids.length);
  const parts = new Array(end - start);
  for (let i = start; i < end; i++) {
    const span = result.spans[i];
    parts[i - start] = `<span class="t c${i % 8}${span === "" ? " part" : ""}" data-token-id="${result.ids[i]}" ` +
      `data-i="${i}">${escapeHtml(span)}</span>`;
  }
  panel.querySelector(".tokens").insertAdjacentHTML("beforeend", parts.join(""));
  panel.dataset.shown = String(end);
  const more = panel.querySelector(".more") || panel.appendChild(Object.assign(document.createElement("div"),
    { className: "more stats" }));
  more.textContent = end < result.ids.length ?
    `showing the first ${end.toLocaleString()} of ${result.ids.length.toLocaleString()} tokens: scroll for more` : "";
}

async function checkTwin(panel, name, text, policy, seq) {
  const line = panel.querySelector(".twin");
  line.className = "twin stats";
  line.textContent = "tiktoken: checking…";
  try {
    const check = await api("/api/check", { tokenizer: name, text, allowed_special: policy });
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

$("#text").addEventListener("input", scheduleEncode);
$("#policy").addEventListener("change", scheduleEncode);
$("#panels").addEventListener("mousemove", (e) => {
  const tip = $("#tip"), token = e.target.closest(".t");
  if (!token) { tip.hidden = true; return; }
  const result = tokens.results.get(token.closest(".panel").dataset.tokenizer);
  const id = token.dataset.tokenId;
  tip.textContent = `id ${id}   ${result ? result.pieces[id] : ""}\ntoken ${Number(token.dataset.i) + 1} of ${result ? result.count : "?"}`;
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
    const list = $("#run-list");
    list.innerHTML = data.runs.length ? "" :
      `<li class="muted">No runs under ${escapeHtml(data.root || "(no --runs)")}: train one (gptkit train-gpt).</li>`;
    for (const run of data.runs) {
      const item = document.createElement("li");
      item.dataset.run = run.name;
      item.setAttribute("aria-selected", run.name === runs.selected);
      item.innerHTML = `<div>${escapeHtml(run.name)}</div><div class="kind">` +
        (run.error ? `<span class="error">${escapeHtml(run.error)}</span>` : `${run.kind} · step ${run.step}`) + "</div>";
      item.addEventListener("click", () => selectRun(run.name));
      list.append(item);
    }
    if (runs.selected) await drawRun();
  } catch (error) {
    $("#run-list").innerHTML = `<li class="error">${escapeHtml(error.message)}</li>`;
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
  if (run.error) { detail.innerHTML = `<h2>${escapeHtml(run.name)}</h2><p class="error">${escapeHtml(run.error)}</p>`; return; }
  let curves;
  try {
    curves = await api(`/api/curves?run=${encodeURIComponent(run.name)}`);
  } catch (error) {
    detail.innerHTML = `<h2>${escapeHtml(run.name)}</h2><p class="error">${escapeHtml(error.message)}</p>`;
    return;
  }
  if (runs.selected !== run.name) return;
  const rows = Object.entries(run.settings).filter(([, v]) => v !== null && typeof v !== "object")
    .map(([k, v]) => `<tr><td>${escapeHtml(k)}</td><td>${escapeHtml(String(v))}</td></tr>`).join("");
  detail.innerHTML = `<h2>${escapeHtml(run.name)}</h2><div class="muted">${escapeHtml(run.model)} · tokenizer ` +
    `${escapeHtml(run.tokenizer)} · step ${run.step}</div>` +
    chart("loss (nats per token)", [["train", "#2f6fdb", curves.train], ["val", "#e8590c", curves.val]]) +
    (curves.val_bpb && curves.val_bpb.length ? chart("val bits per byte", [["val_bpb", "#067647", curves.val_bpb]]) : "") +
    `<table class="settings">${rows}</table>`;
}

// an inline SVG line chart of [name, colour, [[step, value], ...]] series
function chart(title, allSeries) {
  const W = 640, H = 220, L = 52, R = 12, T = 24, B = 28;
  // a diverged run's nan / inf losses come as null: they are left out
  const series = allSeries.map(([name, colour, p]) => [name, colour, p.filter(([, y]) => y !== null)]);
  const points = series.flatMap(([, , p]) => p);
  if (!points.length) return `<p class="muted">${escapeHtml(title)}: nothing logged yet.</p>`;
  const xs = points.map((p) => p[0]), ys = points.map((p) => p[1]);
  const x0 = Math.min(...xs), x1 = Math.max(...xs, x0 + 1), y0 = Math.min(...ys), y1 = Math.max(...ys, y0 + 1e-9);
  const px = (x) => L + ((x - x0) / (x1 - x0)) * (W - L - R), py = (y) => T + (1 - (y - y0) / (y1 - y0)) * (H - T - B);
  const lines = series.filter(([, , p]) => p.length).map(([name, colour, p]) =>
    `<polyline data-series="${name}" data-points="${p.length}" fill="none" stroke="${colour}" stroke-width="1.6" ` +
    `points="${p.map(([x, y]) => `${px(x).toFixed(1)},${py(y).toFixed(1)}`).join(" ")}"/>`).join("");
  const legend = series.filter(([, , p]) => p.length).map(([name, colour, p]) =>
    `<span style="color:${colour}">■ ${name} (last ${p[p.length - 1][1].toFixed(4)})</span>`).join("");
  return `<div class="legend"><b>${escapeHtml(title)}</b> ${legend}</div>` +
    `<svg class="chart" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" role="img" aria-label="${escapeHtml(title)}">` +
    `<line x1="${L}" y1="${H - B}" x2="${W - R}" y2="${H - B}" stroke="#d9dce3"/>` +
    `<line x1="${L}" y1="${T}" x2="${L}" y2="${H - B}" stroke="#d9dce3"/>` +
    `<text x="${L - 6}" y="${T + 4}" text-anchor="end">${y1.toFixed(3)}</text>` +
    `<text x="${L - 6}" y="${H - B}" text-anchor="end">${y0.toFixed(3)}</text>` +
    `<text x="${L}" y="${H - 8}">step ${x0}</text><text x="${W - R}" y="${H - 8}" text-anchor="end">step ${x1}</text>` +
    `${lines}</svg>`;
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
    select.innerHTML = usable.map((r) => `<option value="${escapeHtml(r.name)}">${escapeHtml(r.name)} (${r.kind}, step ${r.step})</option>`).join("");
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
  output.innerHTML = `<span class="prompt">${escapeHtml(prompt)}</span>`;
  delete output.dataset.firstPieceMs;
  output.dataset.state = "streaming";
  const text = document.createTextNode("");
  output.append(text);
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
        if (name === "error") { ended = "error"; status.innerHTML = `<span class="error">${escapeHtml(data.error)}</span>`; }
      }
    }
  } catch (error) {
    if (error.name === "AbortError") { ended = "stopped"; status.textContent = "stopped"; }
    else { ended = "error"; status.innerHTML = `<span class="error">${escapeHtml(error.message)}</span>`; }
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
  if (sampling.id !== null) await api(`/api/generate/${sampling.id}/stop`, {}).catch(() => null);
  // the server ends the stream with "stopped"; if it does not within a second, close it (that stops it too)
  const controller = sampling.controller;
  setTimeout(() => { if (controller && sampling.controller === controller) controller.abort(); }, 1000);
}

$("#generate").addEventListener("click", generate);
$("#stop").addEventListener("click", stopGeneration);

initTokens().catch((error) => { $("#panels").innerHTML = `<p class="error">${escapeHtml(error.message)}</p>`; });
