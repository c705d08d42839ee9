/**
 * `instrument()` options: strict at the front door (a bad option throws at once, naming the value
 * and what was expected), lenient in the environment (a bad `PEEKR_*` variable warns and is ignored).
 */
import { describe } from "./context.js";
import { RETENTION_CLASSES, validateRetentionClass, type RetentionClass } from "./retention.js";
import type { Settings } from "./runtime.js";
import type { HttpExporterOptions } from "./sinks/http.js";

export const PROVIDERS = ["openai", "anthropic", "gemini", "bedrock"] as const;
export type Provider = (typeof PROVIDERS)[number];

export interface InstrumentOptions {
  /** The tenant every span belongs to, unless a `session()` says otherwise (env `PEEKR_TENANT_ID`). */
  tenantId?: string;
  /** `default` | `short` | `long` | `pii` (env `PEEKR_RETENTION_CLASS`). */
  retentionClass?: RetentionClass;
  /** Record prompts and responses (`input`/`output`/`tool_calls`/`request`); default true. */
  captureContent?: boolean;
  /** Cut captured strings longer than this (default 20 000 chars), with a visible marker. */
  maxFieldChars?: number;
  /** Replace `input`/`output` of `retentionClass: "pii"` spans (default true). */
  redactPii?: boolean;
  /** `"jsonl"`: append spans to `path` (what `peekr view` reads); `"none"`: keep nothing locally.
   *  Default: `"none"` when an exporter is given, else `"jsonl"`. */
  storage?: "jsonl" | "none";
  /** The JSONL file (default `traces.jsonl`). */
  path?: string;
  /** Send spans to a Peekr collector (`peekr server`). */
  exporter?: HttpExporterOptions;
  /** Which SDKs to patch (default: every installed one). */
  providers?: Provider[];
  /** SDK modules to patch explicitly, for bundled apps where `require("openai")` finds another copy. */
  modules?: Partial<Record<Provider, unknown>>;
  /** Finished spans waiting for the sinks before new ones are dropped (default 20 000). */
  queueSize?: number;
  /** How often the queue is drained (default 200 ms). */
  flushIntervalMs?: number;
  /** How long the exit flush may take (default 5 000 ms). */
  shutdownTimeoutMs?: number;
}

const KNOWN = new Set([
  "tenantId", "retentionClass", "captureContent", "maxFieldChars", "redactPii", "storage", "path", "exporter",
  "providers", "modules", "queueSize", "flushIntervalMs", "shutdownTimeoutMs",
]);

function envStr(name: string): string | undefined {
  const value = process.env[name]?.trim();
  return value ? value : undefined;
}

function envBool(name: string, fallback: boolean): boolean {
  const value = envStr(name)?.toLowerCase();
  if (value === undefined) return fallback;
  if (["1", "true", "yes", "on"].includes(value)) return true;
  if (["0", "false", "no", "off"].includes(value)) return false;
  console.warn(`peekr: ignoring ${name}=${JSON.stringify(value)} (expected true/false); using ${fallback}`);
  return fallback;
}

function envRetention(): RetentionClass | undefined {
  const value = envStr("PEEKR_RETENTION_CLASS");
  if (value === undefined) return undefined;
  if ((RETENTION_CLASSES as readonly string[]).includes(value)) return value as RetentionClass;
  console.warn(`peekr: ignoring PEEKR_RETENTION_CLASS=${JSON.stringify(value)}; expected one of: ${RETENTION_CLASSES.join(", ")}`);
  return undefined;
}

function positive(options: Record<string, unknown>, name: string, fallback: number, integer = true): number {
  const value = options[name];
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !Number.isFinite(value) || value <= 0 || (integer && !Number.isInteger(value))) {
    throw new RangeError(`instrument({${name}}) must be a positive ${integer ? "integer" : "number"}, got ${describe(value)}`);
  }
  return value;
}

function optionalString(options: Record<string, unknown>, name: string): string | undefined {
  const value = options[name];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "string" || value.trim() === "") {
    throw new TypeError(`instrument({${name}}) expects a non-empty string, got ${describe(value)}`);
  }
  return value;
}

function validateExporter(value: unknown): HttpExporterOptions | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "object") throw new TypeError(`instrument({exporter}) expects an object, got ${describe(value)}`);
  const exporter = value as Record<string, unknown>;
  if (exporter.type !== "http") {
    throw new TypeError(`instrument({exporter: {type}}) must be "http", got ${describe(exporter.type)}`);
  }
  const endpoint = exporter.endpoint;
  if (typeof endpoint !== "string" || !/^https?:\/\/[^/]/.test(endpoint)) {
    throw new TypeError(`instrument({exporter: {endpoint}}) must be an http:// or https:// URL of a Peekr collector, got ${describe(endpoint)}`);
  }
  if (typeof exporter.apiKey !== "string" || exporter.apiKey.trim() === "") {
    throw new TypeError("instrument({exporter: {apiKey}}) must be a non-empty string (create one with `peekr server keys create`)");
  }
  for (const name of ["timeoutMs", "maxBatchSize", "retryDeadlineMs", "maxQueueSize"]) {
    const n = exporter[name];
    if (n !== undefined && (typeof n !== "number" || !Number.isFinite(n) || n <= 0)) {
      throw new RangeError(`instrument({exporter: {${name}}}) must be a positive number, got ${describe(n)}`);
    }
  }
  return exporter as unknown as HttpExporterOptions;
}

export interface Resolved {
  settings: Settings;
  storage: "jsonl" | "none";
  path: string;
  exporter: HttpExporterOptions | undefined;
  providers: Provider[];
  modules: Partial<Record<Provider, unknown>>;
}

/** Validate `instrument()` options and fill defaults from the environment. */
export function resolveOptions(input: unknown): Resolved {
  if (input === undefined || input === null) input = {};
  if (typeof input !== "object" || Array.isArray(input)) {
    throw new TypeError(`instrument(options) expects an options object, got ${describe(input)}`);
  }
  const options = input as Record<string, unknown>;
  for (const key of Object.keys(options)) {
    if (!KNOWN.has(key)) throw new TypeError(`instrument() got an unknown option ${JSON.stringify(key)}; expected one of: ${[...KNOWN].join(", ")}`);
  }
  const tenantId = optionalString(options, "tenantId") ?? envStr("PEEKR_TENANT_ID");
  const retentionClass =
    options.retentionClass !== undefined
      ? validateRetentionClass(options.retentionClass, "instrument({retentionClass})")
      : envRetention() ?? "default";
  for (const name of ["captureContent", "redactPii"]) {
    if (options[name] !== undefined && typeof options[name] !== "boolean") {
      throw new TypeError(`instrument({${name}}) expects true or false, got ${describe(options[name])}`);
    }
  }
  const exporter = validateExporter(options.exporter);
  const storage = options.storage ?? (exporter ? "none" : "jsonl");
  if (storage !== "jsonl" && storage !== "none") {
    throw new TypeError(`instrument({storage}) must be "jsonl" or "none", got ${describe(storage)}`);
  }
  const path = optionalString(options, "path") ?? "traces.jsonl";
  let providers: Provider[] = [...PROVIDERS];
  if (options.providers !== undefined) {
    if (!Array.isArray(options.providers)) throw new TypeError(`instrument({providers}) expects an array, got ${describe(options.providers)}`);
    for (const name of options.providers) {
      if (!(PROVIDERS as readonly unknown[]).includes(name)) {
        throw new RangeError(`instrument({providers}) got ${describe(name)}; expected some of: ${PROVIDERS.join(", ")}`);
      }
    }
    providers = options.providers as Provider[];
  }
  const modules = (options.modules ?? {}) as Partial<Record<Provider, unknown>>;
  if (typeof modules !== "object") throw new TypeError(`instrument({modules}) expects an object, got ${describe(modules)}`);
  for (const key of Object.keys(modules)) {
    if (!(PROVIDERS as readonly string[]).includes(key)) {
      throw new RangeError(`instrument({modules}) got ${JSON.stringify(key)}; expected keys among: ${PROVIDERS.join(", ")}`);
    }
  }
  return {
    settings: {
      tenantId,
      retentionClass,
      captureContent: (options.captureContent as boolean | undefined) ?? envBool("PEEKR_CAPTURE_CONTENT", true),
      maxFieldChars: positive(options, "maxFieldChars", 20_000),
      redactPii: (options.redactPii as boolean | undefined) ?? true,
      queueSize: positive(options, "queueSize", 20_000),
      batchSize: 512,
      flushIntervalMs: positive(options, "flushIntervalMs", 200, false),
      shutdownTimeoutMs: positive(options, "shutdownTimeoutMs", 5_000, false),
    },
    storage,
    path,
    exporter,
    providers,
    modules,
  };
}
