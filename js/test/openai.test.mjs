// OpenAI: the real `openai` SDK (ESM and CJS builds) against the fake provider over HTTP.
import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { join } from "node:path";
import OpenAI from "openai";
import { APIPromise } from "openai/core/api-promise";
import { Stream } from "openai/core/streaming";
import { instrument, uninstrument, flush, session, span, suppressInstrumentation, _injectFaults } from "@peekr/sdk";
import { ISO_US, SPAN_ID, TRACE_ID, collect, newSpansFrom, spanReader, startFakeProvider, tempDir } from "./helpers.mjs";

const require = createRequire(import.meta.url);
const messages = [{ role: "user", content: "Hello there" }];

// Setup at top level: a failure here fails the file (a failing before() hook only cancels its tests).
const fake = await startFakeProvider();
// Both clients exist before instrument(): patching prototypes must still trace them.
const client = new OpenAI({ apiKey: "sk-fake", baseURL: `${fake.url}/v1`, maxRetries: 0 });
const CjsOpenAI = require("openai");
assert.notEqual(CjsOpenAI.OpenAI, OpenAI, "the CJS and ESM builds are different classes");
const cjsClient = new CjsOpenAI({ apiKey: "sk-fake", baseURL: `${fake.url}/v1`, maxRetries: 0 });
const path = join(tempDir(), "traces.jsonl");
const handle = instrument({ storage: "jsonl", path, flushIntervalMs: 20, tenantId: "acme" });
const spans = spanReader(path);

test("both builds of openai are patched", () => {
  assert.deepEqual(handle.patched.openai.sort(), [
    "chat.completions", "chat.completions", "embeddings", "embeddings", "responses", "responses",
  ]);
});

after(async () => {
  await uninstrument();
  await fake?.stop();
});

const newSpans = newSpansFrom(spans, flush);

/** The same call without Peekr, in the same process (the wrapper passes straight through). */
function plain(fn) {
  return suppressInstrumentation(fn);
}

function withoutIds(chunks) {
  return chunks.map(({ id, ...rest }) => rest);
}

describe("chat completions", () => {
  test("non-stream: the SDK's own APIPromise, the same result, one complete span", async () => {
    const promise = client.chat.completions.create({ model: "gpt-4o", messages, temperature: 0.5 });
    assert.ok(promise instanceof APIPromise);
    const result = await promise;
    const baseline = await plain(() => client.chat.completions.create({ model: "gpt-4o", messages, temperature: 0.5 }));
    assert.deepEqual(result, baseline);
    assert.equal(result._request_id, baseline._request_id);
    const [s] = await newSpans(1);
    assert.equal(s.name, "openai.chat.completions");
    assert.match(s.trace_id, TRACE_ID);
    assert.match(s.span_id, SPAN_ID);
    assert.equal(s.parent_id, null);
    assert.match(s.start_time, ISO_US);
    assert.match(s.end_time, ISO_US);
    assert.ok(s.duration_ms > 0);
    assert.equal(s.status, "ok");
    assert.equal(s.tenant_id, "acme");
    assert.equal(s.retention_class, "default");
    assert.deepEqual(s.attributes, {
      provider: "openai",
      model: "gpt-4o",
      input: messages,
      request: { temperature: 0.5 },
      tokens_input: 2,
      tokens_output: 3,
      tokens_total: 5,
      tokens_cache_read: 0,
      tokens_cache_write: 0,
      tokens_reasoning: 0,
      finish_reason: "stop",
      output: "Echo: Hello there",
      response_id: result.id,
      cost_usd: 0.000035, // from @pydantic/genai-prices, as Python prices it
    });
    assert.match(result.id, /^chatcmpl-/);
  });

  test("withResponse() and asResponse() still work", async () => {
    const { data, response, request_id } = await client.chat.completions
      .create({ model: "gpt-4o", messages })
      .withResponse();
    assert.equal(data.choices[0].message.content, "Echo: Hello there");
    assert.equal(response.status, 200);
    assert.equal(typeof request_id === "string" || request_id === null, true);
    const raw = await client.chat.completions.create({ model: "gpt-4o", messages }).asResponse();
    assert.equal((await raw.json()).choices[0].message.content, "Echo: Hello there");
    const [a, b] = await newSpans(2);
    assert.equal(a.attributes.output, "Echo: Hello there");
    // asResponse() alone never parses: as in Python, the span ends at the headers, without output or tokens
    assert.equal(b.status, "ok");
    assert.equal(b.attributes.output, undefined);
    assert.equal(b.attributes.tokens_total, undefined);
  });

  test("a stream that is never iterated still ends its span once the stream is garbage-collected", async (t) => {
    if (typeof globalThis.gc !== "function") return t.skip("needs node --expose-gc");
    await (async () => {
      const stream = await client.chat.completions.create({ model: "gpt-4o", messages, stream: true });
      assert.ok(stream instanceof Stream);
    })();
    for (let i = 0; i < 5; i += 1) {
      globalThis.gc();
      await new Promise((r) => setTimeout(r, 20));
    }
    const [s] = await newSpans(1);
    assert.equal(s.status, "ok");
    assert.equal(s.attributes.stream, true);
    assert.equal(s.attributes.output, undefined);
  });

  test("the input is snapshotted at call time", async () => {
    const live = [{ role: "user", content: "Hello there" }];
    const reply = await client.chat.completions.create({ model: "gpt-4o", messages: live });
    live.push(reply.choices[0].message);
    const [s] = await newSpans(1);
    assert.deepEqual(s.attributes.input, [{ role: "user", content: "Hello there" }]);
  });

  test("stream: the same Stream object and chunks as without Peekr; usage recorded, usage chunk hidden", async () => {
    const stream = await client.chat.completions.create({ model: "gpt-4o", messages, stream: true });
    assert.ok(stream instanceof Stream);
    const chunks = await collect(stream);
    const baseline = await collect(await plain(() => client.chat.completions.create({ model: "gpt-4o", messages, stream: true })));
    // The fake derives the id from the request body, and Peekr's request asked for usage.
    assert.deepEqual(withoutIds(chunks), withoutIds(baseline));
    assert.ok(chunks.every((c) => c.choices.length > 0 && !c.usage));
    await assert.rejects(collect(stream), /consumed stream/);
    const [s] = await newSpans(1);
    assert.equal(s.attributes.stream, true);
    assert.equal(s.attributes.output, "Echo: Hello there");
    assert.equal(s.attributes.tokens_input, 2);
    assert.equal(s.attributes.tokens_output, 3);
    assert.equal(s.attributes.finish_reason, "stop");
    assert.equal(s.attributes.response_id, chunks[0].id);
    assert.ok(s.attributes.ttft_ms > 0 && s.attributes.ttft_ms <= s.duration_ms);
    assert.deepEqual(s.attributes.request, { stream: true });
  });

  test("stream with include_usage asked by the caller: the caller keeps its usage chunk", async () => {
    const body = { model: "gpt-4o", messages, stream: true, stream_options: { include_usage: true } };
    const chunks = await collect(await client.chat.completions.create(body));
    assert.equal(chunks.at(-1).choices.length, 0);
    assert.equal(chunks.at(-1).usage.total_tokens, 5);
    const [s] = await newSpans(1);
    assert.equal(s.attributes.tokens_total, 5);
  });

  test("stream break: the request is aborted and the span ends once with the partial output", async () => {
    const stream = await client.chat.completions.create({ model: "gpt-4o-slow", messages, stream: true });
    for await (const chunk of stream) {
      if (chunk.choices[0]?.delta?.content) break;
    }
    assert.equal(stream.controller.signal.aborted, true);
    const [s] = await newSpans(1);
    assert.equal(s.status, "ok");
    assert.equal(s.attributes.output, "Echo: ");
    await new Promise((r) => setTimeout(r, 50));
    await newSpans(0);
  });

  test("stream tee(): both branches complete, one span", async () => {
    const stream = await client.chat.completions.create({ model: "gpt-4o", messages, stream: true });
    const [left, right] = stream.tee();
    const [a, b] = await Promise.all([collect(left), collect(right)]);
    assert.deepEqual(a, b);
    const [s] = await newSpans(1);
    assert.equal(s.attributes.output, "Echo: Hello there");
  });

  test("stream toReadableStream() and Stream.fromReadableStream round-trip", async () => {
    const stream = await client.chat.completions.create({ model: "gpt-4o", messages, stream: true });
    const readable = stream.toReadableStream();
    const back = Stream.fromReadableStream(readable, stream.controller);
    const chunks = await collect(back);
    assert.equal(chunks.map((c) => c.choices[0].delta.content ?? "").join(""), "Echo: Hello there");
    const [s] = await newSpans(1);
    assert.equal(s.attributes.tokens_total, 5);
  });

  test("stream + withResponse()", async () => {
    const { data, response } = await client.chat.completions
      .create({ model: "gpt-4o", messages, stream: true })
      .withResponse();
    assert.ok(data instanceof Stream);
    assert.equal(response.status, 200);
    await collect(data);
    await newSpans(1);
  });

  test("stream aborted by the caller's controller: iteration stops as without Peekr, the span ends once", async () => {
    const run = async () => {
      const stream = await client.chat.completions.create({ model: "gpt-4o-slow", messages, stream: true });
      const seen = [];
      for await (const chunk of stream) {
        seen.push(chunk);
        if (seen.length === 2) stream.controller.abort();
      }
      return seen.length;
    };
    const count = await run();
    assert.equal(count, await plain(run));
    const [s] = await newSpans(1);
    assert.equal(s.status, "ok");
    assert.equal(s.attributes.output, "Echo: ");
  });

  test("mid-stream provider error: OpenAI.APIError for the caller, span status error", async () => {
    const stream = await client.chat.completions.create({ model: "gpt-4o-midstream-error", messages, stream: true });
    await assert.rejects(collect(stream), (err) => err instanceof OpenAI.APIError);
    const [s] = await newSpans(1);
    assert.equal(s.status, "error");
    assert.equal(s.attributes.error.type, "openai.APIError");
    assert.equal(s.attributes.output, "Echo: Hello ");
  });

  test("HTTP 400: the SDK's BadRequestError passes through, span status error", async () => {
    const err = await client.chat.completions.create({ model: "gpt-error-400", messages }).catch((e) => e);
    const baseline = await plain(() => client.chat.completions.create({ model: "gpt-error-400", messages })).catch((e) => e);
    assert.ok(err instanceof OpenAI.BadRequestError);
    assert.equal(err.message, baseline.message);
    const [s] = await newSpans(1);
    assert.equal(s.status, "error");
    assert.deepEqual(s.attributes.error, { type: "openai.BadRequestError", message: err.message });
  });

  test("an error nobody awaits still ends its span (observed on responsePromise)", async () => {
    const promise = client.chat.completions.create({ model: "gpt-error-500", messages });
    await promise.responsePromise.catch(() => undefined);
    await new Promise((r) => setTimeout(r, 10));
    const [s] = await newSpans(1);
    assert.equal(s.status, "error");
    assert.equal(s.attributes.error.type, "openai.InternalServerError");
    await promise.catch(() => undefined);
  });

  test("tool calls, non-stream and stream", async () => {
    const tools = [{ type: "function", function: { name: "get_weather", parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] } } }];
    const result = await client.chat.completions.create({ model: "gpt-4o-tool", messages, tools });
    const call = result.choices[0].message.tool_calls[0];
    const chunks = await collect(await client.chat.completions.create({ model: "gpt-4o-tool", messages, tools, stream: true }));
    assert.ok(chunks.length > 1);
    const [a, b] = await newSpans(2);
    const expected = [{ id: call.id, type: "function", name: "get_weather", arguments: call.function.arguments }];
    assert.deepEqual(a.attributes.tool_calls, expected);
    assert.deepEqual(b.attributes.tool_calls, expected);
    assert.equal(a.attributes.finish_reason, "tool_calls");
    assert.deepEqual(a.attributes.request, { tools: ["get_weather"] });
  });

  test("parse() and the .stream() helper: the SDK's helpers work, one span each", async () => {
    const parsed = await client.chat.completions.parse({ model: "gpt-4o", messages });
    assert.equal(parsed.choices[0].message.content, "Echo: Hello there");
    const runner = client.chat.completions.stream({ model: "gpt-4o", messages });
    const deltas = [];
    runner.on("content", (delta) => deltas.push(delta));
    const final = await runner.finalChatCompletion();
    assert.equal(final.choices[0].message.content, "Echo: Hello there");
    assert.equal(deltas.join(""), "Echo: Hello there");
    const [p, s] = await newSpans(2);
    assert.equal(p.attributes.output, "Echo: Hello there");
    assert.equal(s.attributes.output, "Echo: Hello there");
    assert.equal(s.attributes.tokens_total, 5);
  });

  test("the CJS build's client is traced too", async () => {
    const result = await cjsClient.chat.completions.create({ model: "gpt-4o", messages });
    assert.equal(result.choices[0].message.content, "Echo: Hello there");
    const [s] = await newSpans(1);
    assert.equal(s.attributes.tokens_total, 5);
  });
});

describe("responses", () => {
  test("non-stream, with instructions", async () => {
    const r = await client.responses.create({ model: "gpt-4o", input: "Hello there", instructions: "Be brief." });
    assert.equal(r.output_text, "Echo: Hello there");
    const [s] = await newSpans(1);
    assert.equal(s.name, "openai.responses");
    assert.deepEqual(s.attributes.input, { system: "Be brief.", input: "Hello there" });
    assert.equal(s.attributes.output, "Echo: Hello there");
    assert.equal(s.attributes.tokens_input, 4);
    assert.equal(s.attributes.tokens_output, 3);
    assert.equal(s.attributes.finish_reason, "completed");
  });

  test("stream, and the responses.stream() helper", async () => {
    const events = await collect(await client.responses.create({ model: "gpt-4o", input: "Hello there", stream: true }));
    assert.equal(events.at(-1).type, "response.completed");
    const helper = client.responses.stream({ model: "gpt-4o", input: "Hello there" });
    const final = await helper.finalResponse();
    assert.equal(final.output_text, "Echo: Hello there");
    const [a, b] = await newSpans(2);
    for (const s of [a, b]) {
      assert.equal(s.attributes.output, "Echo: Hello there");
      assert.equal(s.attributes.tokens_total, 5);
      assert.ok(s.attributes.ttft_ms > 0);
    }
  });

  test("mid-stream error event: the SDK throws APIError, the span is an error", async () => {
    const stream = await client.responses.create({ model: "gpt-4o-midstream-error", input: "Hello there", stream: true });
    await assert.rejects(collect(stream), (err) => err instanceof OpenAI.APIError);
    const [s] = await newSpans(1);
    assert.equal(s.status, "error");
    assert.equal(s.attributes.error.type, "openai.APIError");
    assert.equal(s.attributes.output, "Echo: Hello ");
  });
});

describe("embeddings", () => {
  test("floats still decoded by the SDK; span summarises the vectors", async () => {
    const r = await client.embeddings.create({ model: "text-embedding-3-small", input: ["Hello there", "hi"] });
    const baseline = await plain(() => client.embeddings.create({ model: "text-embedding-3-small", input: ["Hello there", "hi"] }));
    assert.deepEqual(r, baseline);
    assert.equal(typeof r.data[0].embedding[0], "number");
    const [s] = await newSpans(1);
    assert.equal(s.name, "openai.embeddings");
    assert.deepEqual(s.attributes.output, { count: 2, dimensions: 8 });
    assert.equal(s.attributes.tokens_input, 3);
  });
});

describe("context", () => {
  test("session() and span() set parents, user, tenant and retention class", async () => {
    await session({ userId: "u-7", sessionId: "sess-1", tenantId: "t-2", retentionClass: "short", feature: "chat" }, () =>
      span("handle-request", () => client.chat.completions.create({ model: "gpt-4o", messages })),
    );
    const [llm, outer] = await newSpans(2);
    assert.equal(outer.name, "handle-request");
    assert.equal(llm.parent_id, outer.span_id);
    assert.equal(llm.trace_id, outer.trace_id);
    assert.equal(llm.tenant_id, "t-2");
    assert.equal(llm.retention_class, "short");
    assert.equal(llm.attributes.user_id, "u-7");
    assert.equal(llm.attributes.session_id, "sess-1");
    assert.equal(llm.attributes.feature, "chat");
  });
});

describe("never breaks the host", () => {
  test("with every internal step failing, results and errors are those of an uninstrumented run", async () => {
    const baseline = await plain(() => client.chat.completions.create({ model: "gpt-4o", messages }));
    const baseChunks = await plain(async () => collect(await client.chat.completions.create({ model: "gpt-4o", messages, stream: true })));
    const baseErr = await plain(() => client.chat.completions.create({ model: "gpt-error-400", messages })).catch((e) => e);
    _injectFaults(true);
    try {
      const result = await client.chat.completions.create({ model: "gpt-4o", messages });
      assert.deepEqual(result, baseline);
      const withResponse = await client.chat.completions.create({ model: "gpt-4o", messages }).withResponse();
      assert.deepEqual(withResponse.data, baseline);
      const chunks = await collect(await client.chat.completions.create({ model: "gpt-4o", messages, stream: true }));
      assert.deepEqual(chunks, baseChunks);
      const err = await client.chat.completions.create({ model: "gpt-error-400", messages }).catch((e) => e);
      assert.equal(err.constructor, baseErr.constructor);
      assert.equal(err.message, baseErr.message);
      const parsed = await client.chat.completions.parse({ model: "gpt-4o", messages });
      assert.equal(parsed.choices[0].message.content, "Echo: Hello there");
    } finally {
      _injectFaults(false);
    }
    await flush();
    spans(); // whatever was recorded under fault injection is not checked
  });
});
