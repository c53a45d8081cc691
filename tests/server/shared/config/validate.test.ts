import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { ConfigError, parseConfigText } from "../../../../server/shared/config/load.ts";
import { validateConfig } from "../../../../server/shared/config/validate.ts";

function errorsOf(raw: unknown): string[] {
  const result = validateConfig(raw);
  if (result.ok) throw new Error("expected the config to be invalid");
  return result.errors;
}

describe("a valid config", () => {
  test("an empty file resolves to the documented defaults", () => {
    const result = validateConfig(null);
    if (!result.ok) throw new Error(result.errors.join("\n"));
    const { config } = result;
    expect(config.canary.weight).toBe(30);
    expect(config.monitor.cpu).toBe(50);
    expect(config.monitor.memory).toBe(50);
    expect(config.monitor.interval).toBe(5000);
    expect(config.autoscale.cooldown).toBe(600_000);
    expect(config.roles.production.count).toBe(2);
    expect(config.roles.staging.region).toBe("nyc3");
    expect(config.pipeline.test.master).toBe("bun test");
  });

  test("the annotated example is valid and says what the defaults are", () => {
    const fromExample = parseConfigText("example", readFileSync("dropship.example.yml", "utf8"));
    const fromNothing = validateConfig({});
    if (!fromNothing.ok) throw new Error("defaults invalid");
    // the example differs from the defaults on purpose in two places: per-role thresholds, and
    // a push test that needs neither root nor network namespaces
    expect(fromExample.pipeline.test).toEqual({
      master: "bun run test:unit",
      staging: "bun run test:unit",
    });
    expect({
      ...fromExample,
      monitor: { ...fromExample.monitor, roles: {} },
      pipeline: { ...fromExample.pipeline, test: fromNothing.config.pipeline.test },
    }).toEqual(fromNothing.config);
    expect(fromExample.monitor.roles.redis?.memory).toBe(80);
  });

  test("a role's own region wins over the default region", () => {
    const result = validateConfig({
      digitalocean: { region: "ams3" },
      roles: { staging: { region: "fra1" } },
    });
    if (!result.ok) throw new Error(result.errors.join("\n"));
    expect(result.config.roles.staging.region).toBe("fra1");
    expect(result.config.roles.proxy.region).toBe("ams3");
  });

  test("durations are read as milliseconds", () => {
    const result = validateConfig({ health: { interval: "500ms", timeout: "1.5s" } });
    if (!result.ok) throw new Error(result.errors.join("\n"));
    expect(result.config.health.interval).toBe(500);
    expect(result.config.health.timeout).toBe(1500);
  });
});

describe("each kind of error names the path and the fault", () => {
  test("an unknown key suggests the closest known one", () => {
    expect(errorsOf({ roles: { production: { sise: "s-1vcpu-1gb" } } })).toEqual([
      "roles/production/sise: unknown key — did you mean size?",
    ]);
  });

  test("an unknown key with no near match lists what is allowed", () => {
    expect(errorsOf({ canary: { colour: "red" } })).toEqual([
      "canary/colour: unknown key — expected one of weight, steps, after_alert, analysis",
    ]);
  });

  test("an unknown section is reported at the top level", () => {
    expect(errorsOf({ autoscal: {} })).toEqual(["autoscal: unknown key — did you mean autoscale?"]);
  });

  test("a wrong type says what was found and what is wanted", () => {
    expect(errorsOf({ roles: { production: { count: "two" } } })).toEqual([
      'roles/production/count: "two" must be a whole number',
    ]);
    expect(errorsOf({ autoscale: { enabled: "yes please" } })).toEqual([
      'autoscale/enabled: "yes please" must be true or false',
    ]);
    expect(errorsOf({ canary: 30 })).toEqual(["canary: 30 must be a mapping of keys to values"]);
  });

  test("a mapping where a list belongs is refused, not read as an empty list", () => {
    // jobs written by name, as a cron file would have them: every job would have been dropped
    const list = 'must be a list — in YAML, one "- " line per item';
    expect(
      errorsOf({
        jobs: { nightly: { schedule: "@daily", command: "bun run report" } },
        canary: { steps: { weight: 10, for: "5m" } },
        proxy: { tls: { domains: { "shop.example": true } } },
      }),
    ).toEqual([
      `jobs: is a mapping (key: value lines), but ${list}`,
      `canary/steps: is a mapping (key: value lines), but ${list}`,
      `proxy/tls/domains: is a mapping (key: value lines), but ${list}`,
    ]);
    // and a list where a section or a list's item belongs, said once, not as keys 0, 1…
    const mapping = 'is a list ("- " lines), but must be a mapping — in YAML, key: value lines';
    expect(
      errorsOf({
        proxy: [{ tls: { domains: ["shop.example"] } }],
        canary: { analysis: [] },
        jobs: [{ name: "a", schedule: "@daily", command: "x" }, []],
      }),
    ).toEqual([`proxy: ${mapping}`, `canary/analysis: ${mapping}`, `jobs/1: ${mapping}`]);
  });

  test("a number out of range gives the bound", () => {
    expect(errorsOf({ canary: { weight: 130 } })).toEqual([
      "canary/weight: 130 is too large — must be at most 100",
    ]);
    expect(errorsOf({ roles: { staging: { count: 2 } } })).toEqual([
      "roles/staging/count: 2 is too large — must be at most 1",
    ]);
    expect(errorsOf({ ports: { app: 0 } })).toEqual([
      "ports/app: 0 is too small — must be at least 1",
    ]);
  });

  test("a choice outside the allowed ones lists them and suggests one", () => {
    expect(errorsOf({ autoscale: { metric: "proxy-cpu" } })).toEqual([
      'autoscale/metric: "proxy-cpu" is not one of proxy_cpu, production_cpu, rps_per_host — did you mean proxy_cpu?',
    ]);
    expect(errorsOf({ proxy: { max_connections: 0, workers: "many" } })).toEqual([
      'proxy/workers: "many" is not one of auto, a whole number from 1 to 64',
      "proxy/max_connections: 0 is not one of auto, a whole number from 1 to 10000000",
    ]);
    expect(errorsOf({ proxy: { rate_limit: { requests_per_second: -1, burst: 0 } } })).toEqual([
      "proxy/rate_limit/requests_per_second: -1 is too small — must be at least 0",
      "proxy/rate_limit/burst: 0 is not one of auto, a whole number from 1 to 10000000",
    ]);
    expect(errorsOf({ redis: { maxmemory: 16, maxmemory_policy: "volatile_lru" } }).sort()).toEqual(
      [
        "redis/maxmemory: 16 is not one of auto, a whole number from 32 to 1048576",
        'redis/maxmemory_policy: "volatile_lru" is not one of volatile-lru, volatile-lfu, volatile-ttl, volatile-random, allkeys-lru, allkeys-lfu, allkeys-random, noeviction — did you mean volatile-lru?',
      ],
    );
  });

  test("a malformed slug or path explains the format", () => {
    expect(errorsOf({ digitalocean: { region: "NYC 3" } })).toEqual([
      'digitalocean/region: "NYC 3" is not valid — use lowercase letters, digits and dashes, like nyc3 or s-1vcpu-1gb',
    ]);
    expect(errorsOf({ health: { path: "healthz" } })).toEqual([
      'health/path: "healthz" is not valid — start it with /',
    ]);
  });

  test("an empty string is refused", () => {
    expect(errorsOf({ pipeline: { test: { master: "" } } })).toEqual([
      "pipeline/test/master: must not be empty",
    ]);
  });

  test("a duration that does not parse shows how to write one", () => {
    expect(errorsOf({ monitor: { interval: "5 sec" } })).toEqual([
      'monitor/interval: "5 sec" is not a duration — write it like 500ms, 5s, 10m or 1h',
    ]);
    expect(errorsOf({ monitor: { roles: { proxy: { for: "soon" } } } })).toEqual([
      'monitor/roles/proxy/for: "soon" is not a duration — write it like 500ms, 5s, 10m or 1h',
    ]);
    // a bare number, as YAML reads `interval: 1`, has no unit to guess
    expect(errorsOf({ health: { interval: 1 }, proxy: { tls: { hsts: 365 } } })).toEqual([
      "proxy/tls/hsts: 365 is not valid — a max-age like 365d, or off",
      "health/interval: 1 is not a duration — write it with its unit, like 500ms, 5s, 10m or 1h",
    ]);
    // a number or true/false that would do as text is to be quoted, not "not valid"
    expect(
      errorsOf({ name: 5, pipeline: { test: { master: true } }, digitalocean: { region: 3.5 } }),
    ).toEqual([
      'name: 5 is read by YAML as a number, and must be text — put it in quotes: "5"',
      "digitalocean/region: 3.5 is not valid — use lowercase letters, digits and dashes, like nyc3 or s-1vcpu-1gb",
      'pipeline/test/master: true is read by YAML as a true/false, and must be text — put it in quotes: "true"',
    ]);
  });

  test("an interval of zero is refused", () => {
    expect(errorsOf({ health: { interval: "0s" } })).toEqual([
      "health/interval: must be longer than 0",
    ]);
  });

  test("the proxy's trusted proxies must be address blocks, and its idle timeout what Bun allows", () => {
    expect(
      errorsOf({
        proxy: {
          trusted_proxies: ["10.10.0.0/16", "lb.example", "10.0.0.0/40"],
          idle_timeout: "5m",
        },
      }),
    ).toEqual([
      'proxy/trusted_proxies/1: "lb.example" is not an address block — write it like 10.10.0.0/16 or 192.0.2.7',
      'proxy/trusted_proxies/2: "10.0.0.0/40" is not an address block — write it like 10.10.0.0/16 or 192.0.2.7',
      "proxy/idle_timeout: must be at most 255s (the most Bun's server allows)",
    ]);
    expect(errorsOf({ proxy: { trusted_proxies: "10.0.0.0/8" } })[0]).toStartWith(
      "proxy/trusted_proxies: ",
    );
    const ok = validateConfig({
      proxy: { trusted_proxies: ["2001:db8::/32"], response_timeout: "2m" },
    });
    if (!ok.ok) throw new Error(ok.errors.join("\n"));
    expect(ok.config.proxy.response_timeout).toBe(120_000);
    expect(ok.config.proxy.forward_host).toBe(true);
  });

  test("several proxies sit behind a load balancer, whose address must be trusted", () => {
    expect(errorsOf({ roles: { proxy: { count: 2 } } })).toEqual([
      "proxy/trusted_proxies: roles/proxy/count is 2, so a load balancer sends every visitor, and the proxies believe its X-Forwarded-For only from these blocks — add your VPC's range (like 10.116.0.0/20; the control panel shows it under Networking › VPC)",
    ]);
    expect(
      errorsOf({ roles: { proxy: { count: 11 } }, proxy: { trusted_proxies: ["10.0.0.0/8"] } }),
    ).toEqual(["roles/proxy/count: 11 is too large — must be at most 10"]);
    const ok = validateConfig({
      roles: { proxy: { count: 2 } },
      proxy: { trusted_proxies: ["10.116.0.0/20"] },
    });
    if (!ok.ok) throw new Error(ok.errors.join("\n"));
    expect(ok.config.roles.proxy.count).toBe(2);
    const one = validateConfig({});
    if (!one.ok) throw new Error(one.errors.join("\n"));
    expect(one.config.roles.proxy.count).toBe(1);
    expect(one.config.proxy.proxy_protocol).toBe(false);
  });

  test("the PROXY protocol is believed only from trusted proxies, so it needs some", () => {
    expect(errorsOf({ proxy: { proxy_protocol: true } })).toEqual([
      "proxy/proxy_protocol: a PROXY header is believed only from proxy/trusted_proxies, which is empty — add the load balancer's addresses (your VPC's range, like 10.116.0.0/20)",
    ]);
    expect(errorsOf({ proxy: { proxy_protocol: "yes" } })[0]).toStartWith("proxy/proxy_protocol: ");
    const ok = validateConfig({ proxy: { proxy_protocol: true, trusted_proxies: ["10.0.0.0/8"] } });
    if (!ok.ok) throw new Error(ok.errors.join("\n"));
    expect(ok.config.proxy.proxy_protocol).toBe(true);
  });

  test("rules between fields name both fields", () => {
    expect(
      errorsOf({ autoscale: { min: 2, max: 1 }, roles: { production: { count: 1 } } }),
    ).toEqual([
      "autoscale/max: must be at least autoscale/min (2)",
      "roles/production/count: 1 is below autoscale/min (2) — lower the minimum or raise the count",
    ]);
    expect(errorsOf({ autoscale: { up_above: 40, down_below: 40 } })).toEqual([
      "autoscale/down_below: must be below autoscale/up_above (40)",
    ]);
    expect(errorsOf({ autoscale: { up_above: 150 } })).toEqual([
      "autoscale/up_above: 150 is not a CPU percentage — use 0 to 100 for proxy_cpu",
    ]);
    expect(errorsOf({ roles: { production: { count: 9 } } })).toEqual([
      "roles/production/count: 9 is above autoscale/max (4) — raise the cap or lower the count",
    ]);
    expect(errorsOf({ monitor: { hysteresis: 10, roles: { redis: { memory: 8 } } } })).toEqual([
      "monitor/roles/redis/memory: 8 must be above monitor/hysteresis (10), or the alert could never clear",
    ]);
    expect(errorsOf({ ports: { monitor: 3000 } })).toEqual([
      "ports/monitor: 3000 is already ports/app — give each server its own port",
    ]);
  });

  test("a secret in the file is refused with where it belongs", () => {
    expect(errorsOf({ digitalocean: { token: "dop_v1_abc" } })).toEqual([
      "digitalocean/token: secrets do not belong in the config file — remove it and set DIGITALOCEAN_TOKEN in the environment or an untracked .env",
    ]);
    const [message] = errorsOf({ gitops: { remote: "http://git:hunter22@control:9000/inv.git" } });
    expect(message).toStartWith("gitops/remote: holds a password inside a URL");
    expect(message).not.toContain("hunter22");
  });

  test("every problem is reported at once", () => {
    const errors = errorsOf({
      name: "Shop",
      canary: { weight: -1 },
      monitor: { interval: "often" },
      autoscale: { min: 3, max: 2 },
    });
    expect(errors).toHaveLength(5);
    expect(errors.map((e) => e.split(":")[0])).toEqual([
      "name",
      "canary/weight",
      "monitor/interval",
      "autoscale/max",
      "roles/production/count",
    ]);
  });

  test("a file that is not a mapping, or not YAML, is refused", () => {
    expect(errorsOf(["a", "list"])).toEqual([
      "(top level): must be a mapping of sections such as name, roles and canary",
    ]);
    expect(() => parseConfigText("broken.yml", "roles: [unclosed")).toThrow(ConfigError);
    expect(() => parseConfigText("broken.yml", "roles: [unclosed")).toThrow(
      /broken.yml: 1 problem\n {2}line 1, column \d+: is not valid YAML — /,
    );
  });

  test("broken YAML says the line and column", () => {
    const text = "name: shop\nroles:\n  production: { count: 2\nports: { proxy: 80 }\n";
    expect(() => parseConfigText("dropship.yml", text)).toThrow(
      "dropship.yml: 1 problem\n  line 4, column 1: is not valid YAML — Flow map in block collection must be sufficiently indented and end with a }",
    );
    expect(() => parseConfigText("dropship.yml", "name: shop\ntag: 'unclosed\n")).toThrow(
      "line 3, column 1: is not valid YAML — Missing closing 'quote",
    );
  });

  test("a key written twice in one section is refused, with the other problems, not kept last", () => {
    // YAML parsers that keep the last would drop the first proxy section without a word
    const text = [
      "proxy:",
      "  idle_timeout: 10s",
      "canary: { weight: 130, weight: 20 }",
      "proxy:",
      "  drain_grace: 1s",
      "roles:",
      "  production: { count: 2 }",
      '  "production": { count: 3 }',
    ].join("\n");
    expect(() => parseConfigText("dropship.yml", text)).toThrow(
      [
        "dropship.yml: 3 problems",
        "  line 3, column 24: weight is written a second time in the same section — YAML keeps only the last, and what the first holds would be lost; write it once, with everything under it",
        "  line 4, column 1: proxy is written a second time in the same section — YAML keeps only the last, and what the first holds would be lost; write it once, with everything under it",
        '  line 8, column 3: "production" is written a second time in the same section — YAML keeps only the last, and what the first holds would be lost; write it once, with everything under it',
      ].join("\n"),
    );
    // the same key in different sections is no repeat
    expect(
      parseConfigText(
        "dropship.yml",
        "roles:\n  production: { count: 2 }\nports:\n  proxy: 8080\nproxy:\n  drain_grace: 1s\n",
      ).proxy.drain_grace,
    ).toBe(1000);
  });
});

describe("canary steps", () => {
  test("a list of weights and times resolves to milliseconds, a time may be left out; none by default", () => {
    const result = validateConfig({
      canary: {
        steps: [
          { weight: 10, for: "5m" },
          { weight: 10, for: "30s" },
          { weight: 50, for: "1h" },
          { weight: 80 },
        ],
      },
    });
    if (!result.ok) throw new Error(result.errors.join("\n"));
    // a step without a time lasts until it is promoted
    expect(result.config.canary.steps).toEqual([
      { weight: 10, for: 300_000 },
      { weight: 10, for: 30_000 },
      { weight: 50, for: 3_600_000 },
      { weight: 80 },
    ]);
    const plain = validateConfig({});
    expect(plain.ok && plain.config.canary.steps).toEqual([]);
  });

  test("each faulty step is named with its place, the fault and the fix", () => {
    expect(
      errorsOf({
        canary: {
          steps: [
            { weight: 0, for: "5m" },
            { for: "1m" },
            { weight: 30, for: "soon" },
            { weight: 40, for: "0s" },
            { weight: 50, for: "1m", pause: "1m" },
            { weight: 25, for: "1m" },
          ],
        },
      }),
    ).toEqual([
      "canary/steps/0/weight: 0 is too small — must be at least 1",
      "canary/steps/1/weight: is missing",
      "canary/steps/4/pause: unknown key — expected one of weight, for",
      'canary/steps/2/for: "soon" is not a duration — write it like 500ms, 5s, 10m or 1h',
      "canary/steps/3/for: must be longer than 0",
      "canary/steps/5/weight: 25 is below the step before (50) — a step down would send visitors who saw staging back to production; list the weights in rising order",
    ]);
    expect(errorsOf({ canary: { steps: "10%" } })).toEqual([
      'canary/steps: "10%" must be a list (in YAML, one "- " line per item)',
    ]);
    expect(
      errorsOf({ canary: { steps: Array.from({ length: 11 }, () => ({ weight: 5, for: "1m" })) } }),
    ).toEqual(["canary/steps: has 11 items — at most 10 are allowed"]);
  });
});

describe("jobs", () => {
  test("jobs take their defaults; a bad schedule, a name used twice and a missing command are named", () => {
    const result = validateConfig({
      jobs: [
        { name: "report", schedule: "30 3 * * mon-fri", command: "./dropship-app report" },
        {
          name: "sweep",
          schedule: "@hourly",
          command: "curl -fsS localhost:3000/",
          role: "staging",
          timeout: "30s",
        },
      ],
    });
    if (!result.ok) throw new Error(result.errors.join("\n"));
    expect(result.config.jobs).toEqual([
      {
        name: "report",
        schedule: "30 3 * * mon-fri",
        time_zone: "UTC",
        command: "./dropship-app report",
        role: "production",
        timeout: 600_000,
      },
      {
        name: "sweep",
        schedule: "@hourly",
        time_zone: "UTC",
        command: "curl -fsS localhost:3000/",
        role: "staging",
        timeout: 30_000,
      },
    ]);
    const plain = validateConfig({});
    expect(plain.ok && plain.config.jobs).toEqual([]);
    expect(
      errorsOf({
        jobs: [
          { name: "report", schedule: "30 3 * *", command: "x" },
          { name: "report", schedule: "0 0 30 2 *", command: "x" },
          { name: "Bad Name", schedule: "@daily", command: "x" },
          { name: "quick", schedule: "@daily", command: "", role: "proxy", timeout: "0s" },
          { name: "nothing", schedule: "@daily" },
          { name: "berlin", schedule: "@daily", command: "x", time_zone: "Europe/Berln" },
          { name: "mars", schedule: "@daily", command: "x", time_zone: "Olympus Mons" },
        ],
      }),
    ).toEqual([
      'jobs/2/name: "Bad Name" is not valid — use lowercase letters, digits and dashes, like nightly-report',
      "jobs/3/command: must not be empty",
      'jobs/3/role: "proxy" is not one of production, staging',
      "jobs/4/command: is missing",
      "jobs/3/timeout: must be longer than 0",
      'jobs/0/schedule: "30 3 * *" has 4 fields: a schedule has five (minute hour day-of-month month day-of-week), like */15 * * * * (every 15 minutes) or 30 3 * * mon-fri (03:30 on weekdays)',
      "jobs/1/name: report names an earlier job too — each job needs a name of its own",
      `jobs/1/schedule: "0 0 30 2 *" never runs: no month has that day (a day of the month past the month's last, like 30 in February)`,
      'jobs/5/time_zone: "Europe/Berln" is not a time zone — did you mean Europe/Berlin? give an IANA name like Europe/Berlin, America/New_York or UTC',
      'jobs/6/time_zone: "Olympus Mons" is not a time zone — give an IANA name like Europe/Berlin, America/New_York or UTC',
    ]);
  });
});
