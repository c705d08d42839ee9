/**
 * Turning request and response content into bounded, JSON-safe span attributes (as Python's
 * `peekr._capture`): long strings are cut at `maxFieldChars` with a visible marker, base64 payloads
 * become their size and a hash, containers are bounded in depth and length, and values under keys
 * that name secrets are replaced by `"[scrubbed]"`.
 */
import { createHash } from "node:crypto";

const MAX_DEPTH = 12;
const MAX_ITEMS = 1000;
const BASE64_MIN = 512;
const BASE64_RE = /^[A-Za-z0-9+/_\-\r\n]+={0,2}$/;
const SECRET_KEY_RE = /(api[_-]?key|authorization|password|passwd|secret|private[_-]?key|access[_-]?token|refresh[_-]?token|cookie)/i;
const DATA_URL_RE = /^data:([\w.+-]+\/[\w.+-]+)?(?:;[\w=.-]+)*;base64,/;

function digest(data: string | Uint8Array): string {
  return createHash("sha256").update(data).digest("hex").slice(0, 16);
}

function describeBase64(payload: string, mediaType: string | undefined): string {
  const size = Math.floor((payload.replace(/[\r\n]/g, "").length * 3) / 4);
  return `[${mediaType ?? "base64"}: ${size} bytes, sha256:${digest(payload)}]`;
}

function cutString(value: string, limit: number): string {
  if (value.length >= BASE64_MIN) {
    const match = DATA_URL_RE.exec(value);
    if (match) return describeBase64(value.slice(match[0].length), match[1]);
    if (BASE64_RE.test(value)) return describeBase64(value, undefined);
  }
  if (value.length > limit) {
    return `${value.slice(0, limit)}…[peekr: truncated ${value.length - limit} of ${value.length} chars]`;
  }
  return value;
}

/** A bounded, JSON-safe copy of `value` (see the module comment). Never throws on odd objects. */
export function toJsonable(value: unknown, limit = 20_000, depth = 0): unknown {
  if (value === null || value === undefined) return null;
  const kind = typeof value;
  if (kind === "boolean") return value;
  if (kind === "number") return Number.isFinite(value) ? value : null;
  if (kind === "bigint") return Number(value);
  if (kind === "string") return cutString(value as string, limit);
  if (kind === "function" || kind === "symbol") return cutString(String(value), limit);
  if (depth >= MAX_DEPTH) return "[peekr: nested too deep]";
  if (value instanceof Uint8Array || value instanceof ArrayBuffer) {
    const bytes = value instanceof ArrayBuffer ? new Uint8Array(value) : value;
    return `[bytes: ${bytes.byteLength} bytes, sha256:${digest(bytes)}]`;
  }
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? null : value.toISOString();
  if (Array.isArray(value) || value instanceof Set) {
    const items = Array.isArray(value) ? value : [...value];
    const out = items.slice(0, MAX_ITEMS).map((item) => toJsonable(item, limit, depth + 1));
    if (items.length > MAX_ITEMS) out.push(`[peekr: ${items.length - MAX_ITEMS} more items]`);
    return out;
  }
  const source = value instanceof Map ? Object.fromEntries(value) : (value as Record<string, unknown>);
  const toJSON = (source as { toJSON?: unknown }).toJSON;
  if (typeof toJSON === "function" && !(value instanceof Map)) {
    try {
      const converted = toJSON.call(source);
      if (converted !== source) return toJsonable(converted, limit, depth + 1);
    } catch {
      // fall through to the own enumerable properties
    }
  }
  const out: Record<string, unknown> = {};
  let i = 0;
  const keys = Object.keys(source);
  for (const key of keys) {
    if (i >= MAX_ITEMS) {
      out["…"] = `[peekr: ${keys.length - MAX_ITEMS} more keys]`;
      break;
    }
    i += 1;
    const item = source[key];
    if (item === undefined) continue; // JSON.stringify drops undefined too
    out[key] = item !== null && SECRET_KEY_RE.test(key) ? "[scrubbed]" : toJsonable(item, limit, depth + 1);
  }
  return out;
}
