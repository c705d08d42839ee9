// The HTTP exporter against real HTTP servers: a scripted collector (to force 429/5xx/413 and
// connection errors) and a real `peekr server` (auth, limits, gzip, idempotency).
import { after, afterEach, test } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { gunzipSync } from "node:zlib";
import { randomBytes } from "node:crypto";
import { instrument, shutdown, span, stats, flush } from "@peekr/sdk";
import { freePort, startPeekrServer, tempDir } from "./helpers.mjs";

const unhandled = [];
process.on("unhandledRejection", (err) => unhandled.push(err));

/** A collector whose answers follow `script` (one entry per request; the last one repeats). */
async function scripted(script) {
  const requests = [];
  const server = createServer((req, res) => {
    const parts = [];
    req.on("data", (d) => parts.push(d));
    req.on("end", () => {
      const raw = Buffer.concat(parts);
      const body = req.headers["content-encoding"] === "gzip" ? gunzipSync(raw) : raw;
      const json = JSON.parse(body.toString());
      requests.push({ headers: req.headers, json, at: Date.now(), bytes: raw.length });
      const step = script[Math.min(requests.length - 1, script.length - 1)];
      const status = typeof step === "function" ? step(json) : step;
      const headers = { "content-type": "application/json" };
      if (status?.retryAfter !== undefined) headers["retry-after"] = status.retryAfter;
      const code = typeof status === "object" ? status.status : status;
      res.writeHead(code, headers);
      const n = json.spans.length;
      res.end(code === 200 ? JSON.stringify({ version: 1, accepted: n, stored: n, duplicates: 0, rejected: [] }) : JSON.stringify({ error: { code: "x", message: "y" } }));
    });
  });
  await new Promise((done) => server.listen(0, "127.0.0.1", done));
  const url = `http://127.0.0.1:${server.address().port}`;
  return { url, requests, close: () => new Promise((done) => { server.closeAllConnections(); server.close(done); }) };
}

function record(n, name = "work") {
  for (let i = 0; i < n; i += 1) span(name, () => i);
}

function exporter(url, extra = {}) {
  return { type: "http", endpoint: url, apiKey: "pk_test_key", ...extra };
}

afterEach(async () => {
  await shutdown(2000);
  assert.deepEqual(unhandled, []);
});

test("wire format v1: POST /v1/ingest, bearer key, version 1, gzip from 1 KiB", async () => {
  const collector = await scripted([200]);
  instrument({ exporter: exporter(collector.url), flushIntervalMs: 10 });
  record(1);
  assert.equal(await flush(), true);
  record(30);
  assert.equal(await flush(), true);
  const [small, big] = collector.requests;
  assert.equal(small.headers.authorization, "Bearer pk_test_key");
  assert.equal(small.headers["peekr-wire-version"], "1");
  assert.equal(small.headers["content-encoding"], undefined);
  assert.equal(small.json.version, 1);
  assert.equal(small.json.spans[0].name, "work");
  assert.equal(big.headers["content-encoding"], "gzip");
  assert.equal(big.json.spans.length, 30);
  assert.equal(stats().sinks.http.sent, 31);
  await collector.close();
});

test("429 with Retry-After (seconds) and 503 (HTTP-date) are retried, then delivered", async () => {
  const soon = new Date(Date.now() + 1000).toUTCString();
  const collector = await scripted([{ status: 429, retryAfter: "0.2" }, { status: 503, retryAfter: soon }, 502, 504, 200]);
  instrument({ exporter: exporter(collector.url), flushIntervalMs: 10 });
  record(3);
  assert.equal(await flush(10_000), true);
  assert.equal(collector.requests.length, 5);
  assert.ok(collector.requests[1].at - collector.requests[0].at >= 190, "waited Retry-After: 0.2");
  assert.deepEqual(collector.requests.at(-1).json.spans.length, 3);
  const s = stats().sinks.http;
  assert.equal(s.sent, 3);
  assert.equal(s.retries, 4);
  assert.deepEqual(s.dropped, {});
  await collector.close();
});

test("a collector down past the retry deadline: the batch is dropped and counted, nothing thrown", async () => {
  const port = await freePort(); // nothing listens here: connection refused
  instrument({ exporter: exporter(`http://127.0.0.1:${port}`, { retryDeadlineMs: 600 }), flushIntervalMs: 10 });
  record(4);
  assert.equal(await flush(5000), true);
  assert.deepEqual(stats().sinks.http.dropped, { connection_error: 4 });
});

test("400/401 are not retried: dropped, counted, logged once", async () => {
  const collector = await scripted([401]);
  instrument({ exporter: exporter(collector.url), flushIntervalMs: 10 });
  record(2);
  await flush();
  record(2);
  await flush();
  assert.equal(collector.requests.length, 2);
  assert.deepEqual(stats().sinks.http.dropped, { http_401: 4 });
  await collector.close();
});

test("413 splits the batch in halves until it fits", async () => {
  const collector = await scripted([(json) => (json.spans.length > 2 ? 413 : 200)]);
  instrument({ exporter: exporter(collector.url), flushIntervalMs: 10 });
  record(8);
  await flush();
  const sizes = collector.requests.map((r) => r.json.spans.length);
  assert.deepEqual(sizes, [8, 4, 2, 2, 4, 2, 2]);
  assert.equal(stats().sinks.http.sent, 8);
  await collector.close();
});

test("the queue is bounded: overflow is dropped and counted while the collector is slow", async () => {
  const collector = await scripted([{ status: 503, retryAfter: "0.3" }, 200]);
  instrument({ exporter: exporter(collector.url, { maxQueueSize: 10, maxBatchSize: 5 }), flushIntervalMs: 5 });
  record(5);
  await new Promise((r) => setTimeout(r, 60)); // first batch in flight, waiting to retry
  record(25);
  await flush(5000);
  const s = stats().sinks.http;
  assert.equal(s.sent, 15);
  assert.deepEqual(s.dropped, { queue_full: 15 });
  await collector.close();
});

test("shutdown() while a batch waits to retry gives up at once and counts it", async () => {
  const collector = await scripted([{ status: 503, retryAfter: "5" }]);
  instrument({ exporter: exporter(collector.url), flushIntervalMs: 5 });
  record(3);
  await new Promise((r) => setTimeout(r, 80));
  const started = Date.now();
  assert.equal(await shutdown(300), false);
  assert.ok(Date.now() - started < 2000);
  assert.equal(collector.requests.length, 1);
  assert.deepEqual(stats().sinks.http.dropped, { shutdown: 3 });
  await collector.close();
});

const real = await startPeekrServer(tempDir(), ["--max-body-bytes", "4096"]);
after(() => real.stop());

test("real peekr server: gzip batches over its body limit are split until stored; a bad key is dropped", async () => {
  instrument({ exporter: exporter(real.url, { apiKey: real.ingestKey }), flushIntervalMs: 10 });
  for (let i = 0; i < 60; i += 1) span("big", (s) => s.setAttribute("blob", randomBytes(200).toString("hex")));
  assert.equal(await flush(10_000), true);
  const s = stats().sinks.http;
  assert.equal(s.sent, 60);
  assert.equal(s.accepted, 60);
  assert.ok(s.requests > 1, "the 4 KiB-limited server forced a split");
  const listed = await fetch(`${real.url}/v1/traces?name=big&limit=500`, { headers: { Authorization: `Bearer ${real.readKey}` } });
  assert.equal((await listed.json()).traces.length, 60);
  await shutdown();
  instrument({ exporter: exporter(real.url, { apiKey: "pk_live_nope_nope" }), flushIntervalMs: 10 });
  record(2);
  await flush();
  assert.deepEqual(stats().sinks.http.dropped, { http_401: 2 });
});
