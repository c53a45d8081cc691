import type { Mail } from "../shared/mailer.ts";
import type { Notice } from "./mailgate.ts";

export interface MailContext {
  host: string;
  role: string;
  release: string;
  dashboardUrl?: string;
}

export type { Mail } from "../shared/mailer.ts";

/** One mail for a host's notices: the subject says the worst news, the body says all of it. */
export function composeMail(notices: Notice[], context: MailContext): Mail {
  const firing = notices.filter((n) => n.transition !== "resolved");
  const headline =
    firing.length > 0
      ? `FIRING ${firing.map((n) => n.alertId.split(":")[0]).join(", ")}`
      : "RESOLVED";
  const lines = notices.map((n) => `- ${n.transition.toUpperCase()} ${n.alertId}: ${n.detail}`);
  const text = [
    `dropship-monitor on ${context.host} (role ${context.role}, release ${context.release}):`,
    "",
    ...lines,
    "",
    context.dashboardUrl
      ? `Dashboard: ${context.dashboardUrl}`
      : "Dashboard: (DROPSHIP_DASHBOARD_URL not set)",
    "You get one mail when an alert fires and one when it resolves, and few at most however it flaps.",
  ].join("\n");
  return { subject: `[dropship] ${headline} on ${context.host} (${context.role})`, text };
}
