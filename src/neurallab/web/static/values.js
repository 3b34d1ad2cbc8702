// The values page: one number field per input of the model, Predict, the answer.
// Plain browser JavaScript, no build step. The fields are made from the model card
// (/api/model), so they carry the model's own feature names; the answer comes from
// /api/predict, the same JSON API any client uses.
// An ES module: strict, with a scope of its own, run once the page is parsed.
const $ = (sel) => document.querySelector(sel);
let card = null;

// ------------------------------------------------------------------ helpers
function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

// six significant digits, no trailing zeros (as Python's "{:.6g}"); the exact value
// is in the element's title
function formatNumber(v) {
  const a = Math.abs(v);
  if (a !== 0 && (a >= 1e6 || a < 1e-4)) return v.toPrecision(6);
  return String(Number(v.toPrecision(6)));
}
// never "0%" or "100%": a softmax is never certain, and rounding should not say it is
const percent = (p) => (p < 0.0005 ? "<0.1%" : p > 0.9995 ? ">99.9%" : `${(100 * p).toFixed(1)}%`);
const megabytes = (n) => `${(n / 1e6).toLocaleString(undefined, { maximumFractionDigits: 1 })} MB`;
const withUnits = (name, units) => (units ? `${name} (${units})` : name);

function showBanner(text) {
  const banner = $("#banner");
  banner.textContent = text;
  banner.hidden = !text;
}

// ------------------------------------------------------------------ the form
function renderFields(features) {
  const box = $("#fields");
  box.replaceChildren();
  features.forEach((f, i) => {
    const field = el("div", "field");
    const label = el("label", "", f.name);
    label.htmlFor = `feature-${i}`;
    if (f.units) label.append(el("span", "unit", ` (${f.units})`));
    const input = el("input");
    input.id = `feature-${i}`;
    input.name = f.name;
    input.type = "number";
    input.step = "any";
    input.required = true;
    input.autocomplete = "off";
    input.addEventListener("input", () => input.removeAttribute("aria-invalid"));
    field.append(label, input);
    box.append(field);
  });
  $("#predict").disabled = false;
}

// the row as {name: number}, or an error naming the first field to fix
function readRow() {
  const row = {};
  for (const input of $("#fields").querySelectorAll("input")) {
    const text = input.value.trim();
    if (input.validity.badInput || (text !== "" && !Number.isFinite(Number(text)))) {
      input.setAttribute("aria-invalid", "true");
      input.focus();
      return { error: `${input.name} is not a number; type a number such as 7.5.` };
    }
    if (text === "") {
      input.setAttribute("aria-invalid", "true");
      input.focus();
      return { error: `Fill in ${input.name}: the model needs every input.` };
    }
    row[input.name] = Number(text);
  }
  return { row };
}

// ------------------------------------------------------------------ the answer
function renderAnswer(row, prediction, elapsed) {
  const box = $("#answer");
  box.replaceChildren();
  const units = card.target.units;
  if (card.task === "classification") {
    const probs = Object.entries(prediction.probabilities).sort((a, b) => b[1] - a[1]);
    const value = el("p", "answer-value");
    value.append(el("strong", "", prediction.label),
      el("span", "confidence", ` ${percent(prediction.probabilities[prediction.label])} sure`));
    box.append(value);
    const bars = el("ol", "bars");
    probs.slice(0, 5).forEach(([label, p], i) => {
      const item = el("li", i === 0 ? "bar best" : "bar");
      item.append(el("span", "bar-label", label));
      const track = el("span", "bar-track");
      const fill = el("span", "bar-fill");
      fill.style.width = `${Math.max(0.5, 100 * p)}%`;
      track.append(fill);
      item.append(track, el("span", "bar-value", percent(p)));
      item.title = `${label}: probability ${p}`;
      bars.append(item);
    });
    box.append(bars);
  } else {
    const values = Array.isArray(prediction) ? prediction : [prediction];
    values.forEach((v, j) => {
      const line = el("p", "answer-value");
      const number = el("strong", "predicted", formatNumber(v));
      number.title = String(v);
      line.append(el("span", "target-name", card.outputs[j]), " ", number);
      if (units) line.append(el("span", "unit", ` ${units}`));
      box.append(line);
    });
  }
  const given = Object.entries(row).map(([k, v]) => `${k} ${v}`).join(", ");
  box.append(el("p", "answer-for", `for ${given} · ${elapsed.toFixed(1)} ms`));
}

async function predict(event) {
  event.preventDefault();
  showBanner("");
  const { row, error } = readRow();
  if (error) {
    showBanner(error);
    return;
  }
  const button = $("#predict");
  button.disabled = true;
  let response;
  try {
    response = await fetch("/api/predict", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ rows: [row] }),
    });
  } catch (err) {
    showBanner("Could not reach the server. Is it still running?");
    button.disabled = false;
    return;
  }
  let body = null;
  try { body = await response.json(); } catch (err) { /* not JSON: handled below */ }
  button.disabled = false;
  if (response.ok && body && body.predictions) {
    renderAnswer(row, body.predictions[0], body.elapsed_ms);
  } else if (body && body.detail) {
    showBanner(typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail));
  } else {
    showBanner(`The server answered ${response.status} ${response.statusText}.`);
  }
}

// ------------------------------------------------------------------ model card
function renderModel() {
  const box = $("#model-card");
  box.replaceChildren();
  box.append(el("p", "model-name", card.name));
  const dl = el("dl", "facts");
  const add = (term, value) => {
    if (value === null || value === undefined || value === "") return;
    dl.append(el("dt", "", term), el("dd", "", value));
  };
  add("Task", card.task);
  add("Inputs", card.features.map((f) => withUnits(f.name, f.units)).join(", "));
  add("Target", withUnits(card.target.name, card.target.units));
  const a = card.architecture;
  add("Layers", a.layer_sizes.join(" → "));
  add("Activations", `${a.activation} (hidden), ${a.output_activation} (output)`);
  add("Parameters", a.n_params.toLocaleString());
  add("Training rows", typeof card.training_rows === "number"
    ? card.training_rows.toLocaleString() : "not recorded in the model file");
  add("Training data", card.training_data);
  add("Limits", `${card.limits.max_rows.toLocaleString()} rows, `
    + `${megabytes(card.limits.max_upload_bytes)} per request`);
  box.append(dl);
  if (card.class_names) {
    box.append(el("h3", "", `Classes (${card.class_names.length})`));
    const chips = el("ul", "chips");
    card.class_names.forEach((name) => chips.append(el("li", "", name)));
    box.append(chips);
  }
  box.append(el("h3", "", "Scaling"));
  [["inputs", "Inputs"], ["target", "Target"]].forEach(([key, title]) => {
    const s = card.scaling[key];
    if (!s && key === "target" && card.task === "classification") return;
    if (!s) {
      box.append(el("p", "muted small", `${title}: none (used as they are)`));
      return;
    }
    box.append(el("p", "small", `${title}: ${s.kind}, x′ = ${s.formula}`));
    const cols = el("dl", "facts");
    s.columns.forEach((c) => cols.append(el("dt", "", c.name),
      el("dd", "", `offset ${formatNumber(c.offset)}, scale ${formatNumber(c.scale)}`)));
    box.append(cols);
  });
  if (card.source) box.append(el("p", "muted small", card.source));
}

async function loadModel() {
  try {
    const response = await fetch("/api/model");
    if (!response.ok) throw new Error(`the server answered ${response.status}`);
    card = await response.json();
  } catch (err) {
    $("#model-card").replaceChildren(el("p", "error-text", `Could not load the model card: ${err.message}`));
    return;
  }
  const inputs = card.features.map((f) => f.name).join(", ");
  $("#title").textContent = `Predict ${card.target.name}`;
  const what = card.task === "classification" ? `the class, ${card.target.name}`
    : card.target.name;
  $("#lede").textContent = `Type ${inputs} and press Predict (or Enter): the network `
    + `answers ${what}.`;
  document.title = `neurallab — predict ${card.target.name}`;
  renderFields(card.features);
  renderModel();
}

$("#values-form").addEventListener("submit", predict);
loadModel();
