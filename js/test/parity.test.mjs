// The same calls of all four providers through Python Peekr and @peekr/sdk: the spans must match
// field for field (ids, times, durations and ttft aside; cost_usd included).
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { JS_DIR, readJsonl, runPython, startFakeProvider, tempDir } from "./helpers.mjs";

const run = promisify(execFile);
const dir = tempDir();
const fake = await startFakeProvider();
after(() => fake.stop());
const jsPath = join(dir, "js.jsonl");
const pyPath = join(dir, "py.jsonl");
await run(process.execPath, [join(JS_DIR, "test", "fixtures", "parity.mjs")], {
  cwd: JS_DIR,
  env: { ...process.env, FAKE_URL: fake.url, PEEKR_JSONL: jsPath },
});
await runPython([join(JS_DIR, "test", "fixtures", "parity.py")], { PEEKR_JSONL: pyPath });
const js = readJsonl(jsPath);
const py = readJsonl(pyPath);
const VARIABLE = new Set(["ttft_ms"]);
const pick = (attrs) => Object.fromEntries(Object.entries(attrs).filter(([k]) => !VARIABLE.has(k)));

test("both languages recorded the same number of spans", () => {
  assert.equal(js.length, 17);
  assert.equal(py.length, js.length);
});

for (let i = 0; i < 17; i += 1) {
  test(`span ${i + 1}: ${py[i]?.name} ${py[i]?.attributes?.model}${py[i]?.attributes?.stream ? " (stream)" : ""}`, () => {
    const [a, b] = [js[i], py[i]];
    assert.deepEqual(Object.keys(a), Object.keys(b));
    for (const key of ["name", "parent_id", "status", "tenant_id", "retention_class"]) assert.equal(a[key], b[key], key);
    assert.deepEqual(pick(a.attributes), pick(b.attributes));
    assert.equal("ttft_ms" in a.attributes, "ttft_ms" in b.attributes, "ttft_ms present in both or neither");
  });
}
