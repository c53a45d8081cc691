import { Type as T } from "@sinclair/typebox";

/**
 * The flag records as schemas: the one description the stored-value checks
 * (records/checks.ts, generated), the admin API's bodies and the CLI are held to. Runtime code
 * on the droplets imports only the generated checks, never this file, so the monitor does not
 * pay for TypeBox. `fix` says how to write a valid value; records/faults.ts words it.
 */

export const FlagName = T.String({
  pattern: "^[A-Za-z][A-Za-z0-9_.-]{0,63}$",
  fix: "use a letter, then up to 63 letters, digits, dots, dashes or underscores",
});

export const Rollout = T.Integer({
  minimum: 0,
  maximum: 100,
  fix: "give a whole percentage from 0 to 100",
  description: "percent of clients that see the flag on while enabled; 100 means everyone",
});

const Enabled = T.Boolean({ fix: "say true or false" });

/** A flag as stored in Redis; the change script stamps version, updatedAt and updatedBy. */
export const FlagRecord = T.Object({
  name: FlagName,
  enabled: Enabled,
  rollout: Rollout,
  version: T.Number({ description: "increases with every change of any flag; newer wins" }),
  updatedAt: T.String(),
  updatedBy: T.String(),
});

/** What a person changes: the admin API's body for PUT /_dropship/flags/:name. */
export const FlagChangeBody = T.Object(
  { enabled: Enabled, rollout: T.Optional(Rollout) },
  { additionalProperties: false, examples: [{ enabled: true, rollout: 25 }] },
);
