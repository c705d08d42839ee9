/** W3C trace/span ids and microsecond ISO-8601 UTC timestamps. */
import { randomFillSync } from "node:crypto";

const POOL_BYTES = 4096;
const pool = Buffer.allocUnsafe(POOL_BYTES);
let offset = POOL_BYTES;

function randomHex(bytes: number): string {
  for (;;) {
    if (offset + bytes > POOL_BYTES) {
      randomFillSync(pool);
      offset = 0;
    }
    const hex = pool.toString("hex", offset, offset + bytes);
    offset += bytes;
    if (!/^0+$/.test(hex)) return hex; // all-zero ids are invalid in W3C trace context
  }
}

/** A random, non-zero W3C trace id (32 lowercase hex chars). */
export function newTraceId(): string {
  return randomHex(16);
}

/** A random, non-zero W3C span id (16 lowercase hex chars). */
export function newSpanId(): string {
  return randomHex(8);
}

/** Wall-clock time in epoch microseconds (`Date` has milliseconds only). */
export function nowMicros(): number {
  return Math.floor((performance.timeOrigin + performance.now()) * 1000);
}

/** Format epoch microseconds as `2026-11-27T09:21:10.123456Z`. */
export function isoUtc(micros: number): string {
  const ms = Math.floor(micros / 1000);
  const iso = new Date(ms).toISOString(); // 2026-11-27T09:21:10.123Z
  return `${iso.slice(0, 23)}${String(micros - ms * 1000).padStart(3, "0")}Z`;
}
