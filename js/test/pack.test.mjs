// `npm pack` produces a tarball that installs (zero dependencies, offline) and loads as ESM and CJS.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readdirSync, writeFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { JS_DIR, tempDir } from "./helpers.mjs";

const run = promisify(execFile);
const npm = process.platform === "win32" ? "npm.cmd" : "npm";

test("npm pack -> npm install (offline) -> import and require, with type declarations", async () => {
  const out = tempDir();
  await run(npm, ["pack", "--pack-destination", out, "--silent"], { cwd: JS_DIR });
  const [tarball] = readdirSync(out).filter((f) => f.endsWith(".tgz"));
  assert.ok(tarball, "a tarball was written");
  const app = tempDir();
  writeFileSync(join(app, "package.json"), JSON.stringify({ name: "app", version: "1.0.0", private: true }));
  await run(npm, ["install", join(out, tarball), "--offline", "--no-audit", "--no-fund", "--silent"], { cwd: app });
  const root = join(app, "node_modules", "@peekr", "sdk");
  for (const file of ["dist/esm/index.js", "dist/esm/index.d.ts", "dist/cjs/index.js", "dist/cjs/index.d.ts", "README.md"]) {
    assert.ok(existsSync(join(root, file)), file);
  }
  assert.ok(!existsSync(join(root, "src")) && !existsSync(join(root, "test")), "only dist and docs are shipped");
  const esm = await run(process.execPath, ["--input-type=module", "-e", 'import { instrument, session } from "@peekr/sdk"; console.log(typeof instrument, typeof session)'], { cwd: app });
  assert.equal(esm.stdout.trim(), "function function");
  const cjs = await run(process.execPath, ["-e", 'const p = require("@peekr/sdk"); console.log(typeof p.instrument, require.resolve("@peekr/sdk").includes("cjs"))'], { cwd: app });
  assert.equal(cjs.stdout.trim(), "function true");
  // The declarations type-check for both an ESM and a CommonJS TypeScript consumer (NodeNext).
  writeFileSync(join(app, "a.mts"), 'import { instrument, session, type InstrumentOptions } from "@peekr/sdk";\nconst o: InstrumentOptions = { tenantId: "t", exporter: { type: "http", endpoint: "https://c", apiKey: "k" } };\ninstrument(o).flush(1).then((ok: boolean) => ok);\nconst n: number = session({ userId: "u" }, () => 1);\n');
  writeFileSync(join(app, "b.cts"), 'import peekr = require("@peekr/sdk");\nconst h: peekr.Instrumentation = peekr.instrument({ storage: "none" });\nvoid h;\n');
  writeFileSync(join(app, "tsconfig.json"), JSON.stringify({ compilerOptions: { module: "NodeNext", moduleResolution: "NodeNext", strict: true, noEmit: true, types: [], skipLibCheck: false }, files: ["a.mts", "b.cts"] }));
  const tsc = join(JS_DIR, "node_modules", "typescript", "bin", "tsc");
  const checked = await run(process.execPath, [tsc, "-p", "tsconfig.json"], { cwd: app }).catch((e) => e);
  assert.equal(checked.stdout?.trim() ?? checked.message, "");
});
