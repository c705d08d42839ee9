// Build the ESM and CJS trees with tsc (no bundler): dist/esm (type: module) and dist/cjs (type: commonjs).
import { execFileSync } from "node:child_process";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";

const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc");
rmSync("dist", { recursive: true, force: true });
for (const [config, type] of [["tsconfig.json", "module"], ["tsconfig.cjs.json", "commonjs"]]) {
  execFileSync(process.execPath, [tsc, "-p", config], { stdio: "inherit" });
  const out = type === "module" ? "dist/esm" : "dist/cjs";
  mkdirSync(out, { recursive: true });
  writeFileSync(`${out}/package.json`, JSON.stringify({ type }) + "\n");
}
