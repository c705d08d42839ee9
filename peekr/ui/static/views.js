// Traces list (filters, cursor paging, live), session, trends, quality and worst offenders.
import { baseOption, loadECharts, track } from "./charts.js";
import { RANGES, ago, api, errorBanner, fmtCost, fmtInt, fmtMs, fmtScore, fmtTime, h, navigate, pill, rangeSince, setTitle } from "./util.js";

const FILTERS = [
  ["model", "Model", "gpt-4o"],
  ["name", "Span name", "openai.chat"],
  ["user_id", "User", ""],
  ["session_id", "Session", ""],
  ["feature", "Feature", ""],
  ["endpoint", "Endpoint", "/chat"],
  ["experiment_variant", "Variant", "A"],
];
// Eval score bounds (of the hallucination score, 0-1): number inputs.
const SCORE_FILTERS = [["min_score", "Min score"], ["max_score", "Max score"]];
const POLL_MS = 5000;

function traceLink(traceId, spanId) {
  return "/traces/" + traceId + (spanId ? "?span=" + spanId : "");
}

function rangeSelect(id, value, ranges) {
  return h("select", { id, name: "range" }, (ranges || RANGES).map(([code, label]) => h("option", { value: code, selected: code === value }, label)));
}

// ---- traces list ----------------------------------------------------------------------

export async function renderTraces(main, session) {
  setTitle("Traces");
  const params = new URLSearchParams(location.search);
  const range = params.get("range") || "all";
  const pageSize = Math.min(Math.max(parseInt(params.get("limit") || "50", 10) || 50, 1), 500);
  const query = { limit: pageSize, status: params.get("status") || null, since: rangeSince(range) };
  const filters = session && session.mode === "local" ? [...FILTERS, ["tenant", "Tenant", ""]] : FILTERS;
  for (const [key] of [...filters, ...SCORE_FILTERS, ["q"]]) query[key] = params.get(key) || null;

  const form = h("form", { class: "card filters", id: "filters", role: "search" },
    h("label", { class: "search" }, "Search input and output",
      h("input", { id: "f-q", name: "q", type: "search", value: params.get("q") || "", placeholder: "a word of a prompt or answer", minlength: 3, maxlength: 200, autocomplete: "off" })),
    h("label", {}, "Time", rangeSelect("f-range", range)),
    filters.map(([key, label, placeholder]) => h("label", {}, label,
      h("input", { id: "f-" + key, name: key, value: params.get(key) || "", placeholder, autocomplete: "off" }))),
    SCORE_FILTERS.map(([key, label]) => h("label", {}, label,
      h("input", { id: "f-" + key, name: key, type: "number", min: 0, max: 1, step: 0.05, value: params.get(key) || "", placeholder: "0–1", class: "narrow" }))),
    h("label", {}, "Status", h("select", { id: "f-status", name: "status" },
      [["", "Any"], ["ok", "OK"], ["error", "Error"]].map(([v, l]) => h("option", { value: v, selected: v === (params.get("status") || "") }, l)))),
    h("div", { class: "actions" }, h("button", { class: "primary", type: "submit", id: "apply" }, "Apply"),
      h("button", { type: "button", id: "clear", onclick: () => navigate("/") }, "Clear")),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const next = new URLSearchParams();
    for (const [key, value] of new FormData(form)) if (value && !(key === "range" && value === "all")) next.set(key, value);
    navigate("/" + (next.toString() ? "?" + next : ""));
  });

  const tbody = h("tbody", { id: "trace-rows" });
  const live = h("span", { class: "live", id: "live", title: "New traces appear here as they arrive" }, "Live");
  const count = h("span", { class: "muted", id: "count" });
  const more = h("button", { type: "button", id: "more" }, "Load more");
  const moreWrap = h("div", { class: "more" }, more);
  const table = h("div", { class: "card table-wrap" }, h("table", { "aria-label": "Traces" },
    h("thead", {}, h("tr", {}, h("th", {}, "Trace"), h("th", {}, "Started"), h("th", { class: "hide-sm" }, "Models"),
      h("th", { class: "num" }, "Spans"), h("th", { class: "num" }, "Duration"), h("th", { class: "num" }, "Tokens"),
      h("th", { class: "num" }, "Cost"), h("th", {}, "Status"))),
    tbody), moreWrap);
  main.replaceChildren(
    h("div", { class: "toolbar" }, h("h1", { class: "grow" }, "Traces"), count, live),
    form, table,
  );

  const seen = new Map();
  let cursor = null;
  const render = (t, fresh) => {
    const tr = h("tr", { class: fresh ? "fresh" : "", dataset: { traceId: t.trace_id }, onclick: (e) => { if (!e.target.closest("a")) navigate(traceLink(t.trace_id)); } },
      h("td", { class: "name" }, h("a", { href: traceLink(t.trace_id), "data-nav": true }, t.name || t.trace_id.slice(0, 12)),
        h("div", { class: "mono muted" }, t.trace_id.slice(0, 12))),
      h("td", { title: t.start_time }, fmtTime(t.start_time), h("div", { class: "muted" }, ago(t.start_time))),
      h("td", { class: "hide-sm" }, t.models.map((m) => pill(m, "model"))),
      h("td", { class: "num" }, fmtInt(t.span_count)),
      h("td", { class: "num" }, fmtMs(t.duration_ms)),
      h("td", { class: "num" }, fmtInt(t.tokens_total)),
      h("td", { class: "num" }, fmtCost(t.cost_usd)),
      h("td", {}, t.error_count ? pill(t.error_count + " error" + (t.error_count > 1 ? "s" : ""), "error") : pill("ok", "ok")),
    );
    return tr;
  };
  const updateCount = () => { count.textContent = seen.size + (cursor ? "+" : "") + " traces"; };

  async function loadPage() {
    more.disabled = true;
    try {
      // A search may answer a short page with a cursor (the collector reads a bounded number of
      // spans per request): keep asking, a few requests at most, until the page is full.
      let added = 0;
      let asked = 0;
      do {
        const page = await api("/v1/traces", { ...query, cursor });
        for (const t of page.traces) {
          if (seen.has(t.trace_id)) continue;
          const tr = render(t, false);
          seen.set(t.trace_id, tr);
          tbody.append(tr);
          added += 1;
        }
        cursor = page.next_cursor;
        asked += 1;
      } while (query.q && cursor && added < pageSize && asked < 8);
      moreWrap.hidden = !cursor;
      if (!seen.size) tbody.replaceChildren(h("tr", {}, h("td", { colspan: 8, class: "empty" },
        cursor ? "Nothing found in the newest spans searched yet: Load more to search further back." : "No traces match these filters.")));
      else tbody.querySelector("td.empty")?.closest("tr")?.remove();
      updateCount();
    } catch (err) {
      table.before(errorBanner(err));
    } finally {
      more.disabled = false;
    }
  }
  more.addEventListener("click", loadPage);
  await loadPage();

  // Live: poll the first page and add traces not shown yet at the top.
  let timer = null;
  const poll = async () => {
    if (!document.hidden) {
      try {
        const page = await api("/v1/traces", { ...query, since: rangeSince(range), cursor: null });
        const fresh = page.traces.filter((t) => !seen.has(t.trace_id));
        if (fresh.length && !tbody.querySelector("tr[data-trace-id]")) tbody.replaceChildren();
        for (const t of fresh.reverse()) {
          const tr = render(t, true);
          seen.set(t.trace_id, tr);
          tbody.prepend(tr);
        }
        for (const t of page.traces) {
          const old = seen.get(t.trace_id);
          if (old && old.isConnected && !fresh.includes(t)) old.replaceWith(seen.set(t.trace_id, render(t, false)).get(t.trace_id));
        }
        updateCount();
        live.classList.remove("paused");
      } catch {
        live.classList.add("paused");
      }
    }
    timer = setTimeout(poll, POLL_MS);
  };
  timer = setTimeout(poll, POLL_MS);
  return () => clearTimeout(timer);
}

// ---- session --------------------------------------------------------------------------

export async function renderSession(main, sessionId) {
  setTitle("Session " + sessionId);
  let traces;
  try {
    traces = (await api("/v1/traces", { session_id: sessionId, limit: 100 })).traces.reverse();
  } catch (err) {
    main.replaceChildren(errorBanner(err));
    return null;
  }
  const details = await Promise.all(traces.slice(0, 40).map((t) => api("/v1/traces/" + t.trace_id).catch(() => null)));
  const cost = traces.reduce((a, t) => a + (t.cost_usd || 0), 0);
  main.replaceChildren(
    h("a", { href: "/?session_id=" + encodeURIComponent(sessionId), "data-nav": true, class: "muted" }, "← Traces of this session"),
    h("h1", {}, "Session ", h("span", { class: "mono" }, sessionId)),
    h("p", { class: "sub" }, `${traces.length} turn${traces.length === 1 ? "" : "s"} · ${fmtCost(cost)} · ${fmtInt(traces.reduce((a, t) => a + t.tokens_total, 0))} tokens`),
    traces.length ? h("ol", { class: "chat", id: "turns" }, traces.map((t, i) => sessionTurn(t, details[i]))) : h("div", { class: "card empty" }, "No traces in this session."),
  );
  return null;
}

function sessionTurn(t, detail) {
  const spans = (detail && detail.spans) || [];
  const llm = spans.filter((s) => s.attributes && s.attributes.output !== undefined);
  const last = llm[llm.length - 1];
  const scores = spans.flatMap((s) => Object.values((s.attributes && s.attributes.eval_scores) || {}));
  const score = scores.length ? Math.min(...scores) : null;
  return h("li", { class: "turn card" },
    h("div", { class: "toolbar" },
      h("a", { href: traceLink(t.trace_id), "data-nav": true, class: "grow" }, h("b", {}, t.name || t.trace_id)),
      h("span", { class: "muted" }, fmtTime(t.start_time)), pill(fmtMs(t.duration_ms)), pill(fmtCost(t.cost_usd)),
      score !== null ? pill("score " + fmtScore(score), score >= 0.8 ? "good" : score >= 0.5 ? "unsupported" : "bad") : null,
      t.error_count ? pill("error", "error") : null),
    last ? h("div", {}, h("div", { class: "text" }, h("b", {}, "User: "), lastUserText(last.attributes.input)),
      h("div", { class: "text" }, h("b", {}, "Assistant: "), textOf(last.attributes.output))) : null,
  );
}

function textOf(value) {
  if (value === null || value === undefined) return "";
  if (typeof value === "string") return value;
  if (Array.isArray(value)) return value.map(textOf).filter(Boolean).join(" ");
  if (typeof value === "object") return textOf(value.content ?? value.text ?? value.parts ?? value.messages ?? "");
  return String(value);
}

function lastUserText(input) {
  const messages = Array.isArray(input) ? input : (input && (input.messages || input.contents)) || [];
  const users = messages.filter((m) => m && m.role === "user");
  return users.length ? textOf(users[users.length - 1]).slice(0, 400) : textOf(input).slice(0, 400);
}

// ---- trends ---------------------------------------------------------------------------

const TREND_RANGES = RANGES.filter((r) => r[2]);
const GROUPS = [["model", "model"], ["feature", "feature"], ["endpoint", "endpoint"], ["user_id", "user"], ["tenant", "tenant"], ["name", "name"], ["provider", "provider"]];

export async function renderTrends(main, session) {
  setTitle("Trends");
  const params = new URLSearchParams(location.search);
  const range = params.get("range") || "24h";
  const group = params.get("group_by") || "model";
  const seconds = (TREND_RANGES.find((r) => r[0] === range) || TREND_RANGES[2])[2];
  const interval = seconds <= 3600 ? "minute" : seconds <= 2 * 86400 ? "hour" : "day";
  const controls = h("div", { class: "toolbar" }, h("h1", { class: "grow" }, "Trends"),
    h("label", {}, "Time", rangeSelect("t-range", range, TREND_RANGES)),
    h("label", {}, "Group by", h("select", { id: "t-group" }, GROUPS.filter(([g]) => g !== "tenant" || (session && session.mode === "local"))
      .map(([g, label]) => h("option", { value: g, selected: g === group }, label)))));
  controls.addEventListener("change", () => navigate(`/trends?range=${controls.querySelector("#t-range").value}&group_by=${controls.querySelector("#t-group").value}`));
  main.replaceChildren(controls);
  let data;
  try {
    const until = new Date().toISOString();
    [data] = await Promise.all([api("/v1/stats/aggregates", { group_by: group, interval, since: new Date(Date.now() - seconds * 1000).toISOString(), until })]);
  } catch (err) {
    main.append(errorBanner(err));
    return null;
  }
  const rows = data.rows;
  const sum = (k) => rows.reduce((a, r) => a + (r[k] || 0), 0);
  const calls = sum("calls");
  main.append(h("div", { class: "totals" },
    total(fmtInt(calls), "calls"), total(fmtCost(sum("cost_usd")), "cost"), total(fmtInt(sum("tokens_total")), "tokens"),
    total(calls ? (100 * sum("errors") / calls).toFixed(1) + "%" : "–", "error rate")));
  if (!rows.length) {
    main.append(h("div", { class: "card empty" }, "No spans in this window."));
    return null;
  }
  const used = data.interval || interval;  // the collector may answer with a coarser interval
  const buckets = [...new Set(rows.map((r) => r.bucket))].sort();
  const groups = [...new Set(rows.map((r) => r.group ?? "(none)"))];
  const metrics = [["cost_usd", "Cost (USD)"], ["tokens_total", "Tokens"], ["calls", "Calls"], ["error_rate", "Error rate"], ["p50_ms", "Latency p50 (ms)"], ["p95_ms", "Latency p95 (ms)"]];
  const grid = h("div", { class: "charts" });
  const nodes = metrics.map(([key, title]) => {
    const node = h("div", { class: "chart", role: "img", "aria-label": title + " over time by " + group });
    grid.append(h("section", { class: "card chart-card", dataset: { metric: key } }, h("h2", {}, title), node));
    return node;
  });
  main.append(grid);
  const echarts = await loadECharts();
  const charts = metrics.map(([key], i) => {
    const chart = echarts.init(nodes[i], null, { renderer: "svg" });
    const base = baseOption();
    const stacked = ["cost_usd", "tokens_total", "calls"].includes(key);
    chart.setOption({
      ...base,
      xAxis: { ...base.xAxis, type: "category", data: buckets.map((b) => bucketLabel(b, used)) },
      yAxis: { ...base.yAxis, type: "value", ...(key === "error_rate" ? { max: 1, axisLabel: { ...base.yAxis.axisLabel, formatter: (v) => Math.round(v * 100) + "%" } } : {}) },
      series: groups.map((g) => ({
        name: g, type: stacked ? "bar" : "line", stack: stacked ? "total" : undefined, showSymbol: buckets.length < 30, connectNulls: true,
        data: buckets.map((b) => { const r = rows.find((x) => x.bucket === b && (x.group ?? "(none)") === g); return r ? r[key] : null; }),
      })),
    });
    return chart;
  });
  return track(charts);
}

function bucketLabel(bucket, interval) {
  const d = new Date(bucket);
  if (interval === "day") return d.toLocaleDateString(undefined, { month: "short", day: "numeric" });
  return d.toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" });
}

function total(value, label) {
  return h("div", { class: "card" }, h("b", {}, value), h("span", {}, label));
}

// ---- quality --------------------------------------------------------------------------

export async function renderQuality(main) {
  setTitle("Quality");
  const params = new URLSearchParams(location.search);
  const metric = params.get("metric") || "hallucination";
  const range = params.get("range") || "7d";
  const since = rangeSince(range) || "2000-01-01T00:00:00Z";
  const controls = h("form", { class: "toolbar" }, h("h1", { class: "grow" }, "Quality"),
    h("label", {}, "Time", rangeSelect("q-range", range)),
    h("label", {}, "Score", h("input", { id: "q-metric", value: metric, size: 14 })), h("button", { type: "submit" }, "Show"));
  controls.addEventListener("submit", (e) => { e.preventDefault(); navigate(`/quality?metric=${encodeURIComponent(controls.querySelector("#q-metric").value)}&range=${controls.querySelector("#q-range").value}`); });
  main.replaceChildren(controls);
  let dist;
  try {
    dist = await api("/v1/stats/scores", { metric, bins: 10, since });
  } catch (err) {
    main.append(errorBanner(err));
    return null;
  }
  main.append(h("div", { class: "totals" }, total(fmtInt(dist.count), "spans scored"), total(fmtScore(dist.mean), "mean " + metric),
    total(fmtInt(dist.null_count), "evaluated, no score")));
  if (!dist.count) {
    main.append(h("div", { class: "card empty" }, `No ${metric} scores in this window. Run an evaluator (peekr eval) to see a distribution.`));
    return null;
  }
  const node = h("div", { class: "chart", role: "img", "aria-label": metric + " score distribution" });
  const drill = h("section", { class: "card pad", id: "drill" }, h("p", { class: "muted" }, "Select a bar (or a range button) to list its spans and their worst claims."));
  const buttons = h("div", { class: "tabs", role: "group", "aria-label": "Score bins" }, dist.bins.map((b, i) =>
    h("button", { type: "button", id: "bin-" + i, onclick: () => showBin(i) }, `${b.lower.toFixed(1)}–${b.upper.toFixed(1)} (${b.count})`)));
  main.append(h("section", { class: "card chart-card" }, h("h2", {}, `Distribution of ${metric} (1.0 = every claim supported)`), node, buttons), h("div", { class: "sub" }), drill);
  const echarts = await loadECharts();
  const chart = echarts.init(node, null, { renderer: "svg" });
  const base = baseOption();
  chart.setOption({ ...base, legend: { show: false }, tooltip: { trigger: "item" },
    xAxis: { ...base.xAxis, type: "category", data: dist.bins.map((b) => `${b.lower.toFixed(1)}–${b.upper.toFixed(1)}`) },
    yAxis: { ...base.yAxis, type: "value", minInterval: 1 },
    series: [{ type: "bar", name: "spans", data: dist.bins.map((b, i) => ({ value: b.count, itemStyle: { color: i < 5 ? "#ef4444" : i < 8 ? "#f59e0b" : "#10b981" } })) }] });
  chart.on("click", (p) => showBin(p.dataIndex));

  async function showBin(i) {
    const bin = dist.bins[i];
    buttons.querySelectorAll("button").forEach((b, j) => b.setAttribute("aria-selected", String(i === j)));
    drill.replaceChildren(h("p", { class: "loading" }, "Loading…"));
    const worst = metric === "hallucination" ? await api("/v1/stats/worst", { metric, limit: 500, since }).catch(() => ({ items: [] })) : { items: [] };
    const last = i === dist.bins.length - 1;
    const items = worst.items.filter((s) => s.value >= bin.lower && (s.value < bin.upper || (last && s.value <= bin.upper)));
    const details = await Promise.all(items.slice(0, 10).map((s) => api("/v1/traces/" + s.trace_id).catch(() => null)));
    const claims = [];
    details.forEach((d, k) => {
      const span = d && d.spans.find((s) => s.span_id === items[k].span_id);
      for (const c of (span && span.attributes.hallucination_details) || []) if (c.verdict !== "supported") claims.push({ c, s: items[k] });
    });
    claims.sort((a, b) => (a.c.verdict === "contradicted" ? 0 : 1) - (b.c.verdict === "contradicted" ? 0 : 1));
    drill.replaceChildren(
      h("h2", {}, `Spans scoring ${bin.lower.toFixed(1)}–${bin.upper.toFixed(1)}`),
      items.length ? spanTable(items, "Score", fmtScore) : h("p", { class: "muted" }, metric === "hallucination" ? "No spans in this bin." : "Drill-down lists spans for the hallucination score."),
      claims.length ? h("div", {}, h("h3", {}, "Worst claims"), h("ul", { class: "claims", id: "worst-claims" }, claims.slice(0, 20).map(({ c, s }) =>
        h("li", {}, pill(c.verdict, c.verdict), " ", h("span", { class: "c" }, c.claim), " ",
          h("a", { href: traceLink(s.trace_id, s.span_id), "data-nav": true }, "open trace"),
          c.reason ? h("div", { class: "muted" }, c.reason) : null, c.evidence ? h("blockquote", {}, c.evidence) : null)))) : null,
    );
  }
  return track([chart]);
}

function spanTable(items, valueLabel, fmt) {
  return h("div", { class: "table-wrap" }, h("table", {},
    h("thead", {}, h("tr", {}, h("th", {}, "Span"), h("th", { class: "hide-sm" }, "Model"), h("th", {}, "Started"), h("th", { class: "num" }, valueLabel), h("th", {}, "Status"))),
    h("tbody", {}, items.map((s) => h("tr", { onclick: (e) => { if (!e.target.closest("a")) navigate(traceLink(s.trace_id, s.span_id)); } },
      h("td", { class: "name" }, h("a", { href: traceLink(s.trace_id, s.span_id), "data-nav": true }, s.name), h("div", { class: "mono muted" }, s.trace_id.slice(0, 12))),
      h("td", { class: "hide-sm" }, s.model ? pill(s.model, "model") : "–"),
      h("td", {}, fmtTime(s.start_time)),
      h("td", { class: "num" }, fmt(s.value)),
      h("td", {}, pill(s.status, s.status)))))));
}

// ---- worst offenders ------------------------------------------------------------------

const WORST = [
  ["hallucination", "Lowest score", fmtScore],
  ["latency", "Slowest", fmtMs],
  ["cost", "Costliest", fmtCost],
  ["tokens", "Most tokens", fmtInt],
  ["errors", "Errors", null],
];

export async function renderWorst(main) {
  setTitle("Worst offenders");
  const params = new URLSearchParams(location.search);
  const metric = params.get("metric") || "hallucination";
  const range = params.get("range") || "7d";
  const since = rangeSince(range) || "2000-01-01T00:00:00Z";
  const tabs = h("div", { class: "tabs", role: "tablist", "aria-label": "Ranking" }, WORST.map(([m, label]) =>
    h("button", { type: "button", role: "tab", "aria-selected": String(m === metric), id: "w-" + m, onclick: () => navigate(`/worst?metric=${m}&range=${range}`) }, label)));
  const rangeSel = rangeSelect("w-range", range);
  rangeSel.addEventListener("change", () => navigate(`/worst?metric=${metric}&range=${rangeSel.value}`));
  main.replaceChildren(h("div", { class: "toolbar" }, h("h1", { class: "grow" }, "Worst offenders"), h("label", {}, "Time", rangeSel)), tabs, h("div", { class: "sub" }));
  const card = h("section", { class: "card", id: "worst", role: "tabpanel" });
  main.append(card);
  try {
    if (metric === "errors") {
      const page = await api("/v1/traces", { status: "error", since, limit: 50 });
      const items = page.traces.map((t) => ({ trace_id: t.trace_id, span_id: null, name: t.name, model: t.models[0], start_time: t.start_time, value: t.error_count, status: "error" }));
      card.append(items.length ? spanTable(items, "Errors", fmtInt) : h("div", { class: "empty" }, "No errors in this window."));
    } else {
      const [, , fmt] = WORST.find((w) => w[0] === metric) || WORST[0];
      const data = await api("/v1/stats/worst", { metric, limit: 50, since });
      card.append(data.items.length ? spanTable(data.items, WORST.find((w) => w[0] === metric)[1], fmt) : h("div", { class: "empty" }, "Nothing to rank in this window."));
    }
  } catch (err) {
    card.append(errorBanner(err));
  }
  return null;
}

// ---- experiments ------------------------------------------------------------------------

// Metric keys of a comparison (peekr compare) and how to show their values.
function metricText(key, value) {
  if (value === null || value === undefined) return "–";
  if (key === "cost") return fmtCost(value);
  if (key.startsWith("latency")) return fmtMs(value);
  if (key === "errors" || key === "good_feedback") return (value * 100).toFixed(1) + " %";
  if (key.startsWith("score.")) return fmtScore(value);
  return fmtInt(Math.round(value));
}

export async function renderExperiments(main) {
  setTitle("Experiments");
  const params = new URLSearchParams(location.search);
  const range = params.get("range") || "30d";
  const since = rangeSince(range) || "2000-01-01T00:00:00Z";
  const rangeSel = rangeSelect("x-range", range);
  main.replaceChildren(h("div", { class: "toolbar" }, h("h1", { class: "grow" }, "Experiments"), h("label", {}, "Time", rangeSel)));
  const card = h("section", { class: "card", id: "experiments" });
  main.append(card);
  let listed;
  try {
    listed = await api("/v1/experiments", { since });
  } catch (err) {
    card.append(errorBanner(err));
    return null;
  }
  if (!listed.experiments.length) {
    card.append(h("div", { class: "empty" }, "No experiments in this window. Tag calls with ", h("code", {}, "peekr.experiment(name, variants)"), "."));
    return null;
  }
  const chosen = params.get("name") || listed.experiments[0].name;
  const select = h("select", { id: "x-name" }, listed.experiments.map((e) =>
    h("option", { value: e.name, selected: e.name === chosen }, `${e.name} (${fmtInt(e.calls)} calls)`)));
  const go = () => navigate(`/experiments?name=${encodeURIComponent(select.value)}&range=${rangeSel.value}`);
  select.addEventListener("change", go);
  rangeSel.addEventListener("change", go);
  card.append(h("label", {}, "Experiment ", select));
  const body = h("div", { id: "comparison" }, h("p", { class: "loading" }, "Comparing…"));
  card.append(body);
  try {
    const result = await api("/v1/experiments/" + encodeURIComponent(chosen), { since });
    const keys = Object.keys(result.variants[0].metrics);
    const tests = new Map(result.tests.map((t) => [t.variant + "\u0000" + t.metric, t]));
    const head = h("tr", {}, h("th", {}, "Variant"), h("th", {}, "Calls"), keys.map((k) => h("th", {}, k.replace("score.", ""))));
    const rows = result.variants.map((v) => h("tr", {},
      h("td", {}, v.variant, v.variant === result.control ? h("span", { class: "muted" }, " (control)") : null),
      h("td", {}, fmtInt(v.calls)),
      keys.map((k) => {
        const t = tests.get(v.variant + "\u0000" + k);
        const mark = t && t.significant ? pill("p=" + (t.p_value < 0.001 ? "<0.001" : t.p_value.toFixed(3)), "bad") : null;
        return h("td", {}, metricText(k, v.metrics[k] && v.metrics[k].value), mark ? " " : null, mark);
      })));
    body.replaceChildren(
      h("p", { class: "verdict", id: "verdict" }, result.verdict),
      h("div", { class: "table-wrap" }, h("table", { id: "variants", "aria-label": "Variants" }, h("thead", {}, head), h("tbody", {}, rows))),
      result.warnings.length ? h("ul", { class: "muted" }, result.warnings.map((w) => h("li", {}, w))) : null,
      result.truncated ? h("p", { class: "muted" }, `Compared the newest ${fmtInt(result.calls_read)} calls of the window.`) : null,
    );
  } catch (err) {
    body.replaceChildren(errorBanner(err));
  }
  return null;
}
