import { readFileSync } from "node:fs";
import { dirname } from "node:path";
import { inventoryRepoFor } from "../../gitops/repo.ts";
import type { Config } from "../shared/config/schema.ts";
import { Mailer } from "../shared/mailer.ts";
import type { RedisClient } from "../shared/state/redis.ts";
import type { CertificateDeps } from "./certificates.ts";

/** Whether the config asks for HTTPS at all. */
export const tlsWanted = (config: Config) =>
  config.proxy.tls.domains.length > 0 || config.proxy.tls.certificate_file !== "";

/**
 * What the certificate manager needs, from the config and the environment: the proxies' public
 * addresses from the GitOps inventory (where DNS must point), DROPSHIP_DNS_SERVER and
 * DROPSHIP_ACME_CA_FILE for a local CA, and SMTP_URL with ALERT_EMAIL_TO for the warning mail.
 * A failed attempt is tried again after 5 minutes, doubling up to 12 hours (Let's Encrypt
 * allows 5 failed validations per name an hour).
 */
export function certificateDeps(
  config: Config,
  configFile: string | undefined,
  redis: RedisClient,
  say: (line: string) => void,
  env: Record<string, string | undefined> = process.env,
): CertificateDeps {
  const { tls } = config.proxy;
  const mailer =
    env.SMTP_URL && env.ALERT_EMAIL_TO
      ? new Mailer({
          smtpUrl: env.SMTP_URL,
          from: `dropship <dropship@${config.name}>`,
          to: env.ALERT_EMAIL_TO,
          log: say,
        })
      : undefined;
  return {
    redis,
    tls,
    configDir: configFile ? dirname(configFile) : process.cwd(),
    renewal: {
      renewBeforeMs: tls.renew_before,
      warnBeforeMs: tls.warn_before,
      firstRetryMs: 5 * 60_000,
      maxRetryMs: 12 * 3_600_000,
    },
    entry: async () => {
      const inventory = await inventoryRepoFor(config, env).read();
      return inventory.hosts
        .filter((h) => h.role === "proxy")
        .map((h) => h.publicAddress ?? h.address);
    },
    ...(env.DROPSHIP_DNS_SERVER ? { dnsServer: env.DROPSHIP_DNS_SERVER } : {}),
    ...(env.DROPSHIP_ACME_CA_FILE
      ? { directoryCa: readFileSync(env.DROPSHIP_ACME_CA_FILE, "utf8") }
      : {}),
    ...(mailer ? { mail: (mail) => mailer.send(mail) } : {}),
    say,
  };
}
