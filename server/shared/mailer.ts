import nodemailer, { type Transporter } from "nodemailer";
import { redact } from "./secrets.ts";

export interface Mail {
  subject: string;
  text: string;
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
