// torchprimer playground: the page. It holds no model; every number and picture comes from
// the server's real PyTorch network, one frame at a time. After drawing a frame the page
// answers "ready", so the server never sends more frames than the browser can draw.
"use strict";

const $ = (id) => document.getElementById(id);
const COLORS = [[245, 147, 34], [8, 119, 189], [52, 168, 83], [156, 39, 176], [229, 57, 53],
  [0, 150, 136], [121, 85, 72], [96, 125, 139], [255, 193, 7], [63, 81, 181]];
const LEARNING_RATES = [0.00001, 0.0001, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1, 3, 10];
const WEIGHT_DECAYS = [0, 0.00001, 0.0001, 0.001, 0.01, 0.1];

const state = {
  options: null, settings: null, session: null, socket: null, data: null,
  curve: [], lastFrame: null, lost: false, renderedLayers: null, refocus: null, stepping: false,
};
const LOST = "The connection to the playground server was lost; start 'torchprimer ui' again and reload this page.";
// The page's names for the settings, for the server's messages ("batch_size: ..." reads "Batch size: ...").
const LABELS = { dataset: "Data set", noise: "Noise", n_samples: "Points", train_share: "Training share",
  hidden: "Hidden layers", activation: "Activation", optimizer: "Optimizer", lr: "Learning rate",
  batch_size: "Batch size", weight_decay: "Weight decay", seed: "Seed" };
const NUMBER_FIELDS = { "batch-size": "Batch size", seed: "Seed", samples: "Points" };
// Frame gaps, for the responsiveness check: the longest time between two drawn frames.
window.__playground = { maxGap: 0, frames: 0, framesReceived: 0, boundaryDraws: 0, last: 0, measuring: false };

function watchFrames(now) {
  const w = window.__playground;
  if (w.measuring && w.last) w.maxGap = Math.max(w.maxGap, now - w.last);
  w.last = now;
  w.frames += 1;
  requestAnimationFrame(watchFrames);
}
requestAnimationFrame(watchFrames);

function showMessage(text) {
  const box = $("message");
  box.textContent = text || "";
  box.hidden = !text;
}

function labelled(text) {
  return text.replace(/(^|; )([a-z_]+)(?:\.(\d+))?: /g, (_, sep, field, index) =>
    `${sep}${LABELS[field] || field}${index === undefined ? "" : ` (layer ${Number(index) + 1})`}: `);
}

// The settings a 422 message names, each with its problem: "batch_size: Input should be ...; hidden.1: ..."
// gives { batch_size: "Input should be ...", hidden: "layer 2: ..." }. Only the names of settings start a part,
// so a problem's own "; " (an unknown data set's "...; choose one of ...") stays with its setting.
function refusals(text) {
  const names = state.options ? state.options.defaults : {};
  const heads = [...text.matchAll(/(?:^|; )([a-z_]+)(?:\.(\d+))?: /g)].filter((m) => Object.hasOwn(names, m[1]));
  const found = {};
  heads.forEach((m, i) => {
    const end = i + 1 < heads.length ? heads[i + 1].index : text.length;
    const problem = (m[2] === undefined ? "" : `layer ${Number(m[2]) + 1}: `) + text.slice(m.index + m[0].length, end);
    found[m[1]] = found[m[1]] ? `${found[m[1]]}; ${problem}` : problem;
  });
  return found;
}

async function api(method, path, body) {
  if (state.lost) throw new Error(LOST);
  let response;
  try {
    response = await fetch(path, {
      method, headers: body === undefined ? {} : { "Content-Type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (e) { // the server is gone: say so in words, not the browser's "Failed to fetch"
    throw new Error(state.session ? LOST : "The playground server cannot be reached; start 'torchprimer ui' again.");
  }
  let payload = {};
  try { payload = await response.json(); } catch (e) { /* empty body */ }
  if (!response.ok) {
    const error = new Error(labelled(payload.error || `${response.status} ${response.statusText}`));
    error.status = response.status;
    error.refused = response.status === 422 ? refusals(payload.error || "") : {};
    throw error;
  }
  return payload;
}

// One request at a time, in the order the learner asked: a settings change (sent when a field
// loses focus) must reach the server before the click on play that took the focus away.
let pending = Promise.resolve();
function serial(job) {
  const next = pending.then(job, job);
  pending = next.catch(() => {});
  return next;
}

function fillSelect(select, values, label = (v) => String(v)) {
  select.dataset.values = values.join(",");
  select.innerHTML = "";
  for (const v of values) {
    const option = document.createElement("option");
    option.value = String(v);
    option.textContent = label(v);
    select.append(option);
  }
}

// A number menu (learning rate, weight decay) showing `value`. A shared link may carry a value the server
// allows but the menu does not offer (lr 0.05): it is added, marked as the link's, so the menu never goes
// blank, and a later change never reads a blank menu as 0 and sends that instead.
function showInMenu(select, values, value) {
  const offered = values.includes(value);
  const shown = offered ? values : [...values, value].sort((a, b) => a - b);
  if (select.dataset.values !== shown.join(",")) {
    fillSelect(select, shown, (v) => (v === value && !offered ? `${v} (from the link)` : String(v)));
  }
  select.value = String(value);
}

// The number a menu shows; `fallback` (the value in use) if it shows none, never Number("") = 0.
function menuNumber(select, fallback) {
  return select.value === "" ? fallback : Number(select.value);
}

// ----- settings <-> controls -----------------------------------------------------------------

function isToy(name) { return Boolean(state.options.datasets[name] && state.options.datasets[name].toy); }

function showSettings(s) {
  $("dataset").value = s.dataset;
  $("activation").value = s.activation;
  $("optimizer").value = s.optimizer;
  showInMenu($("lr"), LEARNING_RATES, s.lr);
  $("batch-size").value = s.batch_size;
  showInMenu($("weight-decay"), WEIGHT_DECAYS, s.weight_decay);
  $("seed").value = s.seed;
  $("samples").value = s.n_samples;
  $("train-share").value = Math.round(s.train_share * 100);
  const info = state.options.datasets[s.dataset];
  // A set with its own test split (MNIST-1D, MNIST, CIFAR-10) tests on that split, so there is no share to set.
  $("train-share-value").textContent = info.own_test ? "\u2013" : `${Math.round(s.train_share * 100)}%`;
  const noise = s.noise === null ? (info.noise ?? 0) : s.noise;
  $("noise").value = noise;
  $("noise-value").textContent = Number(noise).toFixed(2);
  // A toy set's size is the Points field; the line below the split counts its rows.
  $("dataset-description").textContent = isToy(s.dataset) ? info.description : `${info.description} (${info.size})`;
  for (const el of document.querySelectorAll(".toy-only")) el.hidden = !isToy(s.dataset);
  $("train-share").disabled = Boolean(info.own_test);
  $("split-hint").textContent = info.own_test
    ? "This set has its own test split; 10% of its training part is kept for validation."
    : "10% is kept for validation; the rest is the test set.";
  renderLayers();
}

function readSettings() {
  const s = { ...state.settings };
  const dataset = $("dataset").value;
  if (dataset !== s.dataset) s.noise = null; // each toy set has its own default noise
  else if (isToy(dataset)) s.noise = Number($("noise").value);
  s.dataset = dataset;
  s.activation = $("activation").value;
  s.optimizer = $("optimizer").value;
  s.lr = menuNumber($("lr"), s.lr);
  s.batch_size = Number($("batch-size").value);
  s.weight_decay = menuNumber($("weight-decay"), s.weight_decay);
  s.seed = Number($("seed").value);
  s.n_samples = Number($("samples").value);
  s.train_share = Number($("train-share").value) / 100;
  return s;
}

function applySettings(next, note = "", link = {}) {
  stopStep(); // a change waits for the step under way: stop it, rather than wait for its epoch to end
  // Every change starts the network again, as in TensorFlow Playground; a value the server
  // refuses leaves the running network (and its pictures) as it was and says why.
  // `note`, shown once the change is made, says what of an address was not taken; `link`, the settings an
  // address gave (`fromAddress`): one of those the server refuses goes back to its default, the others are kept.
  return serial(async () => {
    try {
      const sent = await sendLinked(next, link, (s) => api("POST", `/api/sessions/${state.session}/reset`, s));
      state.settings = sent.settings;
      showMessage([note, ...sent.notes].filter(Boolean).join(" "));
      $("save-result").textContent = ""; // the saved run was the network before this one
    } catch (e) {
      showMessage(e.message);
    }
    showSettings(state.settings);
    keepInAddress(state.settings); // a refused address (edited by hand) goes back to the network in use
  });
}

function changed() {
  // A number field left empty (or not a number) is refused here: Number("") would be 0.
  for (const [id, label] of Object.entries(NUMBER_FIELDS)) {
    if ($(id).value.trim() === "") {
      showMessage(`${label}: type a number (the field is empty or not a number)`);
      showSettings(state.settings);
      return;
    }
  }
  applySettings(readSettings());
}

// ----- the settings in the page's address: a reload or a shared link keeps the network ------

function keepInAddress(s) {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(s)) {
    params.set(key, Array.isArray(value) ? value.join(",") : value === null ? "" : String(value));
  }
  history.replaceState(null, "", `#${params}`);
}

// The menus' number settings, with the bounds the server gives (/api/options limits): a link's value
// outside them goes back to the default, saying so, and the rest of the link is kept.
const MENU_BOUNDS = {
  lr: (v, limits) => v > 0 && v <= limits.lr ? "" : `above 0 and at most ${limits.lr}`,
  weight_decay: (v, limits) => v >= 0 && v <= limits.weight_decay ? "" : `0 to ${limits.weight_decay}`,
};

// A link's number: an empty text is no number (NaN, sent as null, which the server refuses by name), not
// Number("") = 0, which a seed or a hidden size would have taken silently.
function linkNumber(text) {
  return text.trim() === "" ? NaN : Number(text);
}

// A setting's value as a link writes it, for the notes: "4,2", not an array.
function asLinkText(key, value) {
  if (Array.isArray(value)) return value.length ? value.join(",") : "none (a linear model)";
  if (value === null) return key === "noise" ? "the data set's own noise" : "none";
  return String(value);
}

// The settings a page address asks for, over `defaults`; notes on the values it could not take; and `link`,
// the text of each setting it gave and that was taken, which `sendLinked` may still send back to its default.
// Null when it asks for nothing.
function fromAddress(defaults) {
  if (location.hash.length < 2) return null;
  const params = new URLSearchParams(location.hash.slice(1));
  const s = { ...defaults };
  const notes = [];
  const link = {};
  const refuse = (key, text, problem) => {
    notes.push(`${LABELS[key]} ${JSON.stringify(text)} from the link ${problem}; using ${asLinkText(key, defaults[key])}.`);
    delete link[key]; // a key given twice: its last value counts
  };
  for (const [key, text] of params) {
    if (!Object.hasOwn(defaults, key)) continue;
    const d = defaults[key];
    link[key] = text;
    if (key === "hidden") s.hidden = text === "" ? [] : text.split(",").map(linkNumber);
    else if (key === "noise") s.noise = text === "" ? null : linkNumber(text);
    else if (key === "dataset" && !Object.hasOwn(state.options.datasets, text)) {
      // The page draws only the sets its menu offers: this one is refused here, before anything is shown.
      refuse(key, text, `is not a data set this playground offers (${Object.keys(state.options.datasets).join(", ")})`);
      s.dataset = d;
    } else if (key in MENU_BOUNDS) {
      const value = linkNumber(text);
      const allowed = Number.isFinite(value) ? MENU_BOUNDS[key](value, state.options.limits) : null;
      const problem = allowed === null ? "is not a number" : allowed ? `is not allowed (${allowed})` : "";
      if (problem) {
        refuse(key, text, problem);
        s[key] = d;
      } else s[key] = value;
    } else s[key] = typeof d === "number" ? linkNumber(text) : text;
  }
  return { settings: s, note: notes.join(" "), link };
}

// Send `settings` with `send` (a session's create or reset), keeping what it can of a link: a setting of `link`
// the server refuses (its 422 names each one) goes back to its default and the rest are sent again, so one
// out-of-range value does not cost the link's others, and a note says which setting and why. Each round sends
// at least one more setting back, so this ends; a refusal that names none of the link's settings is thrown.
async function sendLinked(settings, link, send) {
  const left = { ...link };
  const notes = [];
  let s = settings;
  for (;;) {
    try {
      return { answer: await send(s), settings: s, notes };
    } catch (e) {
      const refused = Object.entries(e.refused || {}).filter(([key]) => Object.hasOwn(left, key));
      if (!refused.length) throw e;
      s = { ...s };
      for (const [key, problem] of refused) {
        s[key] = state.options.defaults[key];
        notes.push(`${LABELS[key]} ${JSON.stringify(left[key])} from the link is not allowed (${problem}); ` +
          `using ${asLinkText(key, s[key])}.`);
        delete left[key];
      }
    }
  }
}

function renderLayers() {
  const hidden = state.settings.hidden;
  // unit pictures show a unit's output over the plane: 2-D data only (an image set kept the 2-D set's pictures)
  const plane = !state.data || state.data.is_2d;
  const key = `${hidden.join(",")}|${plane}`;
  if (state.renderedLayers === key) return; // same network: keep its pictures until the next frame redraws them
  state.renderedLayers = key;
  const box = $("layers");
  box.innerHTML = "";
  $("layer-count").textContent = hidden.length;
  $("layer-word").textContent = hidden.length === 1 ? "hidden layer" : "hidden layers";
  const limits = state.options.limits;
  const full = hidden.length >= limits.layers; // as the unit buttons are at their bounds
  $("add-layer").disabled = full;
  $("add-layer").title = full ? `At most ${limits.layers} hidden layers` : "Add a hidden layer";
  $("remove-layer").disabled = hidden.length === 0;
  const total = hidden.reduce((a, b) => a + b, 0);
  const pictures = plane && total > 0 && total <= limits.unit_maps;
  $("units-hint").textContent = total === 0
    ? "No hidden layer: a linear model, with no hidden units to picture (+ hidden layer adds one)."
    : !plane
      ? "Unit pictures are drawn for the 2-D data sets, where a unit's output can be shown over the plane."
      : pictures
        ? "Each picture is one unit's output over the plane, scaled to its own largest value: blue positive, " +
          "orange negative, white near zero."
        : `Unit pictures are drawn for networks of up to ${limits.unit_maps} hidden units in all.`;
  hidden.forEach((units, i) => {
    const layer = document.createElement("div");
    layer.className = "layer";
    layer.dataset.layer = i;
    const head = document.createElement("div");
    head.className = "head";
    const minus = document.createElement("button");
    minus.className = "small remove-unit"; minus.textContent = "\u2212";
    minus.title = `Remove a unit from hidden layer ${i + 1}`; // and its name (its text, "−", says nothing)
    minus.setAttribute("aria-label", minus.title);
    const plus = document.createElement("button");
    plus.className = "small add-unit"; plus.textContent = "+"; plus.title = `Add a unit to hidden layer ${i + 1}`;
    plus.setAttribute("aria-label", plus.title);
    const count = document.createElement("span");
    count.textContent = `${units} units`;
    minus.disabled = units <= 1;
    plus.disabled = units >= limits.units;
    minus.onclick = () => changeUnits(i, -1);
    plus.onclick = () => changeUnits(i, +1);
    head.append(minus, count, plus);
    layer.append(head);
    const maps = document.createElement("div");
    maps.className = "maps";
    if (pictures) { // room for the pictures only where they are drawn
      maps.style.display = "grid";
      maps.style.gridTemplateColumns = `repeat(${Math.ceil(units / 8)}, 40px)`;
      maps.style.gap = "3px";
    }
    layer.append(maps);
    box.append(layer);
  });
  if (state.refocus) { // a keyboard user pressing + again finds the same button focused
    const { layer, name } = state.refocus;
    state.refocus = null;
    const target = box.querySelector(`.layer[data-layer="${layer}"] .${name}:not(:disabled)`)
      || box.querySelector(`.layer[data-layer="${layer}"] button:not(:disabled)`);
    if (target) target.focus();
  }
}

function changeUnits(i, delta) {
  const next = { ...state.settings, hidden: [...state.settings.hidden] };
  next.hidden[i] = Math.min(state.options.limits.units, Math.max(1, next.hidden[i] + delta));
  if (next.hidden[i] === state.settings.hidden[i]) return; // nothing would change: no reset
  if (document.activeElement && document.activeElement.closest("#layers")) {
    state.refocus = { layer: i, name: delta > 0 ? "add-unit" : "remove-unit" };
  }
  applySettings(next);
}

// ----- drawing -----------------------------------------------------------------------------

function bytes(b64) {
  const text = atob(b64);
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i);
  return out;
}

function classColor(k) { return COLORS[k % COLORS.length]; }

function drawBoundary(b) {
  const canvas = $("boundary");
  const ctx = canvas.getContext("2d");
  const n = b.size, k = b.classes, probs = bytes(b.probs);
  const image = ctx.createImageData(n, n);
  for (let i = 0; i < n * n; i++) {
    let best = 0;
    for (let c = 1; c < k; c++) if (probs[i * k + c] > probs[i * k + best]) best = c;
    const p = probs[i * k + best] / 255;
    const a = Math.max(0, (p - 1 / k) / (1 - 1 / k)) * 0.75;
    const col = classColor(best);
    for (let j = 0; j < 3; j++) image.data[i * 4 + j] = Math.round(255 * (1 - a) + col[j] * a);
    image.data[i * 4 + 3] = 255;
  }
  const tmp = document.createElement("canvas");
  tmp.width = n; tmp.height = n;
  tmp.getContext("2d").putImageData(image, 0, 0);
  ctx.imageSmoothingEnabled = true;
  ctx.drawImage(tmp, 0, 0, canvas.width, canvas.height);
  drawPoints(ctx, canvas, b.extent);
  window.__playground.boundaryDraws += 1;
}

function drawPoints(ctx, canvas, extent) {
  const [x0, x1, y0, y1] = extent;
  const sx = (x) => ((x - x0) / (x1 - x0)) * canvas.width;
  const sy = (y) => ((y1 - y) / (y1 - y0)) * canvas.height;
  const splits = $("show-test").checked ? ["train", "test"] : ["train"];
  for (const split of splits) {
    for (const [x, y, label] of state.data.points[split]) {
      const col = classColor(label);
      ctx.beginPath();
      ctx.arc(sx(x), sy(y), 3, 0, 2 * Math.PI);
      ctx.fillStyle = `rgb(${col.join(",")})`;
      ctx.fill();
      ctx.lineWidth = 1;
      ctx.strokeStyle = split === "train" ? "#fff" : "#000";
      ctx.stroke();
    }
  }
}

function drawUnits(b) {
  const layers = document.querySelectorAll("#layers .layer");
  b.units.forEach((maps, li) => {
    const box = layers[li] && layers[li].querySelector(".maps");
    if (!box) return;
    while (box.children.length < maps.length) {
      const c = document.createElement("canvas");
      c.width = b.unit_size; c.height = b.unit_size;
      box.append(c);
    }
    maps.forEach((m, ui) => {
      const canvas = box.children[ui];
      const ctx = canvas.getContext("2d");
      const values = bytes(m);
      const image = ctx.createImageData(b.unit_size, b.unit_size);
      for (let i = 0; i < values.length; i++) {
        const v = values[i] / 127.5 - 1; // -1 .. 1
        const col = v < 0 ? COLORS[0] : COLORS[1];
        const a = Math.abs(v);
        for (let j = 0; j < 3; j++) image.data[i * 4 + j] = Math.round(255 * (1 - a) + col[j] * a);
        image.data[i * 4 + 3] = 255;
      }
      ctx.putImageData(image, 0, 0);
    });
  });
}

function drawCurve() {
  const canvas = $("loss-chart");
  const ctx = canvas.getContext("2d");
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  const pts = state.curve;
  if (pts.length < 2) return;
  const finite = pts.flatMap((p) => [p[2], p[3]]).filter((v) => v !== null && Number.isFinite(v));
  const top = Math.max(1e-6, ...finite);
  const last = pts[pts.length - 1][0], first = pts[0][0];
  const span = Math.max(1, last - first);
  const stride = Math.max(1, Math.floor(pts.length / (2 * canvas.width)));
  // the test line is dashed as well as blue: told apart without seeing colour (the legend shows both)
  for (const [index, color, dash] of [[2, "#444", []], [3, "rgb(8,119,189)", [5, 3]]]) {
    ctx.beginPath();
    ctx.strokeStyle = color;
    ctx.setLineDash(dash);
    ctx.lineWidth = 1.5;
    let started = false;
    for (let i = 0; i < pts.length; i += stride) {
      const v = pts[i][index];
      if (v === null) continue;
      const x = ((pts[i][0] - first) / span) * (canvas.width - 2) + 1;
      const y = canvas.height - 14 - (v / top) * (canvas.height - 28); // 14 px above and below for the labels
      if (started) ctx.lineTo(x, y); else { ctx.moveTo(x, y); started = true; }
    }
    ctx.stroke();
  }
  ctx.setLineDash([]);
  ctx.fillStyle = "#777";
  ctx.font = "10px sans-serif";
  ctx.textAlign = "left";
  ctx.fillText(`${top.toFixed(3)} (largest loss)`, 2, 10);
  ctx.fillText("0", 2, canvas.height - 3);
  ctx.textAlign = "right";
  ctx.fillText(`step ${last.toLocaleString("en")}`, canvas.width - 3, canvas.height - 3);
}

function drawGradNorms(rows) {
  const box = $("grad-norms");
  box.innerHTML = "";
  const top = Math.max(1e-12, ...rows.map((r) => r.norm || 0));
  for (const r of rows) {
    const row = document.createElement("div");
    row.className = "bar";
    const name = document.createElement("span");
    name.textContent = `layer ${r.layer}`;
    const track = document.createElement("div");
    const fill = document.createElement("div");
    fill.className = "fill";
    fill.style.width = `${Math.max(1, ((r.norm || 0) / top) * 100)}%`;
    track.append(fill);
    const value = document.createElement("span");
    value.className = "value";
    value.textContent = r.norm === null ? "NaN" : r.norm.toExponential(2);
    row.append(name, track, value);
    box.append(row);
  }
}

function drawConfusion(matrix) {
  const canvas = $("confusion");
  const ctx = canvas.getContext("2d");
  const k = matrix.length;
  const labels = k <= 12; // class names along both axes when they fit
  const margin = labels ? 16 : 0;
  const cell = (canvas.width - margin) / k;
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  ctx.textAlign = "center";
  ctx.textBaseline = "middle";
  if (labels) {
    ctx.font = "10px sans-serif";
    ctx.fillStyle = "#777";
    state.data.classes.forEach((name, i) => {
      const short = String(name).slice(0, 2);
      ctx.fillText(short, margin + i * cell + cell / 2, margin / 2); // predicted, across the top
      ctx.fillText(short, margin / 2, margin + i * cell + cell / 2); // true, down the side
    });
  }
  ctx.font = `${Math.max(8, Math.min(14, cell / 3))}px sans-serif`;
  matrix.forEach((row, t) => {
    const total = Math.max(1, row.reduce((a, b) => a + b, 0));
    row.forEach((count, p) => {
      const a = count / total;
      const col = t === p ? COLORS[1] : COLORS[4];
      const x = margin + p * cell, y = margin + t * cell;
      ctx.fillStyle = `rgba(${col.join(",")},${a.toFixed(3)})`;
      ctx.fillRect(x, y, cell, cell);
      if (labels && count) {
        ctx.fillStyle = a > 0.5 ? "#fff" : "#222";
        ctx.fillText(String(count), x + cell / 2, y + cell / 2);
      }
    });
  });
}

function drawStripSamples(strip) {
  const box = $("strip");
  box.innerHTML = "";
  strip.samples.forEach((b64, i) => {
    const fig = document.createElement("figure");
    const canvas = document.createElement("canvas");
    const values = bytes(b64);
    if (strip.kind === "image") {
      const [c, h, w] = strip.shape;
      canvas.width = w; canvas.height = h;
      const ctx = canvas.getContext("2d");
      const image = ctx.createImageData(w, h);
      for (let p = 0; p < h * w; p++) {
        for (let j = 0; j < 3; j++) image.data[p * 4 + j] = values[(c === 3 ? j : 0) * h * w + p];
        image.data[p * 4 + 3] = 255;
      }
      ctx.putImageData(image, 0, 0);
    } else {
      canvas.width = 48; canvas.height = 48;
      const ctx = canvas.getContext("2d");
      const length = strip.shape[strip.shape.length - 1];
      ctx.beginPath();
      for (let p = 0; p < length; p++) {
        const x = (p / (length - 1)) * 46 + 1, y = 47 - (values[p] / 255) * 46;
        if (p) ctx.lineTo(x, y); else ctx.moveTo(x, y);
      }
      ctx.strokeStyle = "#183d4e";
      ctx.stroke();
    }
    const caption = document.createElement("figcaption");
    caption.dataset.index = i;
    fig.append(canvas, caption);
    box.append(fig);
  });
}

function drawStripPredictions(strip) {
  const classes = state.data.classes;
  document.querySelectorAll("#strip figcaption").forEach((caption, i) => {
    const truth = state.data.strip.labels[i], guess = strip.predicted[i];
    // A wrong prediction is marked in words too, not by its colour alone: "7 93%", then "✗ is 1" below it.
    const wrong = guess !== truth ? `\n\u2717 is ${classes[truth]}` : "";
    caption.textContent = `${classes[guess]} ${(strip.confidence[i] * 100).toFixed(0)}%${wrong}`;
    caption.className = wrong ? "wrong" : "right";
    caption.title = `true: ${classes[truth]}`;
  });
}

function fmt(v, digits = 3) { return v === null || v === undefined ? "NaN" : Number(v).toFixed(digits); }

function onData(data) {
  state.data = data; // before showSettings, whose renderLayers asks whether this data takes unit pictures
  window.__playground.dataset = data.dataset;
  window.__playground.layers = data.settings.hidden.length;
  window.__playground.hidden = data.settings.hidden.join("-");
  state.curve = [];
  state.settings = data.settings;
  showSettings(state.settings);
  document.querySelector(".toy-view").hidden = !data.is_2d;
  document.querySelector(".image-view").hidden = data.is_2d;
  const sizes = data.sizes;
  const n = (count) => count.toLocaleString("en");
  $("sizes").textContent = `${n(sizes.train)} training, ${n(sizes.val)} validation, ${n(sizes.test)} test samples; ` +
    `input ${data.input_shape.join("\u00d7")}, ${data.classes.length} classes`;
  $("parameters").textContent = data.parameters.toLocaleString("en");
  const legend = $("class-legend");
  legend.innerHTML = "";
  if (data.is_2d) {
    legend.append("Background: the class the network predicts there, paler where it is less sure; dots: class");
    data.classes.forEach((name, k) => {
      const swatch = document.createElement("span");
      swatch.className = "swatch";
      swatch.style.background = `rgb(${classColor(k).join(",")})`;
      legend.append(swatch, String(name));
    });
  }
  if (!data.is_2d) drawStripSamples(data.strip);
}

function onFrame(frame) {
  window.__playground.framesReceived += 1;
  if (frame.data) onData(frame.data);
  state.lastFrame = frame;
  Object.assign(window.__playground, { epoch: frame.epoch, step: frame.step, playing: frame.playing });
  state.curve.push(frame.point);
  $("epoch").textContent = frame.epoch.toLocaleString("en");
  $("step-count").textContent = frame.step.toLocaleString("en");
  $("test-loss").textContent = fmt(frame.test.loss);
  $("train-loss").textContent = fmt(frame.train.loss);
  // Outputs that are not finite predict nothing: their "accuracy" (argmax of NaN) is not shown.
  $("test-accuracy").textContent = frame.test.loss === null ? "\u2013" : fmt(frame.test.accuracy);
  showPlaying(frame.playing || state.stepping);
  if (frame.message) showMessage(frame.message);
  drawCurve();
  drawGradNorms(frame.grad_norms);
  if (frame.boundary) { drawBoundary(frame.boundary); drawUnits(frame.boundary); }
  if (frame.confusion) drawConfusion(frame.confusion);
  if (frame.strip) drawStripPredictions(frame.strip);
}

// ----- the session and its socket -----------------------------------------------------------

function connect() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const socket = new WebSocket(`${scheme}://${location.host}/api/sessions/${state.session}/live`);
  state.socket = socket;
  socket.onmessage = (event) => {
    const frame = JSON.parse(event.data);
    // Draw on the next animation frame, then ask for another: one frame in flight at a time.
    requestAnimationFrame(() => {
      // a frame that arrived just before the connection was lost would mark the page playing again
      if (state.lost) return;
      onFrame(frame);
      if (socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify({ type: "ready" }));
    });
  };
  socket.onclose = () => {
    if (state.socket !== socket) return;
    // Nothing trains any more: show it paused, turn the controls off, and keep this message.
    state.lost = true;
    showPlaying(false);
    for (const el of document.querySelectorAll("button, input, select")) el.disabled = true;
    showMessage(LOST);
  };
}

function showPlaying(playing) {
  const play = $("play");
  play.dataset.state = playing ? "playing" : "paused";
  play.innerHTML = playing ? "&#x275A;&#x275A;" : "&#x25B6;";
  play.setAttribute("aria-label", playing ? "Pause" : "Train");
}

function command(name) {
  return serial(async () => {
    // One whole epoch, which may take minutes (16,000 batches of one): show that the page is working on it,
    // and make the play button its pause button meanwhile (`stopStep`), as while playing.
    const slow = name === "step";
    if (slow) {
      document.body.classList.add("busy");
      $("step").disabled = true;
      state.stepping = true;
      showPlaying(true);
    }
    try {
      await api("POST", `/api/sessions/${state.session}/${name}`);
      if (name !== "play") showMessage("");
    } catch (e) {
      showMessage(e.message);
    } finally {
      if (slow) {
        state.stepping = false;
        showPlaying(false);
        document.body.classList.remove("busy");
        $("step").disabled = state.lost;
      }
    }
  });
}

// Stop the step under way where it is. Sent at once, not queued (`serial`): the queue waits on that very step.
function stopStep() {
  if (!state.stepping || state.lost) return;
  api("POST", `/api/sessions/${state.session}/pause`).catch((e) => showMessage(e.message));
}

function exportCode() { return serial(exportNow); }

async function exportNow() {
  try {
    const result = await api("GET", `/api/sessions/${state.session}/export`);
    $("export-name").textContent = result.filename;
    $("export-code").textContent = result.script;
    $("export-trains").textContent = `This script trains ${result.trains}.`; // part of an epoch said as such
    $("copy-result").textContent = "";
    $("export-dialog").showModal();
  } catch (e) {
    showMessage(e.message);
  }
}

async function copyCode() {
  const text = $("export-code").textContent;
  try {
    await navigator.clipboard.writeText(text);
    $("copy-result").textContent = "copied";
  } catch (e) {
    const range = document.createRange();
    range.selectNodeContents($("export-code"));
    const selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
    $("copy-result").textContent = document.execCommand("copy") ? "copied" : "selected: press Ctrl+C";
  }
}

function saveRun() { return serial(saveNow); }

async function saveNow() {
  $("save-result").textContent = "saving\u2026";
  try {
    const result = await api("POST", `/api/sessions/${state.session}/save`);
    $("save-result").textContent = `saved ${result.run_dir} \u2014 try: ${result.evaluate}`;
  } catch (e) {
    $("save-result").textContent = "";
    showMessage(e.message);
  }
}

function wire() {
  $("play").onclick = () => {
    if (state.stepping) stopStep();
    else command($("play").dataset.state === "playing" ? "pause" : "play");
  };
  $("step").onclick = () => command("step");
  $("reset").onclick = changed;
  for (const id of ["dataset", "activation", "optimizer", "lr", "batch-size", "weight-decay", "seed", "samples",
    "noise", "train-share"]) {
    $(id).addEventListener("change", changed);
  }
  // Typing in a number field answers the refusal of its last value: retyping the value the field went back to
  // fires no change, and the refusal had stayed on screen for a value no longer there.
  for (const id of Object.keys(NUMBER_FIELDS)) $(id).addEventListener("input", () => showMessage(""));
  $("noise").addEventListener("input", () => { $("noise-value").textContent = Number($("noise").value).toFixed(2); });
  $("train-share").addEventListener("input", () => {
    $("train-share-value").textContent = `${$("train-share").value}%`;
  });
  $("add-layer").onclick = () => { // disabled at the most layers, and "−" at none (renderLayers)
    const hidden = state.settings.hidden;
    applySettings({ ...state.settings, hidden: [...hidden, hidden.length ? hidden[hidden.length - 1] : 4] });
  };
  $("remove-layer").onclick = () => {
    applySettings({ ...state.settings, hidden: state.settings.hidden.slice(0, -1) });
  };
  // The address edited by hand (or a link followed within the page) asks for its network.
  window.addEventListener("hashchange", () => {
    const asked = fromAddress(state.options.defaults);
    if (asked) applySettings(asked.settings, asked.note, asked.link);
  });
  $("show-test").onchange = () => { if (state.lastFrame && state.lastFrame.boundary) drawBoundary(state.lastFrame.boundary); };
  $("export").onclick = exportCode;
  $("copy").onclick = copyCode;
  $("close-export").onclick = () => $("export-dialog").close();
  $("save").onclick = saveRun;
  // Space plays and pauses, as in a video player; not while typing in a field or reading the code. A button
  // with the focus (reset, +, close) is not pressed again by it: the browser presses a focused button when the
  // space bar comes up, so its keydown and keyup are both kept from the button.
  const spaceForPlay = (event) => event.code === "Space" && !$("export-dialog").open &&
    !["INPUT", "SELECT", "TEXTAREA"].includes(event.target.tagName);
  document.addEventListener("keydown", (event) => {
    if (!spaceForPlay(event)) return;
    event.preventDefault();
    if (!event.repeat) $("play").click();
  });
  document.addEventListener("keyup", (event) => { if (spaceForPlay(event)) event.preventDefault(); });
}

async function start() {
  try {
    state.options = await api("GET", "/api/options");
    fillSelect($("dataset"), Object.keys(state.options.datasets));
    fillSelect($("activation"), state.options.activations);
    fillSelect($("optimizer"), state.options.optimizers, (v) => ({ sgd: "SGD (momentum 0.9)", adam: "Adam",
      adamw: "AdamW" }[v]));
    fillSelect($("lr"), LEARNING_RATES);
    fillSelect($("weight-decay"), WEIGHT_DECAYS);
    const asked = fromAddress(state.options.defaults);
    state.settings = asked ? asked.settings : state.options.defaults;
    showSettings(state.settings);
    wire();
    let created;
    let note = asked ? asked.note : "";
    try {
      // A shared link's setting the server refuses goes back to its default; the link's others are kept.
      const sent = await sendLinked(state.settings, asked ? asked.link : {}, (s) => api("POST", "/api/sessions", s));
      created = sent.answer;
      state.settings = sent.settings;
      note = [note, ...sent.notes].filter(Boolean).join(" ");
    } catch (e) {
      if (!asked || e.status !== 422) throw e;
      // Refused for no setting the link gave (an address from another version): start from the defaults, saying why.
      state.settings = state.options.defaults;
      created = await api("POST", "/api/sessions", state.settings);
      note = `The settings in this page's address were refused (${e.message}); started from the defaults.`;
    }
    showSettings(state.settings);
    if (note) showMessage(note);
    keepInAddress(state.settings);
    state.session = created.id;
    window.__playground.session = created.id;
    connect();
  } catch (e) {
    showMessage(`The playground could not start: ${e.message}`);
  }
}

start();
