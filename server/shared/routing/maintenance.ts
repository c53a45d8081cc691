import type { Static } from "@sinclair/typebox";
import { escapeHtml } from "../html.ts";
import { maintenance } from "../records/checks.ts";
import type { MaintenanceRecord } from "./schema.ts";

/**
 * Maintenance mode, as plain data: while it is on, the proxy answers every request for the app
 * with 503 and a page saying so (Heroku's maintenance:on, Kamal's app maintenance), and
 * deploys, health checks, the proxy's own paths and certificate challenges go on.
 */
export type Maintenance = Static<typeof MaintenanceRecord>;

export const DEFAULT_MAINTENANCE_MESSAGE =
  "This site is down for maintenance and will be back shortly.";

/** What a message may be at most: a sentence or two for a page, not a document. */
export const MAINTENANCE_MESSAGE_MAX = 500;

/** How long a visitor (or a crawler) is asked to wait before trying again, in seconds. */
export const MAINTENANCE_RETRY_AFTER_S = 60;

/** Maintenance as stored; undefined for anything that is not a record of it (then it is off). */
export const parseMaintenance = (json: string | undefined) => maintenance.read(json);

/** What is wrong with a message for the page, or undefined. */
export function maintenanceMessageFault(message: string): string | undefined {
  if (message.trim() === "") return "the message is empty — leave it out for the default one";
  if (message.length > MAINTENANCE_MESSAGE_MAX)
    return `the message has ${message.length} characters; keep it to ${MAINTENANCE_MESSAGE_MAX}`;
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are the fault
  if (/[\u0000-\u001f\u007f]/.test(message))
    return "the message holds a control character (a newline, a tab): write it as one line";
  return undefined;
}

/** The page every visitor gets while maintenance is on: the message, escaped, and nothing else. */
export function maintenancePage(message: string): string {
  const text = escapeHtml(message);
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>Down for maintenance</title>
<style>body{font-family:system-ui,sans-serif;max-width:36rem;margin:20vh auto;padding:0 1rem;color:#222}h1{font-size:1.5rem}</style>
</head>
<body>
<h1>Down for maintenance</h1>
<p>${text}</p>
</body>
</html>
`;
}

/** The fields of the 503 that carries the page. */
export const MAINTENANCE_FIELDS: readonly [string, string][] = [
  ["content-type", "text/html; charset=utf-8"],
  ["retry-after", String(MAINTENANCE_RETRY_AFTER_S)],
  // a cache in front must not keep the page past the maintenance
  ["cache-control", "no-store"],
];
