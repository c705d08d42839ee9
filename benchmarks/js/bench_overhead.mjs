// Added cost of @peekr/sdk per OpenAI call and per stream chunk, against the uninstrumented SDK in
// the same run. The SDK is real; its `fetch` answers from memory (no network, no server), so what
// is measured is the SDK plus Peekr. Rounds alternate uninstrumented / instrumented (JSONL storage,
// so background encoding and writing are counted too) and the median of the rounds is reported.
//
//   cd js && npm ci && npm run build && node ../benchmarks/js/bench_overhead.mjs [--rounds 15]
import { createRequire } from "node:module";
import { mkdtempSync } from "node:fs";
import { tmpdir, loadavg } from "node:os";
import { join } from "node:path";

const jsDir = new URL("../../js/", import.meta.url);
const req = createRequire(jsDir);
const { default: OpenAI } = await import(req.resolve("openai/index.mjs"));
const peekr = await import(new URL("dist/esm/index.js", jsDir));

const args = process.argv.slice(2);
const ROUNDS = Number(args[args.indexOf("--rounds") + 1] || 15);
const CALLS = 2000;
const CHUNKS = 500;
const STREAMS = 40;

const completion = JSON.stringify({
  id: "chatcmpl-1", object: "chat.completion", created: 1700000000, model: "gpt-4o",
  choices: [{ index: 0, message: { role: "assistant", content: "Echo: Hello there" }, finish_reason: "stop" }],
  usage: { prompt_tokens: 2, completion_tokens: 3, total_tokens: 5 },
});

function sse(chunks, withUsage) {
  const lines = [];
  for (let i = 0; i < chunks; i += 1) {
    const chunk = { id: "c", object: "chat.completion.chunk", created: 1700000000, model: "gpt-4o",
      choices: [{ index: 0, delta: { content: "w " }, finish_reason: i === chunks - 1 ? "stop" : null }] };
    lines.push(`data: ${JSON.stringify(chunk)}\n\n`);
  }
  if (withUsage) {
    lines.push(`data: ${JSON.stringify({ id: "c", object: "chat.completion.chunk", created: 1700000000, model: "gpt-4o", choices: [], usage: { prompt_tokens: 2, completion_tokens: chunks, total_tokens: chunks + 2 } })}\n\n`);
  }
  lines.push("data: [DONE]\n\n");
  return new TextEncoder().encode(lines.join(""));
}
const bodies = new Map();

async function fakeFetch(url, init) {
  const body = JSON.parse(init.body);
  if (!body.stream) return new Response(completion, { headers: { "content-type": "application/json" } });
  const n = body.messages[0].content === "long" ? CHUNKS : 1;
  const key = `${n}:${Boolean(body.stream_options?.include_usage)}`;
  if (!bodies.has(key)) bodies.set(key, sse(n, body.stream_options?.include_usage));
  return new Response(bodies.get(key), { headers: { "content-type": "text/event-stream" } });
}

const client = new OpenAI({ apiKey: "sk-bench", baseURL: "http://bench.invalid/v1", fetch: fakeFetch, maxRetries: 0 });
const messages = [{ role: "user", content: "Hello there" }];

async function calls() {
  const t = process.hrtime.bigint();
  for (let i = 0; i < CALLS; i += 1) await client.chat.completions.create({ model: "gpt-4o", messages });
  return Number(process.hrtime.bigint() - t) / 1e3 / CALLS; // µs per call
}

async function streams(content) {
  const t = process.hrtime.bigint();
  for (let i = 0; i < STREAMS; i += 1) {
    const stream = await client.chat.completions.create({ model: "gpt-4o", messages: [{ role: "user", content }], stream: true });
    for await (const chunk of stream) void chunk;
  }
  return Number(process.hrtime.bigint() - t) / 1e3 / STREAMS; // µs per stream
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const dir = mkdtempSync(join(tmpdir(), "peekr-bench-"));
const results = { base: { call: [], short: [], long: [] }, peekr: { call: [], short: [], long: [] } };

async function measure(into) {
  into.call.push(await calls());
  into.short.push(await streams("short"));
  into.long.push(await streams("long"));
}

// warm-up both arms (JIT, SDK caches)
await measure({ call: [], short: [], long: [] });
peekr.instrument({ path: join(dir, "traces.jsonl"), providers: ["openai"] });
await measure({ call: [], short: [], long: [] });
await peekr.uninstrument();

for (let round = 0; round < ROUNDS; round += 1) {
  await measure(results.base);
  peekr.instrument({ path: join(dir, "traces.jsonl"), providers: ["openai"] });
  await measure(results.peekr);
  await peekr.flush();
  const dropped = peekr.stats().dropped.queue_full;
  if (dropped) console.log(`round ${round}: ${dropped} spans dropped`);
  await peekr.uninstrument();
}

const m = (arm, key) => median(results[arm][key]);
const perCall = m("peekr", "call") - m("base", "call");
const perStream1 = m("peekr", "short") - m("base", "short");
const perStreamN = m("peekr", "long") - m("base", "long");
const perChunk = (perStreamN - perStream1) / (CHUNKS - 1);
const fmt = (x) => x.toFixed(2).padStart(9);
console.log(`node ${process.version}, openai ${req("openai/package.json".replace("/package.json", "/version")).VERSION}, load average ${loadavg()[0].toFixed(2)}, ${ROUNDS} rounds (median)`);
console.log(`                            uninstrumented   @peekr/sdk      added`);
console.log(`chat.completions.create  µs ${fmt(m("base", "call"))}    ${fmt(m("peekr", "call"))}  ${fmt(perCall)}  per call`);
console.log(`stream, 1 chunk          µs ${fmt(m("base", "short"))}    ${fmt(m("peekr", "short"))}  ${fmt(perStream1)}  per stream`);
console.log(`stream, ${CHUNKS} chunks       µs ${fmt(m("base", "long"))}    ${fmt(m("peekr", "long"))}  ${fmt(perStreamN)}  per stream`);
console.log(`per chunk (from the two streams)                         ${fmt(perChunk)}  µs per chunk`);
console.log(`targets: <= 50 µs per call (${perCall <= 50 ? "met" : "NOT met"}), <= 2 µs per chunk (${perChunk <= 2 ? "met" : "NOT met"})`);
