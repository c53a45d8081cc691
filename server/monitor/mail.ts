import nodemailer, { type Transporter } from "nodemailer";
import { redact } from "../shared/secrets.ts";
import type { Notice } from "./mailgate.ts";

export interface MailContext {
  host: string;
  role: string;
  release: string;
  dashboardUrl?: string;
}

export interface Mail {
  subject: string;
  text: string;
}

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

export interface MailerOptions {
  smtpUrl: string;
  from: string;
  to: string;
  log: (line: string) => void;
  /** first retry delay; doubles up to a minute */
  retryMs?: number;
  maxAttempts?: number;
}

/**
 * Sends mails in the background: a failure is logged and retried with backoff, and never
 * reaches the caller, so sampling goes on whatever SMTP does.
 */
export class Mailer {
  private readonly transport: Transporter;
  private sending: Promise<void> = Promise.resolve();

  constructor(private readonly options: MailerOptions) {
    this.transport = nodemailer.createTransport(options.smtpUrl);
  }

  send(mail: Mail): void {
    this.sending = this.sending.then(() => this.deliver(mail));
  }

  /** Resolves when every mail handed over so far was delivered or given up. */
  idle(): Promise<void> {
    return this.sending;
  }

  close(): void {
    this.transport.close();
  }

  private async deliver(mail: Mail): Promise<void> {
    const max = this.options.maxAttempts ?? 10;
    let delay = this.options.retryMs ?? 1000;
    for (let attempt = 1; attempt <= max; attempt++) {
      try {
        await this.transport.sendMail({ from: this.options.from, to: this.options.to, ...mail });
        if (attempt > 1) this.options.log(`mail "${mail.subject}" sent on attempt ${attempt}`);
        return;
      } catch (error) {
        const reason = redact((error as Error).message);
        const next = attempt < max ? `; retrying in ${delay} ms` : "; giving up";
        this.options.log(
          `mail "${mail.subject}" failed (attempt ${attempt}/${max}): ${reason}${next}`,
        );
        if (attempt < max) await Bun.sleep(delay);
        delay = Math.min(delay * 2, 60_000);
      }
    }
  }
}
