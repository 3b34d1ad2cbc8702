// The values page: one number field per input of the model, Predict, the answer.
// Plain browser JavaScript, no build step. The fields are made from the model card
// (/api/model), so they carry the model's own feature names; the answer comes from
// /api/predict, the same JSON API any client uses. An ES module: the helpers it shares
// with the image page come from common.js.
import {
  $, addArchitecture, classChips, el, frame, megabytes, probabilityBar, problem, request,
  showBanner, startCard, verdict,
} from "./common.js";

let card = null;

// ------------------------------------------------------------------ helpers
// six significant digits, no trailing zeros (as Python's "{:.6g}"); the exact value
// is in the element's title. The exponent is that of the value rounded to six digits
// (999999.7 is 1e+06), written with two digits at least, as Python writes it.
function formatNumber(v) {
  const [mantissa, exp] = v.toExponential(5).split("e");
  const e = Number(exp);
  if (e < -4 || e >= 6) {
    const digits = mantissa.replace(/\.?0+$/, "");
    return `${digits}e${e < 0 ? "-" : "+"}${String(Math.abs(e)).padStart(2, "0")}`;
  }
  return String(Number(v.toPrecision(6)));
}
const withUnits = (name, units) => (units ? `${name} (${units})` : name);

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
  const row = Object.create(null);   // no prototype: a field named __proto__ is a value too
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
    value.append(...verdict(prediction.label, prediction.probabilities[prediction.label]));
    box.append(value);
    const bars = el("ol", "bars");
    probs.slice(0, 5).forEach(([label, p], i) => bars.append(probabilityBar(label, p, i === 0, p)));
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
  const { response, body } = await request("/api/predict", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ rows: [row] }),
  });
  button.disabled = false;
  if (response && response.ok && body && body.predictions) {
    renderAnswer(row, body.predictions[0], body.elapsed_ms);
  } else {
    showBanner(problem(response, body));
  }
}

// ------------------------------------------------------------------ model card
function renderModel() {
  const { box, add } = startCard(card);
  add("Task", card.task);
  add("Inputs", card.features.map((f) => withUnits(f.name, f.units)).join(", "));
  add("Target", withUnits(card.target.name, card.target.units));
  addArchitecture(add, card.architecture);
  add("Training rows", typeof card.training_rows === "number"
    ? card.training_rows.toLocaleString() : "not recorded in the model file");
  add("Training data", card.training_data);
  add("Limits", `${card.limits.max_rows.toLocaleString()} rows, `
    + `${megabytes(card.limits.max_upload_bytes)} per request`);
  if (card.class_names) box.append(...classChips(card.class_names));
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

// the page made for this model: its title and lede, one field per input, its card
function showModel(loaded) {
  card = loaded;
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
frame(showModel);
