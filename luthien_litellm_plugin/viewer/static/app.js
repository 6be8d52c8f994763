// Luthien viewer. Plain ES module, no build step. Data is only ever inserted as text nodes.

const LIVE_MODE = document.querySelector('meta[name="luthien-live"]')?.content || "database";
const POLL_MS = LIVE_MODE === "redis" ? 1500 : 3000;
const WINDOWS = [["15m", "15m"], ["1h", "1h"], ["6h", "6h"], ["24h", "24h"], ["7d", "7d"], ["", "All"]];
const SUMMARY_WINDOWS = [["1h", "Last hour"], ["6h", "6 hours"], ["24h", "24 hours"], ["7d", "7 days"]];
const STATUS_LABEL = { success: "success", blocked: "blocked", error: "error", timeout: "timeout", cancelled: "cancelled", started: "in flight" };

// ---------- tiny DOM helpers ----------

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key === "style") el.style.cssText = value; // CSSOM: allowed by the page's CSP, unlike style attributes
    else if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

function svg(tag, attrs, ...children) {
  const el = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [key, value] of Object.entries(attrs || {})) el.setAttribute(key, String(value));
  for (const child of children.flat()) if (child) el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  return el;
}

// ---------- formatting ----------

function ms(value) {
  if (value === null || value === undefined) return "—";
  if (value >= 10000) return `${(value / 1000).toFixed(1)} s`;
  if (value >= 1000) return `${(value / 1000).toFixed(2)} s`;
  if (value >= 100) return `${Math.round(value)} ms`;
  return `${value.toFixed(1)} ms`;
}

function ago(epoch) {
  if (!epoch) return "—";
  const seconds = Math.max(0, Date.now() / 1000 - epoch);
  if (seconds < 5) return "just now";
  if (seconds < 60) return `${Math.floor(seconds)}s ago`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m ago`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)}h ago`;
  return `${Math.floor(seconds / 86400)}d ago`;
}

function clock(epoch) {
  if (!epoch) return "";
  const d = new Date(epoch * 1000);
  const today = new Date();
  const time = d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
  return d.toDateString() === today.toDateString() ? time : `${d.toLocaleDateString([], { month: "short", day: "numeric" })} ${time}`;
}

function tokens(usage) {
  if (!usage) return "—";
  const total = usage.total_tokens ?? ((usage.prompt_tokens || 0) + (usage.completion_tokens || 0));
  return total ? total.toLocaleString() : "—";
}

function pct(part, whole) {
  if (!whole) return "—";
  const value = (100 * part) / whole;
  return `${value >= 10 || Number.isInteger(value) ? Math.round(value) : value.toFixed(value < 1 ? 2 : 1)}%`;
}

function statusPill(status, big) {
  return h("span", { class: `pill ${status}${big ? " big" : ""}` }, STATUS_LABEL[status] || status);
}

// ---------- API ----------

class Unauthorized extends Error {}

async function api(path, params) {
  const url = new URL(path, document.baseURI);
  for (const [key, value] of Object.entries(params || {})) {
    if (value !== null && value !== undefined && value !== "") url.searchParams.set(key, value);
  }
  const response = await fetch(url, { credentials: "same-origin", headers: { accept: "application/json" } });
  if (response.status === 401) {
    window.location.assign("login");
    throw new Unauthorized("signed out");
  }
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(body?.error?.message || `${response.status} ${response.statusText}`);
  return body;
}

// ---------- routing ----------

const view = document.getElementById("view");
let current = null; // the mounted view: { stop(), refresh?() }

function route() {
  const hash = window.location.hash.replace(/^#/, "") || "/";
  const [path, query] = hash.split("?");
  const params = new URLSearchParams(query || "");
  current?.stop?.();
  view.replaceChildren();
  for (const link of document.querySelectorAll("[data-nav]")) {
    const active = (link.dataset.nav === "summary") === path.startsWith("/summary");
    link.classList.toggle("active", active);
  }
  if (path.startsWith("/tx/")) current = transactionView(decodeURIComponent(path.slice(4)));
  else if (path.startsWith("/summary")) current = summaryView(params);
  else current = listView(params);
}

window.addEventListener("hashchange", route);

// ---------- live status in the top bar ----------

const live = document.getElementById("live");
const liveText = document.getElementById("live-text");

function setLive(state) {
  live.classList.toggle("paused", state === "paused");
  live.classList.toggle("down", state === "down");
  const source = LIVE_MODE === "redis" ? "Redis feed" : "polling database";
  liveText.textContent = state === "down" ? "Reconnecting…" : state === "paused" ? "Paused" : `Live · ${source}`;
}

function poller(onChange) {
  let cursor = null;
  let timer = null;
  let stopped = false;
  async function tick() {
    if (stopped) return;
    if (!document.hidden) {
      try {
        const changes = await api("api/changes", { cursor });
        const first = cursor === null;
        cursor = changes.cursor;
        setLive("on");
        if (!first && changes.changed) await onChange(changes);
        // rows the feed announced before the database writer wrote them: look once more shortly
        if (changes.pending?.length) window.setTimeout(() => { if (!stopped) onChange(changes); }, 2000);
      } catch (error) {
        if (error instanceof Unauthorized) return;
        setLive("down");
      }
    }
    if (!stopped) timer = window.setTimeout(tick, POLL_MS);
  }
  tick();
  return () => {
    stopped = true;
    window.clearTimeout(timer);
  };
}

// ---------- transactions list ----------

function listView(params) {
  const state = {
    since: params.has("since") ? params.get("since") : "1h",
    model: params.get("model") || "",
    policy: params.get("policy") || "",
    status: params.get("status") || "",
    api: params.get("api") || "",
    q: params.get("q") || "",
    changed: params.get("changed") || "",
  };
  let rows = [];
  let nextBefore = null;
  let known = new Map(); // id -> status, to mark rows that are new or changed
  let firstLoad = true;

  const head = h("div", { class: "page-head" }, h("h1", {}, "Transactions"), h("span", { class: "muted", id: "count" }));
  const filters = h("div", { class: "panel filters", role: "search" });
  const body = h("tbody");
  const table = h(
    "table",
    { class: "tx", id: "transactions" },
    h(
      "thead",
      {},
      h(
        "tr",
        {},
        h("th", {}, "Status"),
        h("th", {}, "Started"),
        h("th", {}, "Model"),
        h("th", {}, "Policy"),
        h("th", {}, "API"),
        h("th", {}, "Request → response"),
        h("th", { class: "num" }, "Duration"),
        h("th", { class: "num" }, "First byte"),
        h("th", { class: "num" }, "Tokens"),
        h("th", {}, "Changed"),
      ),
    ),
    body,
  );
  const empty = h("div", { class: "empty hidden" }, h("strong", {}, "No transactions match"), "Widen the time range or clear the filters.");
  const more = h("button", { class: "button", onclick: () => load({ append: true }) }, "Load more");
  const foot = h("div", { class: "table-foot" }, h("span", { id: "foot-text" }), h("span", { class: "spacer" }), more);
  const panel = h("div", { class: "panel", style: "margin-top:14px" }, h("div", { class: "table-wrap" }, table, empty), foot);
  append(view, [head, filters, panel]);

  function syncHash() {
    const query = new URLSearchParams();
    for (const [key, value] of Object.entries(state)) if (value !== "" || key === "since") query.set(key, value);
    const hash = `#/?${query}`;
    if (window.location.hash !== hash) window.history.replaceState(null, "", hash);
    window.sessionStorage.setItem("luthien.list", hash); // where "← Transactions" goes back to
  }

  function select(name, label, values, labels) {
    const el = h(
      "select",
      { "aria-label": label, name, onchange: (e) => { state[name] = e.target.value; syncHash(); load(); } },
      h("option", { value: "" }, `All ${label}`),
      values.map((v) => h("option", { value: v, selected: state[name] === v }, labels?.[v] || v)),
    );
    return el;
  }

  let searchTimer = null;
  function renderFilters(facets) {
    const windows = h(
      "div",
      { class: "segmented", role: "group", "aria-label": "Time range" },
      WINDOWS.map(([value, label]) =>
        h("button", { type: "button", class: state.since === value ? "active" : "", onclick: () => { state.since = value; syncHash(); renderFilters(facets); load(); } }, label),
      ),
    );
    const search = h("input", {
      type: "search",
      name: "q",
      placeholder: "Search request, response, error or id…",
      value: state.q,
      "aria-label": "Search",
      oninput: (e) => {
        window.clearTimeout(searchTimer);
        searchTimer = window.setTimeout(() => { state.q = e.target.value.trim(); syncHash(); load(); }, 300);
      },
    });
    const changedOnly = h("label", { class: "toggle" },
      h("input", { type: "checkbox", name: "changed", checked: state.changed === "true", onchange: (e) => { state.changed = e.target.checked ? "true" : ""; syncHash(); load(); } }),
      "Changed only");
    const clear = h("a", { href: "#/", class: "clear", onclick: (e) => { e.preventDefault(); Object.assign(state, { since: "1h", model: "", policy: "", status: "", api: "", q: "", changed: "" }); syncHash(); renderFilters(facets); load(); } }, "Clear");
    filters.replaceChildren(
      windows,
      select("status", "statuses", facets.statuses, STATUS_LABEL),
      select("model", "models", facets.models),
      select("policy", "policies", facets.policies),
      select("api", "APIs", facets.apis),
      changedOnly,
      h("div", { class: "search" }, search),
      clear,
    );
  }

  function row(tx, mark) {
    const when = h("td", { class: "when", title: tx.started_at_iso || "" }, ago(tx.started_at), h("small", {}, clock(tx.started_at)));
    const preview = h("td", { class: "preview" },
      h("span", { class: "prompt" }, tx.prompt_preview || (tx.prompt_preview === "" ? "" : "—")),
      tx.status === "blocked" && !tx.response_preview
        ? h("span", { class: "answer" }, (tx.error || "blocked").slice(0, 160))
        : tx.response_preview ? h("span", { class: "answer" }, tx.response_preview) : tx.error ? h("span", { class: "answer" }, tx.error.slice(0, 160)) : null,
    );
    const changed = tx.changed
      ? h("span", { class: "changed-mark", title: [tx.request_changed && "request changed", tx.response_changed && "response changed"].filter(Boolean).join(", ") }, "Δ changed")
      : h("span", { class: "changed-mark quiet" }, "—");
    return h(
      "tr",
      {
        class: mark || "",
        dataset: { id: tx.transaction_id, status: tx.status },
        tabindex: "0",
        onclick: () => { window.location.hash = `#/tx/${encodeURIComponent(tx.transaction_id)}`; },
        onkeydown: (e) => { if (e.key === "Enter") window.location.hash = `#/tx/${encodeURIComponent(tx.transaction_id)}`; },
      },
      h("td", {}, statusPill(tx.status)),
      when,
      h("td", {}, tx.model || "—"),
      h("td", {}, tx.policy ? h("span", { class: "tag policy" }, tx.policy) : "—"),
      h("td", {}, tx.api ? h("span", { class: "tag api" }, tx.api) : "—"),
      preview,
      h("td", { class: "num" }, ms(tx.duration_ms)),
      h("td", { class: "num" }, ms(tx.time_to_first_byte_ms)),
      h("td", { class: "num" }, tokens(tx.usage)),
      h("td", {}, changed),
    );
  }

  function render() {
    body.replaceChildren(
      ...rows.map((tx) => {
        const before = known.get(tx.transaction_id);
        const mark = firstLoad ? "" : before === undefined ? "row-new" : before !== tx.status ? "row-updated" : "";
        return row(tx, mark);
      }),
    );
    known = new Map(rows.map((tx) => [tx.transaction_id, tx.status]));
    firstLoad = false;
    empty.classList.toggle("hidden", rows.length > 0);
    table.classList.toggle("hidden", rows.length === 0);
    more.classList.toggle("hidden", !nextBefore);
    const window_ = WINDOWS.find(([value]) => value === state.since)?.[1] || state.since;
    document.getElementById("count").textContent = `${rows.length}${nextBefore ? "+" : ""} shown · ${state.since ? `last ${window_}` : "all time"}`;
    document.getElementById("foot-text").textContent = LIVE_MODE === "redis" ? "New transactions appear as the Redis feed reports them." : "New transactions appear as the database is polled.";
  }

  function query() {
    return { since: state.since, model: state.model, policy: state.policy, status: state.status, api: state.api, q: state.q, changed: state.changed };
  }

  let loading = 0;
  async function load({ append: more_ = false, live: isLive = false } = {}) {
    const ticket = ++loading;
    try {
      const page = await api("api/transactions", { ...query(), limit: 50, before: more_ ? nextBefore : null });
      if (ticket !== loading) return;
      if (more_) {
        rows = rows.concat(page.transactions);
        nextBefore = page.next_before;
      } else if (isLive) {
        // keep rows loaded with "Load more" below the fresh first page
        const fresh = new Set(page.transactions.map((tx) => tx.transaction_id));
        const oldest = page.transactions[page.transactions.length - 1]?.started_at ?? Infinity;
        rows = page.transactions.concat(rows.filter((tx) => !fresh.has(tx.transaction_id) && tx.started_at < oldest));
        if (rows.length <= page.transactions.length) nextBefore = page.next_before;
      } else {
        firstLoad = true;
        rows = page.transactions;
        nextBefore = page.next_before;
      }
      render();
    } catch (error) {
      if (error instanceof Unauthorized) return;
      body.replaceChildren(h("tr", {}, h("td", { colspan: 10, class: "empty" }, h("strong", {}, "Could not load transactions"), String(error.message))));
    }
  }

  api("api/facets").then(renderFilters).catch(() => renderFilters({ statuses: Object.keys(STATUS_LABEL), models: [], policies: [], apis: [] }));
  syncHash();
  load();
  const stopPolling = poller(() => load({ live: true }));
  const clockTimer = window.setInterval(() => {
    for (const tr of body.querySelectorAll("tr[data-id]")) {
      const tx = rows.find((r) => r.transaction_id === tr.dataset.id);
      if (tx) tr.children[1].firstChild.textContent = ago(tx.started_at);
    }
  }, 10000);
  return { stop() { stopPolling(); window.clearInterval(clockTimer); } };
}

// ---------- one transaction ----------

function transactionView(id) {
  let stopped = false;
  let timer = null;
  const back = h("a", { class: "crumb", href: window.sessionStorage.getItem("luthien.list") || "#/" }, "← Transactions");
  append(view, [back, h("div", { class: "panel empty" }, "Loading…")]);

  async function load() {
    try {
      const data = await api(`api/transactions/${encodeURIComponent(id)}`);
      if (stopped) return;
      view.replaceChildren(back, ...renderTransaction(data));
      if (data.transaction.status === "started") timer = window.setTimeout(load, POLL_MS);
    } catch (error) {
      if (error instanceof Unauthorized || stopped) return;
      view.replaceChildren(back, h("div", { class: "panel empty" }, h("strong", {}, "Transaction not found"), String(error.message)));
    }
  }
  load();
  return { stop() { stopped = true; window.clearTimeout(timer); } };
}

function fact(label, value) {
  return h("div", { class: "fact" }, h("span", {}, label), h("b", {}, value));
}

function renderTransaction(data) {
  const tx = data.transaction;
  const diff = data.diff;
  const usage = tx.usage || {};
  const copy = h("button", { class: "copy", type: "button", onclick: (e) => { navigator.clipboard?.writeText(tx.transaction_id); e.target.textContent = "copied"; } }, "copy");
  const header = h(
    "section",
    { class: "panel tx-head" },
    h("div", { class: "tx-title" }, statusPill(tx.status, true), h("h1", {}, tx.model || "unknown model"), tx.changed ? h("span", { class: "changed-mark" }, "Δ changed by policy") : null),
    h("div", { class: "tx-id" }, tx.transaction_id, copy),
    h(
      "div",
      { class: "facts" },
      fact("Policy", tx.policy || "—"),
      fact("API", `${tx.api || "—"}${tx.is_streaming ? " · streaming" : tx.is_streaming === false ? " · complete" : ""}`),
      h("div", { class: "fact", title: tx.started_at_iso || "" }, h("span", {}, "Started"), h("b", {}, clock(tx.started_at) || "—"), h("small", {}, ago(tx.started_at))),
      fact("Duration", ms(tx.duration_ms)),
      fact("First byte", ms(tx.time_to_first_byte_ms)),
      fact("Tokens in / out", usage.prompt_tokens !== undefined ? `${(usage.prompt_tokens || 0).toLocaleString()} / ${(usage.completion_tokens || 0).toLocaleString()}` : "—"),
      h("div", { class: "fact", title: tx.call_id || "" }, h("span", {}, "LiteLLM call id"), h("b", { class: "mono" }, tx.call_id || "—")),
    ),
  );
  const callouts = [];
  if (tx.status === "blocked") {
    const partly = diff.response.delivered;
    const what = !diff.response.recorded
      ? "The policy refused the request before the upstream was called; the client received this error."
      : partly
        ? "The policy stopped the response after part of it was sent: the client received the final side below, then this error."
        : "The client received this error instead of the response.";
    callouts.push(h("div", { class: "callout blocked" }, h("span", { class: "icon" }, "✕"), h("div", {}, h("b", {}, "Blocked. "), what, h("pre", {}, tx.error || ""))));
  } else if (tx.error) {
    callouts.push(h("div", { class: "callout error" }, h("span", { class: "icon" }, "!"), h("div", {}, h("b", {}, `${tx.status === "timeout" ? "Timed out" : tx.status === "cancelled" ? "Cancelled" : "Error"}.`), h("pre", {}, tx.error))));
  }
  const summaryLine = changeSummary(diff);
  if (summaryLine) callouts.push(h("div", { class: `callout ${tx.changed ? "changed" : "same"}` }, h("span", { class: "icon" }, tx.changed ? "Δ" : "="), h("div", {}, summaryLine)));
  if (callouts.length) append(header, [h("div", { style: "grid-column:1/-1" }, callouts)]);

  const sections = [header, responseSection(tx, diff.response), requestSection(data.request, diff.request)];
  if (diff.judge_verdicts.length) sections.push(verdictsSection(diff.judge_verdicts));
  if (diff.route_refusals.length) sections.push(refusalsSection(diff.route_refusals));
  sections.push(timelineSection(tx, data.timeline));
  sections.push(rawSection(data));
  return sections;
}

function changeSummary(diff) {
  const parts = [];
  const calls = diff.response.tool_calls;
  const removed = calls.filter((c) => c.state === "removed").length;
  const added = calls.filter((c) => c.state === "added").length;
  const changed = calls.filter((c) => c.state === "changed").length;
  if (removed) parts.push(`${removed} tool call${removed > 1 ? "s" : ""} removed`);
  if (changed) parts.push(`${changed} tool call${changed > 1 ? "s" : ""} rewritten`);
  if (added) parts.push(`${added} tool call${added > 1 ? "s" : ""} added`);
  if (diff.response.text.some((s) => s.op !== "equal")) parts.push("response text changed");
  if (diff.response.original_finish_reason !== diff.response.final_finish_reason && diff.response.delivered) parts.push(`finish reason ${diff.response.original_finish_reason || "none"} → ${diff.response.final_finish_reason || "none"}`);
  if (diff.request.changed) parts.push("request changed");
  if (parts.length) return `The policy made these changes: ${parts.join(", ")}.`;
  if (diff.response.recorded && diff.response.delivered) return "The client received exactly what the upstream sent.";
  return null;
}

function segments(list, side) {
  const keep = side === "original" ? "delete" : "insert";
  const out = [];
  for (const seg of list) {
    if (seg.op === "equal") out.push(seg.text);
    else if (seg.op === keep) out.push(h("span", { class: side === "original" ? "seg-del" : "seg-ins" }, seg.text));
  }
  return out;
}

function toolCard(call, side) {
  const args = side === "original" ? call.original_arguments : call.final_arguments;
  const pretty = prettyJson(args);
  if (side === "original") {
    if (call.state === "added") return h("div", { class: "tool ghost" }, `${call.name} — not in the upstream's response`);
    const removed = call.state === "removed";
    const verdict = call.verdict;
    return h(
      "div",
      { class: `tool${removed ? " removed" : call.state === "changed" ? " changed-call" : ""}`, dataset: { state: call.state, tool: call.name } },
      h("div", { class: "tool-top" }, h("span", { class: "tool-name" }, call.name), h("span", { class: "spacer" }),
        removed ? h("span", { class: "badge blocked" }, "blocked") : call.state === "changed" ? h("span", { class: "badge changed" }, "rewritten") : h("span", { class: "badge kept" }, "kept")),
      h("code", { class: "tool-args" }, pretty),
      removed && call.reason ? h("div", { class: "reason" }, verdict ? `Judge: ${call.reason}` : call.reason) : null,
    );
  }
  if (call.state === "removed") return h("div", { class: "tool ghost", dataset: { state: "removed", tool: call.name } }, `${call.name} — not sent to the client`);
  return h(
    "div",
    { class: `tool${call.state === "added" ? " added" : call.state === "changed" ? " changed-call" : ""}`, dataset: { state: call.state, tool: call.name } },
    h("div", { class: "tool-top" }, h("span", { class: "tool-name" }, call.name), h("span", { class: "spacer" }),
      call.state === "added" ? h("span", { class: "badge added" }, "added") : call.state === "changed" ? h("span", { class: "badge changed" }, "rewritten") : null),
    h("code", { class: "tool-args" }, pretty),
  );
}

function prettyJson(text) {
  if (text === null || text === undefined) return "";
  try {
    return JSON.stringify(JSON.parse(text), null, 1).replace(/\n\s*/g, " ");
  } catch {
    return text;
  }
}

function responseSection(tx, response) {
  const panel = h("section", { class: "panel", id: "response" });
  append(panel, [h("div", { class: "panel-head" }, h("h2", {}, "Response"), h("span", { class: "muted" }, response.changed ? "original and final differ" : response.recorded ? "unchanged" : ""))]);
  if (!response.recorded) {
    append(panel, [h("div", { class: "collapsed-note" }, tx.status === "blocked" ? "The policy refused the request: the upstream was never called." : "No response was recorded (the upstream was not reached or failed before answering).")]);
    return panel;
  }
  const left = h("div", { class: "side" }, h("div", { class: "side-head" }, "Original", h("span", { class: "arrow" }, "· from the upstream")));
  const right = h("div", { class: "side" }, h("div", { class: "side-head" }, "Final", h("span", { class: "arrow" }, "· to the client")));
  const original = response.original_text;
  append(left, [original ? h("div", { class: "text" }, segments(response.text, "original")) : h("div", { class: "text none" }, "(no text)")]);
  if (!response.delivered) {
    append(right, [h("div", { class: "text none" }, tx.status === "blocked" ? "Nothing: the client received the policy's refusal (see above)." : "Nothing: the client received an error (see above).")]);
  } else {
    append(right, [response.final_text ? h("div", { class: "text" }, segments(response.text, "final")) : h("div", { class: "text none" }, "(no text)")]);
  }
  if (response.tool_calls.length) {
    append(left, [h("div", { class: "tools" }, response.tool_calls.map((call) => toolCard(call, "original")))]);
    append(right, [h("div", { class: "tools" }, response.tool_calls.map((call) => toolCard(call, "final")))]);
  }
  const finishChanged = response.delivered && response.original_finish_reason !== response.final_finish_reason;
  append(left, [h("div", { class: "finish" }, "finish reason", h("code", {}, response.original_finish_reason || "—"))]);
  if (response.delivered) append(right, [h("div", { class: "finish" }, "finish reason", h("code", { class: finishChanged ? "diff-changed" : "" }, response.final_finish_reason || "—"))]);
  append(panel, [h("div", { class: "diff" }, left, right)]);
  return panel;
}

function requestSection(request, diff, showAll = false) {
  const panel = h("section", { class: "panel", id: "request" });
  const messages = diff.messages;
  const head = h("div", { class: "panel-head" }, h("h2", {}, "Request"), h("span", { class: "muted" }, `${messages.length} message${messages.length === 1 ? "" : "s"} · ${diff.changed ? "changed by the policy" : "unchanged"}`));
  append(panel, [head]);
  const body = h("div", { class: "diff" });
  const left = h("div", { class: "side" }, h("div", { class: "side-head" }, "Original", h("span", { class: "arrow" }, "· from the client")));
  const right = h("div", { class: "side" }, h("div", { class: "side-head" }, "Final", h("span", { class: "arrow" }, "· to the upstream")));
  const shown = diff.changed || showAll ? messages : messages.slice(-3);
  if (shown.length < messages.length) {
    const more = h("button", { class: "button", type: "button", onclick: () => { panel.replaceWith(requestSection(request, diff, true)); } }, `Show all ${messages.length}`);
    append(left, [h("div", { class: "collapsed-note", style: "padding:0 0 10px" }, `${messages.length - shown.length} earlier messages hidden`, more)]);
  }
  for (const message of shown) {
    append(left, [h("div", { class: `message state-${message.state}` }, h("span", { class: "role" }, message.role), message.original !== null ? h("div", { class: "text" }, segments(message.text, "original")) : h("div", { class: "text none" }, "(not in the original)"))]);
    append(right, [h("div", { class: `message state-${message.state}` }, h("span", { class: "role" }, message.role), message.final !== null ? h("div", { class: "text" }, segments(message.text, "final")) : h("div", { class: "text none" }, "(removed by the policy)"))]);
  }
  if (diff.settings.length) {
    const table = h("table", { class: "plain" }, h("thead", {}, h("tr", {}, h("th", {}, "Setting"), h("th", {}, "Original"), h("th", {}, "Final"))),
      h("tbody", {}, diff.settings.map((s) => h("tr", {}, h("td", {}, h("code", {}, s.key)), h("td", {}, h("code", {}, JSON.stringify(s.original))), h("td", {}, h("code", {}, JSON.stringify(s.final)))))));
    append(right, [table]);
  }
  append(body, [left, right]);
  append(panel, [body]);
  return panel;
}

function verdictsSection(verdicts) {
  return h(
    "section",
    { class: "panel", id: "verdicts" },
    h("div", { class: "panel-head" }, h("h2", {}, "Judge verdicts"), h("span", { class: "muted" }, `${verdicts.length}`)),
    h(
      "table",
      { class: "plain" },
      h("thead", {}, h("tr", {}, h("th", {}, "Tool"), h("th", {}, "Verdict"), h("th", {}, "Probability"), h("th", {}, "Why"), h("th", {}, "Judge"), h("th", { class: "num" }, "Latency"))),
      h(
        "tbody",
        {},
        verdicts.map((v) =>
          h(
            "tr",
            {},
            h("td", {}, h("code", {}, v.tool_name || "—")),
            h("td", {}, v.blocked ? h("span", { class: "pill blocked" }, "blocked") : h("span", { class: "pill success" }, "allowed")),
            h("td", {}, typeof v.probability === "number" ? h("span", { class: "prob" }, h("span", { class: "bar" }, h("i", { style: `width:${Math.round(v.probability * 100)}%` })), v.probability.toFixed(2)) : "—"),
            h("td", { style: "white-space:normal" }, v.reason || "", v.explanation && v.explanation !== v.reason ? h("div", { class: "muted" }, v.explanation) : null),
            h("td", {}, v.judge_model || "—", v.cached ? h("div", { class: "muted" }, "cached") : null),
            h("td", { class: "num" }, ms(v.latency_ms)),
          ),
        ),
      ),
    ),
  );
}

function refusalsSection(refusals) {
  return h(
    "section",
    { class: "panel", id: "refusals" },
    h("div", { class: "panel-head" }, h("h2", {}, "Route refusals"), h("span", { class: "muted" }, "the route reaches a model without the policy, so it was refused")),
    h(
      "table",
      { class: "plain" },
      h("thead", {}, h("tr", {}, h("th", {}, "Route"), h("th", {}, "Call type"), h("th", {}, "Policy"), h("th", {}, "Why"))),
      h("tbody", {}, refusals.map((r) => h("tr", {}, h("td", {}, h("code", {}, r.route || "—")), h("td", {}, h("code", {}, r.call_type || "—")), h("td", {}, r.policy || "—"), h("td", { style: "white-space:normal" }, r.reason || "")))),
    ),
  );
}

function timelineSection(tx, entries) {
  const total = Math.max(tx.duration_ms || 0, ...entries.map((e) => e.at_ms), 1);
  const kind = (type) => (type === "policy.judge_verdict" ? "kind-verdict" : type === "route.refused" ? "kind-refused" : type.includes("violation") ? "kind-bad" : "");
  const list = h(
    "ol",
    { class: "timeline" },
    entries.map((entry) =>
      h(
        "li",
        { class: kind(entry.event_type) },
        h("span", { class: "at" }, `+${ms(Math.max(0, entry.at_ms))}`),
        h("div", { class: "what" }, h("div", { class: "etype" }, entry.event_type), h("div", { class: "desc" }, entry.description)),
        h(
          "div",
          { class: "track" },
          h("span", { class: "span", style: `left:0;width:${Math.min(100, (100 * (tx.duration_ms || 0)) / total)}%` }),
          tx.time_to_first_byte_ms !== null ? h("span", { class: "ttfb", title: "first byte", style: `left:${Math.min(100, (100 * tx.time_to_first_byte_ms) / total)}%` }) : null,
          h("span", { class: "mark", style: `left:${Math.min(100, (100 * Math.max(0, entry.at_ms)) / total)}%` }),
        ),
      ),
    ),
  );
  return h(
    "section",
    { class: "panel", id: "timeline" },
    h("div", { class: "panel-head" }, h("h2", {}, "Timeline"), h("span", { class: "muted" }, `${entries.length} events · ${ms(tx.duration_ms)} total`), h("span", { class: "spacer" }),
      h("span", { class: "legend" }, h("span", {}, h("i", { style: "background:var(--ok);width:3px" }), "first byte"), h("span", {}, h("i", { style: "background:var(--brand);border-radius:50%" }), "event"))),
    list,
  );
}

function rawSection(data) {
  const block = (title, value) => h("details", { class: "raw" }, h("summary", {}, title), h("pre", {}, JSON.stringify(value, null, 2)));
  return h(
    "section",
    { class: "panel", id: "raw" },
    h("div", { class: "panel-head" }, h("h2", {}, "Recorded JSON"), h("span", { class: "muted" }, "as stored, secrets already redacted by the recorder")),
    block("Original request", data.request.original),
    block("Final request", data.request.final),
    block("Original response", data.response.original),
    block("Final response", data.response.final),
    block("Usage", data.transaction.usage),
  );
}

// ---------- summary ----------

function summaryView(params) {
  let since = params.get("since") || "1h";
  let stopped = false;
  const head = h("div", { class: "page-head" }, h("h1", {}, "Summary"), h("span", { class: "muted", id: "window" }));
  const windows = h("div", { class: "segmented", role: "group", "aria-label": "Window" });
  const content = h("div", { id: "summary" });
  append(view, [head, h("div", { class: "panel filters" }, windows, h("span", { class: "spacer" }), h("span", { class: "muted" }, "Durations are nearest-rank percentiles over finished transactions.")), h("div", { style: "height:14px" }), content]);

  function renderWindows() {
    windows.replaceChildren(...SUMMARY_WINDOWS.map(([value, label]) => h("button", { type: "button", class: since === value ? "active" : "", onclick: () => { since = value; window.history.replaceState(null, "", `#/summary?since=${value}`); renderWindows(); load(); } }, label)));
  }

  async function load() {
    try {
      const data = await api("api/summary", { since });
      if (stopped) return;
      document.getElementById("window").textContent = `${clock(data.since)} – ${clock(data.until)}`;
      content.replaceChildren(...renderSummary(data));
    } catch (error) {
      if (!(error instanceof Unauthorized)) content.replaceChildren(h("div", { class: "panel empty" }, h("strong", {}, "Could not load the summary"), String(error.message)));
    }
  }
  renderWindows();
  load();
  const stopPolling = poller(load);
  return { stop() { stopped = true; stopPolling(); } };
}

function renderSummary(data) {
  const t = data.totals;
  const kpi = (label, value, note, cls) => h("div", { class: `panel kpi ${cls || ""}` }, h("span", {}, label), h("b", {}, value), h("small", {}, note || "\u00a0"));
  const kpis = h(
    "div",
    { class: "kpis" },
    kpi("Transactions", t.transactions.toLocaleString(), `${(t.transactions / Math.max(1, (data.until - data.since) / 60)).toFixed(1)} / min`),
    kpi("Blocked", t.blocked.toLocaleString(), pct(t.blocked, t.transactions), "blocked"),
    kpi("Changed", t.changed.toLocaleString(), pct(t.changed, t.transactions), "changed"),
    kpi("Errors", t.errors.toLocaleString(), pct(t.errors, t.transactions), "errors"),
    kpi("p50 duration", ms(t.p50_ms)),
    kpi("p95 duration", ms(t.p95_ms)),
  );
  const chartPanel = h(
    "section",
    { class: "panel" },
    h("div", { class: "panel-head" }, h("h2", {}, "Transactions over time"), h("span", { class: "muted" }, `per ${bucketLabel(data.bucket_seconds)}`), h("span", { class: "spacer" }),
      h("span", { class: "legend" }, legend("#c7d2fe", "unchanged"), legend("#8b5cf6", "changed"), legend("#ef4444", "blocked"), legend("#f97316", "errors"))),
    h("div", { class: "chart" }, chart(data)),
  );
  return [kpis, chartPanel, h("div", { class: "split" }, groupTable("Per policy", data.by_policy), groupTable("Per model", data.by_model))];
}

function legend(color, label) {
  return h("span", {}, h("i", { style: `background:${color}` }), label);
}

function bucketLabel(seconds) {
  if (seconds % 86400 === 0) return seconds === 86400 ? "day" : `${seconds / 86400} days`;
  if (seconds % 3600 === 0) return seconds === 3600 ? "hour" : `${seconds / 3600} hours`;
  return seconds === 60 ? "minute" : `${seconds / 60} minutes`;
}

function chart(data) {
  const width = 1200;
  const height = 220;
  const pad = { left: 40, right: 10, top: 10, bottom: 26 };
  const origin = data.timeline_start;
  const count = Math.max(1, Math.ceil((data.until - origin) / data.bucket_seconds));
  const byIndex = new Map(data.timeline.map((b) => [Math.round((b.start - origin) / data.bucket_seconds), b]));
  const max = Math.max(1, ...data.timeline.map((b) => b.transactions));
  const step = niceStep(max);
  const top = Math.ceil(max / step) * step;
  const plotW = width - pad.left - pad.right;
  const plotH = height - pad.top - pad.bottom;
  const barW = plotW / count;
  const y = (v) => pad.top + plotH - (plotH * v) / top;
  const root = svg("svg", { viewBox: `0 0 ${width} ${height}`, preserveAspectRatio: "none", role: "img", "aria-label": "Transactions over time" });
  for (let v = 0; v <= top; v += step) {
    root.append(svg("line", { class: "grid", x1: pad.left, x2: width - pad.right, y1: y(v), y2: y(v) }));
    root.append(svg("text", { class: "axis", x: pad.left - 8, y: y(v) + 4, "text-anchor": "end" }, String(v)));
  }
  for (let i = 0; i < count; i += 1) {
    const b = byIndex.get(i);
    const x = pad.left + i * barW + Math.min(2, barW * 0.15);
    const w = Math.max(1, barW - Math.min(4, barW * 0.3));
    if (b) {
      const errors = b.errors;
      const blocked = b.blocked;
      const changed = b.changed;
      const plain = Math.max(0, b.transactions - errors - blocked - changed);
      let base = 0;
      for (const [value, color] of [[plain, "#c7d2fe"], [changed, "#8b5cf6"], [blocked, "#ef4444"], [errors, "#f97316"]]) {
        if (!value) continue;
        root.append(svg("rect", { x, y: y(base + value), width: w, height: y(base) - y(base + value), fill: color, rx: 2 }, svg("title", {}, `${clock(b.start)}: ${b.transactions} transactions, ${b.changed} changed, ${b.blocked} blocked, ${b.errors} errors`)));
        base += value;
      }
    }
    if (i % Math.ceil(count / 8) === 0) {
      root.append(svg("text", { class: "axis", x: pad.left + i * barW, y: height - 8 }, tick(origin + i * data.bucket_seconds, data.bucket_seconds)));
    }
  }
  return root;
}

function tick(epoch, bucket) {
  const d = new Date(epoch * 1000);
  if (bucket >= 86400) return d.toLocaleDateString([], { month: "short", day: "numeric" });
  const time = d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  return bucket >= 3600 ? `${d.toLocaleDateString([], { month: "short", day: "numeric" })} ${time}` : time;
}

function niceStep(max) {
  const raw = max / 4;
  const power = 10 ** Math.floor(Math.log10(raw || 1));
  for (const m of [1, 2, 5, 10]) if (raw <= m * power) return Math.max(1, m * power);
  return Math.max(1, 10 * power);
}

function groupTable(title, groups) {
  return h(
    "section",
    { class: "panel" },
    h("div", { class: "panel-head" }, h("h2", {}, title)),
    groups.length
      ? h(
          "table",
          { class: "plain" },
          h("thead", {}, h("tr", {}, h("th", {}, title === "Per policy" ? "Policy" : "Model"), h("th", { class: "num" }, "Transactions"), h("th", { class: "num" }, "Blocked"), h("th", { class: "num" }, "Changed"), h("th", { class: "num" }, "Errors"), h("th", { class: "num" }, "p50"), h("th", { class: "num" }, "p95"))),
          h(
            "tbody",
            {},
            groups.map((g) =>
              h(
                "tr",
                {},
                h("td", {}, title === "Per policy" ? h("span", { class: "tag policy" }, g.key || "(none)") : g.key || "(none)",
                  h("span", { class: "share", title: "changed · blocked · errors" },
                    h("i", { style: `width:${(100 * g.changed) / Math.max(1, g.transactions)}%;background:#8b5cf6` }),
                    h("i", { style: `width:${(100 * g.blocked) / Math.max(1, g.transactions)}%;background:#ef4444` }),
                    h("i", { style: `width:${(100 * g.errors) / Math.max(1, g.transactions)}%;background:#f97316` }))),
                h("td", { class: "num" }, g.transactions.toLocaleString()),
                h("td", { class: "num" }, g.blocked, g.blocked ? h("span", { class: "sub" }, pct(g.blocked, g.transactions)) : null),
                h("td", { class: "num" }, g.changed, g.changed ? h("span", { class: "sub" }, pct(g.changed, g.transactions)) : null),
                h("td", { class: "num" }, g.errors, g.errors ? h("span", { class: "sub" }, pct(g.errors, g.transactions)) : null),
                h("td", { class: "num" }, ms(g.p50_ms)),
                h("td", { class: "num" }, ms(g.p95_ms)),
              ),
            ),
          ),
        )
      : h("div", { class: "empty" }, "No transactions in this window."),
  );
}

setLive("on");
route();
