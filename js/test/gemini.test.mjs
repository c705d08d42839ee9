// Gemini: the real `@google/genai` (ESM and CJS builds) against the fake provider over HTTP.
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { join } from "node:path";
import { GoogleGenAI, GenerateContentResponse, ApiError } from "@google/genai";
import { instrument, uninstrument, flush, suppressInstrumentation, _injectFaults } from "@peekr/sdk";
import { collect, newSpansFrom, spanReader, startFakeProvider, tempDir } from "./helpers.mjs";

const require = createRequire(import.meta.url);
const fake = await startFakeProvider();
const options = { apiKey: "fake-key", httpOptions: { baseUrl: fake.url } };
const ai = new GoogleGenAI(options); // created before instrument()
const Cjs = require("@google/genai");
assert.notEqual(Cjs.GoogleGenAI, GoogleGenAI);
const cjsAi = new Cjs.GoogleGenAI(options);
const path = join(tempDir(), "traces.jsonl");
const handle = instrument({ path, flushIntervalMs: 20, providers: ["gemini"] });
const spans = spanReader(path);
after(async () => {
  await uninstrument();
  await fake.stop();
});

const newSpans = newSpansFrom(spans, flush);

const plain = (fn) => suppressInstrumentation(fn);
const params = { model: "gemini-2.5-flash", contents: "Hello there", config: { systemInstruction: "Be brief.", temperature: 0.2 } };
const strip = (r) => JSON.parse(JSON.stringify({ ...r, sdkHttpResponse: undefined }));

test("both builds patched", () => {
  assert.deepEqual(handle.patched.gemini.sort(), ["generateContent", "generateContent", "generateContentStream", "generateContentStream"]);
});

test("generateContent on a client created before instrument(): same response, span as Python's", async () => {
  assert.equal(Object.hasOwn(ai.models, "generateContent"), true, "the public method is an own arrow function");
  const response = await ai.models.generateContent(params);
  assert.ok(response instanceof GenerateContentResponse);
  assert.equal(response.text, "Echo: Hello there");
  assert.deepEqual(strip(response), strip(await plain(() => ai.models.generateContent(params))));
  const [s] = await newSpans(1);
  assert.equal(s.name, "gemini.generate_content");
  assert.deepEqual(s.attributes, {
    provider: "gemini",
    model: "gemini-2.5-flash",
    input: { system: "Be brief.", contents: "Hello there" },
    request: { temperature: 0.2 },
    output: "Echo: Hello there",
    finish_reason: "STOP",
    tokens_input: 4,
    tokens_output: 3,
    tokens_total: 7,
    response_id: response.responseId,
    cost_usd: 0.0000087,
  });
  assert.ok(response.responseId);
});

test("generateContentStream: chunks stay GenerateContentResponse; last usage wins; break ends once", async () => {
  const chunks = await collect(await ai.models.generateContentStream(params));
  assert.ok(chunks.every((c) => c instanceof GenerateContentResponse));
  assert.equal(chunks.map((c) => c.text).join(""), "Echo: Hello there");
  const stream = await ai.models.generateContentStream({ ...params, model: "gemini-slow" });
  for await (const chunk of stream) if (chunk.text) break;
  const [a, b] = await newSpans(2);
  assert.ok(chunks[0].responseId);
  assert.equal(a.attributes.response_id, chunks[0].responseId); // taken once, from the first chunk
  assert.equal(a.attributes.stream, true);
  assert.deepEqual(a.attributes.request, { temperature: 0.2, stream: true });
  assert.equal(a.attributes.output, "Echo: Hello there");
  assert.equal(a.attributes.tokens_output, 3);
  assert.ok(a.attributes.ttft_ms > 0);
  assert.equal(b.status, "ok");
  assert.equal(b.attributes.output, "Echo: ");
});

test("chats.sendMessage and sendMessageStream are traced", async () => {
  const chat = ai.chats.create({ model: "gemini-2.5-flash" });
  const reply = await chat.sendMessage({ message: "Hello there" });
  assert.equal(reply.text, "Echo: Hello there");
  const chunks = await collect(await chat.sendMessageStream({ message: "Again" }));
  assert.equal(chunks.map((c) => c.text).join(""), "Echo: Again");
  const [a, b] = await newSpans(2);
  assert.deepEqual(a.attributes.input, [{ role: "user", parts: [{ text: "Hello there" }] }]);
  assert.equal(b.attributes.output, "Echo: Again");
});

test("function calls: arguments as Python writes them", async () => {
  const config = { tools: [{ functionDeclarations: [{ name: "get_weather", parameters: { type: "OBJECT", properties: { city: { type: "STRING" } }, required: ["city"] } }] }] };
  const response = await ai.models.generateContent({ model: "gemini-tool", contents: "Hello there", config });
  assert.equal(response.functionCalls[0].name, "get_weather");
  const [s] = await newSpans(1);
  assert.deepEqual(s.attributes.request, { tools: ["get_weather"] });
  assert.equal(s.attributes.tool_calls[0].name, "get_weather");
  assert.equal(s.attributes.tool_calls[0].arguments, '{"city": "Hello there"}');
});

test("errors pass through: ApiError 400, mid-stream ServerError", async () => {
  const err = await ai.models.generateContent({ ...params, model: "gemini-error-400" }).catch((e) => e);
  assert.ok(err instanceof ApiError);
  assert.equal(err.status, 400);
  const stream = await ai.models.generateContentStream({ ...params, model: "gemini-midstream-error" });
  const midErr = await collect(stream).catch((e) => e);
  assert.ok(midErr instanceof Error);
  const [a, b] = await newSpans(2);
  assert.equal(a.status, "error");
  assert.equal(a.attributes.error.type, "google.genai.ApiError");
  assert.equal(b.status, "error");
  assert.equal(b.attributes.output, "Echo: Hello ");
});

test("a stream that is never iterated ends its span once garbage-collected", async (t) => {
  if (typeof globalThis.gc !== "function") return t.skip("needs node --expose-gc");
  await (async () => {
    await ai.models.generateContentStream(params);
  })();
  for (let i = 0; i < 5; i += 1) {
    globalThis.gc();
    await new Promise((r) => setTimeout(r, 20));
  }
  const [s] = await newSpans(1);
  assert.equal(s.attributes.stream, true);
  assert.equal(s.attributes.output, undefined);
});

test("the CJS build's client is traced", async () => {
  await cjsAi.models.generateContent(params);
  await newSpans(1);
});

test("never breaks the host: with every internal step failing, same results", async () => {
  const baseline = strip(await plain(() => ai.models.generateContent(params)));
  const baseChunks = (await plain(async () => collect(await ai.models.generateContentStream(params)))).map(strip);
  _injectFaults(true);
  try {
    assert.deepEqual(strip(await ai.models.generateContent(params)), baseline);
    assert.deepEqual((await collect(await ai.models.generateContentStream(params))).map(strip), baseChunks);
  } finally {
    _injectFaults(false);
  }
  await flush();
  spans();
});
