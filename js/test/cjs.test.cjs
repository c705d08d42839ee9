// The CommonJS build of @peekr/sdk, required from a CommonJS app: it patches both builds of openai.
const { after, test } = require("node:test");
const assert = require("node:assert/strict");
const { join } = require("node:path");
const OpenAI = require("openai");
const peekr = require("@peekr/sdk");

let fake;
let spans;
let client;

const ready = (async () => {
  const helpers = await import("./helpers.mjs");
  fake = await helpers.startFakeProvider();
  client = new OpenAI({ apiKey: "sk-fake", baseURL: `${fake.url}/v1`, maxRetries: 0 });
  const path = join(helpers.tempDir(), "traces.jsonl");
  peekr.instrument({ path, flushIntervalMs: 20 });
  spans = helpers.spanReader(path);
})();

after(async () => {
  await peekr.uninstrument();
  await fake?.stop();
});

test("require('@peekr/sdk') is the CJS build and records the CJS openai client", async () => {
  await ready;
  assert.equal(typeof peekr.instrument, "function");
  assert.match(require.resolve("@peekr/sdk"), /dist[\\/]cjs[\\/]index\.js$/);
  const result = await client.chat.completions.create({ model: "gpt-4o", messages: [{ role: "user", content: "Hi" }] });
  assert.equal(result.choices[0].message.content, "Echo: Hi");
  await peekr.flush();
  const [s] = spans();
  assert.equal(s.name, "openai.chat.completions");
  assert.equal(s.attributes.output, "Echo: Hi");
});

test("an ESM openai imported later by the same app is traced too", async () => {
  await ready;
  const { default: EsmOpenAI } = await import("openai");
  assert.notEqual(EsmOpenAI, OpenAI);
  const esmClient = new EsmOpenAI({ apiKey: "sk-fake", baseURL: `${fake.url}/v1`, maxRetries: 0 });
  await esmClient.embeddings.create({ model: "text-embedding-3-small", input: "Hi" });
  await peekr.flush();
  const [s] = spans();
  assert.equal(s.name, "openai.embeddings");
});
