import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { Value } from "@sinclair/typebox/value";
import * as checks from "../../../../server/shared/records/checks.ts";
import { checksSource, RECORDS } from "../../../../server/shared/records/generate.ts";

const FILE = resolve(import.meta.dir, "../../../../server/shared/records/checks.ts");

test("records/checks.ts is what the schemas compile to (bun run gen:checks)", () => {
  expect(readFileSync(FILE, "utf8")).toBe(checksSource());
});

// Values near each record's edges: every field wrong in turn, missing in turn, and extra ones.
const WRONG = [undefined, null, "", "x", -1, 0, 2.5, 101, true, [], {}];
function variants(valid: Record<string, unknown>): unknown[] {
  const out: unknown[] = [valid, { ...valid, extra: 1 }, null, [], "text", 42];
  for (const key of Object.keys(valid)) {
    const { [key]: _, ...without } = valid;
    out.push(without);
    for (const wrong of WRONG) out.push({ ...valid, [key]: wrong });
  }
  return out;
}

const SAMPLES: Record<string, Record<string, unknown>> = {
  flag: {
    name: "disableSET",
    enabled: true,
    rollout: 25,
    version: 7,
    updatedAt: "2026-11-30T00:00:00Z",
    updatedBy: "ann",
  },
  flagChange: { enabled: false, rollout: 100 },
  backend: { id: "web-1:3000", url: "http://10.0.0.5:3000", track: "staging", draining: false },
  canary: { weight: 30, state: "aborted", reason: "by ann", generation: "abc" },
  alert: {
    id: "cpu:web-1",
    source: "web-1",
    role: "production",
    summary: "CPU 95%",
    since: "now",
    canary: false,
  },
  maintenance: { on: true, message: "back soon", since: "2026-12-04T13:00:00.000Z", by: "ann" },
  canaryChange: { weight: 0 },
  event: { hash: "dropship:flags", field: "x", value: "", version: 3 },
  hostReport: {
    host: "web-1",
    role: "production",
    cpu: 12.5,
    memory: 40,
    at: 1,
    release: "abc",
    address: "10.0.0.5",
  },
};

test("each generated check answers as TypeBox itself does, valid and invalid values alike", () => {
  for (const { schema, as } of RECORDS) {
    const reader = (checks as Record<string, { is: (v: unknown) => boolean }>)[as];
    const sample = SAMPLES[as];
    if (!reader || !sample) throw new Error(`no check or sample for ${as}`);
    const values = variants(sample);
    const verdicts = values.map((value) => [reader.is(value), Value.Check(schema, value)]);
    for (const [ours, theirs] of verdicts) expect(ours).toBe(theirs as boolean);
    expect(verdicts.filter(([ours]) => ours).length).toBeGreaterThan(0);
    expect(verdicts.filter(([ours]) => !ours).length).toBeGreaterThan(10);
  }
});

test("a stored record is read with its own fields only; anything else is ignored", () => {
  const stored = JSON.stringify({ ...SAMPLES.backend, version: 4, updatedBy: "ann" });
  expect(checks.backend.read(stored)).toEqual(SAMPLES.backend as never);
  expect(checks.backend.read("not json")).toBeUndefined();
  expect(checks.backend.read(JSON.stringify({ id: "x" }))).toBeUndefined();
  expect(checks.backend.read(undefined)).toBeUndefined();
});

test("defaults fill the fields an older writer did not store, and nothing else", () => {
  const old = JSON.stringify({ weight: 10, state: "aborted", reason: "by ann" });
  const defaults = { weight: 30, state: "active" as const, reason: "", generation: "1" };
  expect(checks.canary.read(old)).toBeUndefined();
  expect(checks.canary.read(old, defaults)).toEqual({
    weight: 10,
    state: "aborted",
    reason: "by ann",
    generation: "1",
  });
});
