// One trace: spans as bars on a time axis with nesting, a detail panel (chat, claims, scores),
// keyboard navigation between spans and a good/bad rating.
import { api, append, errorBanner, fmtCost, fmtInt, fmtMs, fmtScore, fmtTime, h, pill, setTitle } from "./util.js";

const LLM = /^(openai|anthropic|bedrock|gemini|google|litellm)\./;

// A prefix that several traces share: list them, each opening its trace.
function renderMatches(main, prefix, found) {
  setTitle("Several traces match " + prefix);
  main.replaceChildren(
    h("a", { href: "/", "data-nav": true, class: "muted" }, "← Traces"),
    h("h1", {}, "Several traces start with ", h("span", { class: "mono" }, prefix)),
    h("p", { class: "sub" }, "Pick one, or give more characters of the id."),
    h("ul", { class: "card pad matches", id: "matches" }, found.matches.map((id) =>
      h("li", {}, h("a", { href: "/traces/" + id, "data-nav": true, class: "mono" }, id)))),
    found.more ? h("p", { class: "muted" }, "Only the first " + found.matches.length + " are listed.") : null,
  );
  return null;
}

export async function renderTrace(main, rawId, session) {
  let traceId = rawId.toLowerCase();
  let data;
  try {
    if (traceId.length !== 32) {
      const found = await api("/ui/resolve/" + encodeURIComponent(traceId));
      if (!found.trace_id) return renderMatches(main, traceId, found);
      traceId = found.trace_id;
    }
    data = await api("/v1/traces/" + encodeURIComponent(traceId));
  } catch (err) {
    setTitle("Trace not found");
    main.replaceChildren(h("h1", {}, "Trace"), errorBanner(err), h("a", { href: "/", "data-nav": true }, "← All traces"));
    return null;
  }
  const spans = orderSpans(data.spans);
  const root = spans[0];
  setTitle((root && root.name) || "Trace");
  const t0 = Math.min(...spans.map((s) => Date.parse(s.start_time)));
  const t1 = Math.max(...spans.map((s) => Date.parse(s.end_time)));
  const total = Math.max(t1 - t0, 1);
  const tokens = spans.reduce((a, s) => a + (Number(s.attributes.tokens_total) || 0), 0);
  const costs = spans.map((s) => s.attributes.cost_usd).filter((c) => typeof c === "number");
  const errors = spans.filter((s) => s.status === "error").length;
  const sessionId = spans.map((s) => s.attributes.session_id).find(Boolean);

  const detail = h("section", { class: "card detail", "aria-label": "Selected span", id: "span-detail" });
  const rows = spans.map((span, i) => waterfallRow(span, i, t0, total));
  const list = h("div", { class: "wf", role: "listbox", "aria-label": "Spans", tabindex: "0", id: "waterfall" }, rows);
  const axis = h("div", { class: "wf-axis", "aria-hidden": "true" }, h("span", {}, "Span"),
    h("span", { class: "ticks" }, [0, 0.25, 0.5, 0.75, 1].map((f) => h("span", {}, fmtMs(total * f)))));

  let selected = -1;
  function select(i, focus) {
    if (i < 0 || i >= spans.length) return;
    if (selected >= 0) rows[selected].setAttribute("aria-selected", "false");
    selected = i;
    rows[i].setAttribute("aria-selected", "true");
    list.setAttribute("aria-activedescendant", rows[i].id);
    rows[i].scrollIntoView({ block: "nearest" });
    if (focus) rows[i].focus();
    detail.replaceChildren(...spanDetail(spans[i]));
    const url = new URL(location.href);
    url.searchParams.set("span", spans[i].span_id);
    history.replaceState(null, "", url.pathname + url.search);
  }
  rows.forEach((row, i) => row.addEventListener("click", () => select(i, true)));
  const onKey = (event) => {
    if (event.target.closest("input, textarea, select")) return;
    if (event.key === "j" || event.key === "ArrowDown") { select(selected + 1, true); event.preventDefault(); }
    else if (event.key === "k" || event.key === "ArrowUp") { select(selected - 1, true); event.preventDefault(); }
    else if (event.key === "Home") { select(0, true); event.preventDefault(); }
    else if (event.key === "End") { select(spans.length - 1, true); event.preventDefault(); }
  };
  document.addEventListener("keydown", onKey);

  main.replaceChildren(
    h("div", { class: "trace-head" },
      h("div", {},
        h("a", { href: "/", "data-nav": true, class: "muted" }, "← Traces"),
        h("h1", { id: "trace-title" }, (root && root.name) || traceId),
        h("div", { class: "mono muted" }, traceId),
        h("div", { class: "stats" },
          stat(fmtTime(new Date(t0).toISOString()), "started"),
          stat(fmtMs(total), "duration"),
          stat(fmtInt(spans.length), "spans"),
          stat(fmtInt(tokens), "tokens"),
          stat(costs.length ? fmtCost(costs.reduce((a, b) => a + b, 0)) : "–", "cost"),
          stat(errors ? pill(errors + " error" + (errors > 1 ? "s" : ""), "error") : pill("ok", "ok"), "status"),
          sessionId ? stat(h("a", { href: "/sessions/" + encodeURIComponent(sessionId), "data-nav": true }, sessionId), "session") : null,
        ),
      ),
      feedbackBox(traceId, data.feedback),
    ),
    h("div", { class: "trace-grid" },
      h("section", { class: "card" }, axis, list,
        h("p", { class: "hint pad" }, h("kbd", {}, "j"), " / ", h("kbd", {}, "k"), " or arrow keys move between spans.")),
      detail,
    ),
  );
  const wanted = new URLSearchParams(location.search).get("span");
  const start = spans.findIndex((s) => s.span_id === wanted);
  select(start >= 0 ? start : defaultSpan(spans), false);
  return () => document.removeEventListener("keydown", onKey);
}

// The span to show first: the lowest-scored one, else the first error, else the first LLM call.
function defaultSpan(spans) {
  let best = -1;
  let low = Infinity;
  spans.forEach((s, i) => {
    const scores = Object.values(s.attributes.eval_scores || {}).filter((v) => typeof v === "number");
    if (scores.length && Math.min(...scores) < low) { low = Math.min(...scores); best = i; }
  });
  if (best >= 0) return best;
  const err = spans.findIndex((s) => s.status === "error");
  return err >= 0 ? err : Math.max(0, spans.findIndex((s) => LLM.test(s.name)));
}

function stat(value, label) {
  return h("div", { class: "stat" }, h("b", {}, value), h("span", {}, label));
}

// Depth-first order, children by start time; spans whose parent is missing become roots.
function orderSpans(spans) {
  const ids = new Set(spans.map((s) => s.span_id));
  const children = new Map();
  for (const s of spans) {
    const parent = s.parent_id && ids.has(s.parent_id) ? s.parent_id : null;
    if (!children.has(parent)) children.set(parent, []);
    children.get(parent).push(s);
  }
  const out = [];
  const walk = (parent, depth) => {
    const kids = (children.get(parent) || []).sort((a, b) => a.start_time.localeCompare(b.start_time));
    for (const s of kids) {
      s.depth = depth;
      out.push(s);
      walk(s.span_id, depth + 1);
    }
  };
  walk(null, 0);
  return out;
}

function kindOf(span) {
  return span.status === "error" ? "error" : LLM.test(span.name) ? "llm" : "";
}

function waterfallRow(span, i, t0, total) {
  const left = ((Date.parse(span.start_time) - t0) / total) * 100;
  const width = Math.max((span.duration_ms / total) * 100, 0.3);
  const bar = h("span", { class: "wf-bar " + kindOf(span) });
  bar.style.left = left + "%";
  bar.style.width = width + "%";
  const dur = h("span", { class: "wf-dur" }, fmtMs(span.duration_ms));
  if (left + width > 80) { dur.style.right = 100 - left + 1 + "%"; } else { dur.style.left = left + width + 1 + "%"; }
  const name = h("span", { class: "wf-name" }, h("span", { class: "dot " + kindOf(span), "aria-hidden": "true" }),
    h("span", { class: "nm" }, span.name),
    span.attributes.model ? h("span", { class: "muted hide-sm" }, span.attributes.model) : null);
  name.style.paddingLeft = span.depth * 16 + "px";
  return h("button", {
    class: "wf-row", role: "option", id: "span-" + span.span_id, "aria-selected": "false", tabindex: "-1",
    "aria-label": `${span.name}, ${fmtMs(span.duration_ms)}${span.status === "error" ? ", error" : ""}`,
    dataset: { spanId: span.span_id, index: i },
  }, name, h("span", { class: "wf-track" }, bar, dur));
}

// Why a claim is not supported (peekr.eval.Hallucination with retrieved chunks, docs/evaluation.md).
const CAUSES = {
  retrieval_gap: "No retrieved chunk discusses this: retrieval missed it.",
  generation: "The retrieved chunks cover this but say otherwise or nothing: the model invented it.",
};

function spanDetail(span) {
  const a = span.attributes || {};
  const out = [
    h("div", { class: "toolbar" }, h("h2", { class: "grow", id: "span-name" }, span.name), pill(span.status, span.status)),
    h("div", { class: "kv" },
      kv("Model", a.model), kv("Provider", a.provider), kv("Latency", fmtMs(span.duration_ms)),
      a.ttft_ms !== undefined ? kv("Time to first token", fmtMs(a.ttft_ms)) : null,
      kv("Tokens in", fmtInt(a.tokens_input)), kv("Tokens out", fmtInt(a.tokens_output)),
      kv("Cost", fmtCost(a.cost_usd)), kv("Finish", a.finish_reason),
      kv("User", a.user_id), kv("Feature", a.feature), kv("Endpoint", a.endpoint), kv("Variant", a.experiment_variant),
    ),
  ];
  if (a.error) out.push(h("h3", {}, "Error"), h("div", { class: "errbox", id: "span-error" }, errorText(a.error)));
  const scores = a.eval_scores || {};
  if (Object.keys(scores).length) {
    out.push(h("h3", {}, "Eval scores"), h("div", { class: "scores" },
      Object.entries(scores).map(([k, v]) => pill(`${k} ${fmtScore(v)}`, v >= 0.8 ? "good" : v >= 0.5 ? "unsupported" : "bad"))));
  }
  const claims = Object.entries(a).filter(([k, v]) => k.endsWith("_details") && Array.isArray(v)).flatMap(([, v]) => v)
    .filter((c) => c && typeof c === "object" && c.claim);
  if (a.input !== undefined) out.push(h("h3", {}, "Input"), chat(toTurns(a.input, "user"), []));
  if (a.output !== undefined) out.push(h("h3", {}, "Output"), chat(toTurns(a.output, "assistant"), claims));
  if (claims.length) {
    out.push(h("h3", {}, "Claims"), h("ul", { class: "claims", id: "claims" }, claims.map((c) =>
      h("li", { class: "claim-item", dataset: { verdict: c.verdict } },
        h("div", {}, pill(c.verdict || "?", c.verdict), " ",
          c.cause ? h("span", { class: "pill cause", title: CAUSES[c.cause] || "" }, c.cause.replace("_", " ")) : null, c.cause ? " " : null,
          h("span", { class: "c" }, c.claim),
          Array.isArray(c.chunks) && c.chunks.length ? h("span", { class: "muted" }, ` (chunk ${c.chunks.join(", ")})`) : null),
        c.reason ? h("div", { class: "muted" }, c.reason) : null,
        c.evidence ? h("blockquote", {}, c.evidence) : null))));
  }
  const extra = Object.fromEntries(Object.entries(a).filter(([k]) => !["input", "output"].includes(k)));
  out.push(h("details", {}, h("summary", {}, "All attributes"), h("pre", { class: "raw" }, JSON.stringify(extra, null, 2))));
  return out;
}

function errorText(error) {
  if (typeof error === "string") return error;
  if (error && typeof error === "object" && error.message !== undefined) return (error.type ? error.type + ": " : "") + error.message;
  return JSON.stringify(error, null, 2);
}

function kv(label, value) {
  if (value === undefined || value === null || value === "" || value === "–") return null;
  return h("div", {}, h("span", {}, label), h("b", {}, String(value)));
}

// Normalise the provider shapes peekr records (OpenAI, Anthropic, Bedrock, Gemini) into turns.
function toTurns(value, defaultRole) {
  if (value === null || value === undefined) return [];
  if (typeof value === "string") return [{ role: defaultRole, parts: [{ text: value }] }];
  if (Array.isArray(value)) {
    if (value.every((m) => m && typeof m === "object" && ("role" in m || "parts" in m))) return value.flatMap((m) => toTurns(m, defaultRole));
    return [{ role: defaultRole, parts: value.flatMap(toParts) }];
  }
  if (typeof value !== "object") return [{ role: defaultRole, parts: [{ text: String(value) }] }];
  const turns = [];
  const system = value.system ?? value.system_instruction ?? value.systemInstruction ?? value.instructions;
  if (system !== undefined && system !== null) turns.push({ role: "system", parts: toParts(system) });
  const messages = value.messages ?? value.contents ?? (value.input !== undefined && !value.role ? value.input : undefined);
  if (messages !== undefined) return turns.concat(toTurns(messages, defaultRole));
  if (value.role || value.content !== undefined || value.parts || value.tool_calls) {
    let role = value.role === "model" ? "assistant" : value.role || defaultRole;
    const parts = toParts(value.content ?? value.parts ?? null);
    for (const call of value.tool_calls || []) parts.push(toolCall(call.function?.name || call.name, call.function?.arguments ?? call.arguments ?? call.input));
    if (parts.some((p) => p.result !== undefined) && role === "user") role = "tool";
    turns.push({ role, parts, name: value.name || value.tool_call_id });
    return turns;
  }
  if (value.choices) return toTurns(value.choices.map((c) => c.message), defaultRole);
  if (typeof value.text === "string") return [{ role: defaultRole, parts: [{ text: value.text }] }];
  return [{ role: defaultRole, parts: [{ json: value }] }];
}

function toParts(content) {
  if (content === null || content === undefined) return [];
  if (typeof content === "string") return [{ text: content }];
  if (Array.isArray(content)) return content.flatMap(toParts);
  if (typeof content !== "object") return [{ text: String(content) }];
  if (typeof content.text === "string") return [{ text: content.text }];
  if (content.type === "tool_use" || content.toolUse || content.functionCall || content.type === "function_call") {
    const c = content.toolUse || content.functionCall || content;
    return [toolCall(c.name, c.input ?? c.args ?? c.arguments)];
  }
  if (content.type === "tool_result" || content.toolResult || content.functionResponse || content.type === "function_call_output") {
    const r = content.toolResult || content.functionResponse || content;
    return [{ result: r.content ?? r.response ?? r.output ?? r }];
  }
  if (content.type === "image" || content.type === "image_url" || content.image) return [{ text: "[image]" }];
  return [{ json: content }];
}

function toolCall(name, args) {
  let text = args;
  if (typeof args === "string") { try { text = JSON.parse(args); } catch { /* keep the string */ } }
  return { call: name || "tool", args: typeof text === "string" ? text : JSON.stringify(text, null, 2) };
}

function chat(turns, claims) {
  if (!turns.length) return h("p", { class: "muted" }, "(empty)");
  return h("div", { class: "chat" }, turns.map((turn) => {
    const role = ["system", "user", "assistant", "tool"].includes(turn.role) ? turn.role : "other";
    return h("div", { class: "turn " + role },
      h("div", { class: "role" }, turn.role + (turn.name && role === "tool" ? " · " + turn.name : "")),
      turn.parts.map((p) => {
        if (p.text !== undefined) return highlight(p.text, role === "assistant" ? claims : []);
        if (p.call !== undefined) return h("div", { class: "toolcall" }, "→ " + p.call + "(" + p.args + ")");
        if (p.result !== undefined) return h("div", { class: "toolcall" }, "← " + (typeof p.result === "string" ? p.result : JSON.stringify(p.result, null, 2)));
        return h("pre", { class: "raw" }, JSON.stringify(p.json, null, 2));
      }));
  }));
}

// The answer text with each judged claim marked where it appears (matched case-insensitively).
function highlight(text, claims) {
  const el = h("div", { class: "text" });
  const marks = [];
  const lower = text.toLowerCase();
  for (const c of claims) {
    const needle = String(c.claim).toLowerCase();
    const at = needle ? lower.indexOf(needle) : -1;
    if (at >= 0 && !marks.some((m) => at < m.end && at + needle.length > m.start)) marks.push({ start: at, end: at + needle.length, c });
  }
  marks.sort((x, y) => x.start - y.start);
  let pos = 0;
  for (const m of marks) {
    append(el, [text.slice(pos, m.start)]);
    const tip = `${m.c.verdict}${m.c.reason ? ": " + m.c.reason : ""}${m.c.evidence ? " — “" + m.c.evidence + "”" : ""}`;
    el.append(h("mark", { class: "claim " + (m.c.verdict || ""), title: tip, tabindex: "0", "aria-label": `${m.c.claim} (${tip})` }, text.slice(m.start, m.end)));
    pos = m.end;
  }
  append(el, [text.slice(pos)]);
  return el;
}

function feedbackBox(traceId, existing) {
  let rating = null;
  const status = h("span", { class: "hint", role: "status", id: "fb-status" });
  const note = h("textarea", { id: "fb-note", placeholder: "Note (optional)", "aria-label": "Feedback note", maxlength: "4000" });
  const list = h("ul", { class: "fb-list", id: "fb-list" });
  const show = (items) => list.replaceChildren(...items.slice(-3).reverse().map((f) =>
    h("li", {}, pill(f.rating || fmtScore(f.score), f.rating || ""), " ", f.note || "", " ", h("span", { class: "muted" }, fmtTime(f.created_at)))));
  show(existing || []);
  const buttons = ["good", "bad"].map((r) => h("button", {
    class: "rate " + r, type: "button", "aria-pressed": "false", id: "rate-" + r,
    onclick: () => { rating = r; buttons.forEach((b) => b.setAttribute("aria-pressed", String(b.id === "rate-" + r))); },
  }, r === "good" ? "Good" : "Bad"));
  const submit = h("button", { class: "primary", type: "submit", id: "fb-submit" }, "Save rating");
  const form = h("form", { class: "feedback card pad", "aria-label": "Rate this trace", onsubmit: async (event) => {
    event.preventDefault();
    if (!rating) { status.textContent = "Choose good or bad first."; return; }
    submit.disabled = true;
    try {
      const body = await api("/ui/feedback", null, {
        method: "POST", headers: { "Content-Type": "application/json", "X-Peekr-UI": "1" },
        body: JSON.stringify({ trace_id: traceId, rating, note: note.value || null }),
      });
      existing = [...(existing || []), body.feedback];
      show(existing);
      status.textContent = "Saved: rated " + rating + ".";
      note.value = "";
    } catch (err) {
      status.textContent = "Not saved: " + err.message;
    } finally {
      submit.disabled = false;
    }
  } }, h("b", {}, "Rate this trace"), h("div", { class: "row" }, buttons), note, h("div", { class: "row" }, submit, status), list);
  return form;
}
