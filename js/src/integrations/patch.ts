/**
 * Prototype patching: idempotent, reversible, and never fatal. Each patched method keeps its
 * original under `Symbol.for("peekr.original")`, so a second `instrument()` (or a second copy of
 * @peekr/sdk) does not wrap twice, and `uninstrument()` restores exactly what was there.
 */
import { createRequire } from "node:module";
import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";

export const ORIGINAL = Symbol.for("peekr.original");

type AnyFn = ((...args: any[]) => any) & { [ORIGINAL]?: AnyFn };
interface Patched {
  target: object;
  name: string | symbol;
  own: PropertyDescriptor | undefined;
}

const patched: Patched[] = [];

/**
 * Replace `target[name]` with `make(original)`. Returns false (and changes nothing) when the
 * method is missing or already patched. `own: true` defines an own property even when the method is
 * inherited (Bedrock: never touch the `Client.prototype.send` every AWS client shares).
 */
export function patchMethod(target: any, name: string, make: (original: AnyFn) => AnyFn): boolean {
  if (target === null || target === undefined) return false;
  const original = target[name] as AnyFn | undefined;
  if (typeof original !== "function" || original[ORIGINAL] !== undefined) return false;
  const own = Object.getOwnPropertyDescriptor(target, name);
  const wrapped = make(original);
  Object.defineProperty(wrapped, ORIGINAL, { value: original });
  Object.defineProperty(wrapped, "name", { value: original.name, configurable: true });
  Object.defineProperty(wrapped, "length", { value: original.length, configurable: true });
  Object.defineProperty(target, name, {
    value: wrapped,
    writable: true,
    configurable: true,
    enumerable: own?.enumerable ?? false,
  });
  patched.push({ target, name, own });
  return true;
}

/** Restore every method patched by this copy of @peekr/sdk. */
export function unpatchAll(): void {
  for (const { target, name, own } of patched.splice(0).reverse()) {
    if (own === undefined) delete (target as any)[name];
    else Object.defineProperty(target, name, own);
  }
}

/** `require` functions resolving from the entry script and from the working directory. */
export function requirers(): NodeJS.Require[] {
  const bases = [join(process.cwd(), "__peekr__.js")];
  const main = process.argv[1];
  if (main) bases.unshift(resolve(main));
  return bases.map((base) => createRequire(base));
}

/**
 * Every build of `pkg` this process can load: the CommonJS one (`require`) and the ESM one
 * (`require(esm)`, Node >= 20.19, the same module instance `import` gives). Resolved from the
 * entry script and from the working directory; packages that are not installed are skipped.
 */
export function loadBuilds(pkg: string, esmEntries: string[]): unknown[] {
  const found: unknown[] = [];
  const add = (mod: unknown): void => {
    if (mod && !found.includes(mod)) found.push(mod);
  };
  for (const req of requirers()) {
    let cjsPath: string | undefined;
    try {
      cjsPath = req.resolve(pkg);
      add(req(cjsPath));
    } catch {
      continue; // not installed where this base can see it
    }
    for (const entry of esmEntries) {
      try {
        const file = entry.startsWith("./") ? join(dirname(cjsPath), entry) : req.resolve(entry);
        if (existsSync(file)) add(req(file));
      } catch {
        // this build has no such entry point
      }
    }
  }
  return found;
}
