// End to end across languages: a Node app with the documented snippet -> a real `peekr server`
// -> spans read back through the query API; the same app's JSONL read by Python's `peekr view`;
// and the span shapes compared with Python Peekr's spans for the same calls.
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { JS_DIR, readJsonl, runPython, startFakeProvider, startPeekrServer, tempDir } from "./helpers.mjs";

const run = promisify(execFile);
const dir = tempDir();
const fake = await startFakeProvider();
const server = await startPeekrServer(dir);
after(async () => {
  await server.stop();
  await fake.stop();
});

const jsJsonl = join(dir, "js.jsonl");
const pyJsonl = join(dir, "py.jsonl");
await run(process.execPath, [join(JS_DIR, "test", "fixtures", "app.mjs")], {
  cwd: JS_DIR,
  env: {
    ...process.env,
    PEEKR_ENDPOINT: server.url,
    PEEKR_API_KEY: server.ingestKey,
    PEEKR_JSONL: jsJsonl,
    OPENAI_BASE_URL: `${fake.url}/v1`,
  },
});
await runPython([join(JS_DIR, "test", "fixtures", "python_app.py")], {
  PEEKR_JSONL: pyJsonl,
  OPENAI_BASE_URL: `${fake.url}/v1`,
});
const jsSpans = readJsonl(jsJsonl);
const pySpans = readJsonl(pyJsonl);

async function query(path) {
  const response = await fetch(`${server.url}${path}`, { headers: { Authorization: `Bearer ${server.readKey}` } });
  assert.equal(response.status, 200, await response.clone().text());
  return response.json();
}

test("the app's spans reach peekr server (flushed at exit) and read back identical through the query API", async () => {
  assert.equal(jsSpans.length, 2);
  const { traces } = await query("/v1/traces?name=openai.chat");
  assert.equal(traces.length, 2);
  for (const local of jsSpans) {
    const detail = await query(`/v1/traces/${local.trace_id}`);
    assert.equal(detail.spans.length, 1);
    assert.deepEqual(detail.spans[0], local);
  }
});

test("Python's `peekr view` reads the JSONL file the Node app wrote", async () => {
  const out = await runPython(["-m", "peekr.cli", "view", jsJsonl, "--io"], { COLUMNS: "200" });
  assert.match(out, /openai\.chat\.completions\s+gpt-4o\s+2→3/);
  assert.match(out, /output: Echo: Hello there/);
  assert.match(out, /spans 1–2 of 2/);
});

test("field shapes are identical to Python's spans for the same calls", () => {
  assert.equal(pySpans.length, 2);
  for (let i = 0; i < 2; i += 1) {
    const js = jsSpans[i];
    const py = pySpans[i];
    assert.deepEqual(Object.keys(js), Object.keys(py));
    for (const key of Object.keys(py)) assert.equal(typeof js[key], typeof py[key], key);
    for (const key of ["name", "parent_id", "status", "tenant_id", "retention_class"]) assert.equal(js[key], py[key], key);
    const variable = new Set(["ttft_ms"]);
    const pick = (attrs) => Object.fromEntries(Object.entries(attrs).filter(([k]) => !variable.has(k)));
    assert.deepEqual(pick(js.attributes), pick(py.attributes));
    assert.deepEqual(Object.keys(js.attributes).sort(), Object.keys(py.attributes).sort());
  }
});
