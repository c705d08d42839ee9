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

/**
 * The time tick every id starts with, as the Python SDK does it: `time_ns >> 20` (~1 ms) modulo 2**16
 * (wrapping every ~69 s), 4 hex chars. Ids made at about the same time sit next to each other in
 * the collector's span-id and trace-id indexes (a commit rewrites a few index pages, not one per span),
 * while the leading digits of more than a minute of ids stay evenly spread.
 */
function tick(micros: number): string {
  return (Math.floor((micros * 1000) / 1048576) % 65536).toString(16).padStart(4, "0");
}

/**
 * A non-zero W3C trace id (32 lowercase hex chars): the time tick of `micros` (epoch microseconds, by
 * default now; a span passes its start time, so the id's tick is the start's), then 112 random bits.
 */
export function newTraceId(micros: number = nowMicros()): string {
  return tick(micros) + randomHex(14);
}

/** A non-zero W3C span id (16 lowercase hex chars): the time tick of `micros` (as above), then 48 random bits. */
export function newSpanId(micros: number = nowMicros()): string {
  return tick(micros) + randomHex(6);
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
