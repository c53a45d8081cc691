import type { TSchema } from "@sinclair/typebox";
import { type ValueError, ValueErrorType } from "@sinclair/typebox/errors";
import { Value } from "@sinclair/typebox/value";
import { parseCidr } from "../net/cidr.ts";
import { domainFault } from "../tls/domains.ts";
import { CronError, parseCron } from "./cron.ts";
import { parseDuration } from "./duration.ts";
import { type Config, ConfigSchema, ROLES } from "./schema.ts";
import { suggest } from "./suggest.ts";
import { isTimeZone } from "./time-zone.ts";

export type Validation = { ok: true; config: Config } | { ok: false; errors: string[] };

const SECRET_KEY = /(token|password|passwd|secret|api_?key|private_key_data)$/i;
const SECRET_ENV: Record<string, string> = {
  digitalocean: "DIGITALOCEAN_TOKEN",
  redis: "REDIS_URL",
  smtp: "SMTP_URL",
};

/**
 * Checks a parsed config file against the schema and the rules between fields, reporting
 * every problem at once as `path: sentence`. Pure: no I/O, no environment.
 */
export function validateConfig(raw: unknown): Validation {
  const input = raw ?? {};
  if (typeof input !== "object" || Array.isArray(input)) {
    return {
      ok: false,
      errors: ["(top level): must be a mapping of sections such as name, roles and canary"],
    };
  }
  const foundFirst = findSecrets(input, []);
  for (const [path, message] of mappingsForLists(ConfigSchema, input, []))
    if (!foundFirst.has(path)) foundFirst.set(path, message);
  const withDefaults = Value.Default(ConfigSchema, structuredClone(input));
  const errors = [...foundFirst.values()];
  const seen = new Set(foundFirst.keys());
  for (const error of Value.Errors(ConfigSchema, withDefaults)) {
    const path = error.path.slice(1);
    if (seen.has(path) || [...foundFirst.keys()].some((above) => path.startsWith(`${above}/`)))
      continue;
    seen.add(path);
    errors.push(`${path || "(top level)"}: ${describe(error)}`);
  }
  const resolved = resolveDurations(ConfigSchema, withDefaults, [], errors) as Config;
  // Rules between fields are checked even when other fields are wrong, so one run lists
  // everything; a rule whose fields are themselves invalid stays quiet.
  errors.push(...crossFieldErrors(resolved).filter((e) => !seen.has(e.slice(0, e.indexOf(":")))));
  if (errors.length > 0) return { ok: false, errors };
  for (const role of ROLES) resolved.roles[role].region ??= resolved.digitalocean.region;
  return { ok: true, config: resolved };
}

/**
 * Each mapping written where a list belongs (`jobs:` with a job's name under it), and each list
 * where a section belongs. TypeBox's Value.Default merges a mapping into the list's default,
 * `[]`, which stays an empty list: the jobs, steps or domains under it would be dropped and the
 * file called valid; a list for a section came out as a valid empty one, or as keys `0`, `1`.
 */
function mappingsForLists(schema: TSchema, value: unknown, path: string[]): Map<string, string> {
  const found = new Map<string, string>();
  if (!value || typeof value !== "object") return found;
  const at = path.join("/") || "(top level)";
  if (schema.type === "array" && !Array.isArray(value)) {
    found.set(
      at,
      `${at}: is a mapping (key: value lines), but must be a list — in YAML, one "- " line per item`,
    );
  } else if (schema.type === "object" && Array.isArray(value)) {
    found.set(
      at,
      `${at}: is a list ("- " lines), but must be a mapping — in YAML, key: value lines`,
    );
  } else if (Array.isArray(value) && schema.items) {
    for (const [i, item] of value.entries())
      for (const [p, m] of mappingsForLists(schema.items as TSchema, item, [...path, String(i)]))
        found.set(p, m);
  } else if (schema.properties) {
    for (const [key, child] of Object.entries(value)) {
      const childSchema = (schema.properties as Record<string, TSchema>)[key];
      if (childSchema)
        for (const [p, m] of mappingsForLists(childSchema, child, [...path, key])) found.set(p, m);
    }
  }
  return found;
}

/**
 * A number or true/false where text belongs: YAML reads `name: 5` or `test: true` so. A
 * duration without its unit says how one is written; a value that would do as text is to be
 * quoted; anything else gets the field's own hint.
 */
function textFault(schema: TSchema, value: unknown, shown: string): string {
  if (schema.duration === true)
    return `${shown} is not a duration — write it with its unit, like 500ms, 5s, 10m or 1h`;
  const asText = String(value);
  const wouldDo = typeof schema.pattern !== "string" || new RegExp(schema.pattern).test(asText);
  if ((typeof value === "number" || typeof value === "boolean") && wouldDo)
    return `${shown} is read by YAML as a ${typeof value === "number" ? "number" : "true/false"}, and must be text — put it in quotes: "${asText}"`;
  return schema.hint ? `${shown} is not valid — ${String(schema.hint)}` : `${shown} must be text`;
}

function findSecrets(value: unknown, path: string[]): Map<string, string> {
  const found = new Map<string, string>();
  if (typeof value === "string" && /^[a-z+]+:\/\/[^/@\s]*:[^/@\s]+@/i.test(value)) {
    found.set(
      path.join("/"),
      `${path.join("/")}: holds a password inside a URL — secrets do not belong in the config file; pass credentials through the environment or an untracked .env`,
    );
  } else if (value && typeof value === "object") {
    for (const [key, child] of Object.entries(value)) {
      const childPath = [...path, key];
      if (SECRET_KEY.test(key)) {
        const variable = SECRET_ENV[path[0] ?? ""] ?? "an environment variable";
        found.set(
          childPath.join("/"),
          `${childPath.join("/")}: secrets do not belong in the config file — remove it and set ${variable} in the environment or an untracked .env`,
        );
      } else {
        for (const [p, message] of findSecrets(child, childPath)) found.set(p, message);
      }
    }
  }
  return found;
}

function describe(error: ValueError): string {
  const schema = error.schema as TSchema & Record<string, unknown>;
  const shown = JSON.stringify(error.value);
  switch (error.type) {
    case ValueErrorType.ObjectAdditionalProperties: {
      const key = error.path.split("/").pop() ?? "";
      const known = Object.keys((schemaAt(parentPath(error.path))?.properties ?? {}) as object);
      const hint = suggest(key, known);
      return hint
        ? `unknown key — did you mean ${hint}?`
        : `unknown key — expected one of ${known.join(", ")}`;
    }
    case ValueErrorType.ObjectRequiredProperty:
      return "is missing";
    case ValueErrorType.Object:
      return `${shown} must be a mapping of keys to values`;
    case ValueErrorType.Integer:
      return `${shown} must be a whole number`;
    case ValueErrorType.Number:
      return `${shown} must be a number`;
    case ValueErrorType.String:
      return textFault(schema, error.value, shown);
    case ValueErrorType.Boolean:
      return `${shown} must be true or false`;
    case ValueErrorType.NumberMinimum:
    case ValueErrorType.IntegerMinimum:
      return `${shown} is too small — must be at least ${schema.minimum}`;
    case ValueErrorType.NumberMaximum:
    case ValueErrorType.IntegerMaximum:
      return `${shown} is too large — must be at most ${schema.maximum}`;
    case ValueErrorType.Array:
      return `${shown} must be a list (in YAML, one "- " line per item)`;
    case ValueErrorType.ArrayMaxItems:
      return `has ${(error.value as unknown[]).length} items — at most ${schema.maxItems} are allowed`;
    case ValueErrorType.StringMinLength:
      return "must not be empty";
    case ValueErrorType.StringPattern:
      return `${shown} is not valid — ${String(schema.hint ?? `must match ${schema.pattern}`)}`;
    case ValueErrorType.Union: {
      const options = ((schema.anyOf ?? []) as TSchema[]).map((s) =>
        s.const === undefined
          ? `a whole number from ${s.minimum} to ${s.maximum}`
          : String(s.const),
      );
      const hint = typeof error.value === "string" ? suggest(error.value, options) : undefined;
      return `${shown} is not one of ${options.join(", ")}${hint ? ` — did you mean ${hint}?` : ""}`;
    }
    default:
      return `${shown}: ${error.message.toLowerCase()}`;
  }
}

function parentPath(pointer: string): string[] {
  return pointer.split("/").slice(1, -1);
}

function schemaAt(
  path: string[],
): (TSchema & { properties?: Record<string, TSchema> }) | undefined {
  let schema: TSchema | undefined = ConfigSchema;
  for (const key of path)
    schema = /^\d+$/.test(key) && schema?.items ? schema.items : schema?.properties?.[key];
  return schema;
}

function resolveDurations(
  schema: TSchema,
  value: unknown,
  path: string[],
  errors: string[],
): unknown {
  if (schema.duration === true && typeof value === "string") {
    const ms = parseDuration(value);
    if (ms === undefined) {
      errors.push(
        `${path.join("/")}: ${JSON.stringify(value)} is not a duration — write it like 500ms, 5s, 10m or 1h`,
      );
    } else if (schema.positive === true && ms === 0) {
      errors.push(`${path.join("/")}: must be longer than 0`);
    }
    return ms;
  }
  if (schema.items && Array.isArray(value))
    return value.map((item, i) =>
      resolveDurations(schema.items as TSchema, item, [...path, String(i)], errors),
    );
  if (schema.properties && value && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const [key, child] of Object.entries(value)) {
      const childSchema = schema.properties[key] as TSchema | undefined;
      out[key] = childSchema ? resolveDurations(childSchema, child, [...path, key], errors) : child;
    }
    return out;
  }
  return value;
}

function crossFieldErrors(config: Config): string[] {
  const errors: string[] = [];
  const { autoscale, roles, monitor, ports, proxy } = config;
  for (const [i, block] of (Array.isArray(proxy.trusted_proxies)
    ? proxy.trusted_proxies
    : []
  ).entries()) {
    if (typeof block === "string" && !parseCidr(block)) {
      errors.push(
        `proxy/trusted_proxies/${i}: ${JSON.stringify(block)} is not an address block — write it like 10.10.0.0/16 or 192.0.2.7`,
      );
    }
  }
  for (const [i, block] of (Array.isArray(proxy.admin_allow) ? proxy.admin_allow : []).entries()) {
    if (typeof block === "string" && !parseCidr(block)) {
      errors.push(
        `proxy/admin_allow/${i}: ${JSON.stringify(block)} is not an address block — write it like 203.0.113.0/24 or 198.51.100.7`,
      );
    }
  }
  errors.push(...tlsErrors(proxy.tls));
  const pushTls = config.pipeline.tls;
  if (pushTls && Boolean(pushTls.certificate_file) !== Boolean(pushTls.key_file))
    errors.push(
      pushTls.certificate_file
        ? "pipeline/tls/key_file: certificate_file needs its key — set key_file to the PEM private key"
        : "pipeline/tls/certificate_file: key_file needs its certificate — set certificate_file to the PEM chain",
    );
  if (
    typeof roles.proxy?.count === "number" &&
    roles.proxy.count > 1 &&
    Array.isArray(proxy.trusted_proxies) &&
    proxy.trusted_proxies.length === 0
  ) {
    errors.push(
      `proxy/trusted_proxies: roles/proxy/count is ${roles.proxy.count}, so a load balancer sends every visitor, and the proxies believe its X-Forwarded-For only from these blocks — add your VPC's range (like 10.116.0.0/20; the control panel shows it under Networking › VPC)`,
    );
  }
  if (
    proxy.proxy_protocol === true &&
    Array.isArray(proxy.trusted_proxies) &&
    proxy.trusted_proxies.length === 0
  ) {
    errors.push(
      "proxy/proxy_protocol: a PROXY header is believed only from proxy/trusted_proxies, which is empty — add the load balancer's addresses (your VPC's range, like 10.116.0.0/20)",
    );
  }
  const branches = config.pipeline?.branches;
  if (Array.isArray(branches?.production) && Array.isArray(branches?.staging)) {
    for (const branch of branches.staging.filter((b) => branches.production.includes(b))) {
      errors.push(
        `pipeline/branches/staging: ${branch} is also in pipeline/branches/production — a branch deploys to one role`,
      );
    }
  }
  const repos = config.pipeline?.repos;
  if (Array.isArray(repos) && repos.includes("inventory")) {
    errors.push(
      "pipeline/repos: inventory is the GitOps inventory's name on the receiver — name the repository otherwise",
    );
  }
  if (typeof proxy.idle_timeout === "number" && proxy.idle_timeout > 255_000) {
    errors.push("proxy/idle_timeout: must be at most 255s (the most Bun's server allows)");
  }
  const numbers = (...values: unknown[]) => values.every((v) => typeof v === "number");
  const steps = Array.isArray(config.canary?.steps) ? config.canary.steps : [];
  for (const [i, step] of steps.entries()) {
    const before = steps[i - 1]?.weight;
    if (i > 0 && typeof before === "number" && numbers(step?.weight) && step.weight < before)
      errors.push(
        `canary/steps/${i}/weight: ${step.weight} is below the step before (${before}) — a step down would send visitors who saw staging back to production; list the weights in rising order`,
      );
  }
  errors.push(...jobErrors(config.jobs));
  if (numbers(autoscale.max, autoscale.min) && autoscale.max < autoscale.min) {
    errors.push(`autoscale/max: must be at least autoscale/min (${autoscale.min})`);
  }
  if (
    numbers(autoscale.down_below, autoscale.up_above) &&
    autoscale.down_below >= autoscale.up_above
  ) {
    errors.push(`autoscale/down_below: must be below autoscale/up_above (${autoscale.up_above})`);
  }
  if (
    numbers(autoscale.up_above) &&
    autoscale.metric !== "rps_per_host" &&
    autoscale.up_above > 100
  ) {
    errors.push(
      `autoscale/up_above: ${autoscale.up_above} is not a CPU percentage — use 0 to 100 for ${autoscale.metric}`,
    );
  }
  const count = roles.production?.count;
  if (numbers(count, autoscale.max) && count > autoscale.max) {
    errors.push(
      `roles/production/count: ${count} is above autoscale/max (${autoscale.max}) — raise the cap or lower the count`,
    );
  }
  if (numbers(count, autoscale.min) && count < autoscale.min) {
    errors.push(
      `roles/production/count: ${count} is below autoscale/min (${autoscale.min}) — lower the minimum or raise the count`,
    );
  }
  const thresholds: [string, number][] = [["monitor/cpu", monitor.cpu]];
  thresholds.push(["monitor/memory", monitor.memory]);
  for (const [role, override] of Object.entries(monitor.roles ?? {})) {
    if (override?.cpu !== undefined) thresholds.push([`monitor/roles/${role}/cpu`, override.cpu]);
    if (override?.memory !== undefined) {
      thresholds.push([`monitor/roles/${role}/memory`, override.memory]);
    }
  }
  for (const [path, threshold] of thresholds) {
    if (numbers(threshold, monitor.hysteresis) && threshold <= monitor.hysteresis) {
      errors.push(
        `${path}: ${threshold} must be above monitor/hysteresis (${monitor.hysteresis}), or the alert could never clear`,
      );
    }
  }
  const owners = new Map<number, string>();
  for (const server of Object.keys(ConfigSchema.properties.ports.properties)) {
    const port = ports[server as keyof typeof ports];
    if (!numbers(port)) continue;
    const owner = owners.get(port);
    if (owner) {
      errors.push(
        `ports/${server}: ${port} is already ports/${owner} — give each server its own port`,
      );
    }
    owners.set(port, server);
  }
  return errors;
}

function tlsErrors(tls: Config["proxy"]["tls"] | undefined): string[] {
  if (!tls || !Array.isArray(tls.domains)) return [];
  const errors = tls.domains.flatMap((domain, i) => {
    const fault = typeof domain === "string" ? domainFault(domain) : undefined;
    return fault ? [`proxy/tls/domains/${i}: ${fault}`] : [];
  });
  if (Boolean(tls.certificate_file) !== Boolean(tls.key_file))
    errors.push(
      tls.certificate_file
        ? "proxy/tls/key_file: certificate_file needs its key — set key_file to the PEM private key"
        : "proxy/tls/certificate_file: key_file needs its certificate — set certificate_file to the PEM chain",
    );
  if (tls.certificate_file && tls.domains.length === 0)
    errors.push(
      "proxy/tls/domains: list the names certificate_file serves — each is checked against the certificate",
    );
  if (!tls.certificate_file && tls.domains.length === 0 && tls.email)
    errors.push(
      "proxy/tls/domains: email is set but no domain is — list the names to get certificates for",
    );
  return errors;
}

function jobErrors(jobs: Config["jobs"] | undefined): string[] {
  if (!Array.isArray(jobs)) return [];
  const errors: string[] = [];
  const named = new Set<string>();
  for (const [i, job] of jobs.entries()) {
    if (typeof job?.name === "string") {
      if (named.has(job.name))
        errors.push(
          `jobs/${i}/name: ${job.name} names an earlier job too — each job needs a name of its own`,
        );
      named.add(job.name);
    }
    if (typeof job?.time_zone === "string" && !isTimeZone(job.time_zone)) {
      const near = suggest(job.time_zone, Intl.supportedValuesOf("timeZone"));
      errors.push(
        `jobs/${i}/time_zone: ${JSON.stringify(job.time_zone)} is not a time zone — ${near ? `did you mean ${near}? ` : ""}give an IANA name like Europe/Berlin, America/New_York or UTC`,
      );
    }
    if (typeof job?.schedule !== "string") continue;
    try {
      parseCron(job.schedule);
    } catch (error) {
      if (!(error instanceof CronError)) throw error;
      errors.push(`jobs/${i}/schedule: ${error.message}`);
    }
  }
  return errors;
}
