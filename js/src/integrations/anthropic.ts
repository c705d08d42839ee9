/**
 * Anthropic (`@anthropic-ai/sdk`): `messages.create` and `beta.messages.create`, patched on the
 * prototypes of both builds. `messages.parse()` and the `messages.stream()` helper (`MessageStream`,
 * which calls `create({...stream: true}).withResponse()`) go through `create`, so they are traced
 * once each and keep working (see stainless.ts).
 *
 * Tokens as Python records them: `tokens_input` = input + cache read + cache creation;
 * `tokens_total` = input + output. Stream usage is cumulative: `message_start` gives the input side,
 * each `message_delta` overwrites; `tokens_output` is only set once a `message_delta` arrived.
 */
import type { ActiveSpan } from "../tracer.js";
import { FirstToken, setCaptured, setResponseId } from "./common.js";
import { patchMethod } from "./patch.js";
import { pyJsonDumps } from "./pyjson.js";
import { stainlessCreate, type CallSpec } from "./stainless.js";

const PKG = "anthropic";
const REQUEST_KEYS = new Set(["max_tokens", "temperature", "top_p", "top_k", "stop_sequences", "tool_choice", "thinking"]);
const USAGE_FIELDS = ["input_tokens", "output_tokens", "cache_read_input_tokens", "cache_creation_input_tokens"];

function describeCall(body: Record<string, any>): Record<string, unknown> {
  const attributes: Record<string, unknown> = { provider: "anthropic" };
  if (typeof body.model === "string") attributes.model = body.model;
  if (body.stream === true) attributes.stream = true;
  const system = body.system;
  setCaptured(attributes, "input", system !== undefined && system !== null ? { system, messages: body.messages } : body.messages);
  const request: Record<string, unknown> = {};
  for (const key of Object.keys(body)) {
    if (REQUEST_KEYS.has(key) && body[key] !== undefined && body[key] !== null) request[key] = body[key];
  }
  if (Array.isArray(body.tools)) request.tools = body.tools.map((t: any) => t?.name ?? null);
  if (typeof body.stream === "boolean") request.stream = body.stream;
  if (Object.keys(request).length > 0) setCaptured(attributes, "request", request);
  return attributes;
}

function readUsage(usage: any, counts: Record<string, number>): void {
  if (!usage || typeof usage !== "object") return;
  for (const name of USAGE_FIELDS) {
    if (Number.isInteger(usage[name])) counts[name] = usage[name];
  }
}

function setTokens(attributes: Record<string, unknown>, counts: Record<string, number>, outputKnown: boolean): void {
  let tokensIn = counts.input_tokens;
  if (tokensIn !== undefined) {
    const read = counts.cache_read_input_tokens;
    const write = counts.cache_creation_input_tokens;
    tokensIn += (read ?? 0) + (write ?? 0);
    attributes.tokens_input = tokensIn;
    if (read !== undefined) attributes.tokens_cache_read = read;
    if (write !== undefined) attributes.tokens_cache_write = write;
  }
  const tokensOut = outputKnown ? counts.output_tokens : undefined;
  if (tokensOut !== undefined) {
    attributes.tokens_output = tokensOut;
    if (tokensIn !== undefined) attributes.tokens_total = tokensIn + tokensOut;
  }
}

function toolCall(id: unknown, name: unknown, args: string): Record<string, unknown> {
  return { id, type: "function", name, arguments: args };
}

function setOutput(attributes: Record<string, unknown>, texts: string[], calls: unknown[]): void {
  setCaptured(attributes, "output", texts.join(""));
  if (calls.length > 0) setCaptured(attributes, "tool_calls", calls);
}

function recordMessage(span: ActiveSpan, message: any): void {
  const attributes = span.attributes;
  setResponseId(attributes, message?.id); // "msg_..."
  if (typeof message?.model === "string") attributes.model = message.model;
  const counts: Record<string, number> = {};
  readUsage(message?.usage, counts);
  setTokens(attributes, counts, true);
  const texts: string[] = [];
  const calls: unknown[] = [];
  for (const block of message?.content ?? []) {
    if (block?.type === "text") texts.push(block.text);
    else if (block?.type === "tool_use") calls.push(toolCall(block.id, block.name, pyJsonDumps(block.input)));
  }
  setOutput(attributes, texts, calls);
  if (message?.stop_reason != null) attributes.finish_reason = message.stop_reason;
}

interface Block {
  type: string;
  id: unknown;
  name: unknown;
  pieces: string[];
  input?: unknown;
}

function streamObserver(span: ActiveSpan) {
  const counts: Record<string, number> = {};
  const blocks = new Map<number, Block>();
  let outputKnown = false;
  let generated = false;
  let stopReason: unknown;
  const ttft = new FirstToken(span);
  return {
    onItem(event: any): boolean {
      ttft.chunk();
      switch (event?.type) {
        case "content_block_delta": {
          generated = true;
          const block = blocks.get(event.index);
          const delta = event.delta;
          if (block === undefined || !delta) break;
          if (delta.type === "text_delta") block.pieces.push(delta.text);
          else if (delta.type === "input_json_delta") block.pieces.push(delta.partial_json);
          break;
        }
        case "content_block_start": {
          const content = event.content_block ?? {};
          const block: Block = { type: content.type, id: content.id ?? null, name: content.name ?? null, pieces: [] };
          if (content.type === "text" && content.text) block.pieces.push(content.text);
          else if (content.type === "tool_use") block.input = content.input;
          blocks.set(event.index, block);
          break;
        }
        case "message_start": {
          const message = event.message ?? {};
          setResponseId(span.attributes, message.id);
          if (typeof message.model === "string" && message.model) span.attributes.model = message.model;
          readUsage(message.usage, counts);
          delete counts.output_tokens; // a placeholder until message_delta reports the total
          break;
        }
        case "message_delta":
          outputKnown = true;
          readUsage(event.usage, counts);
          stopReason = event.delta?.stop_reason ?? null;
          break;
      }
      return false;
    },
    finish(error?: unknown): void {
      const attributes = span.attributes;
      if (!generated) delete attributes.ttft_ms; // no token arrived: no time to first token
      setTokens(attributes, counts, outputKnown);
      const texts: string[] = [];
      const calls: unknown[] = [];
      for (const block of blocks.values()) {
        if (block.type === "text") texts.push(...block.pieces);
        else if (block.type === "tool_use") {
          const args = block.pieces.length > 0 ? block.pieces.join("") : pyJsonDumps(block.input ?? {});
          calls.push(toolCall(block.id, block.name, args));
        }
      }
      setOutput(attributes, texts, calls);
      if (stopReason !== undefined && stopReason !== null) attributes.finish_reason = stopReason;
      span.end(error, PKG);
    },
  };
}

const spec: CallSpec = {
  name: "anthropic.messages",
  pkg: PKG,
  describe: describeCall,
  onResult: recordMessage,
  streamObserver,
};

/** Patch one loaded build of `@anthropic-ai/sdk`. */
export function patchAnthropic(mod: any): string[] {
  const Anthropic = mod?.Anthropic ?? mod?.default;
  const done: string[] = [];
  if (patchMethod(Anthropic?.Messages?.prototype, "create", stainlessCreate(spec))) done.push("messages");
  if (patchMethod(Anthropic?.Beta?.Messages?.prototype, "create", stainlessCreate(spec))) done.push("beta.messages");
  return done;
}
