/**
 * Every Redis key and channel dropship uses, in one place. Other modules ask here for a
 * name; none spells one out.
 */
export const KEYS = {
  /** hash: flag name → JSON Flag */
  flags: "dropship:flags",
  /** hash: backend id → JSON Backend (the proxy's routing table) */
  backends: "dropship:backends",
  /** hash: "current" → JSON Canary (weight, active or aborted) */
  canary: "dropship:canary",
  /** hash: alert id → JSON Alert, for every alert now firing */
  alerts: "dropship:alerts",
  /** hash: "current" → JSON Maintenance (on or off, the page's message) */
  maintenance: "dropship:maintenance",
  /** string: a host's latest figures, JSON HostReport; one key per host, so each monitor's
   *  Redis user can be allowed its own host's key and no other */
  host: (name: string) => `dropship:host:${name}`,
  /** hash: proxy instance → JSON TrafficReport, each proxy's request rate */
  traffic: "dropship:traffic",
  /** string, with a lifetime: why the heal is replacing this host; while it is set, no monitor
   *  raises the host's silence (the heal mails its outcome) */
  replacing: (host: string) => `dropship:replacing:${host}`,
  /** list, newest first: a host's recent HostReports */
  history: (host: string) => `dropship:history:${host}`,
  /** counter: the last version handed to any change of shared state */
  version: "dropship:version",
  /** stream: every deploy — commit, branch, who, when, result, duration */
  deploys: "dropship:deploys",
  /** stream: every scaling event — action, host, why, result, when */
  scaling: "dropship:scaling",
  /** stream: who changed what, when, from what to what */
  audit: "dropship:audit",
  /** hash: job name → JSON JobRun, each scheduled job's last run (config jobs) */
  jobs: "dropship:jobs",
  /** pub/sub channel: every change to shared state, as JSON */
  events: "dropship:events",
  /** the sample app's own data */
  appMessage: (key: string) => `app:message:${key}`,
  appRecent: "app:recent",
  appUploads: "app:uploads",
} as const;

/** The hashes that servers mirror in memory. */
export type MirroredHash =
  | typeof KEYS.flags
  | typeof KEYS.backends
  | typeof KEYS.canary
  | typeof KEYS.alerts
  | typeof KEYS.maintenance;

/** The one field of the canary hash. */
export const CANARY_FIELD = "current";

/** The one field of the maintenance hash. */
export const MAINTENANCE_FIELD = "current";

/** Audit entries kept; older ones are trimmed (approximately, as XADD MAXLEN ~ does). */
export const AUDIT_LENGTH = 10_000;
