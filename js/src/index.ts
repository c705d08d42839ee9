/**
 * @peekr/sdk: auto-instrument the OpenAI, Anthropic, Gemini and Bedrock Node SDKs and record every
 * LLM call as a span, shaped exactly like Python Peekr's, to a JSONL file and/or a Peekr collector.
 */
export {
  instrument,
  flush,
  shutdown,
  uninstrument,
  stats,
  span,
  traceparent,
  continueTrace,
  type Instrumentation,
  type SpanHandle,
} from "./api.js";
export { session, suppressInstrumentation, type SessionOptions } from "./context.js";
export { parseTraceparent, formatTraceparent, type SpanContext } from "./traceparent.js";
export type { InstrumentOptions, Provider } from "./config.js";
export type { HttpExporterOptions } from "./sinks/http.js";
export type { PeekrStats } from "./runtime.js";
export type { SpanRecord } from "./record.js";
export type { RetentionClass } from "./retention.js";
export { injectFaults as _injectFaults } from "./errors.js";
export { VERSION } from "./version.js";
