/**
 * A stream nobody iterates never reaches its observer: when the garbage collector takes it, its span
 * ends (status ok, without output), so the call is still recorded. Starting to iterate unregisters it.
 */
import type { ActiveSpan } from "../tracer.js";

const registry = new FinalizationRegistry<ActiveSpan>((span) => span.end());

/** End `span` when `stream` is collected, unless `iterating(span)` was called first. */
export function endWhenCollected(stream: object, span: ActiveSpan): void {
  registry.register(stream, span, span);
}

/** The stream of `span` is being iterated: its observer will end the span. */
export function iterating(span: ActiveSpan): void {
  registry.unregister(span);
}

/** `observer`, unregistering `span` from the collection hook on its first item or its end. */
export function unregisterOnUse<T extends { onItem(item: any): boolean | void; finish(error?: unknown): void }>(observer: T, span: ActiveSpan): T {
  let started = false;
  return {
    ...observer,
    onItem(item: unknown) {
      if (!started) {
        started = true;
        iterating(span);
      }
      return observer.onItem(item);
    },
    finish(error?: unknown) {
      iterating(span);
      observer.finish(error);
    },
  };
}
