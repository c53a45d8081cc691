import { resolve } from "node:path";
import { redact } from "../shared/secrets.ts";
import { createApi } from "./api.ts";
import { Fleet } from "./fleet.ts";

const USAGE = `Usage: bun run emulator [--port 7070] [--rate-limit 250]

A local DigitalOcean API (v2, the calls dropship makes) whose droplets are real hosts on this
machine: a network namespace on the 10.77.0.0/16 bridge each, with its own sshd. It accepts
only the token in DIGITALOCEAN_TOKEN. State lives in DROPSHIP_EMULATOR_DIR (default
.dropship/emulator); on start it removes what an earlier run left, on stop every droplet.
Needs Linux and root (network namespaces).`;

const args = process.argv.slice(2);
if (args.includes("--help") || args.includes("-h")) {
  console.log(USAGE);
  process.exit(0);
}
const option = (name: string, fallback: number) => {
  const at = args.indexOf(name);
  if (at < 0) return fallback;
  const value = Number(args[at + 1]);
  if (!Number.isInteger(value) || value <= 0)
    fail(`${name} needs a whole number above 0, got ${args[at + 1] ?? "nothing"}`);
  return value;
};
function fail(message: string): never {
  console.error(`dropship emulator: ${redact(message)}`);
  process.exit(2);
}

if (process.platform !== "linux")
  fail(`needs Linux (network namespaces); this is ${process.platform}`);
if (process.getuid?.() !== 0)
  fail("needs root to create network namespaces and hosts; run it with sudo");
const token = process.env.DIGITALOCEAN_TOKEN;
if (!token)
  fail(
    "DIGITALOCEAN_TOKEN is not set — the emulator accepts only that token; make one up for local use",
  );

const port = option("--port", 7070);
const fleet = new Fleet(resolve(process.env.DROPSHIP_EMULATOR_DIR ?? ".dropship/emulator"));
try {
  fleet.start();
} catch (error) {
  fail(`cannot prepare the droplet network: ${(error as Error).message}`);
}
const baseUrl = `http://127.0.0.1:${port}`;
const app = createApi(fleet, { token, ratePerMinute: option("--rate-limit", 250), baseUrl });
app.listen({ port, hostname: "127.0.0.1" });
console.log(`dropship emulator listening on ${baseUrl}/v2 — droplets on 10.77.0.0/16`);

let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  fleet.stop();
  await app.stop(true);
  process.exit(0);
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
