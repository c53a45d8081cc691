import { expect, test } from "bun:test";
import type { TSchema } from "@sinclair/typebox";
import { FlagChangeBody, FlagName, Rollout } from "../../../../server/shared/flags/schema.ts";
import { faultOf, typedFault } from "../../../../server/shared/records/faults.ts";
import { RECORDS } from "../../../../server/shared/records/generate.ts";
import { CanaryChangeBody, TrackName } from "../../../../server/shared/routing/schema.ts";

test("a wrong value names the field and the value, then how to write it", () => {
  expect(faultOf(FlagChangeBody, { enabled: "yes" })).toBe(
    'enabled "yes" is not valid — say true or false',
  );
  expect(faultOf(FlagChangeBody, { enabled: true, rollout: 130 })).toBe(
    "rollout 130 is not valid — give a whole percentage from 0 to 100",
  );
  expect(faultOf(CanaryChangeBody, {})).toBe(
    "weight undefined is not valid — give a whole percentage from 0 to 100",
  );
  expect(faultOf(Rollout, 2.5, "rollout")).toBe(
    "rollout 2.5 is not valid — give a whole percentage from 0 to 100",
  );
  expect(faultOf(FlagName, "9lives", "flag name")).toContain(
    'flag name "9lives" is not valid — use a letter',
  );
});

test("an unknown field, and a body that is not an object, each have their own wording", () => {
  expect(faultOf(FlagChangeBody, { enabled: true, colour: "red" })).toBe(
    "Unknown field colour — send only enabled, rollout.",
  );
  for (const body of [[1, 2], "on", null, undefined]) {
    expect(faultOf(FlagChangeBody, body)).toBe(
      'Send a JSON body like {"enabled":true,"rollout":25}.',
    );
  }
});

test("on a command line the value is shown as typed, numbers read as numbers", () => {
  expect(typedFault(Rollout, "50", "rollout")).toBeUndefined();
  expect(typedFault(Rollout, "130", "rollout")).toBe(
    'rollout "130" is not valid — give a whole percentage from 0 to 100',
  );
  expect(typedFault(TrackName, "prod", "track")).toBe(
    'track "prod" is not valid — say production or staging',
  );
});

test("every field a person can send says how to fix it", () => {
  const leaves = (schema: TSchema): TSchema[] =>
    schema.type === "object"
      ? Object.values(schema.properties as Record<string, TSchema>).flatMap(leaves)
      : [schema];
  const bodies = RECORDS.filter(({ name }) => name.endsWith("Body"));
  expect(bodies.length).toBe(2);
  for (const { name, schema } of bodies) {
    for (const leaf of leaves(schema))
      expect({ name, fix: typeof leaf.fix }).toEqual({ name, fix: "string" });
    expect(schema.examples?.length).toBeGreaterThan(0);
  }
});
