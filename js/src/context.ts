/**
 * Context that follows the user's code across `await`, timers and callbacks (AsyncLocalStorage):
 * the current span (the parent of new spans), the merged session values, and suppression.
 */
import { validateRetentionClass, type RetentionClass } from "./retention.js";
import { storage } from "./store.js";

/** The merged values of every enclosing `session()`. */
export interface SessionData {
  tenantId?: string;
  retentionClass?: RetentionClass;
  attributes: Record<string, unknown>;
}

/** Options of `session()`; every field is optional and inner sessions inherit unset ones. */
export interface SessionOptions {
  userId?: string;
  tenantId?: string;
  sessionId?: string;
  retentionClass?: RetentionClass;
  experimentVariant?: string;
  feature?: string;
  endpoint?: string;
  /** Any other attributes to put on every span in the block. */
  attributes?: Record<string, unknown>;
}

const ATTRIBUTE_FIELDS: Array<[keyof SessionOptions, string]> = [
  ["sessionId", "session_id"],
  ["userId", "user_id"],
  ["experimentVariant", "experiment_variant"],
  ["feature", "feature"],
  ["endpoint", "endpoint"],
];
const STRING_FIELDS: Array<keyof SessionOptions> = [
  "userId",
  "tenantId",
  "sessionId",
  "experimentVariant",
  "feature",
  "endpoint",
];

function validateSession(options: unknown): SessionOptions {
  if (options === null || typeof options !== "object" || Array.isArray(options)) {
    throw new TypeError(`session(options, fn) expects an options object, got ${describe(options)}`);
  }
  const opts = options as SessionOptions;
  for (const name of STRING_FIELDS) {
    const value = opts[name];
    if (value !== undefined && value !== null && typeof value !== "string") {
      throw new TypeError(`session({${name}}) expects a string, got ${describe(value)}`);
    }
  }
  if (opts.retentionClass !== undefined) validateRetentionClass(opts.retentionClass, "session({retentionClass})");
  if (opts.attributes !== undefined && (opts.attributes === null || typeof opts.attributes !== "object")) {
    throw new TypeError(`session({attributes}) expects an object, got ${describe(opts.attributes)}`);
  }
  return opts;
}

export function describe(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value);
  if (typeof value === "function") return "a function";
  if (Array.isArray(value)) return "an array";
  try {
    return `${typeof value} ${JSON.stringify(value)}`;
  } catch {
    return typeof value;
  }
}

/**
 * Run `fn` with session values on every span it (and everything it awaits) records.
 * Values given here win over those given to `instrument()`, which win over the environment.
 *
 * @example
 * await session({ userId: "u1", tenantId: "acme" }, () => client.chat.completions.create(...));
 */
export function session<T>(options: SessionOptions, fn: () => T): T {
  const opts = validateSession(options);
  if (typeof fn !== "function") throw new TypeError(`session(options, fn) expects a function, got ${describe(fn)}`);
  const outer = storage.getStore();
  const own: Record<string, unknown> = { ...(opts.attributes ?? {}) };
  for (const [option, attribute] of ATTRIBUTE_FIELDS) {
    const value = opts[option];
    if (value !== undefined && value !== null) own[attribute] = value;
  }
  const merged: SessionData = {
    tenantId: opts.tenantId ?? outer?.session?.tenantId,
    retentionClass: opts.retentionClass ?? outer?.session?.retentionClass,
    attributes: { ...(outer?.session?.attributes ?? {}), ...own },
  };
  return storage.run({ ...outer, session: merged }, fn);
}

/** Run `fn` without recording any LLM call inside it (Peekr's own calls use this). */
export function suppressInstrumentation<T>(fn: () => T): T {
  return storage.run({ ...storage.getStore(), suppressed: true }, fn);
}
