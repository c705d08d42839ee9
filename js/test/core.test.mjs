// The core without any provider: options, environment precedence, session()/span() context,
// traceparent helpers, JSONL output read by Python, content capture limits.
import { afterEach, test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { writeFileSync } from "node:fs";
import {
  instrument, shutdown, flush, session, span, traceparent, continueTrace, parseTraceparent, formatTraceparent, stats,
} from "@peekr/sdk";
import { ISO_US, SPAN_ID, TRACE_ID, readJsonl, runPython, tempDir } from "./helpers.mjs";

afterEach(async () => {
  await shutdown();
  delete process.env.PEEKR_TENANT_ID;
  delete process.env.PEEKR_RETENTION_CLASS;
});

function jsonl(extra = {}) {
  const path = join(tempDir(), "traces.jsonl");
  instrument({ path, flushIntervalMs: 10, ...extra });
  return path;
}

test("bad options throw at once, naming the value and what was expected", () => {
  const cases = [
    [{ retentionClass: "forever" }, /instrument\(\{retentionClass\}\): "forever" is not a retention class; expected one of: default, short, long, pii/],
    [{ storage: "sqlite" }, /storage\}\) must be "jsonl" or "none", got "sqlite"/],
    [{ exporter: { type: "grpc" } }, /exporter: \{type\}\}\) must be "http"/],
    [{ exporter: { type: "http", endpoint: "collector.example", apiKey: "k" } }, /must be an http:\/\/ or https:\/\/ URL/],
    [{ exporter: { type: "http", endpoint: "https://c.example", apiKey: " " } }, /apiKey\}\}\) must be a non-empty string/],
    [{ maxFieldChars: 0 }, /maxFieldChars\}\) must be a positive integer, got number 0/],
    [{ captureContent: "yes" }, /captureContent\}\) expects true or false/],
    [{ providers: ["cohere"] }, /providers\}\) got "cohere"; expected some of: openai, anthropic, gemini, bedrock/],
    [{ tenant: "acme" }, /unknown option "tenant"/],
    ["jsonl", /expects an options object/],
  ];
  for (const [options, message] of cases) assert.throws(() => instrument(options), message, JSON.stringify(options));
  assert.throws(() => session({ retentionClass: "x" }, () => 1), /not a retention class/);
  assert.throws(() => session({ userId: 7 }, () => 1), /userId\}\) expects a string, got number 7/);
  assert.throws(() => session({}, "not a function"), /expects a function/);
  assert.throws(() => span("", () => 1), /non-empty string name/);
});

test("tenant and retention class: session > instrument > environment", async () => {
  process.env.PEEKR_TENANT_ID = "env-tenant";
  process.env.PEEKR_RETENTION_CLASS = "long";
  let path = jsonl();
  span("from-env", () => 1);
  await flush();
  let [s] = readJsonl(path);
  assert.equal(s.tenant_id, "env-tenant");
  assert.equal(s.retention_class, "long");
  await shutdown();
  path = jsonl({ tenantId: "inst-tenant", retentionClass: "short" });
  span("from-instrument", () => 1);
  session({ tenantId: "sess-tenant", retentionClass: "pii" }, () => span("from-session", () => 1));
  await flush();
  const [a, b] = readJsonl(path);
  assert.deepEqual([a.tenant_id, a.retention_class], ["inst-tenant", "short"]);
  assert.deepEqual([b.tenant_id, b.retention_class], ["sess-tenant", "pii"]);
});

test("a bad PEEKR_RETENTION_CLASS is ignored with a warning, not an error", async () => {
  process.env.PEEKR_RETENTION_CLASS = "forever";
  const path = jsonl();
  span("x", () => 1);
  await flush();
  assert.equal(readJsonl(path)[0].retention_class, "default");
});

test("session() nesting merges values; span() nests, follows awaits, records errors and re-throws them", async () => {
  const path = jsonl();
  const boom = new TypeError("boom");
  await session({ userId: "u1", feature: "search" }, () =>
    session({ sessionId: "s1", experimentVariant: "B" }, () =>
      span("outer", async (outer) => {
        outer.setAttribute("custom", 42);
        await new Promise((r) => setTimeout(r, 5));
        await span("inner", async () => {
          await new Promise((r) => setTimeout(r, 1));
        });
        await assert.rejects(span("failing", async () => { throw boom; }), (e) => e === boom);
      }),
    ),
  );
  await flush();
  const [inner, failing, outer] = readJsonl(path);
  assert.equal(inner.parent_id, outer.span_id);
  assert.equal(failing.parent_id, outer.span_id);
  assert.equal(inner.trace_id, outer.trace_id);
  assert.equal(outer.parent_id, null);
  assert.deepEqual(outer.attributes, { user_id: "u1", feature: "search", session_id: "s1", experiment_variant: "B", custom: 42 });
  assert.equal(failing.status, "error");
  assert.deepEqual(failing.attributes.error, { type: "TypeError", message: "boom" });
  assert.ok(outer.duration_ms >= inner.duration_ms);
});

test("span() without instrument() runs the function and records nothing", async () => {
  const result = span("idle", (s) => {
    assert.equal(s.isRecording, false);
    return 7;
  });
  assert.equal(result, 7);
  assert.equal(stats().published !== undefined, true); // stats of the last run stay readable
});

test("traceparent: a Node service continues a trace started elsewhere and passes it on", async () => {
  const path = jsonl();
  const incoming = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
  let outgoing;
  continueTrace(incoming, () =>
    span("handler", () => {
      outgoing = traceparent();
    }),
  );
  await flush();
  const [s] = readJsonl(path);
  assert.equal(s.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
  assert.equal(s.parent_id, "00f067aa0ba902b7");
  assert.equal(outgoing, `00-${s.trace_id}-${s.span_id}-01`);
  assert.equal(traceparent(), undefined);
  for (const bad of ["garbage", "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01", `00-${"0".repeat(32)}-00f067aa0ba902b7-01`, "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", undefined, 42]) {
    assert.equal(parseTraceparent(bad), undefined, String(bad));
  }
  assert.deepEqual(parseTraceparent(formatTraceparent({ traceId: "a".repeat(32), spanId: "b".repeat(16) })), { traceId: "a".repeat(32), spanId: "b".repeat(16) });
  continueTrace("garbage", () => span("fresh", () => 1));
  await flush();
  assert.equal(readJsonl(path)[1].parent_id, null);
});

test("Python continues the trace from the Node traceparent (same parser rules)", async () => {
  const header = formatTraceparent({ traceId: "4bf92f3577b34da6a3ce929d0e0e4736", spanId: "00f067aa0ba902b7" });
  const out = await runPython(["-c", `from peekr.integrations.asgi._traceparent import parse_traceparent as p; print(p(${JSON.stringify(header)}))`]);
  assert.equal(out.trim(), "('4bf92f3577b34da6a3ce929d0e0e4736', '00f067aa0ba902b7')");
});

test("the JSONL file is valid for Python: every line validates as a peekr Span", async () => {
  const path = jsonl({ tenantId: "acme" });
  span("a", (s) => s.setAttributes({ big: 10n, when: new Date(0), nested: { deep: [1, 2] } }));
  session({ retentionClass: "pii" }, () => span("b", () => 1));
  await shutdown();
  const [a] = readJsonl(path);
  assert.match(a.trace_id, TRACE_ID);
  assert.match(a.span_id, SPAN_ID);
  assert.match(a.start_time, ISO_US);
  const script = "import sys\nfrom peekr._span import Span\nfor line in open(sys.argv[1]):\n    Span.model_validate_json(line)\nprint('ok')";
  assert.equal((await runPython(["-c", script, path])).trim(), "ok");
});

test("captured content is bounded and scrubbed", async () => {
  const { toJsonable } = await import("../dist/esm/capture.js");
  const long = "x".repeat(30);
  assert.equal(toJsonable(long, 10), "xxxxxxxxxx…[peekr: truncated 20 of 30 chars]");
  assert.deepEqual(toJsonable({ api_key: "sk-123", Authorization: "Bearer x", ok: "fine" }), { api_key: "[scrubbed]", Authorization: "[scrubbed]", ok: "fine" });
  assert.match(toJsonable(`data:image/png;base64,${"A".repeat(600)}`), /^\[image\/png: 450 bytes, sha256:[0-9a-f]{16}\]$/);
  const cyclic = { name: "loop" };
  cyclic.self = cyclic;
  let v = toJsonable(cyclic);
  for (let i = 0; i < 11; i += 1) v = v.self;
  assert.equal(v.self, "[peekr: nested too deep]");
  assert.equal(toJsonable(Array.from({ length: 1005 }, () => 1)).at(-1), "[peekr: 5 more items]");
});

test("the JSONL sink survives an unwritable path: drops are counted, nothing thrown", async () => {
  const dir = tempDir();
  const file = join(dir, "a-file");
  writeFileSync(file, "");
  instrument({ path: join(file, "traces.jsonl"), flushIntervalMs: 10 }); // a file where a directory should be
  span("x", () => 1);
  await flush();
  const sink = stats().sinks.jsonl;
  assert.deepEqual(sink.dropped, { backlog: 0, write_error: 1 });
});

test("ids start with the time tick Python's ids use, then random bits", async () => {
  const path = jsonl();
  for (let i = 0; i < 200; i += 1) span(`s${i}`, () => i);
  await shutdown();
  const spans = readJsonl(path);
  assert.equal(spans.length, 200);
  const tickOf = (iso) => {
    const micros = BigInt(Date.parse(iso.slice(0, 23) + "Z")) * 1000n + BigInt(iso.slice(23, 26));
    return Number(((micros * 1000n) >> 20n) % 65536n);
  };
  for (const s of spans) {
    assert.match(s.trace_id, TRACE_ID);
    assert.match(s.span_id, SPAN_ID);
    const expected = tickOf(s.start_time);
    for (const id of [s.trace_id, s.span_id]) {
      const gap = (parseInt(id.slice(0, 4), 16) - expected + 65536) % 65536;
      assert.ok(gap <= 1 || gap === 65535, `${id} vs tick ${expected} of ${s.start_time}`);
    }
  }
  assert.equal(new Set(spans.map((s) => s.trace_id.slice(4))).size, 200); // the rest is random
  assert.equal(new Set(spans.map((s) => s.span_id.slice(4))).size, 200);
});
