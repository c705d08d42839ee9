/** Which builds of which SDKs to patch, and how. */
import { guard } from "../errors.js";
import type { Provider } from "../config.js";
import { loadBuilds } from "./patch.js";
import { patchAnthropic } from "./anthropic.js";
import { patchBedrock } from "./bedrock.js";
import { patchGemini } from "./gemini.js";
import { patchOpenAI } from "./openai.js";

interface Integration {
  pkg: string;
  /** ESM entry points to load next to the CommonJS one (`./x` is relative to the CJS entry file). */
  esm: string[];
  patch(mod: unknown): string[];
}

export const INTEGRATIONS: Partial<Record<Provider, Integration>> = {
  openai: { pkg: "openai", esm: ["openai/index.mjs"], patch: patchOpenAI },
  bedrock: { pkg: "@aws-sdk/client-bedrock-runtime", esm: [], patch: patchBedrock },
  gemini: { pkg: "@google/genai", esm: ["./index.mjs"], patch: patchGemini },
  anthropic: { pkg: "@anthropic-ai/sdk", esm: ["@anthropic-ai/sdk/index.mjs"], patch: patchAnthropic },
};

/** Patch every build of each provider in `providers` that is installed, and every module given in `modules`. */
export function setupIntegrations(providers: Provider[], modules: Partial<Record<Provider, unknown>>): Record<string, string[]> {
  const patched: Record<string, string[]> = {};
  const names = new Set<Provider>([...providers, ...(Object.keys(modules) as Provider[])]);
  for (const provider of names) {
    const integration = INTEGRATIONS[provider];
    if (integration === undefined) continue;
    const builds = providers.includes(provider)
      ? (guard(`load.${provider}`, () => loadBuilds(integration.pkg, integration.esm)) ?? [])
      : [];
    const given = modules[provider];
    if (given !== undefined && given !== null) builds.push(given);
    for (const mod of builds) {
      const done = guard(`patch.${provider}`, () => integration.patch(mod)) ?? [];
      if (done.length > 0) (patched[provider] ??= []).push(...done);
    }
  }
  return patched;
}
