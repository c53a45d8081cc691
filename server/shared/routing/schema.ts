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

export const CanaryStep = T.Object({
  weight: Weight,
  for: T.Optional(
    T.Integer({
      minimum: 1,
      description: "ms the step lasts while the canary is live; none: until promoted",
    }),
  ),
});

/**
 * Where a canary is in its steps (canary/steps): running (the step's time counts), paused
 * (aborted or kept out by an alert: its time starts again once live), held (the weight was set
 * by hand: no more steps until promote), done (the last step's time has passed), none (no
 * steps: the weight stays as it is set).
 */
export const StepState = T.Union([
  T.Literal("running"),
  T.Literal("paused"),
  T.Literal("held"),
  T.Literal("done"),
  T.Literal("none"),
]);

export const CanaryRecord = T.Object({
  weight: Weight,
  state: T.Union([T.Literal("active"), T.Literal("aborted")]),
  reason: T.String({ description: "why it was last aborted or resumed" }),
  generation: T.String({
    description: "changes with every canary release, so each draws its own share of clients",
  }),
  // the steps are stored with the canary they were started for: a config changed since applies
  // to the next canary, and anything that reads the canary can say where it is
  steps: T.Optional(T.Array(CanaryStep, { minItems: 1 })),
  step: T.Optional(T.Integer({ minimum: 0, description: "the current step's index" })),
  stepSince: T.Optional(T.String({ description: "when the current step's time began" })),
  stepState: T.Optional(StepState),
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
