/** Reads records stored as JSON by their generated checks (checks.ts); no schema library at run time. */
export interface RecordReader<T> {
  is(value: unknown): value is T;
  /**
   * The record, with only its own fields; undefined for anything that is not one. `defaults`
   * fill fields a record written by an older version lacks.
   */
  read(json: string | undefined, defaults?: Partial<T>): T | undefined;
}

export function recordReader<T>(
  keys: readonly string[],
  check: (value: unknown) => boolean,
): RecordReader<T> {
  const is = (value: unknown): value is T => check(value);
  return {
    is,
    read(json, defaults) {
      if (!json) return undefined;
      let value: unknown;
      try {
        value = JSON.parse(json);
      } catch {
        return undefined;
      }
      if (defaults && isObject(value)) value = { ...defaults, ...value };
      if (!is(value)) return undefined;
      // stored records carry the change script's stamps and perhaps a newer writer's fields
      const source = value as Record<string, unknown>;
      const own: Record<string, unknown> = {};
      for (const key of keys) if (key in source) own[key] = source[key];
      return own as T;
    },
  };
}

export const isObject = (value: unknown): value is object =>
  typeof value === "object" && value !== null && !Array.isArray(value);
