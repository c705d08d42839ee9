/**
 * The running Peekr: settings, the bounded span queue and the sinks it drains into.
 *
 * `publish()` is O(1) and never blocks: a full queue drops the span and counts it. A timer
 * (unref'd, so it never keeps the process alive) drains the queue into every sink in batches;
 * a slow or failing sink only loses its own records, counted in `stats()`.
 */
import { addCost } from "./cost.js";
import { guard, internalErrorCount } from "./errors.js";
import type { SpanRecord } from "./record.js";
import type { ActiveSpan } from "./tracer.js";

/** Everything `instrument()` was configured with, after validation and environment defaults. */
export interface Settings {
  tenantId: string | undefined;
  retentionClass: string;
  captureContent: boolean;
  maxFieldChars: number;
  redactPii: boolean;
  queueSize: number;
  batchSize: number;
  flushIntervalMs: number;
  shutdownTimeoutMs: number;
}

/** A destination for finished spans. `write` must not block or throw; it may drop and count. */
export interface Sink {
  readonly name: string;
  write(records: SpanRecord[]): void;
  /** Resolve `true` once everything written so far is delivered (or dropped and counted). */
  flush(timeoutMs: number): Promise<boolean>;
  close(timeoutMs: number): Promise<boolean>;
  /** Whether records are waiting to be delivered. */
  pending(): boolean;
  stats(): Record<string, unknown>;
}

let current: Runtime | undefined;

/** The running runtime, if any. */
export function active(): Runtime | undefined {
  return current !== undefined && current.running ? current : undefined;
}

export function setActive(runtime: Runtime | undefined): void {
  current = runtime;
}

export class Runtime {
  running = true;
  private queue: ActiveSpan[] = [];
  private published = 0;
  private dropped = 0;
  private timer: NodeJS.Timeout | undefined;
  private draining = false;

  constructor(
    readonly settings: Settings,
    readonly sinks: Sink[],
  ) {
    this.timer = setInterval(() => this.drain(), settings.flushIntervalMs);
    this.timer.unref();
  }

  /** Queue a finished span (O(1), never throws into the caller). */
  publish(span: ActiveSpan): void {
    if (this.queue.length >= this.settings.queueSize) {
      this.dropped += 1;
      return;
    }
    this.published += 1;
    this.queue.push(span);
    if (this.queue.length === this.settings.batchSize) setImmediate(() => this.drain()).unref();
  }

  /** Hand every queued span to every sink (called by the timer, flush and shutdown). */
  drain(): void {
    if (this.draining || this.queue.length === 0) return;
    this.draining = true;
    const batch = this.queue;
    this.queue = [];
    try {
      const records =
        guard("runtime.encode", () =>
          batch.map((span) => {
            const record = span.toRecord();
            addCost(record.attributes); // pricing happens here, off the caller's path
            return record;
          }),
        ) ?? [];
      for (const sink of this.sinks) guard(`sink.${sink.name}.write`, () => sink.write(records));
    } finally {
      this.draining = false;
    }
  }

  pending(): boolean {
    return this.queue.length > 0 || this.sinks.some((sink) => sink.pending());
  }

  /** Deliver everything recorded so far; `true` if it all arrived within `timeoutMs`. */
  async flush(timeoutMs: number): Promise<boolean> {
    this.drain();
    const results = await Promise.all(
      this.sinks.map((sink) => sink.flush(timeoutMs).catch(() => false)),
    );
    return results.every(Boolean);
  }

  /** Flush, stop the timer and close the sinks. */
  async shutdown(timeoutMs: number): Promise<boolean> {
    this.drain();
    this.running = false;
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    const results = await Promise.all(this.sinks.map((sink) => sink.close(timeoutMs).catch(() => false)));
    return results.every(Boolean);
  }

  stats(): PeekrStats {
    const sinks: Record<string, Record<string, unknown>> = {};
    for (const sink of this.sinks) sinks[sink.name] = sink.stats();
    return {
      published: this.published,
      dropped: { queue_full: this.dropped },
      queued: this.queue.length,
      sinks,
      internalErrors: internalErrorCount(),
    };
  }
}

/** What `stats()` reports: every drop is counted here, never silent. */
export interface PeekrStats {
  published: number;
  dropped: { queue_full: number };
  queued: number;
  sinks: Record<string, Record<string, unknown>>;
  internalErrors: number;
}
