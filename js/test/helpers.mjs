// Shared test plumbing: the Python fake provider (real HTTP), JSONL reading, temp dirs.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const JS_DIR = resolve(dirname(fileURLToPath(import.meta.url)), "..");
export const REPO = resolve(JS_DIR, "..");
export const PYTHON = process.env.PEEKR_PYTHON ?? join(REPO, ".venv", "bin", "python");

export function tempDir() {
  return mkdtempSync(join(tmpdir(), "peekr-js-"));
}

/** Start a Python process and resolve once it prints a line matching `ready` (returns the match). */
export function startPython(args, ready, env = {}) {
  if (!existsSync(PYTHON)) throw new Error(`${PYTHON} is missing: run \`make venv\` in ${REPO}`);
  const child = spawn(PYTHON, args, { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  return new Promise((resolveStart, reject) => {
    const onData = (data) => {
      out += data;
      const match = ready.exec(out);
      if (match) {
        child.stdout.off("data", onData);
        child.stderr.off("data", onData);
        child.stdout.resume();
        child.stderr.resume();
        resolveStart({ match, child, stop: () => stopChild(child) });
      }
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    child.on("exit", (code) => reject(new Error(`${args.join(" ")} exited with ${code}:\n${out}`)));
  });
}

function stopChild(child) {
  if (child.exitCode !== null) return Promise.resolve();
  return new Promise((done) => {
    child.removeAllListeners("exit");
    child.once("exit", () => done());
    child.kill("SIGTERM");
  });
}

/** The fake OpenAI/Anthropic/Gemini/Bedrock endpoint (`python -m peekr.testing.fake_provider`). */
export async function startFakeProvider() {
  const { match, stop } = await startPython(
    ["-m", "peekr.testing.fake_provider", "--port", "0"],
    /listening on (http:\/\/127\.0\.0\.1:\d+)/,
  );
  return { url: match[1], stop };
}

/** Every span line of a JSONL file. */
export function readJsonl(path) {
  if (!existsSync(path)) return [];
  return readFileSync(path, "utf8")
    .split("\n")
    .filter((line) => line.trim())
    .map((line) => JSON.parse(line));
}

/** Reads the spans written since the last call. */
export function spanReader(path) {
  let seen = 0;
  return () => {
    const all = readJsonl(path);
    const fresh = all.slice(seen);
    seen = all.length;
    return fresh;
  };
}

export const TRACE_ID = /^[0-9a-f]{32}$/;
export const SPAN_ID = /^[0-9a-f]{16}$/;
export const ISO_US = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/;

/** A free TCP port on 127.0.0.1 (bound and released). */
export async function freePort() {
  const { createServer } = await import("node:net");
  return new Promise((done, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => done(port));
    });
  });
}

/** Run a Python command to completion; resolves its stdout (rejects with stderr on failure). */
export async function runPython(args, env = {}) {
  if (!existsSync(PYTHON)) throw new Error(`${PYTHON} is missing: run \`make venv\` in ${REPO}`);
  const { execFile } = await import("node:child_process");
  return new Promise((done, reject) => {
    execFile(PYTHON, args, { env: { ...process.env, ...env } }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${args.join(" ")} failed: ${stderr || err.message}`));
      else done(stdout);
    });
  });
}

/** A real `peekr server` on a fresh SQLite db, with an ingest key and a read key for tenant `acme`. */
export async function startPeekrServer(dir, extraArgs = []) {
  const db = join(dir, "server.db");
  const cli = ["-m", "peekr.cli"];
  const ingestKey = (await runPython([...cli, "server", "keys", "create", "--tenant", "acme", "--db", db, "-q"])).trim();
  const readKey = (await runPython([...cli, "server", "keys", "create", "--tenant", "acme", "--scope", "read", "--db", db, "-q"])).trim();
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const { child, stop } = await startPython([...cli, "server", "--db", db, "--port", String(port), ...extraArgs], /Uvicorn running|Application startup complete|listening/i);
  for (let i = 0; i < 100; i += 1) {
    try {
      if ((await fetch(`${url}/healthz`)).ok) break;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return { url, ingestKey, readKey, child, stop };
}


/** `newSpans(n)`: flush, then the spans written since the last call, asserting there are exactly `n`. */
export function newSpansFrom(spans, flush) {
  return async (n) => {
    await flush();
    const got = spans();
    assert.equal(got.length, n, `expected ${n} span(s), got ${JSON.stringify(got, null, 1)}`);
    return got;
  };
}

/** Every item of an async iterable. */
export async function collect(stream) {
  const items = [];
  for await (const item of stream) items.push(item);
  return items;
}
