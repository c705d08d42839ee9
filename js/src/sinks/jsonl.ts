/**
 * JSONL storage: one span per line, the same file `peekr view traces.jsonl` reads. Each batch is
 * one append on an `O_APPEND` descriptor (so several processes can share a file), done off the
 * event loop by libuv. Batches waiting for the disk are bounded; what does not fit is counted.
 */
import { mkdirSync, openSync, write, closeSync, fsyncSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { logInternalError } from "../errors.js";
import { recordToJson, type SpanRecord } from "../record.js";
import type { Sink } from "../runtime.js";

const MAX_PENDING_BATCHES = 64;

export class JsonlSink implements Sink {
  readonly name = "jsonl";
  readonly path: string;
  private fd: number | undefined;
  private chain: Promise<void> = Promise.resolve();
  private waiting = 0;
  private written = 0;
  private dropped = { backlog: 0, write_error: 0 };

  constructor(path: string) {
    this.path = resolve(path);
  }

  private open(): number {
    if (this.fd === undefined) {
      mkdirSync(dirname(this.path), { recursive: true });
      this.fd = openSync(this.path, "a", 0o644);
    }
    return this.fd;
  }

  write(records: SpanRecord[]): void {
    if (records.length === 0) return;
    if (this.waiting >= MAX_PENDING_BATCHES) {
      this.dropped.backlog += records.length;
      return;
    }
    const data = Buffer.from(records.map((r) => recordToJson(r) + "\n").join(""));
    this.waiting += 1;
    this.chain = this.chain.then(async () => {
      try {
        await appendAll(this.open(), data);
        this.written += records.length;
      } catch (err) {
        this.dropped.write_error += records.length;
        logInternalError("sink.jsonl.write", err);
      } finally {
        this.waiting -= 1;
      }
    });
  }

  pending(): boolean {
    return this.waiting > 0;
  }

  async flush(timeoutMs: number): Promise<boolean> {
    return withTimeout(this.chain.then(() => true), timeoutMs);
  }

  async close(timeoutMs: number): Promise<boolean> {
    const ok = await this.flush(timeoutMs);
    if (this.fd !== undefined) {
      try {
        fsyncSync(this.fd);
        closeSync(this.fd);
      } catch (err) {
        logInternalError("sink.jsonl.close", err);
      }
      this.fd = undefined;
    }
    return ok;
  }

  stats(): Record<string, unknown> {
    return { written: this.written, dropped: { ...this.dropped }, path: this.path };
  }
}

function appendAll(fd: number, data: Buffer): Promise<void> {
  return new Promise((resolveWrite, reject) => {
    const step = (offset: number): void => {
      write(fd, data, offset, data.length - offset, null, (err, n) => {
        if (err) reject(err);
        else if (offset + n < data.length) step(offset + n);
        else resolveWrite();
      });
    };
    step(0);
  });
}

/** Resolve `promise`'s value, or `false` after `timeoutMs`. */
export function withTimeout(promise: Promise<boolean>, timeoutMs: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((done) => {
    timer = setTimeout(() => done(false), timeoutMs);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
