import { certificateDeps, tlsWanted } from "../server/receiver/certificate-deps.ts";
import { certificateRound } from "../server/receiver/certificates.ts";
import { loadLocatedConfig } from "../server/shared/config/locate.ts";
import { connectRedis, whenReady } from "../server/shared/state/redis.ts";
import { readCertificates, readStatuses } from "../server/shared/state/tls.ts";
import { certificateRows } from "../server/shared/tls/rows.ts";
import { ArgumentError, runVerb, UsageError, type VerbSpec } from "./lib/cli.ts";
import { printTable } from "./lib/table.ts";

const SPEC = {
  verb: "certs",
  usage: ["certs list", "certs renew [DOMAIN]"],
  about: `The HTTPS certificates of proxy.tls: list shows each domain's expiry, issuer and the last
renewal error; renew asks the CA now for one domain (or every one), whatever its expiry, as the
receiver does by itself 30 days before expiry (proxy/tls/renew_before). The certificate names
every domain that points at the proxy, the one asked for and the others.`,
  env: [
    "DROPSHIP_CONFIG",
    "REDIS_URL",
    "DROPSHIP_GITOPS_REPO",
    "DROPSHIP_DNS_SERVER",
    "DROPSHIP_ACME_CA_FILE",
  ],
  positionals: 2,
} satisfies VerbSpec;

await runVerb(SPEC, async ({ positionals: [verb, domain] }) => {
  const { config, located } = loadLocatedConfig(() => {});
  if (verb !== "list" && verb !== "renew") throw new ArgumentError("say list or renew");
  if (!tlsWanted(config))
    throw new UsageError(
      `no HTTPS in ${located.file ?? "the config"} — set proxy/tls/domains (and email) to get certificates`,
    );
  const url = process.env.REDIS_URL;
  if (!url) throw new UsageError("REDIS_URL is not set — certificates live in the fleet's Redis");
  const redis = connectRedis(url, { purpose: "certs", persistent: false });
  try {
    await whenReady(redis, url, 5000);
    if (verb === "renew") {
      const domains = domain ? [domain] : config.proxy.tls.domains;
      const unknown = domains.filter((d) => !config.proxy.tls.domains.includes(d));
      if (unknown.length > 0)
        throw new ArgumentError(
          `${unknown.join(", ")} is not in proxy/tls/domains (${config.proxy.tls.domains.join(", ")})`,
        );
      const deps = certificateDeps(config, located.file, redis, (line) => console.log(line));
      const outcomes = await certificateRound(deps, new Date(), domains);
      if (!outcomes)
        throw new UsageError("another process is issuing right now; try again in a minute");
      for (const o of outcomes) console.log(`${o.domain}: ${o.result} — ${o.detail}`);
      if (outcomes.some((o) => o.result === "failed")) process.exitCode = 1;
      return;
    }
    const rows = certificateRows(
      config.proxy.tls.domains,
      await readCertificates(redis),
      await readStatuses(redis),
      new Date(),
    );
    printTable([["DOMAIN", "EXPIRES", "DAYS LEFT", "ISSUER", "LAST ERROR"], ...rows]);
  } finally {
    redis.disconnect();
  }
});
