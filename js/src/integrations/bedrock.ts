/**
 * AWS Bedrock Runtime (`@aws-sdk/client-bedrock-runtime`): Converse, ConverseStream, InvokeModel and
 * InvokeModelWithResponseStream. `send` is inherited from the `Client.prototype` every AWS client
 * shares, so Peekr defines an *own* `send` on `BedrockRuntimeClient.prototype` (never touching S3 or
 * DynamoDB clients); it covers clients created before `instrument()` and the aggregated
 * `BedrockRuntime` class. Other commands and callback-style `send` go straight through.
 *
 * InvokeModel token counts live in response headers (`x-amzn-bedrock-*-token-count`), which the
 * output does not expose: an initialize-step middleware (outside the deserializer, so it sees both), added once per client on its first traced
 * call, reads them. Bodies are read without being consumed; streams are observed in place (their
 * own `[Symbol.asyncIterator]` is replaced), so the caller keeps the same output and stream objects.
 *
 * Attributes follow Python (`peekr/integrations/_bedrock_parse.py`, `_bedrock_invoke.py`):
 * `tokens_input` = input + cache read + cache write; `tokens_total` = the reported total, else
 * input + output. InvokeModel bodies are read for Claude (messages) and the Converse shape (Nova);
 * other model families get their tokens from the headers / invocation metrics only. `response_id` is
 * the body's own id where the family has one (Claude `id` / stream `message_start`, OpenAI-style
 * `id`, Cohere `id` / `response_id`); Converse has none (the AWS request id is not one).
 */
import { guard } from "../errors.js";
import { startSpan, type ActiveSpan } from "../tracer.js";
import { FirstToken, setCaptured, setResponseId } from "./common.js";
import { patchMethod } from "./patch.js";
import { pyJsonDumps } from "./pyjson.js";
import { observe } from "./streams.js";
import { endWhenCollected, unregisterOnUse } from "./unread.js";

const PKG = "@aws-sdk/client-bedrock-runtime";
const OPERATIONS: Record<string, [string, boolean]> = {
  ConverseCommand: ["bedrock.converse", false],
  ConverseStreamCommand: ["bedrock.converse", true],
  InvokeModelCommand: ["bedrock.invoke_model", false],
  InvokeModelWithResponseStreamCommand: ["bedrock.invoke_model", true],
};
const PARAMS: Record<string, string> = {
  maxTokens: "max_tokens", max_tokens: "max_tokens", max_new_tokens: "max_tokens", maxTokenCount: "max_tokens",
  max_gen_len: "max_tokens", max_completion_tokens: "max_tokens", temperature: "temperature", topP: "top_p",
  top_p: "top_p", p: "top_p", topK: "top_k", top_k: "top_k", k: "top_k", stopSequences: "stop_sequences",
  stop_sequences: "stop_sequences", stop: "stop_sequences",
};
const METRICS = "amazon-bedrock-invocationMetrics";
const HEADER = "x-amzn-bedrock-";

type Usage = { input?: unknown; output?: unknown; total?: unknown; read?: unknown; write?: unknown };

function toInt(value: unknown): number | undefined {
  if (typeof value === "number" && Number.isInteger(value)) return value;
  if (typeof value === "string" && /^\s*\d+\s*$/.test(value)) return Number(value);
  return undefined;
}

/** Set the token attributes from the first source reporting each count. */
function applyUsage(attrs: Record<string, unknown>, ...sources: Usage[]): void {
  const merged: Record<string, number> = {};
  for (const key of ["input", "output", "total", "read", "write"] as const) {
    for (const source of sources) {
      const value = toInt(source[key]);
      if (value !== undefined) {
        merged[key] = value;
        break;
      }
    }
  }
  const { input, output, total, read, write } = merged;
  if (read !== undefined) attrs.tokens_cache_read = read;
  if (write !== undefined) attrs.tokens_cache_write = write;
  let tokensIn = input;
  if (tokensIn !== undefined) {
    tokensIn += (read ?? 0) + (write ?? 0);
    attrs.tokens_input = tokensIn;
  }
  if (output !== undefined) attrs.tokens_output = output;
  if (total !== undefined) attrs.tokens_total = total;
  else if (tokensIn !== undefined && output !== undefined) attrs.tokens_total = tokensIn + output;
}

function params(into: Record<string, unknown>, source: unknown): void {
  if (source === null || typeof source !== "object") return;
  for (const [key, value] of Object.entries(source)) {
    const name = PARAMS[key];
    if (name !== undefined && !(name in into) && ["number", "string"].includes(typeof value)) into[name] = value;
    else if (name !== undefined && !(name in into) && Array.isArray(value)) into[name] = value;
  }
}

function converseRequest(input: any, stream: boolean): Record<string, unknown> {
  const request: Record<string, unknown> = {};
  params(request, input.inferenceConfig);
  params(request, input.additionalModelRequestFields);
  const toolConfig = input.toolConfig;
  if (toolConfig && typeof toolConfig === "object") {
    const names = (toolConfig.tools ?? []).filter((t: any) => t?.toolSpec).map((t: any) => t.toolSpec.name);
    if (names.length > 0) request.tools = names;
    const choice = toolConfig.toolChoice;
    if (choice && typeof choice === "object" && Object.keys(choice).length > 0) request.tool_choice = Object.keys(choice)[0];
  }
  if (stream) request.stream = true;
  return request;
}

function invokeRequest(body: any, stream: boolean): Record<string, unknown> {
  const request: Record<string, unknown> = {};
  if (body && typeof body === "object" && !Array.isArray(body)) {
    params(request, body);
    params(request, body.inferenceConfig);
    params(request, body.textGenerationConfig);
    if (Array.isArray(body.tools)) {
      const names = body.tools.map((t: any) => t?.function?.name ?? t?.name).filter(Boolean);
      if (names.length > 0) request.tools = names;
    }
  }
  if (stream) request.stream = true;
  return request;
}

const decoder = new TextDecoder();

function jsonBody(body: unknown): unknown {
  try {
    if (typeof body === "string") return JSON.parse(body);
    if (body instanceof Uint8Array) return JSON.parse(decoder.decode(body));
  } catch {
    // not JSON: no input recorded
  }
  return undefined;
}

function describe(name: string, stream: boolean, input: any): Record<string, unknown> {
  const attrs: Record<string, unknown> = { provider: "bedrock", model: input?.modelId ?? null };
  if (stream) attrs.stream = true;
  let request: Record<string, unknown>;
  if (name === "bedrock.converse") {
    setCaptured(attrs, "input", input.system ? { system: input.system, messages: input.messages } : input.messages);
    request = converseRequest(input, stream);
  } else {
    const body = jsonBody(input?.body);
    if (body !== undefined) setCaptured(attrs, "input", body);
    request = invokeRequest(body, stream);
  }
  if (Object.keys(request).length > 0) setCaptured(attrs, "request", request);
  return attrs;
}

function toolCall(id: unknown, name: unknown, args: unknown): Record<string, unknown> {
  return { id: id ?? null, type: "function", name: name ?? null, arguments: args };
}

function recordOutput(attrs: Record<string, unknown>, text: string | undefined, calls: unknown[], finish: unknown): void {
  if (text !== undefined) setCaptured(attrs, "output", text);
  if (calls.length > 0) setCaptured(attrs, "tool_calls", calls);
  if (typeof finish === "string") attrs.finish_reason = finish;
}

function converseUsage(usage: any): Usage {
  if (!usage || typeof usage !== "object") return {};
  return {
    input: usage.inputTokens,
    output: usage.outputTokens,
    total: usage.totalTokens,
    read: usage.cacheReadInputTokens ?? usage.cacheReadInputTokenCount,
    write: usage.cacheWriteInputTokens ?? usage.cacheWriteInputTokenCount,
  };
}

function converseOutput(response: any): [string, unknown[], unknown] {
  const texts: string[] = [];
  const calls: unknown[] = [];
  for (const block of response?.output?.message?.content ?? []) {
    if (typeof block?.text === "string") texts.push(block.text);
    else if (block?.toolUse) calls.push(toolCall(block.toolUse.toolUseId, block.toolUse.name, pyJsonDumps(block.toolUse.input)));
  }
  return [texts.join(""), calls, response?.stopReason];
}

/** The model's id of this response, for the families whose body carries one (as Python's `_body_id`). */
function bodyId(body: any): unknown {
  if (body === null || typeof body !== "object") return undefined;
  if (Array.isArray(body.content) || Array.isArray(body.choices) || Array.isArray(body.generations)) return body.id;
  if (typeof body.text === "string") return body.response_id; // Cohere command-r
  return undefined;
}

function claudeBody(body: any): [string | undefined, unknown[], unknown, Usage] {
  if (body?.output && typeof body.output === "object") {
    const [text, calls, finish] = converseOutput(body);
    return [text, calls, finish, converseUsage(body.usage)];
  }
  if (Array.isArray(body?.content)) {
    const texts: string[] = [];
    const calls: unknown[] = [];
    for (const block of body.content) {
      if (block?.type === "text") texts.push(String(block.text ?? ""));
      else if (block?.type === "tool_use") calls.push(toolCall(block.id, block.name, pyJsonDumps(block.input)));
    }
    const u = body.usage ?? {};
    return [texts.join(""), calls, body.stop_reason, { input: u.input_tokens, output: u.output_tokens, read: u.cache_read_input_tokens, write: u.cache_creation_input_tokens }];
  }
  return [undefined, [], undefined, {}];
}

/** Response headers per output object, filled by the deserialize middleware. */
const headersOf = new WeakMap<object, Record<string, string>>();
const withMiddleware = new WeakSet<object>();

function addHeaderMiddleware(client: any): void {
  if (withMiddleware.has(client)) return;
  withMiddleware.add(client);
  client.middlewareStack?.add(
    (next: any) => async (args: any) => {
      const result = await next(args);
      guard("bedrock.headers", () => {
        const headers = result?.response?.headers;
        if (result?.output && typeof result.output === "object" && headers) headersOf.set(result.output, headers);
      });
      return result;
    },
    { step: "initialize", name: "peekrBedrockHeaders", override: true },
  );
}

function headerUsage(output: object): Usage {
  const headers = headersOf.get(output);
  if (!headers) return {};
  const get = (name: string): unknown => headers[HEADER + name] ?? headers[(HEADER + name).toLowerCase()];
  return {
    input: get("input-token-count"),
    output: get("output-token-count"),
    read: get("cache-read-input-token-count"),
    write: get("cache-write-input-token-count"),
  };
}

function converseStreamObserver(span: ActiveSpan) {
  const texts: string[] = [];
  const tools = new Map<unknown, [unknown, unknown, string[]]>();
  let stopReason: unknown;
  let metadata: any;
  let content = false;
  const ttft = new FirstToken(span);
  return {
    onItem(event: any): boolean {
      ttft.chunk();
      if (event?.contentBlockDelta) {
        const block = event.contentBlockDelta;
        if (!content) {
          content = true;
          ttft.contentArrived();
        }
        const delta = block.delta ?? {};
        if (typeof delta.text === "string") texts.push(delta.text);
        else if (delta.toolUse) {
          const entry = tools.get(block.contentBlockIndex) ?? [null, null, []];
          tools.set(block.contentBlockIndex, entry);
          entry[2].push(delta.toolUse.input ?? "");
        }
      } else if (event?.contentBlockStart) {
        const use = event.contentBlockStart.start?.toolUse;
        if (use) {
          const entry = tools.get(event.contentBlockStart.contentBlockIndex) ?? [null, null, []];
          entry[0] = use.toolUseId;
          entry[1] = use.name;
          tools.set(event.contentBlockStart.contentBlockIndex, entry);
        }
      } else if (event?.messageStop) stopReason = event.messageStop.stopReason;
      else if (event?.metadata) metadata = event.metadata;
      return false;
    },
    finish(error?: unknown): void {
      const attrs = span.attributes;
      const calls = [...tools.values()].map(([id, name, parts]) => toolCall(id, name, parts.join("")));
      recordOutput(attrs, texts.join(""), calls, stopReason);
      applyUsage(attrs, converseUsage(metadata?.usage));
      if (!content) delete attrs.ttft_ms;
      span.end(error, PKG);
    },
  };
}

function invokeStreamObserver(span: ActiveSpan) {
  const chunks: Uint8Array[] = [];
  let content = false;
  const ttft = new FirstToken(span);
  return {
    onItem(event: any): boolean {
      ttft.chunk();
      const bytes = event?.chunk?.bytes;
      if (bytes instanceof Uint8Array) {
        chunks.push(bytes);
        if (!content) {
          const text = decoder.decode(bytes);
          if (!/"(message_start|content_block_start|messageStart|contentBlockStart)"/.test(text)) {
            content = true;
            ttft.contentArrived();
          }
        }
      }
      return false;
    },
    finish(error?: unknown): void {
      guard("bedrock.invoke_stream.record", () => recordInvokeStream(span.attributes, chunks));
      if (!content) delete span.attributes.ttft_ms;
      span.end(error, PKG);
    },
  };
}

function recordInvokeStream(attrs: Record<string, unknown>, raw: Uint8Array[]): void {
  const chunks: any[] = [];
  for (const bytes of raw) {
    try {
      const value = JSON.parse(decoder.decode(bytes));
      if (value && typeof value === "object") chunks.push(value);
    } catch {
      // a chunk that is not JSON is skipped
    }
  }
  const metrics = [...chunks].reverse().find((c) => c[METRICS] && typeof c[METRICS] === "object")?.[METRICS] ?? {};
  let bodyUsage: Usage = {};
  if (chunks.some((c) => typeof c.type === "string")) {
    const texts: string[] = [];
    const tools = new Map<unknown, [unknown, unknown, string[]]>();
    let stop: unknown;
    let startUsage: any = {};
    let outputTokens: unknown;
    for (const chunk of chunks) {
      if (chunk.type === "content_block_delta") {
        const delta = chunk.delta ?? {};
        if (delta.type === "text_delta") texts.push(String(delta.text ?? ""));
        else if (delta.type === "input_json_delta") {
          const entry = tools.get(chunk.index) ?? [null, null, []];
          tools.set(chunk.index, entry);
          entry[2].push(String(delta.partial_json ?? ""));
        }
      } else if (chunk.type === "content_block_start" && chunk.content_block?.type === "tool_use") {
        const entry = tools.get(chunk.index) ?? [null, null, []];
        entry[0] = chunk.content_block.id;
        entry[1] = chunk.content_block.name;
        tools.set(chunk.index, entry);
      } else if (chunk.type === "message_delta") {
        stop = chunk.delta?.stop_reason ?? stop;
        outputTokens = chunk.usage?.output_tokens ?? outputTokens;
      } else if (chunk.type === "message_start") {
        startUsage = chunk.message?.usage ?? {};
        setResponseId(attrs, chunk.message?.id);
      }
    }
    const calls = [...tools.values()].map(([id, name, parts]) => toolCall(id, name, parts.join("")));
    recordOutput(attrs, texts.join(""), calls, stop);
    bodyUsage = {
      input: startUsage.input_tokens,
      output: outputTokens ?? startUsage.output_tokens,
      read: startUsage.cache_read_input_tokens,
      write: startUsage.cache_creation_input_tokens,
    };
  } else if (!chunks.some((c) => "messageStart" in c || "contentBlockDelta" in c || "messageStop" in c)) {
    for (const chunk of chunks) if (setResponseId(attrs, bodyId(chunk))) break; // OpenAI-style chunks
  }
  applyUsage(
    attrs,
    { input: metrics.inputTokenCount, output: metrics.outputTokenCount, read: metrics.cacheReadInputTokenCount, write: metrics.cacheWriteInputTokenCount },
    bodyUsage,
  );
}

function onOutput(span: ActiveSpan, stream: boolean, output: any): void {
  const attrs = span.attributes;
  if (output === null || typeof output !== "object") {
    span.end();
    return;
  }
  if (span.name === "bedrock.converse" && !stream) {
    recordOutput(attrs, ...converseOutput(output));
    applyUsage(attrs, converseUsage(output.usage));
    span.end();
    return;
  }
  if (!stream) {
    const body = jsonBody(output.body);
    setResponseId(attrs, bodyId(body));
    const [text, calls, finish, usage] = claudeBody(body);
    recordOutput(attrs, text, calls, finish);
    applyUsage(attrs, headerUsage(output), usage);
    span.end();
    return;
  }
  const source = span.name === "bedrock.converse" ? output.stream : output.body;
  const iterate = source?.[Symbol.asyncIterator];
  if (typeof iterate !== "function") {
    span.end();
    return;
  }
  const observer = unregisterOnUse(span.name === "bedrock.converse" ? converseStreamObserver(span) : invokeStreamObserver(span), span);
  source[Symbol.asyncIterator] = () => observe(iterate.call(source), observer, `${span.name}.stream`);
  endWhenCollected(source, span);
}

function operationOf(command: any): [string, boolean] | undefined {
  const name = command?.constructor?.name;
  return typeof name === "string" && Object.hasOwn(OPERATIONS, name) ? OPERATIONS[name] : undefined;
}

function send(original: (...args: any[]) => any) {
  return function (this: any, command: any, optionsOrCb?: unknown, cb?: unknown): any {
    const operation = operationOf(command);
    if (operation === undefined || typeof optionsOrCb === "function" || typeof cb === "function") {
      return original.apply(this, arguments as any);
    }
    const [name, stream] = operation;
    const span = guard(`${name}.start`, () => startSpan(name, describe(name, stream, command.input ?? {})));
    if (span === undefined) return original.apply(this, arguments as any);
    if (name === "bedrock.invoke_model" && !stream) guard("bedrock.middleware", () => addHeaderMiddleware(this));
    let promise: any;
    try {
      promise = original.apply(this, arguments as any);
    } catch (err) {
      span.end(err, PKG);
      throw err;
    }
    if (promise === null || typeof promise?.then !== "function") {
      span.end();
      return promise;
    }
    return promise.then(
      (output: any) => {
        const done = guard(`${name}.result`, () => {
          onOutput(span, stream, output);
          return true;
        });
        if (done === undefined) span.end();
        return output;
      },
      (err: unknown) => {
        span.end(err, PKG);
        throw err;
      },
    );
  };
}

/** Patch `BedrockRuntimeClient.prototype` with an own `send`. */
export function patchBedrock(mod: any): string[] {
  return patchMethod(mod?.BedrockRuntimeClient?.prototype, "send", send) ? ["send"] : [];
}
