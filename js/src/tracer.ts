/**
 * Starting and ending spans: the one path every integration and manual span goes through.
 * `startSpan` does the least work it can on the caller's path (ids, a clock, a dict);
 * `ActiveSpan.end` hands the span to the runtime's bounded queue; encoding happens later.
 */
import { checkpoint, logInternalError, raiseInternalErrors, FaultInjected } from "./errors.js";
import { isoUtc, newSpanId, newTraceId, nowMicros } from "./ids.js";
import type { SpanRecord } from "./record.js";
import { storage } from "./store.js";
import type { SpanContext } from "./traceparent.js";
import { active, type Runtime } from "./runtime.js";

/** `{type: "openai.BadRequestError", message}` for the `error` attribute (Python's shape). */
export function errorInfo(err: unknown, pkg?: string): { type: string; message: string } {
  if (err instanceof Error) {
    const name = err.constructor?.name || err.name || "Error";
    const builtin = (globalThis as Record<string, unknown>)[name] === err.constructor;
    return { type: pkg && !builtin ? `${pkg}.${name}` : name, message: String(err.message).slice(0, 2000) };
  }
  return { type: typeof err, message: String(err).slice(0, 2000) };
}

/** A span being recorded. `attributes` is a plain object; `end()` only counts once. */
export class ActiveSpan implements SpanContext {
  readonly spanId: string;
  status: "ok" | "error" = "ok";
  ended = false;
  private readonly startPerf = performance.now();
  private durationMs = 0;

  /** `startMicros`: the start time (epoch µs), one clock reading for it and the ids' time tick. */
  constructor(
    readonly runtime: Runtime,
    readonly name: string,
    readonly traceId: string,
    readonly parentId: string | null,
    readonly tenantId: string | null,
    readonly retentionClass: string,
    readonly attributes: Record<string, unknown>,
    private readonly startMicros: number = nowMicros(),
  ) {
    this.spanId = newSpanId(startMicros);
  }

  /** Milliseconds since the span started. */
  elapsedMs(): number {
    return performance.now() - this.startPerf;
  }

  /** Record time-to-first-token (`ttft_ms`) once. */
  markFirstToken(): void {
    if (this.attributes.ttft_ms === undefined) this.attributes.ttft_ms = Math.round(this.elapsedMs() * 1000) / 1000;
  }

  /** Mark the span failed with this error (the error itself is not touched). */
  recordError(err: unknown, pkg?: string): void {
    this.status = "error";
    this.attributes.error = errorInfo(err, pkg);
  }

  /** Finish the span and queue it for the sinks. Only the first call counts; never throws. */
  end(error?: unknown, pkg?: string): void {
    if (this.ended) return;
    this.ended = true;
    this.durationMs = performance.now() - this.startPerf;
    try {
      checkpoint("span.end");
      if (error !== undefined) this.recordError(error, pkg);
      if (this.retentionClass === "pii" && this.runtime.settings.redactPii) {
        for (const key of ["input", "output"]) {
          if (key in this.attributes) this.attributes[key] = "[redacted: retention_class=pii]";
        }
      }
      this.runtime.publish(this);
    } catch (err) {
      logInternalError("span.end", err);
      if (raiseInternalErrors() && !(err instanceof FaultInjected)) throw err;
    }
  }

  /** The finished record (built off the caller's path, when the queue is drained). */
  toRecord(): SpanRecord {
    const micros = Math.round(this.durationMs * 1000);
    return {
      trace_id: this.traceId,
      span_id: this.spanId,
      parent_id: this.parentId,
      name: this.name,
      start_time: isoUtc(this.startMicros),
      end_time: isoUtc(this.startMicros + micros),
      duration_ms: micros / 1000,
      status: this.status,
      tenant_id: this.tenantId,
      retention_class: this.retentionClass,
      attributes: this.attributes,
    };
  }
}

/**
 * Start a span, or return `undefined` when Peekr is not running or is suppressed here.
 * The parent is the current span unless `parent` is given (a remote `traceparent`). Session values
 * and tenant/retention defaults are resolved now: session > instrument() > environment.
 */
export function startSpan(
  name: string,
  attributes?: Record<string, unknown>,
  parent?: SpanContext,
): ActiveSpan | undefined {
  const runtime = active();
  if (runtime === undefined) return undefined;
  const store = storage.getStore();
  if (store?.suppressed) return undefined;
  const attrs: Record<string, unknown> = {};
  let tenantId = runtime.settings.tenantId;
  let retentionClass: string = runtime.settings.retentionClass;
  const session = store?.session;
  if (session !== undefined) {
    Object.assign(attrs, session.attributes);
    if (session.tenantId !== undefined) tenantId = session.tenantId;
    if (session.retentionClass !== undefined) retentionClass = session.retentionClass;
  }
  if (attributes) Object.assign(attrs, attributes);
  const from = parent ?? store?.span;
  const startMicros = nowMicros();
  return new ActiveSpan(
    runtime,
    name,
    from?.traceId ?? newTraceId(startMicros),
    from?.spanId ?? null,
    tenantId ?? null,
    retentionClass,
    attrs,
    startMicros,
  );
}
