import { escapeHtml } from "../../shared/html.ts";
import type { statusOf } from "../status.ts";
import { ASSETS } from "./assets.ts";

const MAINTENANCE_LINE =
  "Maintenance is on: every visitor gets the maintenance page (503) — bun run maintenance off.";

/**
 * The dashboard page, with the canary's state already written in, so it says the essential
 * even before (or without) its script; the script then keeps everything live.
 */
export function renderDashboard(status: ReturnType<typeof statusOf>): string {
  const canary = status.maintenance.on
    ? MAINTENANCE_LINE
    : status.canary.stagingGetsTraffic
      ? `Staging gets ${status.canary.weight}% of new visitors.`
      : `Staging gets nothing: ${status.canary.blockedBecause}.`;
  const steps =
    status.canary.steps && !status.maintenance.on ? ` Steps: ${status.canary.steps}.` : "";
  const analysis =
    status.canary.analysis && !status.maintenance.on ? ` Analysis: ${status.canary.analysis}.` : "";
  return ASSETS.pageHtml
    .replace("{{version}}", escapeHtml(`proxy ${status.version}`))
    .replace("{{canary}}", escapeHtml(canary + steps + analysis));
}
