// Bedrock: the real `@aws-sdk/client-bedrock-runtime` against the fake provider over HTTP/1.1
// (the client defaults to HTTP/2; the fake speaks HTTP/1.1, hence NodeHttpHandler).
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  BedrockRuntime,
  BedrockRuntimeClient,
  ConverseCommand,
  ConverseStreamCommand,
  InvokeModelCommand,
  InvokeModelWithResponseStreamCommand,
  CountTokensCommand,
  ValidationException,
} from "@aws-sdk/client-bedrock-runtime";
import { NodeHttpHandler } from "@smithy/node-http-handler";
import { instrument, uninstrument, flush, suppressInstrumentation, _injectFaults } from "@peekr/sdk";
import { collect, newSpansFrom, spanReader, startFakeProvider, tempDir } from "./helpers.mjs";

const fake = await startFakeProvider();
const config = {
  endpoint: fake.url,
  region: "us-east-1",
  credentials: { accessKeyId: "a", secretAccessKey: "b" },
  maxAttempts: 1,
  requestHandler: new NodeHttpHandler(),
};
const client = new BedrockRuntimeClient(config); // created before instrument()
const baseSend = Object.getPrototypeOf(BedrockRuntimeClient.prototype).send;
const path = join(tempDir(), "traces.jsonl");
const handle = instrument({ path, flushIntervalMs: 20, providers: ["bedrock"] });
const spans = spanReader(path);
after(async () => {
  await uninstrument();
  client.destroy();
  await fake.stop();
});

const newSpans = newSpansFrom(spans, flush);

const plain = (fn) => suppressInstrumentation(fn);
const modelId = "anthropic.claude-3-haiku";
const messages = [{ role: "user", content: [{ text: "Hello there" }] }];
const converse = { modelId, messages, system: [{ text: "Be brief." }], inferenceConfig: { maxTokens: 50, temperature: 0.1 } };
const strip = (o) => ({ ...o, $metadata: undefined });

test("an own send on BedrockRuntimeClient.prototype; the shared Client.prototype.send untouched", () => {
  assert.deepEqual(handle.patched, { bedrock: ["send"] });
  assert.equal(Object.hasOwn(BedrockRuntimeClient.prototype, "send"), true);
  assert.equal(Object.getPrototypeOf(BedrockRuntimeClient.prototype).send, baseSend);
});

test("Converse: same output, span as Python's", async () => {
  const out = await client.send(new ConverseCommand(converse));
  assert.deepEqual(strip(out), strip(await plain(() => client.send(new ConverseCommand(converse)))));
  const [s] = await newSpans(1);
  assert.equal(s.name, "bedrock.converse");
  assert.deepEqual(s.attributes, {
    provider: "bedrock",
    model: modelId,
    input: { system: [{ text: "Be brief." }], messages },
    request: { max_tokens: 50, temperature: 0.1 },
    output: "Echo: Hello there",
    finish_reason: "end_turn",
    tokens_input: 4,
    tokens_output: 3,
    tokens_total: 7,
  });
});

test("ConverseStream: the same stream object, events in order, usage from metadata, break ends once", async () => {
  const out = await client.send(new ConverseStreamCommand(converse));
  const stream = out.stream;
  const events = await collect(stream);
  assert.equal(out.stream, stream);
  assert.deepEqual(Object.keys(events[0]), ["messageStart"]);
  assert.ok(events.some((e) => e.metadata));
  const again = await client.send(new ConverseStreamCommand({ ...converse, modelId: "claude-slow" }));
  for await (const event of again.stream) if (event.contentBlockDelta) break;
  const [a, b] = await newSpans(2);
  assert.equal(a.attributes.stream, true);
  assert.deepEqual(a.attributes.request, { max_tokens: 50, temperature: 0.1, stream: true });
  assert.equal(a.attributes.output, "Echo: Hello there");
  assert.equal(a.attributes.tokens_total, 7);
  assert.equal(a.attributes.finish_reason, "end_turn");
  assert.ok(a.attributes.ttft_ms > 0);
  assert.equal(b.status, "ok");
  assert.equal(b.attributes.output, "Echo: ");
});

const claudeBody = JSON.stringify({ anthropic_version: "bedrock-2023-05-31", max_tokens: 50, messages: [{ role: "user", content: "Hello there" }] });

test("InvokeModel: the body stays readable; tokens recorded", async () => {
  const out = await client.send(new InvokeModelCommand({ modelId, body: claudeBody, contentType: "application/json" }));
  const body = JSON.parse(new TextDecoder().decode(out.body));
  assert.equal(body.content[0].text, "Echo: Hello there");
  assert.equal(out.body.transformToString(), new TextDecoder().decode(out.body));
  const [s] = await newSpans(1);
  assert.equal(s.name, "bedrock.invoke_model");
  assert.deepEqual(s.attributes.input, JSON.parse(claudeBody));
  assert.deepEqual(s.attributes.request, { max_tokens: 50 });
  assert.equal(s.attributes.output, "Echo: Hello there");
  assert.equal(s.attributes.tokens_input, 2);
  assert.equal(s.attributes.tokens_output, 3);
  assert.equal(s.attributes.finish_reason, "end_turn");
});

test("InvokeModel of a model family whose body has no usage: tokens from the x-amzn-bedrock headers", async () => {
  const { createServer } = await import("node:http");
  const server = createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      res.writeHead(200, {
        "content-type": "application/json",
        "x-amzn-bedrock-input-token-count": "11",
        "x-amzn-bedrock-output-token-count": "4",
      });
      res.end(JSON.stringify({ results: [{ outputText: "hi", completionReason: "FINISH" }] }));
    });
  });
  await new Promise((done) => server.listen(0, "127.0.0.1", done));
  const other = new BedrockRuntimeClient({ ...config, endpoint: `http://127.0.0.1:${server.address().port}`, requestHandler: new NodeHttpHandler() });
  await other.send(new InvokeModelCommand({ modelId: "amazon.titan-text", body: JSON.stringify({ inputText: "hi" }) }));
  other.destroy();
  server.close();
  const [s] = await newSpans(1);
  assert.equal(s.attributes.tokens_input, 11);
  assert.equal(s.attributes.tokens_output, 4);
  assert.equal(s.attributes.tokens_total, 15);
});

test("InvokeModelWithResponseStream: chunks intact; tokens from invocation metrics", async () => {
  const out = await client.send(new InvokeModelWithResponseStreamCommand({ modelId, body: claudeBody, contentType: "application/json" }));
  const chunks = await collect(out.body);
  const text = chunks
    .map((c) => JSON.parse(new TextDecoder().decode(c.chunk.bytes)))
    .filter((e) => e.type === "content_block_delta")
    .map((e) => e.delta.text)
    .join("");
  assert.equal(text, "Echo: Hello there");
  const [s] = await newSpans(1);
  assert.equal(s.attributes.output, "Echo: Hello there");
  assert.equal(s.attributes.tokens_total, 5);
  assert.ok(s.attributes.ttft_ms > 0);
});

test("tool use: arguments as Python writes them", async () => {
  const toolConfig = { tools: [{ toolSpec: { name: "get_weather", inputSchema: { json: { type: "object", properties: { city: { type: "string" } }, required: ["city"] } } } }] };
  const out = await client.send(new ConverseCommand({ ...converse, modelId: "claude-tool", toolConfig }));
  const use = out.output.message.content.find((b) => b.toolUse).toolUse;
  await collect((await client.send(new ConverseStreamCommand({ ...converse, modelId: "claude-tool", toolConfig }))).stream);
  const [a, b] = await newSpans(2);
  const expected = [{ id: use.toolUseId, type: "function", name: "get_weather", arguments: '{"city": "Hello there"}' }];
  assert.deepEqual(a.attributes.tool_calls, expected);
  assert.deepEqual(b.attributes.tool_calls, expected);
  assert.deepEqual(a.attributes.request.tools, ["get_weather"]);
});

test("errors pass through: ValidationException; other commands and callbacks untraced", async () => {
  const err = await client.send(new ConverseCommand({ ...converse, modelId: "claude-error-400" })).catch((e) => e);
  assert.ok(err instanceof ValidationException);
  const viaCallback = await new Promise((done) => client.send(new ConverseCommand(converse), (e, out) => done(out)));
  assert.equal(viaCallback.output.message.content[0].text, "Echo: Hello there");
  await client.send(new CountTokensCommand({ modelId, input: { converse: { messages } } })).catch(() => undefined);
  const [s] = await newSpans(1);
  assert.equal(s.status, "error");
  assert.equal(s.attributes.error.type, "@aws-sdk/client-bedrock-runtime.ValidationException");
});

test("a mid-stream error (modelStreamErrorException) reaches the caller; the span is an error", async () => {
  const out = await client.send(new ConverseStreamCommand({ ...converse, modelId: "claude-midstream-error" }));
  const err = await collect(out.stream).catch((e) => e);
  assert.ok(err instanceof Error);
  const [s] = await newSpans(1);
  assert.equal(s.status, "error");
  assert.equal(s.attributes.output, "Echo: Hello ");
  assert.equal(s.attributes.error.message, err.message);
});

test("a ConverseStream that is never iterated ends its span once garbage-collected", async (t) => {
  if (typeof globalThis.gc !== "function") return t.skip("needs node --expose-gc");
  await (async () => {
    await client.send(new ConverseStreamCommand(converse));
  })();
  for (let i = 0; i < 5; i += 1) {
    globalThis.gc();
    await new Promise((r) => setTimeout(r, 20));
  }
  const [s] = await newSpans(1);
  assert.equal(s.attributes.stream, true);
  assert.equal(s.attributes.output, undefined);
});

test("the aggregated BedrockRuntime class is traced", async () => {
  const runtime = new BedrockRuntime(config);
  await runtime.converse(converse);
  runtime.destroy();
  await newSpans(1);
});

test("never breaks the host: with every internal step failing, same results", async () => {
  const baseline = strip(await plain(() => client.send(new ConverseCommand(converse))));
  const baseEvents = await plain(async () => collect((await client.send(new ConverseStreamCommand(converse))).stream));
  _injectFaults(true);
  try {
    assert.deepEqual(strip(await client.send(new ConverseCommand(converse))), baseline);
    assert.deepEqual(await collect((await client.send(new ConverseStreamCommand(converse))).stream), baseEvents);
    const out = await client.send(new InvokeModelCommand({ modelId, body: claudeBody }));
    assert.equal(JSON.parse(new TextDecoder().decode(out.body)).content[0].text, "Echo: Hello there");
  } finally {
    _injectFaults(false);
  }
  await flush();
  spans();
});
