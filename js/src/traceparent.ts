/**
 * W3C `traceparent` (https://www.w3.org/TR/trace-context/#traceparent-header), read with the same
 * rules as Python's `peekr.integrations._asgi_traceparent`: anything malformed is ignored.
 */
export interface SpanContext {
  traceId: string;
  spanId: string;
}

const HEX = /^[0-9a-f]+$/;

/** `{traceId, spanId}` from a `traceparent` header value, or `undefined` when it is invalid. */
export function parseTraceparent(value: unknown): SpanContext | undefined {
  if (typeof value !== "string") return undefined;
  const parts = value.trim().split("-");
  if (parts.length < 4) return undefined;
  const [version, traceId, spanId, flags] = parts as [string, string, string, string];
  if (version.length !== 2 || !HEX.test(version) || version === "ff") return undefined;
  if (version === "00" && parts.length !== 4) return undefined;
  if (traceId.length !== 32 || spanId.length !== 16 || flags.length !== 2) return undefined;
  if (!HEX.test(traceId) || !HEX.test(spanId) || !HEX.test(flags)) return undefined;
  if (/^0+$/.test(traceId) || /^0+$/.test(spanId)) return undefined;
  return { traceId, spanId };
}

/** The `traceparent` header value naming `ctx` as the parent (sampled flag set). */
export function formatTraceparent(ctx: SpanContext): string {
  return `00-${ctx.traceId}-${ctx.spanId}-01`;
}
