import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { configReference } from "../../../../server/shared/config/reference.ts";
import { validateConfig } from "../../../../server/shared/config/validate.ts";

const FILE = resolve(import.meta.dir, "../../../../docs/config.md");

test("docs/config.md is the reference generated from the schema (bun run docs:config)", () => {
  expect(readFileSync(FILE, "utf8")).toBe(configReference());
});

test("every key the reference lists is one the validator accepts, with the default it names", () => {
  const defaults = validateConfig({});
  if (!defaults.ok) throw new Error(defaults.errors.join("\n"));
  const rows = [...configReference().matchAll(/^\| `([^`]+)` \| ([^|]+) \| `([^`]+)` \|/gm)];
  expect(rows.length).toBeGreaterThan(40);
  for (const [, path, type, shown] of rows) {
    let value: unknown = defaults.config;
    for (const part of (path as string).split("/"))
      value = (value as Record<string, unknown>)[part];
    // durations are held in milliseconds once resolved; the rest as written
    if ((type as string).startsWith("duration")) expect(typeof value).toBe("number");
    else expect({ path, value: String(value) }).toEqual({ path, value: shown as string });
  }
});
