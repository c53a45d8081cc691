import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { EnvError, readEnv, text, type Variable } from "../shared/env.ts";
import { onShutdown, serverMain } from "../shared/serve.ts";
import { type HostInit, parseHostInit } from "./host-init.ts";
import { EMULATOR_NETWORK_VARIABLE, emulatorNames, parseEmulatorNetwork } from "./network.ts";

const SPEC = {
  token: {
    name: "DIGITALOCEAN_TOKEN",
    description: "the only token the API accepts; make one up for local use",
    parse: (value: string) => value,
  } satisfies Variable<string>,
  dir: text("DROPSHIP_EMULATOR_DIR", ".dropship/emulator", "the droplets' state"),
  network: {
    name: EMULATOR_NETWORK_VARIABLE,
    description:
      "which emulator network: 0 is 10.77.0.0/16 public and 10.78.0.0/16 private, n is 10.(77+2n) and 10.(78+2n); one emulator runs on each",
    fallback: 0,
    parse: parseEmulatorNetwork,
  } satisfies Variable<number>,
  init: {
    name: "DROPSHIP_EMULATOR_INIT",
    description:
      "what each droplet boots: systemd (default: systemd in a container, as DigitalOcean's images; needs systemd-nspawn) or shell (an sshd under a shell, services under dropship-service: lighter, for a machine without systemd-nspawn)",
    fallback: "systemd",
    parse: parseHostInit,
  } satisfies Variable<HostInit>,
};

/** --port and --rate-limit: whole numbers above 0; a fault is a bad setting (exit 2). */
function options(args: string[]): { port: number; ratePerMinute: number } {
  let values: Record<string, string | boolean | undefined>;
  try {
    values = parseArgs({
      args,
      options: { port: { type: "string" }, "rate-limit": { type: "string" } },
      strict: true,
    }).values;
  } catch (error) {
    throw new EnvError(
      `${(error as Error).message.split(". ")[0]} — use --port N and --rate-limit N`,
    );
  }
  const whole = (name: string, fallback: number) => {
    const text = values[name] as string | undefined;
    if (text === undefined) return fallback;
    const value = Number(text);
    if (!Number.isInteger(value) || value <= 0)
      throw new EnvError(`--${name} needs a whole number above 0, got ${text}`);
    return value;
  };
  return { port: whole("port", 7070), ratePerMinute: whole("rate-limit", 250) };
}

await serverMain(
  "dropship-emulator",
  "a local DigitalOcean API (v2, the calls dropship makes; --port 7070, --rate-limit 250 a minute) whose droplets are real hosts on this machine: a network namespace each, with a public address on 10.77.0.0/16, a private one on 10.78.0.0/16 (the VPC; this machine is in it, as the control host; other networks with DROPSHIP_EMULATOR_NETWORK) and its own sshd, limited to its size (CPU quota, memory, processes; cgroup v1) and shown its own /proc figures (LXCFS), where the machine allows. On start it removes what an earlier run left, on stop every droplet. Needs Linux and root",
  SPEC,
  async () => {
    const env = readEnv(SPEC);
    const { port, ratePerMinute } = options(process.argv.slice(2));
    const names = emulatorNames(env.network);
    if (process.platform !== "linux")
      throw new Error(`needs Linux (network namespaces); this is ${process.platform}`);
    if (process.getuid?.() !== 0)
      throw new Error("needs root to create network namespaces and hosts; run it with sudo");
    // the network's names are fixed when these load: only after the variable was checked
    const { Fleet } = await import("./fleet.ts");
    const { createApi } = await import("./api.ts");
    const fleet = new Fleet(resolve(env.dir), env.init);
    try {
      fleet.start();
    } catch (error) {
      throw new Error(`cannot prepare the droplet network: ${(error as Error).message}`);
    }
    await fleet.startDns((line) => console.log(`dropship-emulator: ${line}`));
    await fleet.startLimits((line) => console.log(`dropship-emulator: ${line}`));
    console.log(
      `dropship-emulator: droplets boot ${env.init === "systemd" ? "systemd, as DigitalOcean's images do (systemd-nspawn)" : "a shell that starts their sshd; services run under dropship-service"}`,
    );
    const baseUrl = `http://127.0.0.1:${port}`;
    const app = createApi(fleet, { token: env.token, ratePerMinute, baseUrl });
    app.listen({ port, hostname: "127.0.0.1" });
    console.log(
      `dropship emulator listening on ${baseUrl}/v2 — droplets public on ${names.public.prefix}.0.0/16, private on ${names.private.prefix}.0.0/16${fleet.dnsServer ? `; DNS for /v2/domains at ${fleet.dnsServer}` : ""}`,
    );
    onShutdown(async () => {
      fleet.stop();
      await app.stop(true);
    });
  },
);
