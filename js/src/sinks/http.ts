/**
 * HTTP exporter: spans to a Peekr collector in wire format v1 (docs/wire-format.md).
 *
 * Records wait in a bounded queue (overflow is dropped and counted) and leave in batches of at
 * most `maxBatchSize`, one request at a time, gzipped from 1 KiB. 429/502/503/504 and connection
 * errors are retried with `Retry-After` (seconds or HTTP-date) or exponential backoff with jitter,
 * within `retryDeadlineMs` per batch; 413 splits the batch in halves; 400/401/403/415 drop it and
 * log once. Nothing here ever rejects into the host: every failure ends as a counted drop.
 */
import { gzip } from "node:zlib";
import { promisify } from "node:util";
import { logInternalError } from "../errors.js";
import { recordToJson, type SpanRecord } from "../record.js";
import type { Sink } from "../runtime.js";
import { withTimeout } from "./jsonl.js";
import { VERSION } from "../version.js";

const gzipAsync = promisify(gzip);
const GZIP_MIN_BYTES = 1024;
const RETRY_STATUSES = new Set([429, 502, 503, 504]);

/** Options of the HTTP exporter (`instrument({ exporter: { type: "http", ... } })`). */
export interface HttpExporterOptions {
  type: "http";
  /** The collector's base URL; spans go to `{endpoint}/v1/ingest`. */
  endpoint: string;
  /** An ingest key from `peekr server keys create`. */
  apiKey: string;
  /** Per-request timeout (default 10 000). */
  timeoutMs?: number;
  /** Records per request (default 500). */
  maxBatchSize?: number;
  /** How long one batch is retried before it is dropped (default 30 000). */
  retryDeadlineMs?: number;
  /** Records waiting to be sent before new ones are dropped (default 10 000). */
  maxQueueSize?: number;
  /** Gzip bodies of 1 KiB or more (default true). */
  compress?: boolean;
  /** Extra request headers. */
  headers?: Record<string, string>;
}


export class HttpExporter implements Sink {
  readonly name = "http";
  private readonly url: string;
  private readonly headers: Record<string, string>;
  private readonly timeoutMs: number;
  private readonly maxBatchSize: number;
  private readonly retryDeadlineMs: number;
  private readonly maxQueueSize: number;
  private readonly compress: boolean;
  private queue: SpanRecord[] = [];
  private sending: Promise<void> | undefined;
  private closed = false;
  private logged = new Set<string>();
  private counts = { requests: 0, sent: 0, accepted: 0, duplicates: 0, rejected: 0, retries: 0 };
  private dropped: Record<string, number> = {};
  private sleeping = new Set<{ timer: NodeJS.Timeout; wake: () => void }>();

  constructor(options: HttpExporterOptions) {
    this.url = `${options.endpoint.replace(/\/+$/, "")}/v1/ingest`;
    this.headers = {
      "Content-Type": "application/json",
      Authorization: `Bearer ${options.apiKey.trim()}`,
      "User-Agent": `peekr-js/${VERSION}`,
      "Peekr-Wire-Version": "1",
      ...(options.headers ?? {}),
    };
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.maxBatchSize = options.maxBatchSize ?? 500;
    this.retryDeadlineMs = options.retryDeadlineMs ?? 30_000;
    this.maxQueueSize = options.maxQueueSize ?? 10_000;
    this.compress = options.compress ?? true;
  }

  private drop(reason: string, n: number): void {
    if (n > 0) this.dropped[reason] = (this.dropped[reason] ?? 0) + n;
  }

  private logOnce(key: string, message: string): void {
    if (this.logged.has(key)) return;
    this.logged.add(key);
    console.warn(`peekr: ${message}`);
  }

  write(records: SpanRecord[]): void {
    if (this.closed) {
      this.drop("closed", records.length);
      return;
    }
    const room = this.maxQueueSize - this.queue.length;
    if (records.length > room) this.drop("queue_full", records.length - Math.max(room, 0));
    if (room > 0) this.queue.push(...records.slice(0, room));
    this.kick();
  }

  private kick(): void {
    if (this.sending === undefined && this.queue.length > 0) {
      this.sending = this.sendLoop().finally(() => {
        this.sending = undefined;
        if (!this.closed) this.kick();
      });
    }
  }

  private async sendLoop(): Promise<void> {
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, this.maxBatchSize);
      try {
        await this.sendBatch(batch, Date.now() + this.retryDeadlineMs);
      } catch (err) {
        this.drop("internal_error", batch.length);
        logInternalError("sink.http.send", err);
      }
    }
  }

  private async sendBatch(batch: SpanRecord[], deadline: number): Promise<void> {
    const json = `{"version":1,"spans":[${batch.map(recordToJson).join(",")}]}`;
    let body: Buffer = Buffer.from(json);
    const headers = { ...this.headers };
    if (this.compress && body.length >= GZIP_MIN_BYTES) {
      body = await gzipAsync(body, { level: 5 });
      headers["Content-Encoding"] = "gzip";
    }
    for (let attempt = 1; ; attempt += 1) {
      let status = 0;
      let retryAfter: string | null = null;
      let text = "";
      try {
        this.counts.requests += 1;
        const response = await fetch(this.url, {
          method: "POST",
          headers,
          body,
          signal: AbortSignal.timeout(this.timeoutMs),
        });
        status = response.status;
        retryAfter = response.headers.get("retry-after");
        text = await response.text();
      } catch (err) {
        status = 0; // connection refused/reset, timeout: retried
        text = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
      }
      if (status >= 200 && status < 300) {
        this.accept(batch, text);
        return;
      }
      if (status === 413 && batch.length > 1) {
        const half = Math.ceil(batch.length / 2);
        await this.sendBatch(batch.slice(0, half), deadline);
        await this.sendBatch(batch.slice(half), deadline);
        return;
      }
      if (status !== 0 && !RETRY_STATUSES.has(status)) {
        this.drop(`http_${status}`, batch.length);
        this.logOnce(`http_${status}`, `the collector refused spans with HTTP ${status} (${errorCode(text)}); dropping them`);
        return;
      }
      const delay = retryDelay(retryAfter, attempt);
      if (this.closed || Date.now() + delay > deadline) {
        this.drop(status === 0 ? "connection_error" : `http_${status}`, batch.length);
        this.logOnce(`gaveup`, `gave up sending ${batch.length} spans to ${this.url} (${status || text})`);
        return;
      }
      this.counts.retries += 1;
      await this.sleep(delay);
      if (this.closed) {
        this.drop("shutdown", batch.length);
        return;
      }
    }
  }

  private accept(batch: SpanRecord[], text: string): void {
    this.counts.sent += batch.length;
    try {
      const answer = JSON.parse(text) as { accepted?: number; duplicates?: number; rejected?: unknown[] };
      this.counts.accepted += answer.accepted ?? 0;
      this.counts.duplicates += answer.duplicates ?? 0;
      const rejected = Array.isArray(answer.rejected) ? answer.rejected : [];
      if (rejected.length > 0) {
        this.counts.rejected += rejected.length;
        this.drop("rejected", rejected.length);
        this.logOnce("rejected", `the collector rejected ${rejected.length} spans: ${JSON.stringify(rejected[0])}`);
      }
    } catch {
      // a 2xx without the JSON answer: the spans were taken
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((wake) => {
      const entry = { timer: setTimeout(() => done(), ms), wake: () => done() };
      const done = (): void => {
        clearTimeout(entry.timer);
        this.sleeping.delete(entry);
        wake();
      };
      this.sleeping.add(entry);
    });
  }

  pending(): boolean {
    return this.queue.length > 0 || this.sending !== undefined;
  }

  async flush(timeoutMs: number): Promise<boolean> {
    this.kick();
    const idle = async (): Promise<boolean> => {
      while (this.sending !== undefined) await this.sending;
      return true;
    };
    return withTimeout(idle(), timeoutMs);
  }

  async close(timeoutMs: number): Promise<boolean> {
    const ok = await this.flush(timeoutMs);
    this.closed = true;
    for (const entry of [...this.sleeping]) entry.wake(); // a batch waiting to retry gives up now
    this.drop("shutdown", this.queue.length);
    this.queue = [];
    return ok;
  }

  stats(): Record<string, unknown> {
    return { ...this.counts, queued: this.queue.length, dropped: { ...this.dropped } };
  }
}

const MIN_RETRY_MS = 100; // a `Retry-After: 0` must not turn into a tight request loop

/** Milliseconds to wait before retry `attempt`: `Retry-After` when given, else backoff with jitter. */
export function retryDelay(retryAfter: string | null, attempt: number): number {
  if (retryAfter) {
    const seconds = Number(retryAfter);
    if (Number.isFinite(seconds) && seconds >= 0) return Math.max(MIN_RETRY_MS, seconds * 1000);
    const date = Date.parse(retryAfter);
    if (!Number.isNaN(date)) return Math.max(MIN_RETRY_MS, date - Date.now());
  }
  const ceiling = Math.min(10_000, 500 * 2 ** (attempt - 1));
  return ceiling / 2 + Math.random() * (ceiling / 2);
}

function errorCode(text: string): string {
  try {
    const error = (JSON.parse(text) as { error?: { code?: string } }).error;
    return error?.code ?? text.slice(0, 200);
  } catch {
    return text.slice(0, 200);
  }
}
