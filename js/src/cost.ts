/**
 * `cost_usd` from the same price source as Python Peekr: the `genai-prices` tables, here from the
 * npm package `@pydantic/genai-prices` (an optional peer dependency: without it, no cost is set and a
 * collector or reader may fill it). Same rules as `peekr/_cost.py`: lookup by provider then any
 * provider, cached per (provider, model); flat per-token prices are computed with Python's float
 * formula (checked against the library on a probe usage), anything else with the library itself.
 * Runs when the queue is drained, never on the caller's path; never throws.
 */
import { guard } from "./errors.js";
import { requirers } from "./integrations/patch.js";

const PROVIDER_IDS: Record<string, string> = {
  openai: "openai", azure: "azure", anthropic: "anthropic", bedrock: "aws", aws: "aws", gemini: "google",
  google: "google", vertex: "google",
};
const PROBE = [3_000_000, 700_000, 500_000, 250_000] as const;

interface GenaiPrices {
  calcPrice(usage: Record<string, number | undefined>, model: string, options?: { providerId?: string }): any;
}

let library: GenaiPrices | null | undefined;
const cache = new Map<string, { providerId: string | undefined; flat: number[] | undefined } | null>();

function load(): GenaiPrices | null {
  if (library !== undefined) return library;
  library = null;
  for (const req of requirers()) {
    try {
      library = req("@pydantic/genai-prices") as GenaiPrices;
      break;
    } catch {
      // not installed where this base can see it
    }
  }
  return library;
}

function usage(tokensIn: number, tokensOut: number, read: number, write: number): Record<string, number | undefined> {
  return { input_tokens: tokensIn, output_tokens: tokensOut, cache_read_tokens: read || undefined, cache_write_tokens: write || undefined };
}

function flatCost(rates: number[], tokensIn: number, tokensOut: number, read: number, write: number): number {
  const [input, output, readRate, writeRate] = rates as [number, number, number | undefined, number | undefined];
  const uncached = Math.max(tokensIn - read - write, 0);
  const total = uncached * input + read * (readRate ?? input) + write * (writeRate ?? input) + tokensOut * output;
  return total / 1_000_000;
}

function lookup(lib: GenaiPrices, provider: string | undefined, model: string) {
  const key = `${provider ?? ""}\u0000${model}`;
  if (cache.has(key)) return cache.get(key)!;
  let found: { providerId: string | undefined; flat: number[] | undefined } | null = null;
  const providerId = provider ? (PROVIDER_IDS[provider] ?? provider) : undefined;
  for (const pid of providerId ? [providerId, undefined] : [undefined]) {
    const probe = lib.calcPrice(usage(...PROBE), model, pid ? { providerId: pid } : {});
    if (!probe) continue;
    const price = probe.model_price ?? {};
    const rates = [price.input_mtok, price.output_mtok, price.cache_read_mtok, price.cache_write_mtok];
    let flat: number[] | undefined;
    if (typeof rates[0] === "number" && typeof rates[1] === "number" && rates.every((r) => r === undefined || typeof r === "number")) {
      const expected = Number(probe.total_price);
      if (Math.abs(flatCost(rates, ...PROBE) - expected) <= 1e-9 * Math.max(1, expected)) flat = rates;
    }
    found = { providerId: pid, flat };
    break;
  }
  cache.set(key, found);
  return found;
}

function count(value: unknown): number | undefined {
  return typeof value === "number" && Number.isFinite(value) && value >= 0 ? value : undefined;
}

/** The USD cost of one LLM call, or undefined when it cannot be priced (never a made-up 0). */
export function computeCost(attributes: Record<string, unknown>): number | undefined {
  return guard("cost", () => {
    const model = attributes.model;
    if (typeof model !== "string" || !model) return undefined;
    let tokensIn = count(attributes.tokens_input);
    let tokensOut = count(attributes.tokens_output);
    if (tokensIn === undefined && tokensOut === undefined) return undefined;
    const lib = load();
    if (lib === null) return undefined;
    tokensIn ??= 0;
    tokensOut ??= 0;
    const read = Math.min(count(attributes.tokens_cache_read) ?? 0, tokensIn);
    const write = Math.min(count(attributes.tokens_cache_write) ?? 0, tokensIn - read);
    const provider = typeof attributes.provider === "string" && attributes.provider ? attributes.provider.toLowerCase() : undefined;
    const found = lookup(lib, provider, model);
    if (found === null) return undefined;
    if (found.flat) return flatCost(found.flat, tokensIn, tokensOut, read, write);
    const result = lib.calcPrice(usage(tokensIn, tokensOut, read, write), model, found.providerId ? { providerId: found.providerId } : {});
    return result ? Number(result.total_price) : undefined;
  });
}

/** Add `cost_usd` to a provider span that has none (called when the queue is drained). */
export function addCost(attributes: Record<string, unknown>): void {
  if (attributes.cost_usd !== undefined || attributes.provider === undefined || attributes.model === undefined) return;
  const cost = computeCost(attributes);
  if (cost !== undefined) attributes.cost_usd = cost;
}
