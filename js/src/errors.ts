/**
 * The one boundary between Peekr's own failures and the user's code.
 *
 * `guard(where, fn)` runs Peekr's bookkeeping (never the user's call): an exception is counted in
 * `stats().internalErrors`, logged once per call site, and swallowed, unless
 * `PEEKR_RAISE_INTERNAL_ERRORS=1`. `checkpoint(where)` is where the resilience tests inject faults.
 */

let injecting = false;
let count = 0;
const logged = new Set<string>();

/** Raised at every checkpoint while `injectFaults(true)` is on (resilience tests). */
export class FaultInjected extends Error {
  override name = "FaultInjected";
}

/** Make every internal checkpoint throw, to prove the user's results pass through untouched. */
export function injectFaults(enabled: boolean): void {
  injecting = enabled;
}

/** A place where an internal failure is simulated when fault injection is on. */
export function checkpoint(where: string): void {
  if (injecting) throw new FaultInjected(where);
}

/** Count an internal error and log it once per `where`. */
export function logInternalError(where: string, err: unknown): void {
  count += 1;
  if (logged.has(where)) return;
  logged.add(where);
  const detail = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  console.warn(`peekr internal error in ${where} (your call succeeded; peekr lost this record): ${detail}`);
}

/** True when internal errors must propagate (`PEEKR_RAISE_INTERNAL_ERRORS=1`). */
export function raiseInternalErrors(): boolean {
  return process.env.PEEKR_RAISE_INTERNAL_ERRORS === "1";
}

/** Run Peekr's own bookkeeping; a failure is counted and logged, never thrown into the host. */
export function guard<T>(where: string, fn: () => T): T | undefined {
  try {
    checkpoint(where);
    return fn();
  } catch (err) {
    logInternalError(where, err);
    if (raiseInternalErrors() && !(err instanceof FaultInjected)) throw err;
    return undefined;
  }
}

/** How many internal errors were swallowed since start. */
export function internalErrorCount(): number {
  return count;
}
