/** Retention classes (DESIGN.md). */
export const RETENTION_CLASSES = ["default", "short", "long", "pii"] as const;
export type RetentionClass = (typeof RETENTION_CLASSES)[number];

/** Return `value` if it is a retention class, else throw a `RangeError` naming it. */
export function validateRetentionClass(value: unknown, argument = "retentionClass"): RetentionClass {
  if (!(RETENTION_CLASSES as readonly unknown[]).includes(value)) {
    throw new RangeError(
      `${argument}: ${JSON.stringify(value)} is not a retention class; expected one of: ${RETENTION_CLASSES.join(", ")}`,
    );
  }
  return value as RetentionClass;
}
