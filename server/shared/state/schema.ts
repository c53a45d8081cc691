import { Type as T } from "@sinclair/typebox";

/** The records of shared state itself (see flags/schema.ts for how they are used). */

/** What the change script publishes for every change. */
export const StateEventRecord = T.Object({
  hash: T.String(),
  field: T.String(),
  value: T.String({ description: 'the JSON now stored, or "" when the field was deleted' }),
  version: T.Number(),
});

/** A monitor's latest figures for its host. */
export const HostReportRecord = T.Object({
  host: T.String(),
  role: T.String(),
  cpu: T.Number(),
  memory: T.Number(),
  at: T.Number({ description: "ms since the epoch" }),
  release: T.String(),
  address: T.Optional(T.String({ description: "where the host is reached, when known" })),
});
