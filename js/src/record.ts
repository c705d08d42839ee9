/** The span record exactly as Python writes it (DESIGN.md "Span"; wire format v1). */
import { toJsonable } from "./capture.js";

export interface SpanRecord {
  trace_id: string;
  span_id: string;
  parent_id: string | null;
  name: string;
  start_time: string;
  end_time: string;
  duration_ms: number;
  status: "ok" | "error";
  tenant_id: string | null;
  retention_class: string;
  attributes: Record<string, unknown>;
}

/** One compact JSON line for a record; odd user attribute values (BigInt, cycles) are made safe. */
export function recordToJson(record: SpanRecord): string {
  try {
    return JSON.stringify(record);
  } catch {
    return JSON.stringify({ ...record, attributes: toJsonable(record.attributes) });
  }
}
