// Anthropic: the real `@anthropic-ai/sdk` (ESM and CJS builds) against the fake provider over HTTP.
import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { join } from "node:path";
import Anthropic from "@anthropic-ai/sdk";
import { APIPromise } from "@anthropic-ai/sdk/core/api-promise";
import { Stream } from "@anthropic-ai/sdk/core/streaming";
import { instrument, uninstrument, flush, suppressInstrumentation, _injectFaults } from "@peekr/sdk";
import { collect, newSpansFrom, spanReader, startFakeProvider, tempDir } from "./helpers.mjs";

const require = createRequire(import.meta.url);
const messages = [{ role: "user", content: "Hello there" }];
const fake = await startFakeProvider();
const options = { apiKey: "sk-fake", baseURL: fake.url, maxRetries: 0 };
const client = new Anthropic(options); // created before instrument()
const CjsAnthropic = require("@anthropic-ai/sdk");
assert.notEqual(CjsAnthropic.Anthropic, Anthropic);
const cjsClient = new CjsAnthropic(options);
const path = join(tempDir(), "traces.jsonl");
const handle = instrument({ path, flushIntervalMs: 20, providers: ["anthropic"] });
const spans = spanReader(path);
after(async () => {
  await uninstrument();
  await fake.stop();
});

const newSpans = newSpansFrom(spans, flush);

const plain = (fn) => suppressInstrumentation(fn);
const body = { model: "claude-sonnet-4-5", max_tokens: 100, system: "Be brief.", messages };

test("both builds patched (messages and beta.messages)", () => {
  assert.deepEqual(handle.patched, { anthropic: ["messages", "beta.messages", "messages", "beta.messages"] });
});

describe("messages", () => {
  test("create: the SDK's APIPromise, same message, span as Python's", async () => {
    const promise = client.messages.create(body);
    assert.ok(promise instanceof APIPromise);
    const message = await promise;
    assert.deepEqual(message, await plain(() => client.messages.create(body)));
    const [s] = await newSpans(1);
    assert.equal(s.name, "anthropic.messages");
    assert.deepEqual(s.attributes, {
      provider: "anthropic",
      model: "claude-sonnet-4-5",
      input: { system: "Be brief.", messages },
      request: { max_tokens: 100 },
      tokens_input: 4,
      tokens_cache_read: 0,
      tokens_cache_write: 0,
      tokens_output: 3,
      tokens_total: 7,
      output: "Echo: Hello there",
      finish_reason: "end_turn",
      response_id: message.id,
      cost_usd: 0.000057,
    });
    assert.match(message.id, /^msg_/);
  });

  test("withResponse()", async () => {
    const { data, response } = await client.messages.create(body).withResponse();
    assert.equal(data.content[0].text, "Echo: Hello there");
    assert.equal(response.status, 200);
    await newSpans(1);
  });

  test("stream: the same Stream and events; cumulative usage; ttft", async () => {
    const stream = await client.messages.create({ ...body, stream: true });
    assert.ok(stream instanceof Stream);
    const events = await collect(stream);
    const baseline = await collect(await plain(() => client.messages.create({ ...body, stream: true })));
    assert.deepEqual(events, baseline);
    const [s] = await newSpans(1);
    assert.equal(s.attributes.stream, true);
    assert.deepEqual(s.attributes.request, { max_tokens: 100, stream: true });
    assert.equal(s.attributes.output, "Echo: Hello there");
    assert.equal(s.attributes.tokens_output, 3);
    assert.equal(s.attributes.tokens_total, 7);
    assert.equal(s.attributes.finish_reason, "end_turn");
    assert.equal(s.attributes.response_id, events[0].message.id); // message_start
    assert.ok(s.attributes.ttft_ms > 0);
  });

  test("messages.stream() helper: events, finalMessage(), exactly one span", async () => {
    const helper = client.messages.stream(body);
    const texts = [];
    helper.on("text", (t) => texts.push(t));
    const final = await helper.finalMessage();
    assert.equal(final.content[0].text, "Echo: Hello there");
    assert.equal(texts.join(""), "Echo: Hello there");
    const [s] = await newSpans(1);
    assert.equal(s.attributes.tokens_total, 7);
  });

  test("stream break aborts the request; the span ends once without an output count", async () => {
    const stream = await client.messages.create({ ...body, model: "claude-slow", stream: true });
    for await (const event of stream) if (event.type === "content_block_delta") break;
    assert.equal(stream.controller.signal.aborted, true);
    const [s] = await newSpans(1);
    assert.equal(s.status, "ok");
    assert.equal(s.attributes.output, "Echo: ");
    assert.equal(s.attributes.tokens_output, undefined);
  });

  test("tool use, non-stream and stream: arguments as Python writes them", async () => {
    const tools = [{ name: "get_weather", input_schema: { type: "object", properties: { city: { type: "string" } }, required: ["city"] } }];
    const message = await client.messages.create({ ...body, model: "claude-tool", tools });
    const use = message.content.find((b) => b.type === "tool_use");
    await collect(await client.messages.create({ ...body, model: "claude-tool", tools, stream: true }));
    const [a, b] = await newSpans(2);
    const expected = [{ id: use.id, type: "function", name: "get_weather", arguments: '{"city": "Hello there"}' }];
    assert.deepEqual(a.attributes.tool_calls, expected);
    assert.deepEqual(b.attributes.tool_calls, expected);
    assert.equal(a.attributes.finish_reason, "tool_use");
    assert.deepEqual(a.attributes.request.tools, ["get_weather"]);
  });

  test("400: the SDK's BadRequestError passes through; mid-stream error: APIError", async () => {
    const err = await client.messages.create({ ...body, model: "claude-error-400" }).catch((e) => e);
    assert.ok(err instanceof Anthropic.BadRequestError);
    const stream = await client.messages.create({ ...body, model: "claude-midstream-error", stream: true });
    await assert.rejects(collect(stream), (e) => e instanceof Anthropic.APIError);
    const [a, b] = await newSpans(2);
    assert.deepEqual(a.attributes.error, { type: "anthropic.BadRequestError", message: err.message });
    assert.equal(b.status, "error");
    assert.equal(b.attributes.output, "Echo: Hello ");
  });

  test("beta.messages and the CJS build are traced", async () => {
    await client.beta.messages.create(body);
    await cjsClient.messages.create(body);
    const [a, b] = await newSpans(2);
    assert.equal(a.attributes.output, "Echo: Hello there");
    assert.equal(b.attributes.output, "Echo: Hello there");
  });

  test("never breaks the host: with every internal step failing, same results", async () => {
    const baseline = await plain(() => client.messages.create(body));
    const baseEvents = await plain(async () => collect(await client.messages.create({ ...body, stream: true })));
    _injectFaults(true);
    try {
      assert.deepEqual(await client.messages.create(body), baseline);
      assert.deepEqual(await collect(await client.messages.create({ ...body, stream: true })), baseEvents);
      assert.equal((await client.messages.stream(body).finalMessage()).content[0].text, "Echo: Hello there");
    } finally {
      _injectFaults(false);
    }
    await flush();
    spans();
  });
});
