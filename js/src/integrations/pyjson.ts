/**
 * `json.dumps(value)` exactly as Python writes it (default separators `", "` and `": "`,
 * `ensure_ascii=True`), for attributes Python Peekr stores as Python-encoded JSON strings (tool-call
 * arguments rebuilt from a parsed object), so the same call gives the same string in both languages.
 */
export function pyJsonDumps(value: unknown): string {
  if (value === null || value === undefined) return "null";
  if (typeof value === "boolean") return value ? "true" : "false";
  if (typeof value === "number") {
    if (!Number.isFinite(value)) return Number.isNaN(value) ? "NaN" : value > 0 ? "Infinity" : "-Infinity";
    return Number.isInteger(value) ? String(value) : pyFloat(value);
  }
  if (typeof value === "string") return asciiString(value);
  if (Array.isArray(value)) return `[${value.map(pyJsonDumps).join(", ")}]`;
  if (typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined);
    return `{${entries.map(([k, v]) => `${asciiString(k)}: ${pyJsonDumps(v)}`).join(", ")}}`;
  }
  return asciiString(String(value));
}

function pyFloat(value: number): string {
  const text = String(value); // shortest round-trip, as Python's repr
  if (/e/.test(text)) {
    const [mantissa, exponent] = text.split("e") as [string, string];
    const exp = Number(exponent);
    return `${mantissa}e${exp < 0 ? "-" : "+"}${String(Math.abs(exp)).padStart(2, "0")}`;
  }
  return text;
}

function asciiString(value: string): string {
  return JSON.stringify(value).replace(/[\u007f-\uffff]/g, (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, "0")}`);
}
