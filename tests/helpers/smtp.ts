import { afterAll } from "bun:test";
import { type ParsedMail, simpleParser } from "mailparser";
import { SMTPServer } from "smtp-server";
import { freePort } from "./ports.ts";

export interface SmtpSink {
  /** smtp://user:password@127.0.0.1:port (plain, login auth) */
  readonly url: string;
  readonly mails: ParsedMail[];
  /** Refuses connections until start() again, like a mail server that is down. */
  stop(): Promise<void>;
  start(): Promise<void>;
  /** Resolves once `count` mails have arrived, or rejects after `ms`. */
  waitFor(count: number, ms: number): Promise<ParsedMail[]>;
}

/** A real SMTP server inside the test, which parses every mail it accepts. */
export async function startSmtp(): Promise<SmtpSink> {
  const port = freePort();
  const password = crypto.randomUUID();
  const mails: ParsedMail[] = [];
  let server: SMTPServer | undefined;
  const start = () =>
    new Promise<void>((resolve, reject) => {
      server = new SMTPServer({
        secure: false,
        // a stopped server is down: a mail half-sent then is cut off, not waited for (30 s)
        closeTimeout: 1000,
        disabledCommands: ["STARTTLS"],
        authMethods: ["PLAIN", "LOGIN"],
        onAuth(auth, _session, callback) {
          if (auth.username === "alerts" && auth.password === password)
            return callback(null, { user: "alerts" });
          callback(new Error("Invalid username or password"));
        },
        onData(stream, _session, callback) {
          simpleParser(stream)
            .then((mail) => {
              mails.push(mail);
              callback();
            })
            .catch(callback);
        },
        logger: false,
      });
      server.on("error", () => {});
      server.listen(port, "127.0.0.1", () => resolve());
      server.server.once("error", reject);
    });
  const stop = () =>
    new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  await start();
  afterAll(stop);
  return {
    url: `smtp://alerts:${password}@127.0.0.1:${port}`,
    mails,
    stop,
    start,
    async waitFor(count, ms) {
      const deadline = Date.now() + ms;
      while (mails.length < count) {
        if (Date.now() > deadline)
          throw new Error(`expected ${count} mails within ${ms} ms, got ${mails.length}`);
        await Bun.sleep(50);
      }
      return mails;
    },
  };
}
