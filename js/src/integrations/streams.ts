/**
 * Observing a stream in place, in step with the caller. The async generator below pulls the
 * SDK's iterator only when the caller pulls, never reads ahead, and ends the span exactly once:
 *
 * 1. exhaustion: `finish()` after the last item;
 * 2. an error from the SDK (network, provider error event, `controller.abort()`): `finish(err)`,
 *    and the error reaches the caller untouched;
 * 3. `break` / `return()` by the caller: the inner iterator's `return()` runs (the SDK aborts the
 *    request), then `finish()`.
 *
 * `onItem` returning `true` hides that item from the caller (the usage chunk Peekr asked for).
 */
import { guard } from "../errors.js";

export interface Observer<T> {
  onItem(item: T): boolean | void;
  finish(error?: unknown): void;
}

export async function* observe<T>(inner: AsyncIterator<T>, observer: Observer<T>, where: string): AsyncGenerator<T> {
  let error: unknown;
  let done = false;
  try {
    for (;;) {
      const step = await inner.next();
      if (step.done) {
        done = true;
        return step.value;
      }
      const item = step.value;
      if (guard(where, () => observer.onItem(item)) === true) continue;
      yield item;
    }
  } catch (err) {
    error = err;
    done = true;
    throw err;
  } finally {
    try {
      if (!done && typeof inner.return === "function") await inner.return();
    } finally {
      guard(where, () => observer.finish(error));
    }
  }
}
