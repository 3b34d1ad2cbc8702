// What the image page (app.js) and the values page (values.js) share, written once:
// small DOM and number helpers, asking the JSON API and saying what went wrong, and
// the parts of the page that look the same on both, the model panel and the footer.
// An ES module that each page's own module imports from: no global names, no build
// step, and the page's Content-Security-Policy (script-src 'self') allows it.

export const $ = (sel) => document.querySelector(sel);

export function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

// never "0%" or "100%": a softmax is never certain, and rounding should not say it is
export const percent = (p) => (p < 0.0005 ? "<0.1%" : p > 0.9995 ? ">99.9%" : `${(100 * p).toFixed(1)}%`);
export const megabytes = (n) => `${(n / 1e6).toLocaleString(undefined, { maximumFractionDigits: 1 })} MB`;

export function showBanner(text) {
  const banner = $("#banner");
  banner.textContent = text;
  banner.hidden = !text;
}

// ------------------------------------------------------------------ answers
// the most likely class and how sure the network is: "Bag >99.9% sure"
export const verdict = (label, p) => [
  el("strong", "", label), el("span", "confidence", ` ${percent(p)} sure`)];

// one class's probability as a bar; `exact` (the probability as the page wants it
// read) goes in the row's title, shown on hover
export function probabilityBar(label, p, best, exact) {
  const row = el("li", best ? "bar best" : "bar");
  row.append(el("span", "bar-label", label));
  const track = el("span", "bar-track");
  const fill = el("span", "bar-fill");
  fill.style.width = `${Math.max(0.5, 100 * p)}%`;   // a sliver even for ~0, so it reads as a bar
  track.append(fill);
  row.append(track, el("span", "bar-value", percent(p)));
  row.title = `${label}: probability ${exact}`;
  return row;
}

// fetch `url`; the answer and its JSON body (null when the answer is not JSON), or
// a null response when the server could not be reached. Never throws: each page
// says what went wrong where it shows its answers, with problem().
export async function request(url, options) {
  let response;
  try {
    response = await fetch(url, options);
  } catch (err) {
    return { response: null, body: null };
  }
  let body = null;
  try { body = await response.json(); } catch (err) { /* not JSON: problem() says the status */ }
  return { response, body };
}

// what went wrong with a request, in plain words: the server's own `detail` when it
// sent one (every 4xx of the API does), else its status
export function problem(response, body) {
  if (!response) return "Could not reach the server. Is it still running?";
  if (body && body.detail) return typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail);
  return `The server answered ${response.status} ${response.statusText}.`;
}

// ------------------------------------------------------------------ the frame
// The model panel and the footer, the same on both pages. Fills them in and loads the
// model card, which `render(card)` shows; if it cannot be loaded (or shown) the panel
// says why.
export async function frame(render) {
  const box = el("div");
  box.id = "model-card";
  box.append(el("p", "muted", "Loading…"));
  $("aside.model").append(el("h2", "", "The model"), box);
  $("footer.foot").append(link("/docs", "API documentation"), " · ", link("/openapi.json", "OpenAPI schema"));
  try {
    const response = await fetch("/api/model");
    if (!response.ok) throw new Error(`the server answered ${response.status}`);
    render(await response.json());
  } catch (err) {
    box.replaceChildren(el("p", "error-text", `Could not load the model card: ${err.message}`));
  }
}

function link(href, text) {
  const a = el("a", "", text);
  a.href = href;
  return a;
}

// ------------------------------------------------------------------ model card
// Starts the card in the panel with the model's name and an empty list of facts;
// add(term, value) adds one, leaving out a value the card does not have.
export function startCard(card) {
  const box = $("#model-card");
  const dl = el("dl", "facts");
  box.replaceChildren(el("p", "model-name", card.name), dl);
  const add = (term, value) => {
    if (value === null || value === undefined || value === "") return;
    dl.append(el("dt", "", term), el("dd", "", value));
  };
  return { box, add };
}

// the network's shape, as both cards show it
export function addArchitecture(add, a) {
  add("Layers", a.layer_sizes.join(" → "));
  add("Activations", `${a.activation} (hidden), ${a.output_activation} (output)`);
  add("Parameters", a.n_params.toLocaleString());
}

export function classChips(names) {
  const chips = el("ul", "chips");
  names.forEach((name) => chips.append(el("li", "", name)));
  return [el("h3", "", `Classes (${names.length})`), chips];
}
