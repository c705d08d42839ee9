/**
 * Google GenAI (`@google/genai`). The public `models.generateContent[Stream]` are arrow functions
 * each instance sets in its constructor, so the only prototype chokepoints are
 * `Models.prototype.generateContentInternal` and `generateContentStreamInternal`, patched in both
 * builds: instances created before `instrument()`, `chats.sendMessage[Stream]`, automatic function
 * calling and automatic continuation all go through them. One span per HTTP request (an AFC or
 * continuation loop gives one span per hop; Python's span covers the whole user call).
 *
 * Attributes follow Python (`peekr/integrations/_gemini_extract.py`): `model` is the response's
 * `modelVersion` when given, with `models/` removed; `tokens_input` = prompt + tool-use prompt;
 * `tokens_output` = candidates + thoughts; `tokens_total` = the reported total; a stream's last
 * reported usage wins.
 */
import { guard } from "../errors.js";
import { startSpan, type ActiveSpan } from "../tracer.js";
import { FirstToken, setCaptured, setResponseId } from "./common.js";
import { patchMethod } from "./patch.js";
import { pyJsonDumps } from "./pyjson.js";
import { observe } from "./streams.js";
import { endWhenCollected, iterating } from "./unread.js";

const NAME = "gemini.generate_content";
const PKG = "google.genai";
const REQUEST_FIELDS: Array<[string, string]> = [
  ["temperature", "temperature"],
  ["max_output_tokens", "maxOutputTokens"],
  ["top_p", "topP"],
  ["top_k", "topK"],
  ["stop_sequences", "stopSequences"],
  ["response_mime_type", "responseMimeType"],
];

function modelName(name: unknown): string | null {
  if (typeof name !== "string" || !name) return null;
  if (name.startsWith("models/") || name.includes("/models/")) return name.slice(name.lastIndexOf("models/") + 7) || name;
  return name;
}

function field(config: any, snake: string, camel: string): unknown {
  return config?.[snake] ?? config?.[camel];
}

function toolNames(tools: unknown): string[] {
  const names: string[] = [];
  for (const tool of Array.isArray(tools) ? tools : [tools]) {
    if (tool === null || typeof tool !== "object") continue;
    if (typeof (tool as any).callTool === "function") {
      names.push(String((tool as any).constructor?.name ?? "CallableTool"));
      continue;
    }
    for (const [key, value] of Object.entries(tool)) {
      if (value === null || value === undefined) continue;
      if (key === "functionDeclarations" || key === "function_declarations") {
        for (const declaration of (value as any[]) ?? []) if (declaration?.name) names.push(String(declaration.name));
      } else names.push(key);
    }
  }
  return names;
}

function describe(params: any, stream: boolean): Record<string, unknown> {
  const attributes: Record<string, unknown> = { provider: "gemini", model: modelName(params?.model) };
  if (stream) attributes.stream = true;
  const config = params?.config;
  const system = config ? field(config, "system_instruction", "systemInstruction") : undefined;
  setCaptured(attributes, "input", system !== undefined && system !== null ? { system, contents: params?.contents } : params?.contents);
  const request: Record<string, unknown> = {};
  if (config) {
    for (const [snake, camel] of REQUEST_FIELDS) {
      const value = field(config, snake, camel);
      if (value !== undefined && value !== null) request[snake] = value;
    }
    if (config.tools) request.tools = toolNames(config.tools);
  }
  if (stream) request.stream = true;
  if (Object.keys(request).length > 0) setCaptured(attributes, "request", request);
  return attributes;
}

/** What a response (or a stream so far) said: text, tool calls, finish reason, usage, model, id. */
class State {
  text: string[] | undefined;
  calls: any[] = [];
  finishReason: unknown;
  usage: any;
  modelVersion: unknown;
  responseId: string | undefined; // every chunk of a stream carries it: taken once, from the first

  add(chunk: any): void {
    if (chunk?.usageMetadata) this.usage = chunk.usageMetadata;
    if (chunk?.modelVersion) this.modelVersion = chunk.modelVersion;
    if (this.responseId === undefined && typeof chunk?.responseId === "string" && chunk.responseId) {
      this.responseId = chunk.responseId;
    }
    const candidate = chunk?.candidates?.[0];
    if (!candidate) return;
    if (candidate.finishReason != null) this.finishReason = candidate.finishReason;
    for (const part of candidate.content?.parts ?? []) {
      if (part?.text !== undefined && part.text !== null) {
        if (!part.thought) (this.text ??= []).push(part.text);
      } else if (part?.functionCall) this.calls.push(part.functionCall);
    }
  }

  apply(attributes: Record<string, unknown>): void {
    const version = modelName(this.modelVersion);
    if (version) attributes.model = version;
    setResponseId(attributes, this.responseId);
    if (this.text !== undefined) setCaptured(attributes, "output", this.text.join(""));
    if (this.calls.length > 0) {
      setCaptured(
        attributes,
        "tool_calls",
        this.calls.map((call) => ({ id: call.id ?? null, type: "function", name: call.name ?? null, arguments: pyJsonDumps(call.args ?? {}) })),
      );
    }
    if (this.finishReason != null) attributes.finish_reason = String(this.finishReason);
    const usage = this.usage;
    if (usage) {
      const prompt = usage.promptTokenCount;
      const toolPrompt = usage.toolUsePromptTokenCount;
      const candidates = usage.candidatesTokenCount;
      const thoughts = usage.thoughtsTokenCount;
      if (prompt != null || toolPrompt != null) attributes.tokens_input = (prompt ?? 0) + (toolPrompt ?? 0);
      if (candidates != null || thoughts != null) attributes.tokens_output = (candidates ?? 0) + (thoughts ?? 0);
      if (usage.totalTokenCount != null) attributes.tokens_total = usage.totalTokenCount;
      if (usage.cachedContentTokenCount != null) attributes.tokens_cache_read = usage.cachedContentTokenCount;
      if (thoughts != null) attributes.tokens_reasoning = thoughts;
    }
  }
}

function generate(original: (...args: any[]) => any) {
  return async function (this: any, params: any, ...rest: any[]): Promise<any> {
    const span = guard(`${NAME}.start`, () => startSpan(NAME, describe(params, false)));
    if (span === undefined) return original.call(this, params, ...rest);
    let response: any;
    try {
      response = await original.call(this, params, ...rest);
    } catch (err) {
      span.end(err, PKG);
      throw err;
    }
    guard(`${NAME}.result`, () => {
      const state = new State();
      state.add(response);
      state.apply(span.attributes);
    });
    span.end();
    return response;
  };
}

function streamObserver(span: ActiveSpan) {
  const state = new State();
  const ttft = new FirstToken(span);
  let started = false;
  return {
    onItem(chunk: unknown): boolean {
      if (!started) {
        started = true;
        iterating(span);
      }
      ttft.chunk();
      state.add(chunk);
      return false;
    },
    finish(error?: unknown): void {
      iterating(span);
      state.apply(span.attributes);
      span.end(error, PKG);
    },
  };
}

function generateStream(original: (...args: any[]) => any) {
  return async function (this: any, params: any, ...rest: any[]): Promise<any> {
    const span = guard(`${NAME}.start`, () => startSpan(NAME, describe(params, true)));
    if (span === undefined) return original.call(this, params, ...rest);
    let stream: any;
    try {
      stream = await original.call(this, params, ...rest);
    } catch (err) {
      span.end(err, PKG);
      throw err;
    }
    const traced = guard(`${NAME}.stream`, () => {
      if (stream === null || typeof stream[Symbol.asyncIterator] !== "function") return undefined;
      const generator = observe(stream[Symbol.asyncIterator](), streamObserver(span), `${NAME}.stream`);
      endWhenCollected(generator, span);
      return generator;
    });
    if (traced === undefined) span.end();
    return traced ?? stream;
  };
}

/** Patch one loaded build of `@google/genai`. */
export function patchGemini(mod: any): string[] {
  const proto = mod?.Models?.prototype;
  const done: string[] = [];
  if (patchMethod(proto, "generateContentInternal", generate)) done.push("generateContent");
  if (patchMethod(proto, "generateContentStreamInternal", generateStream)) done.push("generateContentStream");
  return done;
}
