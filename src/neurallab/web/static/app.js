// The page's behaviour: send images to /api/predict, show what comes back.
// Plain browser JavaScript, no build step. Each file goes in its own request, so
// one bad or huge file cannot spoil the others and answers appear as they come.
// An ES module: the helpers it shares with the values page come from common.js.
import {
  $, addArchitecture, classChips, el, frame, megabytes, percent, probabilityBar, problem,
  request, showBanner, startCard, verdict,
} from "./common.js";

const resultsEl = $("#results");
const template = $("#result-template");
const PARALLEL = 3;          // requests in flight at once
let limits = { max_upload_bytes: 10_000_000, max_files: 16 };

// ------------------------------------------------------------------ model card
function describeNormalization(n) {
  return {
    unit: "pixel values scaled to [0, 1]",
    centered: "pixel values scaled to [−0.5, 0.5]",
    none: "pixel values 0–255 as they are",
  }[n] || `normalization “${n}”`;
}

function renderModel(card) {
  const { box, add } = startCard(card);
  if (typeof card.test_accuracy === "number") {
    add("Test accuracy", percent(card.test_accuracy)
      + (card.n_test ? ` on ${card.n_test.toLocaleString()} test images` : ""));
  }
  addArchitecture(add, card.architecture);
  const p = card.preprocessing || {};
  if (p.image_size) {
    add("Input", `${p.image_size[0]}×${p.image_size[1]} ${p.color_mode || "grayscale"}, `
      + describeNormalization(p.normalization || "unit")
      + (p.invert ? ", colours inverted" : ""));
  }
  const data = card.training_data;
  add("Training data", typeof data === "string" ? data : data && JSON.stringify(data));
  box.append(...classChips(card.class_names));
  if (card.source) box.append(el("p", "muted small", card.source));

  limits = card.limits || limits;
  $("#limits").textContent = `${(limits.formats || ["PNG", "JPEG", "GIF", "BMP", "WebP"]).join(", ")}`
    + ` · up to ${megabytes(limits.max_upload_bytes)} each`;
}

// ------------------------------------------------------------------ results
function newCard(name, previewUrl) {
  const node = template.content.firstElementChild.cloneNode(true);
  node.querySelector(".filename").textContent = name;
  node.querySelector(".label").textContent = "Thinking…";
  const original = node.querySelector(".original img");
  if (previewUrl) {
    // the shown picture stays when its object URL is released: release it once
    // loaded (or failed), or every preview would stay in memory until the tab closes
    original.addEventListener("load", () => URL.revokeObjectURL(previewUrl), { once: true });
    // a file the browser cannot show (not an image) leaves an empty frame
    original.addEventListener("error", () => {
      URL.revokeObjectURL(previewUrl);
      node.querySelector(".original").classList.add("broken");
    }, { once: true });
    original.src = previewUrl;
  } else {
    node.querySelector(".original").classList.add("broken");
  }
  resultsEl.prepend(node);
  $("#empty").hidden = true;
  $("#clear-results").hidden = false;
  return node;
}

function fillCard(node, answer) {
  node.classList.remove("pending");
  if (!answer.ok) {
    showError(node, answer.error || "Something went wrong with this file.");
    return;
  }
  node.classList.add("ok");
  node.querySelector(".seen img").src = `data:image/png;base64,${answer.input_png}`;
  const [h, w] = answer.input_shape;
  node.querySelector(".seen figcaption").textContent = `what the network sees (${w}×${h})`;
  const top = answer.predictions[0];
  const label = node.querySelector(".label");
  label.replaceChildren(...verdict(top.label, top.probability));
  if (answer.note) label.after(el("p", "note", answer.note));
  const bars = node.querySelector(".bars");
  answer.predictions.forEach((p, i) => bars.append(
    probabilityBar(p.label, p.probability, i === 0, p.probability.toFixed(4))));
  const t = answer.timing_ms;
  node.querySelector(".timing").textContent = `${t.total.toFixed(1)} ms`;
  node.querySelector(".timing").title = `preparing the image ${t.preprocess.toFixed(1)} ms, network ${t.inference.toFixed(2)} ms`;
}

function showError(node, message) {
  node.classList.remove("pending");
  node.classList.add("error");
  node.querySelector(".label").textContent = "Could not classify this file";
  node.querySelector(".error-text").textContent = message;
  node.querySelector(".seen").classList.add("broken");
}

async function send(blob, name, node) {
  if (blob.size > limits.max_upload_bytes) {
    showError(node, `${name} is ${megabytes(blob.size)}, more than the limit of `
      + `${megabytes(limits.max_upload_bytes)}. Choose a smaller image.`);
    return;
  }
  const form = new FormData();
  form.append("files", blob, name);
  const { response, body } = await request("/api/predict", { method: "POST", body: form });
  if (body && body.results && body.results.length) {
    fillCard(node, body.results[0]);
  } else {
    showError(node, problem(response, body));
  }
}

// several files: a few requests at a time, cards appear at once
async function sendAll(files) {
  showBanner("");
  const jobs = Array.from(files, (file) => ({
    file, node: newCard(file.name, URL.createObjectURL(file)),
  }));
  const queue = jobs.slice();
  const worker = async () => {
    while (queue.length) {
      const { file, node } = queue.shift();
      await send(file, file.name, node);
    }
  };
  await Promise.all(Array.from({ length: Math.min(PARALLEL, jobs.length) }, worker));
}

// ------------------------------------------------------------------ upload
const input = $("#file-input");
input.addEventListener("change", () => {
  if (input.files.length) sendAll(input.files);
  input.value = "";
});

const dropzone = $("#dropzone");
["dragenter", "dragover"].forEach((type) => document.addEventListener(type, (event) => {
  event.preventDefault();
  dropzone.classList.add("dragging");
}));
["dragleave", "drop"].forEach((type) => document.addEventListener(type, (event) => {
  event.preventDefault();
  if (type === "drop" || event.relatedTarget === null) dropzone.classList.remove("dragging");
}));
document.addEventListener("drop", (event) => {
  const files = event.dataTransfer && event.dataTransfer.files;
  if (files && files.length) sendAll(files);
  else showBanner("Nothing to classify was dropped: drop image files from your computer.");
});

$("#clear-results").addEventListener("click", () => {
  resultsEl.replaceChildren();
  $("#empty").hidden = false;
  $("#clear-results").hidden = true;
});

// ------------------------------------------------------------------ drawing
const canvas = $("#sketch");
const ctx = canvas.getContext("2d");
const classifyButton = $("#classify-drawing");
let drawing = false;
let drawn = false;

function clearCanvas() {
  ctx.fillStyle = "#000";
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  drawn = false;
  classifyButton.disabled = true;
}

function point(event) {
  const r = canvas.getBoundingClientRect();
  return [(event.clientX - r.left) * canvas.width / r.width,
    (event.clientY - r.top) * canvas.height / r.height];
}

canvas.addEventListener("pointerdown", (event) => {
  drawing = true;
  canvas.setPointerCapture(event.pointerId);
  ctx.strokeStyle = "#fff";
  ctx.fillStyle = "#fff";
  ctx.lineWidth = Number($("#brush").value);
  ctx.lineCap = "round";
  ctx.lineJoin = "round";
  const [x, y] = point(event);
  ctx.beginPath();
  ctx.arc(x, y, ctx.lineWidth / 2, 0, 2 * Math.PI);
  ctx.fill();
  ctx.beginPath();
  ctx.moveTo(x, y);
  drawn = true;
  classifyButton.disabled = false;
});
canvas.addEventListener("pointermove", (event) => {
  if (!drawing) return;
  const [x, y] = point(event);
  ctx.lineTo(x, y);
  ctx.stroke();
});
["pointerup", "pointercancel"].forEach((type) => canvas.addEventListener(type, () => { drawing = false; }));

classifyButton.addEventListener("click", () => {
  if (!drawn) return;
  canvas.toBlob((blob) => {
    const name = "drawing.png";
    send(blob, name, newCard(name, URL.createObjectURL(blob)));
  }, "image/png");
});
$("#clear-drawing").addEventListener("click", clearCanvas);

clearCanvas();
frame(renderModel);
