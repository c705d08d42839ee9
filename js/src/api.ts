/** The public functions: validate arguments strictly, then delegate to the runtime. */
import { resolveOptions, type InstrumentOptions } from "./config.js";
import { describe } from "./context.js";
import { storage } from "./store.js";
import { guard } from "./errors.js";
import { setupIntegrations } from "./integrations/index.js";
import { unpatchAll } from "./integrations/patch.js";
import { Runtime, active, setActive, type PeekrStats, type Sink } from "./runtime.js";
import { HttpExporter } from "./sinks/http.js";
import { JsonlSink } from "./sinks/jsonl.js";
import { startSpan, type ActiveSpan } from "./tracer.js";
import { formatTraceparent, parseTraceparent, type SpanContext } from "./traceparent.js";

/** What `instrument()` returns: a handle on the running Peekr. */
export interface Instrumentation {
  /** The SDK methods patched, per provider (e.g. `{openai: ["chat.completions", ...]}`). */
  readonly patched: Record<string, string[]>;
  flush(timeoutMs?: number): Promise<boolean>;
  shutdown(timeoutMs?: number): Promise<boolean>;
  stats(): PeekrStats;
}

let handle: Instrumentation | undefined;
let last: Instrumentation | undefined; // stats() still answers after shutdown: drops stay visible
let exitHook: (() => void) | undefined;

/**
 * Start recording: patch the installed provider SDKs (CommonJS and ESM builds) and start the sinks.
 * Idempotent: a second call returns the running handle (call `shutdown()` first to reconfigure).
 *
 * @example
 * instrument({ exporter: { type: "http", endpoint: "https://collector.example", apiKey: "pk_live_…" } });
 */
export function instrument(options: InstrumentOptions = {}): Instrumentation {
  const resolved = resolveOptions(options);
  if (handle !== undefined && active() !== undefined) return handle;
  const sinks: Sink[] = [];
  if (resolved.storage === "jsonl") sinks.push(new JsonlSink(resolved.path));
  if (resolved.exporter) sinks.push(new HttpExporter(resolved.exporter));
  const runtime = new Runtime(resolved.settings, sinks);
  setActive(runtime);
  const patched = setupIntegrations(resolved.providers, resolved.modules);
  const timeout = resolved.settings.shutdownTimeoutMs;
  handle = {
    patched,
    flush: (timeoutMs = timeout) => runtime.flush(timeoutMs),
    shutdown: (timeoutMs = timeout) => shutdownRuntime(runtime, timeoutMs),
    stats: () => runtime.stats(),
  };
  installExitHook(runtime);
  last = handle;
  return handle;
}

function installExitHook(runtime: Runtime): void {
  // Best effort at exit: `beforeExit` fires when the event loop is empty; the flush keeps it busy
  // until delivered (or the timeout), then it fires again and finds nothing pending.
  let flushing = false;
  exitHook = () => {
    if (flushing || !runtime.running || !runtime.pending()) return;
    flushing = true;
    void runtime
      .flush(runtime.settings.shutdownTimeoutMs)
      .then((ok) => (ok ? undefined : runtime.shutdown(0)))
      .catch(() => undefined)
      .finally(() => {
        flushing = false;
      });
  };
  process.on("beforeExit", exitHook);
}

async function shutdownRuntime(runtime: Runtime, timeoutMs: number): Promise<boolean> {
  if (exitHook !== undefined) process.off("beforeExit", exitHook);
  exitHook = undefined;
  if (active() === runtime) {
    setActive(undefined);
    handle = undefined;
  }
  return runtime.shutdown(timeoutMs);
}

/** Deliver everything recorded so far; resolves `true` if it all arrived within `timeoutMs`. */
export async function flush(timeoutMs = 5_000): Promise<boolean> {
  return handle === undefined ? true : handle.flush(timeoutMs);
}

/** Flush, then stop recording (the SDKs stay patched but record nothing; see `uninstrument`). */
export async function shutdown(timeoutMs = 5_000): Promise<boolean> {
  return handle === undefined ? true : handle.shutdown(timeoutMs);
}

/** Shut down and restore every patched SDK method. */
export async function uninstrument(timeoutMs = 5_000): Promise<boolean> {
  const ok = await shutdown(timeoutMs);
  unpatchAll();
  return ok;
}

/** Counters: spans published, dropped (per reason), per-sink delivery, internal errors; after
 * `shutdown()`, those of the last run. `undefined` before the first `instrument()`. */
export function stats(): PeekrStats | undefined {
  return (handle ?? last)?.stats();
}

/** A user span as seen inside `span(name, fn)`. */
export interface SpanHandle {
  readonly traceId: string;
  readonly spanId: string;
  readonly isRecording: boolean;
  setAttribute(key: string, value: unknown): void;
  setAttributes(values: Record<string, unknown>): void;
}

const NON_RECORDING: SpanHandle = {
  traceId: "0".repeat(32),
  spanId: "0".repeat(16),
  isRecording: false,
  setAttribute() {},
  setAttributes() {},
};

function spanHandle(span: ActiveSpan): SpanHandle {
  return {
    traceId: span.traceId,
    spanId: span.spanId,
    get isRecording() {
      return !span.ended;
    },
    setAttribute: (key, value) => void guard("span.setAttribute", () => (span.attributes[key] = value)),
    setAttributes: (values) => void guard("span.setAttributes", () => Object.assign(span.attributes, values)),
  };
}

/**
 * Run `fn` inside a span of your own; LLM calls inside become its children. The span ends when `fn`
 * returns, or when the promise it returns settles; an error is recorded and re-thrown untouched.
 *
 * @example
 * await span("answer-question", async (s) => { s.setAttribute("question_id", 7); return llm(...); });
 */
export function span<T>(name: string, fn: (span: SpanHandle) => T, attributes?: Record<string, unknown>): T {
  if (typeof name !== "string" || name === "") throw new TypeError(`span(name, fn) expects a non-empty string name, got ${describe(name)}`);
  if (typeof fn !== "function") throw new TypeError(`span(name, fn) expects a function, got ${describe(fn)}`);
  return runInSpan(name, fn, attributes, undefined);
}

function runInSpan<T>(
  name: string,
  fn: (span: SpanHandle) => T,
  attributes: Record<string, unknown> | undefined,
  parent: SpanContext | undefined,
): T {
  const active = guard("span.start", () => startSpan(name, attributes ? { ...attributes } : undefined, parent));
  if (active === undefined) {
    if (parent === undefined) return fn(NON_RECORDING);
    // not recording, but keep the remote parent so traceparent() still continues the trace
    return storage.run({ ...storage.getStore(), span: parent }, () => fn(NON_RECORDING));
  }
  return storage.run({ ...storage.getStore(), span: active }, () => {
    let result: T;
    try {
      result = fn(spanHandle(active));
    } catch (err) {
      active.end(err);
      throw err;
    }
    if (result !== null && typeof result === "object" && typeof (result as any).then === "function") {
      (result as any).then(
        () => active.end(),
        (err: unknown) => active.end(err),
      );
      return result;
    }
    active.end();
    return result;
  });
}

/** The `traceparent` header naming the current span, to send to another service (or undefined). */
export function traceparent(): string | undefined {
  const current = storage.getStore()?.span;
  return current === undefined ? undefined : formatTraceparent(current);
}

/**
 * Continue a trace another service started: run `fn` with the span named by a `traceparent`
 * header as the parent of every span inside. A missing or malformed header starts a new trace.
 *
 * @example
 * app.post("/answer", (req, res) => continueTrace(req.headers.traceparent, () => handle(req, res)));
 */
export function continueTrace<T>(header: string | string[] | undefined | null, fn: () => T): T {
  if (typeof fn !== "function") throw new TypeError(`continueTrace(header, fn) expects a function, got ${describe(fn)}`);
  const value = Array.isArray(header) ? header[0] : header;
  const parent = parseTraceparent(value);
  if (parent === undefined) return fn();
  return storage.run({ ...storage.getStore(), span: parent }, fn);
}
