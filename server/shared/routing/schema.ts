import { Type as T } from "@sinclair/typebox";

/**
 * The routing records as schemas (see flags/schema.ts for how they are used): backends, the
 * canary, alerts and maintenance mode, as stored in Redis, and the canary's admin body.
 */

export const TrackName = T.Union([T.Literal("production"), T.Literal("staging")], {
  fix: "say production or staging",
});

export const Weight = T.Integer({
  minimum: 0,
  maximum: 100,
  fix: "give a whole percentage from 0 to 100",
  description: "percent of clients sent to staging while the canary is active",
});

export const BackendRecord = T.Object({
  id: T.String({ description: "short and stable: shown in x-dropship-backend and metrics" }),
  url: T.String(),
  track: TrackName,
  draining: T.Boolean({ description: "draining backends get no new requests" }),
});

export const CanaryRecord = T.Object({
  weight: Weight,
  state: T.Union([T.Literal("active"), T.Literal("aborted")]),
  reason: T.String({ description: "why it was last aborted or resumed" }),
  generation: T.String({
    description: "changes with every canary release, so each draws its own share of clients",
  }),
});

export const AlertRecord = T.Object({
  id: T.String(),
  source: T.String({ description: "the host or component that raised it" }),
  role: T.String(),
  summary: T.String(),
  since: T.String(),
  canary: T.Boolean({ description: "an alert that takes staging out of the rotation" }),
});

export const MaintenanceRecord = T.Object({
  on: T.Boolean({ description: "every app request is answered 503 with the page while on" }),
  message: T.String({ description: "what the page says to visitors" }),
  since: T.String({ description: "when it was last turned on or off" }),
  by: T.String({ description: "who turned it on or off" }),
});

/** PUT /_dropship/canary */
export const CanaryChangeBody = T.Object(
  { weight: Weight },
  { additionalProperties: false, examples: [{ weight: 30 }] },
);
