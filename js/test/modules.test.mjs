// instrument({ modules }): patch an SDK copy given explicitly (what a bundled app needs), and only it.
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { join } from "node:path";
import OpenAI from "openai";
import { instrument, uninstrument, flush } from "@peekr/sdk";
import { spanReader, startFakeProvider, tempDir } from "./helpers.mjs";

const require = createRequire(import.meta.url);
const fake = await startFakeProvider();
after(async () => {
  await uninstrument();
  await fake.stop();
});

test("providers: [] with modules: { openai } patches that copy only", async () => {
  const path = join(tempDir(), "traces.jsonl");
  const handle = instrument({ path, providers: [], modules: { openai: OpenAI } });
  assert.deepEqual(handle.patched, { openai: ["chat.completions", "responses", "embeddings"] });
  const options = { apiKey: "sk-fake", baseURL: `${fake.url}/v1`, maxRetries: 0 };
  const messages = [{ role: "user", content: "Hi" }];
  await new OpenAI(options).chat.completions.create({ model: "gpt-4o", messages });
  const CjsOpenAI = require("openai");
  await new CjsOpenAI(options).chat.completions.create({ model: "gpt-4o", messages }); // not given: untraced
  await flush();
  const spans = spanReader(path)();
  assert.equal(spans.length, 1);
  assert.equal(spans[0].attributes.output, "Echo: Hi");
  assert.equal(instrument({ tenantId: "other" }), handle, "a second instrument() returns the running handle");
});

test("uninstrument() restores the SDK's own methods", async () => {
  const patchedCreate = OpenAI.Chat.Completions.prototype.create;
  assert.equal(typeof patchedCreate[Symbol.for("peekr.original")], "function");
  await uninstrument();
  assert.equal(OpenAI.Chat.Completions.prototype.create, patchedCreate[Symbol.for("peekr.original")]);
});
