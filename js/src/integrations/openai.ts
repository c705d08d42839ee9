/**
 * OpenAI (`openai` >= 5): `chat.completions.create` (which `parse`, `stream()` and `runTools` call),
 * `responses.create` (which `parse` and `stream()` call) and `embeddings.create`, patched on the
 * prototypes of both the CommonJS and the ESM build, so clients created before `instrument()`
 * and `AzureOpenAI` clients are traced. One span per `create` call.
 *
 * Stream usage: streamed chat completions report tokens only with
 * `stream_options: {include_usage: true}`. As Python does, when the caller did not mention
 * `include_usage`, Peekr asks for it on a copy of the body and hides exactly that last chunk
 * (`choices: []`) from the caller, so their code sees the stream it would have seen.
 */
import type { ActiveSpan } from "../tracer.js";
import { FirstToken, requestAttribute, setCaptured, setNumber, setResponseId } from "./common.js";
import { patchMethod } from "./patch.js";
import { stainlessCreate, type CallSpec } from "./stainless.js";

const PKG = "openai";
const CHAT_KEYS = new Set([
  "temperature", "top_p", "max_tokens", "max_completion_tokens", "stop", "n", "seed", "frequency_penalty",
  "presence_penalty", "logprobs", "top_logprobs", "tool_choice", "parallel_tool_calls", "reasoning_effort",
  "service_tier", "modalities", "verbosity", "stream",
]);
const RESPONSES_KEYS = new Set([
  "temperature", "top_p", "max_output_tokens", "max_tool_calls", "tool_choice", "parallel_tool_calls",
  "truncation", "service_tier", "top_logprobs", "background", "stream",
]);
const EMBEDDING_KEYS = new Set(["dimensions", "encoding_format"]);
const FINAL_EVENTS = new Set(["response.completed", "response.incomplete", "response.failed"]);

function provider(self: any): string {
  let klass = self?._client?.constructor;
  while (klass && klass !== Object) {
    if (klass.name === "AzureOpenAI") return "azure";
    klass = Object.getPrototypeOf(klass);
  }
  return "openai";
}

function base(body: Record<string, any>, self: any): Record<string, unknown> {
  const attributes: Record<string, unknown> = { provider: provider(self) };
  if (typeof body.model === "string") attributes.model = body.model;
  if (body.stream === true) attributes.stream = true;
  return attributes;
}

/** Token counts from a chat (`prompt`/`completion`) or Responses (`input`/`output`) usage object. */
function recordUsage(attributes: Record<string, unknown>, usage: any, inName: string, outName: string): void {
  if (!usage || typeof usage !== "object") return;
  const tokensIn = usage[`${inName}_tokens`];
  const tokensOut = usage[`${outName}_tokens`];
  setNumber(attributes, "tokens_input", tokensIn);
  setNumber(attributes, "tokens_output", tokensOut);
  let total = usage.total_tokens;
  if (typeof total !== "number" && typeof tokensIn === "number" && typeof tokensOut === "number") total = tokensIn + tokensOut;
  setNumber(attributes, "tokens_total", total);
  const inDetails = usage[`${inName}_tokens_details`];
  if (inDetails) {
    setNumber(attributes, "tokens_cache_read", inDetails.cached_tokens);
    setNumber(attributes, "tokens_cache_write", inDetails.cache_write_tokens);
  }
  setNumber(attributes, "tokens_reasoning", usage[`${outName}_tokens_details`]?.reasoning_tokens);
}

// -- chat completions -----------------------------------------------------------------------------

function toolCall(call: any): Record<string, unknown> {
  if (call?.function) return { id: call.id, type: "function", name: call.function.name, arguments: call.function.arguments };
  return { id: call?.id ?? null, type: call?.type ?? null, name: call?.custom?.name ?? null, arguments: call?.custom?.input ?? null };
}

function recordChat(span: ActiveSpan, completion: any): void {
  const attributes = span.attributes;
  setResponseId(attributes, completion?.id);
  if (completion?.model) attributes.model = completion.model;
  recordUsage(attributes, completion?.usage, "prompt", "completion");
  const choices: any[] = Array.isArray(completion?.choices) ? completion.choices : [];
  const texts: unknown[] = [];
  const calls: unknown[] = [];
  for (const choice of choices) {
    const message = choice?.message ?? {};
    texts.push(message.content ?? message.refusal ?? null);
    for (const call of message.tool_calls ?? []) calls.push(toolCall(call));
  }
  if (choices.length > 0 && choices[0]?.finish_reason != null) attributes.finish_reason = String(choices[0].finish_reason);
  const output = texts.length === 1 ? texts[0] : texts;
  if (output !== null && texts.length > 0) setCaptured(attributes, "output", output);
  if (calls.length > 0) setCaptured(attributes, "tool_calls", calls);
}

function chatStreamObserver(span: ActiveSpan, prepared: boolean) {
  let model: unknown;
  let responseId: string | undefined; // every chunk carries it: kept from the first that has one
  let last: any;
  let usageChunk: any;
  let finishReason: unknown;
  const first: string[] = [];
  const texts = new Map<number, string[]>();
  const calls = new Map<string, { id: unknown; type: string; name: unknown; arguments: string }>();
  const ttft = new FirstToken(span);
  return {
    onItem(chunk: any): boolean {
      const choices = chunk?.choices;
      if (prepared && Array.isArray(choices) && choices.length === 0 && chunk.usage) {
        usageChunk = chunk;
        return true; // the chunk Peekr asked for: the caller never sees it
      }
      ttft.chunk();
      if (last === undefined) model = chunk?.model;
      // Once: Azure's first chunk (prompt filter results) has id "".
      if (responseId === undefined && typeof chunk?.id === "string" && chunk.id !== "") responseId = chunk.id;
      last = chunk;
      // Asking for usage makes the API add `usage: null` to every chunk: keep the caller's chunks as they were.
      if (prepared && chunk !== null && typeof chunk === "object" && chunk.usage === null) delete chunk.usage;
      for (const choice of choices ?? []) {
        const delta = choice?.delta;
        if (!delta) continue;
        const content = delta.content || delta.refusal;
        if (content) {
          if (choice.index === 0) first.push(content);
          else {
            const list = texts.get(choice.index) ?? [];
            list.push(content);
            texts.set(choice.index, list);
          }
        }
        for (const piece of delta.tool_calls ?? []) {
          const key = `${choice.index}:${piece.index}`;
          let call = calls.get(key);
          if (call === undefined) {
            call = { id: null, type: "function", name: null, arguments: "" };
            calls.set(key, call);
          }
          if (piece.id) call.id = piece.id;
          if (piece.function?.name) call.name = piece.function.name;
          if (piece.function?.arguments) call.arguments += piece.function.arguments;
        }
        if (finishReason === undefined && choice.finish_reason != null) finishReason = choice.finish_reason;
        if (content || delta.tool_calls?.length) ttft.contentArrived();
      }
      return false;
    },
    finish(error?: unknown): void {
      const attributes = span.attributes;
      setResponseId(attributes, responseId);
      if (model) attributes.model = model;
      recordUsage(attributes, usageChunk?.usage ?? last?.usage, "prompt", "completion");
      if (finishReason !== undefined) attributes.finish_reason = String(finishReason);
      if (first.length > 0) texts.set(0, first);
      if (texts.size > 0) {
        const joined = [...texts.keys()].sort((a, b) => a - b).map((i) => texts.get(i)!.join(""));
        setCaptured(attributes, "output", joined.length === 1 ? joined[0] : joined);
      }
      if (calls.size > 0) setCaptured(attributes, "tool_calls", [...calls.values()]);
      span.end(error, PKG);
    },
  };
}

const chatSpec: CallSpec = {
  name: "openai.chat.completions",
  pkg: PKG,
  describe(body, self) {
    const attributes = base(body, self);
    setCaptured(attributes, "input", body.messages);
    const request = requestAttribute(body, CHAT_KEYS);
    if (Object.keys(request).length > 0) setCaptured(attributes, "request", request);
    return attributes;
  },
  prepare(body) {
    if (body.stream !== true) return undefined;
    const options = body.stream_options;
    if (options === undefined || options === null) return { ...body, stream_options: { include_usage: true } };
    if (typeof options === "object" && options.include_usage === undefined) {
      return { ...body, stream_options: { ...options, include_usage: true } };
    }
    return undefined;
  },
  onResult: recordChat,
  streamObserver: chatStreamObserver,
};

// -- responses ------------------------------------------------------------------------------------

function itemToolCall(item: any): Record<string, unknown> | undefined {
  if (item?.type === "function_call") return { id: item.call_id, type: "function", name: item.name, arguments: item.arguments };
  if (item?.type === "custom_tool_call") return { id: item.call_id, type: "custom", name: item.name, arguments: item.input };
  return undefined;
}

function markFailed(span: ActiveSpan, type: string, message: string): void {
  span.status = "error";
  span.attributes.error = { type, message: message.slice(0, 2000) };
}

function recordResponse(span: ActiveSpan, response: any): void {
  const attributes = span.attributes;
  setResponseId(attributes, response?.id);
  if (response?.model) attributes.model = response.model;
  recordUsage(attributes, response?.usage, "input", "output");
  const texts: string[] = [];
  let hasMessage = false;
  const calls: unknown[] = [];
  for (const item of response?.output ?? []) {
    if (item?.type === "message") {
      hasMessage = true;
      for (const part of item.content ?? []) {
        if (part?.type === "output_text") texts.push(part.text);
        else if (part?.type === "refusal") texts.push(part.refusal);
      }
    } else {
      const call = itemToolCall(item);
      if (call) calls.push(call);
    }
  }
  if (hasMessage) setCaptured(attributes, "output", texts.join(""));
  if (calls.length > 0) setCaptured(attributes, "tool_calls", calls);
  const reason = response?.incomplete_details?.reason;
  if (reason != null) attributes.finish_reason = String(reason);
  else if (response?.status != null) attributes.finish_reason = String(response.status);
  if (response?.status === "failed") {
    const code = response.error?.code || "failed";
    markFailed(span, "openai.ResponseFailed", `${code}: ${response.error?.message ?? ""}`);
  }
}

function responsesStreamObserver(span: ActiveSpan) {
  let final: any;
  let errorEvent: any;
  let model: unknown;
  let createdId: unknown;
  const deltas: string[] = [];
  const calls: unknown[] = [];
  const ttft = new FirstToken(span);
  return {
    onItem(event: any): boolean {
      ttft.chunk();
      const type = event?.type;
      if (typeof type !== "string") return false;
      if (type.endsWith(".delta")) ttft.contentArrived();
      if (type === "response.output_text.delta") deltas.push(event.delta);
      else if (type === "response.created") {
        model = event.response?.model;
        createdId = event.response?.id;
      }
      else if (type === "response.output_item.done") {
        const call = itemToolCall(event.item);
        if (call) calls.push(call);
      } else if (FINAL_EVENTS.has(type)) final = event.response;
      else if (type === "error" && errorEvent === undefined) errorEvent = event;
      return false;
    },
    finish(error?: unknown): void {
      const attributes = span.attributes;
      if (final !== undefined) recordResponse(span, final);
      if (final === undefined || (attributes.output === undefined && attributes.tool_calls === undefined)) {
        if (final === undefined) {
          setResponseId(attributes, createdId);
          if (model) attributes.model = model;
        }
        if (deltas.length > 0) setCaptured(attributes, "output", deltas.join(""));
        if (calls.length > 0) setCaptured(attributes, "tool_calls", calls);
      }
      if (errorEvent !== undefined) {
        markFailed(span, "openai.ResponseErrorEvent", `${errorEvent.code || "error"}: ${errorEvent.message ?? ""}`);
      }
      span.end(error, PKG);
    },
  };
}

const responsesSpec: CallSpec = {
  name: "openai.responses",
  pkg: PKG,
  describe(body, self) {
    const attributes = base(body, self);
    if (body.instructions != null) setCaptured(attributes, "input", { system: body.instructions, input: body.input ?? null });
    else if (body.input != null) setCaptured(attributes, "input", body.input);
    const request = requestAttribute(body, RESPONSES_KEYS);
    if (Object.keys(request).length > 0) setCaptured(attributes, "request", request);
    return attributes;
  },
  onResult: recordResponse,
  streamObserver: responsesStreamObserver,
};

// -- embeddings -----------------------------------------------------------------------------------

function dimensions(vector: unknown): number | null {
  if (Array.isArray(vector)) return vector.length;
  if (typeof vector === "string") return Math.floor(Buffer.from(vector, "base64").length / 4);
  return null;
}

const embeddingsSpec: CallSpec = {
  name: "openai.embeddings",
  pkg: PKG,
  describe(body, self) {
    const attributes: Record<string, unknown> = { provider: provider(self) };
    if (typeof body.model === "string") attributes.model = body.model;
    setCaptured(attributes, "input", body.input);
    const request = requestAttribute(body, EMBEDDING_KEYS);
    if (Object.keys(request).length > 0) setCaptured(attributes, "request", request);
    return attributes;
  },
  onResult(span, result) {
    const attributes = span.attributes;
    if (result?.model) attributes.model = result.model;
    const usage = result?.usage;
    if (usage) {
      setNumber(attributes, "tokens_input", usage.prompt_tokens);
      setNumber(attributes, "tokens_total", usage.total_tokens ?? usage.prompt_tokens);
    }
    const data: any[] = Array.isArray(result?.data) ? result.data : [];
    const summary: Record<string, unknown> = { count: data.length };
    if (data.length > 0) summary.dimensions = dimensions(data[0]?.embedding);
    setCaptured(attributes, "output", summary);
  },
  streamObserver(span) {
    return { onItem: () => false, finish: (error?: unknown) => span.end(error, PKG) };
  },
};

/** Patch one loaded build of `openai` (the module namespace or `exports`). Returns what was patched. */
export function patchOpenAI(mod: any): string[] {
  const OpenAI = mod?.OpenAI ?? mod?.default;
  const done: string[] = [];
  const targets: Array<[any, CallSpec, string]> = [
    [OpenAI?.Chat?.Completions?.prototype, chatSpec, "chat.completions"],
    [OpenAI?.Responses?.prototype, responsesSpec, "responses"],
    [OpenAI?.Embeddings?.prototype, embeddingsSpec, "embeddings"],
  ];
  for (const [proto, spec, label] of targets) {
    if (patchMethod(proto, "create", stainlessCreate(spec))) done.push(label);
  }
  return done;
}
