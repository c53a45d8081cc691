import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { configReference } from "../../../../server/shared/config/reference.ts";
import { validateConfig } from "../../../../server/shared/config/validate.ts";

const FILE = resolve(import.meta.dir, "../../../../docs/config.md");

test("docs/config.md is the reference generated from the schema (bun run docs:config)", () => {
  expect(readFileSync(FILE, "utf8")).toBe(configReference());
});

/** A list's smallest valid item, so the defaults of its items' keys can be read (a job's role). */
const LIST_ITEMS: Record<string, unknown> = {
  jobs: { name: "a", schedule: "@daily", command: "true" },
};

test("every key the reference lists is one the validator accepts, with the default it names", () => {
  const defaults = validateConfig({});
  if (!defaults.ok) throw new Error(defaults.errors.join("\n"));
  const rows = [...configReference().matchAll(/^\| `([^`]+)` \| ([^|]+) \| `([^`]+)` \|/gm)];
  expect(rows.length).toBeGreaterThan(40);
  for (const [, path, type, shown] of rows) {
    const list = (path as string).split("/*/")[0] as string;
    let value: unknown = defaults.config;
    if (list !== path) {
      const item = LIST_ITEMS[list];
      if (!item) throw new Error(`${path}: give LIST_ITEMS a valid item of ${list}`);
      const withItem = validateConfig({ [list]: [item] });
      if (!withItem.ok) throw new Error(withItem.errors.join("\n"));
      value = withItem.config;
    }
    for (const part of (path as string).split("/"))
      value = (value as Record<string, unknown>)[part === "*" ? "0" : part];
    // durations are held in milliseconds once resolved; the rest as written
    if ((type as string).startsWith("duration")) expect(typeof value).toBe("number");
    else expect({ path, value: String(value) }).toEqual({ path, value: shown as string });
  }
});
