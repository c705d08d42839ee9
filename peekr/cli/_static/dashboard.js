/* peekr dashboard: renders the embedded aggregates with ECharts (SVG renderer). No network. */
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("peekr-data").textContent);
  var charts = [];

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "text") node.textContent = attrs[k];
      else if (k === "cls") node.className = attrs[k];
      else node.setAttribute(k, attrs[k]);
    });
    (children || []).forEach(function (c) { if (c != null) node.appendChild(typeof c === "string" ? document.createTextNode(c) : c); });
    return node;
  }
  function fmtInt(n) { return n == null ? "" : Math.round(n).toLocaleString("en-US"); }
  function fmtCost(v) {
    if (v == null) return "";
    if (v === 0) return "$0";
    if (v < 0.01) return "$" + v.toFixed(Math.min(12, 1 - Math.floor(Math.log10(v))));
    return "$" + v.toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 });
  }
  function fmtMs(v) {
    if (v == null) return "";
    if (v < 1000) return v.toFixed(v < 10 ? 1 : 0) + " ms";
    if (v < 60000) return (v / 1000).toFixed(2) + " s";
    return (v / 60000).toFixed(1) + " min";
  }
  function fmtBig(n) {
    if (n == null) return "";
    if (n >= 1e9) return (n / 1e9).toFixed(2) + " B";
    if (n >= 1e7) return (n / 1e6).toFixed(1) + " M";
    return fmtInt(n);
  }
  function fmtPct(v) { return v == null ? "" : (100 * v).toFixed(v < 0.01 && v > 0 ? 2 : 1) + "%"; }
  function fmtScore(v) { return v == null ? "" : Number(v).toFixed(2); }
  function fmtTime(iso) { return iso ? iso.slice(0, 19).replace("T", " ") : ""; }

  function chart(id, option) {
    var node = document.getElementById(id);
    if (!node) return;
    var c = echarts.init(node, null, { renderer: "svg" });
    option.animation = false;
    c.setOption(option);
    charts.push(c);
  }
  function emptyNote(id, text) {
    var node = document.getElementById(id);
    node.classList.add("empty");
    node.textContent = text;
  }
  function traceLink(traceId, label) {
    var a = el("a", { href: "#trace=" + traceId, cls: "trace", "data-trace": traceId, text: label || traceId.slice(0, 12) });
    return a;
  }
  function table(columns, rows) {
    var head = el("tr", {}, columns.map(function (c) { return el("th", { cls: c.num ? "num" : "", text: c.label }); }));
    var body = rows.map(function (r) {
      return el("tr", {}, columns.map(function (c) {
        var v = c.value(r);
        var td = el("td", { cls: (c.num ? "num" : "") + (c.err && c.err(r) ? " err" : "") });
        if (v instanceof Node) td.appendChild(v); else td.textContent = v == null ? "" : String(v);
        return td;
      }));
    });
    return el("table", {}, [el("thead", {}, [head]), el("tbody", {}, body)]);
  }

  // --- header and totals -----------------------------------------------------------------
  var t = data.totals;
  document.getElementById("source").textContent = "— " + data.source;
  document.getElementById("range").textContent =
    "Spans from " + fmtTime(t.first) + " to " + fmtTime(t.last) + " UTC";
  var cards = [
    ["Spans", fmtInt(t.spans)], ["LLM calls", fmtInt(t.calls)], ["Traces", fmtInt(t.traces)],
    ["Tokens", fmtBig(t.tokens)], ["Cost", fmtCost(t.cost)], ["Error rate", fmtPct(t.error_rate)],
    ["Errors", fmtInt(t.errors)], ["Calls without a price", fmtInt(t.unpriced)]
  ];
  var totals = document.getElementById("totals");
  cards.forEach(function (c) {
    totals.appendChild(el("div", { cls: "card" }, [el("div", { cls: "label", text: c[0] }), el("div", { cls: "value", text: c[1] })]));
  });

  // --- time series ------------------------------------------------------------------------
  var s = data.series;
  var models = Object.keys(s.models);
  // A line through one point draws nothing: with a single time bucket (a short demo run) every
  // point gets its symbol, so each chart still shows its data.
  var onePoint = s.times.length <= 1;
  var pointStyle = onePoint ? { showSymbol: true, symbol: "circle", symbolSize: 10 } : { showSymbol: false };
  function withPoints(series) { return Object.assign(series, pointStyle); }
  function seriesChart(id, metric, kind) {
    if (!models.length) { emptyNote(id, "No LLM calls recorded."); return; }
    chart(id, {
      tooltip: { trigger: "axis" },
      legend: { type: "scroll", top: 0 },
      grid: { left: 60, right: 20, top: 36, bottom: 40 },
      xAxis: { type: "category", data: s.times.map(fmtTime) },
      yAxis: { type: "value" },
      series: models.map(function (m) {
        return withPoints({ name: m, type: kind, stack: "total", areaStyle: kind === "line" ? {} : undefined,
                            data: s.models[m][metric] });
      })
    });
  }
  seriesChart("chart-cost", "cost", "bar");
  seriesChart("chart-tokens", "tokens", "line");
  (function () {
    if (!models.length) { emptyNote("chart-calls", "No LLM calls recorded."); return; }
    var n = s.times.length, calls = new Array(n).fill(0), errors = new Array(n).fill(0);
    models.forEach(function (m) {
      for (var i = 0; i < n; i++) { calls[i] += s.models[m].calls[i]; errors[i] += s.models[m].errors[i]; }
    });
    chart("chart-calls", {
      tooltip: { trigger: "axis" }, legend: { top: 0 },
      grid: { left: 60, right: 20, top: 36, bottom: 40 },
      xAxis: { type: "category", data: s.times.map(fmtTime) }, yAxis: { type: "value" },
      series: [withPoints({ name: "calls", type: "line", data: calls }),
               { name: "errors", type: "bar", data: errors, itemStyle: { color: "#cf222e" } }]
    });
  })();

  // --- latency ----------------------------------------------------------------------------
  function latencyChart(id, rows, horizontal) {
    if (!rows.length) { emptyNote(id, "No spans."); return; }
    var cat = { type: "category", data: rows.map(function (r) { return r.key; }), axisLabel: { width: 160, overflow: "truncate" } };
    var val = { type: "log", name: "ms", min: function (v) { return Math.pow(10, Math.floor(Math.log10(Math.max(v.min, 0.1)))); } };
    chart(id, {
      tooltip: { trigger: "axis", valueFormatter: fmtMs }, legend: { top: 0 },
      grid: { left: horizontal ? 180 : 60, right: 20, top: 36, bottom: horizontal ? 30 : 80 },
      xAxis: horizontal ? val : Object.assign(cat, { axisLabel: { rotate: 25, width: 140, overflow: "truncate" } }),
      yAxis: horizontal ? cat : val,
      series: ["p50", "p95", "p99"].map(function (p) {
        return { name: p, type: "bar", data: rows.map(function (r) { return Math.max(r[p], 0.1); }) };
      })
    });
  }
  latencyChart("chart-latency-model", data.latency.model, false);
  latencyChart("chart-latency-name", data.latency.name, true);
  var latCols = [
    { label: "", value: function (r) { return r.kind; } },
    { label: "model / span name", value: function (r) { return r.key; } },
    { label: "spans", num: true, value: function (r) { return fmtInt(r.count); } },
    { label: "p50", num: true, value: function (r) { return fmtMs(r.p50); } },
    { label: "p95", num: true, value: function (r) { return fmtMs(r.p95); } },
    { label: "p99", num: true, value: function (r) { return fmtMs(r.p99); } },
    { label: "mean", num: true, value: function (r) { return fmtMs(r.mean); } }
  ];
  var latRows = data.latency.model.map(function (r) { return Object.assign({ kind: "model" }, r); })
    .concat(data.latency.name.map(function (r) { return Object.assign({ kind: "span" }, r); }));
  document.getElementById("latency-table").appendChild(table(latCols, latRows));

  // --- errors -----------------------------------------------------------------------------
  var errBox = document.getElementById("errors-table");
  if (!data.errors.length) errBox.appendChild(el("p", { cls: "empty", text: "No errors recorded." }));
  else errBox.appendChild(table([
    { label: "type", value: function (r) { return r.type; }, err: function () { return true; } },
    { label: "message", value: function (r) { return r.message; } },
    { label: "count", num: true, value: function (r) { return fmtInt(r.count); } },
    { label: "last seen (UTC)", value: function (r) { return fmtTime(r.last); } },
    { label: "a trace", value: function (r) { return r.trace_id ? traceLink(r.trace_id) : ""; } }
  ], data.errors));

  // --- evaluation scores ------------------------------------------------------------------
  var scoreBox = document.getElementById("score-charts");
  var evaluators = Object.keys(data.scores.histograms);
  if (!evaluators.length) scoreBox.appendChild(el("p", { cls: "empty", text: "No evaluation scores recorded." }));
  evaluators.forEach(function (name, i) {
    var id = "chart-score-" + i;
    var mean = data.scores.means[name];
    scoreBox.appendChild(el("div", { cls: "panel" }, [
      el("h3", { text: name + " score distribution (mean " + fmtScore(mean) + ")" }),
      el("div", { cls: "chart", id: id })
    ]));
    chart(id, {
      tooltip: { trigger: "axis" }, grid: { left: 60, right: 20, top: 20, bottom: 40 },
      xAxis: { type: "category", name: "score", data: data.scores.histograms[name].map(function (_, b) { return (b / 10).toFixed(1) + "–" + ((b + 1) / 10).toFixed(1); }) },
      yAxis: { type: "value", name: "spans" },
      series: [{ type: "bar", name: name, data: data.scores.histograms[name] }]
    });
  });

  // --- claim attribution (hallucination_details: verdict, chunks, cause per claim) ---------
  (function () {
    var at = data.attribution;
    var box = document.getElementById("attribution");
    if (!at || !at.claims) {
      box.appendChild(el("p", { cls: "empty", text: "No per-claim verdicts recorded (peekr.eval.Hallucination(detailed=True) stores them)." }));
      return;
    }
    var cards = el("div", { cls: "cards", id: "attribution-totals" });
    [
      ["claims", "Claims checked", fmtInt(at.claims) + " in " + fmtInt(at.responses_checked) + (at.responses_checked === 1 ? " response" : " responses")],
      ["supported", "Supported", fmtInt(at.supported)],
      ["not_supported", "Not supported", fmtInt(at.not_supported)],
      ["retrieval_gap", "Retrieval gap", fmtInt(at.retrieval_gap) + (at.not_supported ? " (" + fmtPct(at.retrieval_gap / at.not_supported) + ")" : "")],
      ["generation", "Generation", fmtInt(at.generation) + (at.not_supported ? " (" + fmtPct(at.generation / at.not_supported) + ")" : "")],
      ["no_cause", "Cause unknown", fmtInt(at.no_cause)]
    ].forEach(function (c) {
      cards.appendChild(el("div", { cls: "card", "data-key": c[0] }, [el("div", { cls: "label", text: c[1] }), el("div", { cls: "value", text: c[2] })]));
    });
    box.appendChild(cards);
    var grid = el("div", { cls: "grid" });
    var chunkPanel = el("div", { cls: "panel", id: "attribution-chunks" }, [el("h3", { text: "Evidence by retrieved chunk (1 = the first retrieved)" })]);
    if (!at.chunks.length) chunkPanel.appendChild(el("p", { cls: "empty", text: "No claim names a chunk: the contexts were not lists of retrieved chunks." }));
    else chunkPanel.appendChild(table([
      { label: "chunk", num: true, value: function (r) { return String(r.chunk); } },
      { label: "claims supported", num: true, value: function (r) { return fmtInt(r.supported); } },
      { label: "claims not supported", num: true, value: function (r) { return fmtInt(r.not_supported); } }
    ], at.chunks));
    grid.appendChild(chunkPanel);
    var respPanel = el("div", { cls: "panel", id: "attribution-responses" }, [el("h3", { text: "Responses with the most unsupported claims" })]);
    if (!at.responses.length) respPanel.appendChild(el("p", { cls: "empty", text: "None: every claim is supported." }));
    else respPanel.appendChild(table([
      { label: "trace", value: function (r) { return traceLink(r.trace_id); } },
      { label: "span", value: function (r) { return r.name; } },
      { label: "model", value: function (r) { return r.model || ""; } },
      { label: "not supported", num: true, value: function (r) { return fmtInt(r.value) + " of " + fmtInt(r.claims); }, err: function () { return true; } },
      { label: "retrieval gap", num: true, value: function (r) { return fmtInt(r.retrieval_gap); } },
      { label: "generation", num: true, value: function (r) { return fmtInt(r.generation); } }
    ], at.responses));
    grid.appendChild(respPanel);
    box.appendChild(grid);
  })();

  // --- worst offenders --------------------------------------------------------------------
  var offenderBox = document.getElementById("offender-tables");
  var kinds = [
    ["lowest_scores", "Lowest evaluation scores", function (r) { return fmtScore(r.value); }, "score"],
    ["slowest", "Slowest spans", function (r) { return fmtMs(r.duration_ms); }, "duration"],
    ["most_expensive", "Most expensive calls", function (r) { return fmtCost(r.cost); }, "cost"],
    ["errors", "Latest errors", function (r) { return (r.error_type || "error") + ": " + (r.error_message || ""); }, "error"]
  ];
  kinds.forEach(function (k) {
    var rows = data.offenders[k[0]] || [];
    var panel = el("div", { cls: "panel", id: "offenders-" + k[0] }, [el("h3", { text: k[1] })]);
    if (!rows.length) panel.appendChild(el("p", { cls: "empty", text: "None." }));
    else panel.appendChild(table([
      { label: "trace", value: function (r) { return traceLink(r.trace_id); } },
      { label: "span", value: function (r) { return r.name; } },
      { label: "model", value: function (r) { return r.model || ""; } },
      { label: k[3], num: k[3] !== "error", value: k[2], err: function (r) { return r.error; } },
      { label: "time (UTC)", value: function (r) { return fmtTime(r.time); } }
    ], rows));
    offenderBox.appendChild(panel);
  });

  // --- waterfall --------------------------------------------------------------------------
  function showTrace(traceId) {
    var spans = data.traces[traceId];
    var section = document.getElementById("waterfall");
    var body = document.getElementById("waterfall-body");
    body.textContent = "";
    document.getElementById("waterfall-trace").textContent = traceId;
    section.setAttribute("data-trace", traceId);
    section.hidden = false;
    if (!spans || !spans.length) {
      body.appendChild(el("p", { cls: "empty", text: "This trace is not embedded in the report. Run: peekr replay " + traceId }));
      section.scrollIntoView();
      return;
    }
    var t0 = Infinity, t1 = -Infinity, byParent = {}, ids = {};
    spans.forEach(function (sp) {
      sp._start = Date.parse(sp.start);
      sp._end = sp._start + sp.duration_ms;
      t0 = Math.min(t0, sp._start); t1 = Math.max(t1, sp._end); ids[sp.span_id] = true;
    });
    spans.forEach(function (sp) {
      var p = sp.parent_id && ids[sp.parent_id] ? sp.parent_id : "";
      (byParent[p] = byParent[p] || []).push(sp);
    });
    var total = Math.max(t1 - t0, 0.001);
    body.appendChild(el("p", { cls: "muted", text: spans.length + " spans, " + fmtMs(total) + ". Full detail: peekr replay " + traceId + " --io" }));
    body.appendChild(el("div", { cls: "wf-row head" }, ["span", "model", "duration", "cost", "timeline"].map(function (h) { return el("div", { text: h }); })));
    (function walk(parent, depth) {
      (byParent[parent] || []).sort(function (a, b) { return a._start - b._start; }).forEach(function (sp) {
        var bar = el("div", { cls: "wf-bar" + (sp.status === "error" ? " error" : ""), title: sp.name + " " + fmtMs(sp.duration_ms) + (sp.error ? " — " + sp.error : "") });
        bar.style.left = (100 * (sp._start - t0) / total).toFixed(3) + "%";
        bar.style.width = (100 * sp.duration_ms / total).toFixed(3) + "%";
        var name = el("div", { cls: "wf-name" + (sp.status === "error" ? " err" : ""), text: sp.name, title: sp.name });
        name.style.paddingLeft = (depth * 14) + "px";
        body.appendChild(el("div", { cls: "wf-row", "data-span": sp.span_id }, [
          name, el("div", { text: sp.model || "" }), el("div", { text: fmtMs(sp.duration_ms) }),
          el("div", { text: fmtCost(sp.cost) }), el("div", { cls: "wf-track" }, [bar])
        ]));
        walk(sp.span_id, depth + 1);
      });
    })("", 0);
    section.scrollIntoView();
  }
  function route() {
    var m = /^#trace=([0-9a-f]{32})$/.exec(location.hash);
    if (m) showTrace(m[1]);
  }
  window.addEventListener("hashchange", route);
  document.addEventListener("click", function (ev) {
    var a = ev.target.closest && ev.target.closest("a[data-trace]");
    if (a) { ev.preventDefault(); history.replaceState(null, "", "#trace=" + a.getAttribute("data-trace")); showTrace(a.getAttribute("data-trace")); }
  });

  // --- breakdowns -------------------------------------------------------------------------
  var bdBox = document.getElementById("breakdown-panels");
  Object.keys(data.breakdowns).forEach(function (dim, i) {
    var rows = data.breakdowns[dim];
    var id = "chart-breakdown-" + i;
    var panel = el("div", { cls: "breakdown panel", id: "breakdown-" + dim }, [el("h3", { text: "By " + dim.replace("_", " ") })]);
    bdBox.appendChild(panel);
    if (!rows.length) { panel.appendChild(el("p", { cls: "empty", text: "No data." })); return; }
    panel.appendChild(el("div", { cls: "chart", id: id }));
    panel.appendChild(table([
      { label: dim, value: function (r) { return r.key; } },
      { label: "spans", num: true, value: function (r) { return fmtInt(r.spans); } },
      { label: "LLM calls", num: true, value: function (r) { return fmtInt(r.calls); } },
      { label: "tokens", num: true, value: function (r) { return fmtInt(r.tokens); } },
      { label: "cost", num: true, value: function (r) { return fmtCost(r.cost); } },
      { label: "error rate", num: true, value: function (r) { return fmtPct(r.error_rate); }, err: function (r) { return r.error_rate > 0.05; } },
      { label: "avg latency", num: true, value: function (r) { return fmtMs(r.avg_ms); } },
      { label: "mean hallucination score", num: true, value: function (r) { return fmtScore(r.hallucination); } }
    ], rows));
    chart(id, {
      tooltip: { trigger: "axis" }, legend: { top: 0 },
      grid: { left: 60, right: 60, top: 36, bottom: 50 },
      xAxis: { type: "category", data: rows.map(function (r) { return r.key; }), axisLabel: { width: 120, overflow: "truncate" } },
      yAxis: [{ type: "value", name: "USD" }, { type: "value", name: "calls" }],
      series: [{ name: "cost", type: "bar", data: rows.map(function (r) { return r.cost; }) },
               { name: "LLM calls", type: "line", yAxisIndex: 1, data: rows.map(function (r) { return r.calls; }) }]
    });
  });

  // --- experiments (peekr.experiment; the numbers of `peekr compare`) -----------------------
  var experiments = data.experiments || [];
  if (experiments.length) {
    document.getElementById("experiments").hidden = false;
    document.getElementById("nav-experiments").hidden = false;
  }
  var metricLabels = { cost: "cost per call", tokens: "tokens per call", latency_p50: "latency p50", latency_p95: "latency p95", errors: "error rate", feedback: "good-feedback rate" };
  function expFmt(key, v) {
    if (v == null) return "–";
    if (key === "cost") return fmtCost(v);
    if (key === "tokens") return fmtInt(v);
    if (key.indexOf("latency_") === 0) return fmtMs(v);
    if (key === "errors" || key === "feedback") return fmtPct(v);
    return fmtScore(v);
  }
  experiments.forEach(function (exp) {
    var panel = el("div", { cls: "panel experiment", "data-experiment": exp.experiment }, [
      el("h3", { text: exp.experiment + " — control " + exp.control })
    ]);
    var keys = exp.variants.length ? Object.keys(exp.variants[0].metrics) : [];
    var tests = {};
    exp.tests.forEach(function (tt) { tests[tt.metric + "\u0000" + tt.variant] = tt; });
    var rows = [{ key: "calls" }].concat(keys.map(function (k) { return { key: k }; }));
    var columns = [{ label: "metric", value: function (r) { return metricLabels[r.key] || (r.key === "calls" ? "calls" : r.key.replace(/^score\./, "") + " score"); } }];
    exp.variants.forEach(function (v) {
      columns.push({ label: v.variant, num: true, value: function (r) {
        if (r.key === "calls") return fmtInt(v.calls);
        var m = v.metrics[r.key];
        var text = expFmt(r.key, m.value);
        if (m.value != null && m.n >= 2 && m.ci_low != null) text += " [" + expFmt(r.key, m.ci_low) + "–" + expFmt(r.key, m.ci_high) + "]";
        return text;
      } });
    });
    exp.variants.slice(1).forEach(function (v) {
      columns.push({ label: v.variant + " vs " + exp.control, num: true, value: function (r) {
        if (r.key === "calls" || r.key === "latency_p95") return "";
        var tt = tests[(r.key === "latency_p50" ? "latency" : r.key) + "\u0000" + v.variant];
        if (!tt || tt.p_value == null) return "–";
        var change = tt.change == null ? "" : (tt.change_kind === "absolute" ? (tt.change >= 0 ? "+" : "") + (100 * tt.change).toFixed(1) + " pp " : (tt.change >= 0 ? "+" : "") + Math.round(100 * tt.change) + " % ");
        return change + "p=" + Number(tt.p_value.toPrecision(2)) + (tt.significant ? " *" : "");
      } });
    });
    panel.appendChild(table(columns, rows));
    panel.appendChild(el("p", { cls: "verdict", text: "Verdict: " + exp.verdict }));
    exp.warnings.forEach(function (w) { panel.appendChild(el("p", { cls: "muted", text: "Note: " + w })); });
    document.getElementById("experiment-panels").appendChild(panel);
  });

  window.addEventListener("resize", function () { charts.forEach(function (c) { c.resize(); }); });
  document.body.setAttribute("data-charts", String(charts.length));
  route();
})();
