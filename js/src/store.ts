/** The AsyncLocalStorage behind session(), span() and suppression (kept out of the public types). */
import { AsyncLocalStorage } from "node:async_hooks";
import type { SessionData } from "./context.js";
import type { SpanContext } from "./traceparent.js";

export interface Store {
  span?: SpanContext;
  session?: SessionData;
  suppressed?: boolean;
}

export const storage = new AsyncLocalStorage<Store>();
