/** Pieces every provider integration shares: captured content, request parameters, usage. */
import { toJsonable } from "../capture.js";
import { active } from "../runtime.js";

/** `attributes[key] = bounded copy of value`, unless content capture is off or the value is missing. */
export function setCaptured(attributes: Record<string, unknown>, key: string, value: unknown): void {
  const runtime = active();
  if (runtime === undefined || !runtime.settings.captureContent || value === undefined) return;
  attributes[key] = toJsonable(value, runtime.settings.maxFieldChars);
}

/** Names of the tools offered (function name, else the tool's `type`). */
export function toolNames(tools: unknown): string[] | undefined {
  if (!Array.isArray(tools)) return undefined;
  return tools.map((tool: any) => {
    const fn = tool?.function;
    const name = fn && typeof fn === "object" ? fn.name : tool?.name;
    return String(name || tool?.type || "?");
  });
}

function formatType(value: any): unknown {
  if (value && typeof value === "object") return value.type;
  return value;
}

/** The request parameters the caller gave, among `keys` (plus tools and formats, summarised). */
export function requestAttribute(body: Record<string, any>, keys: ReadonlySet<string>): Record<string, unknown> {
  const request: Record<string, unknown> = {};
  for (const key of Object.keys(body)) {
    const value = body[key];
    if (keys.has(key) && value !== undefined && value !== null) request[key] = value;
  }
  const names = toolNames(body.tools);
  if (names !== undefined) request.tools = names;
  if (body.response_format !== undefined && body.response_format !== null) {
    request.response_format = formatType(body.response_format);
  }
  const format = body.text?.format;
  if (format && typeof format === "object") request.response_format = format.type;
  if (body.reasoning && typeof body.reasoning === "object" && body.reasoning.effort != null) {
    request.reasoning_effort = body.reasoning.effort;
  }
  return request;
}

/** `attributes.response_id` = the provider's id of this response, when it is a non-empty string. Returns whether it was set. */
export function setResponseId(attributes: Record<string, unknown>, value: unknown): boolean {
  if (typeof value !== "string" || value === "") return false;
  attributes.response_id = value;
  return true;
}

/** Set `key` when `value` is a number. */
export function setNumber(attributes: Record<string, unknown>, key: string, value: unknown): void {
  if (typeof value === "number" && Number.isFinite(value)) attributes[key] = value;
}

interface Timed {
  attributes: Record<string, unknown>;
  markFirstToken(): void;
}

/**
 * Time to first token, as Python records it: the first chunk of any kind sets `ttft_ms`, and the
 * first chunk with content (text or tool-call arguments) sets it again, once.
 */
export class FirstToken {
  private content = false;
  constructor(private readonly span: Timed) {}
  chunk(): void {
    if (this.span.attributes.ttft_ms === undefined) this.span.markFirstToken();
  }
  contentArrived(): void {
    if (this.content) return;
    this.content = true;
    delete this.span.attributes.ttft_ms;
    this.span.markFirstToken();
  }
}
