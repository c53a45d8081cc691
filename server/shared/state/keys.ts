/**
 * Every Redis key and channel dropship uses, in one place. Other modules ask here for a
 * name; none spells one out.
 */
export const KEYS = {
  /** hash: flag name → JSON Flag */
  flags: "dropship:flags",
  /** counter: the last version handed to any flag change */
  flagVersion: "dropship:flags:version",
  /** stream: who changed what, when, from what to what */
  audit: "dropship:audit",
  /** pub/sub channel: every change to shared state, as JSON */
  events: "dropship:events",
  /** the sample app's own data */
  appMessage: (key: string) => `app:message:${key}`,
  appRecent: "app:recent",
  appUploads: "app:uploads",
} as const;

/** Audit entries kept; older ones are trimmed (approximately, as XADD MAXLEN ~ does). */
export const AUDIT_LENGTH = 10_000;
