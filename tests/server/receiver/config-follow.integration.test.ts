import { expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { startReceiver } from "../../helpers/receiver.ts";
import { startRedis } from "../../helpers/redis.ts";
import { eventually, expectLogged } from "../../helpers/server.ts";
import { fileTempDir } from "../../helpers/tmp.ts";

// The receiver's autoscaler as its config file says now: a real redis-server and an SSH key,
// with DigitalOcean's API where nothing answers (no host is added or removed here: the fleet is
// empty, and the scaling itself is tested on droplets in pipeline/scale.integration.test.ts).
const redis = await startRedis();
const keys = fileTempDir("dropship-follow-keys-");
const key = join(keys, "id");
expect(
  Bun.spawnSync(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "follow", "-f", key])
    .exitCode,
).toBe(0);

const fleet = (autoscale: string, jobs = "") =>
  `name: shop\nheal: { enabled: false }\nautoscale: { ${autoscale} }\n${jobs}`;

test("an edited autoscale section starts the autoscaler again with its limits; an edited job list does not", async () => {
  const { receiver, dir } = await startReceiver(
    fleet("min: 2, max: 4"),
    crypto.randomUUID(),
    {
      REDIS_URL: redis.url,
      DROPSHIP_SSH_KEY: key,
      DIGITALOCEAN_TOKEN: "follow-token",
      DIGITALOCEAN_API_URL: "http://127.0.0.1:9",
    },
    /autoscaler o/,
  );
  expect(receiver.started).toContain("dropship-receiver: autoscaler on (proxy_cpu, 2–4 hosts)\n");
  const file = join(dir, "dropship.yml");
  // the cap lowered, as a person cutting the bill would: it holds without a restart
  writeFileSync(file, fleet("min: 2, max: 3"));
  const restarts = () => receiver.stdout().split("started again from it").length - 1;
  await eventually(async () => restarts() === 1, 10_000, "the autoscaler started again");
  await expectLogged(
    () => receiver.stdout(),
    "dropship-receiver: autoscaler on (proxy_cpu, 2–3 hosts)\n",
  );
  await expectLogged(
    () => receiver.stdout(),
    ` dropship-receiver: ${file} changed autoscale: the autoscaler, self-healing, certificates, backups and canary steps started again from it\n`,
  );
  // only the jobs: the schedule takes them, and the autoscaler goes on as it is
  writeFileSync(
    file,
    fleet("max: 3", 'jobs: [{ name: nightly, schedule: "0 3 * * *", command: "true" }]\n'),
  );
  await eventually(
    async () => receiver.stdout().includes("changed its jobs (added nightly)"),
    10_000,
    "the receiver taking the job",
  );
  expect(restarts()).toBe(1);
  // switched off: said as at a start, with why
  const off = fleet(
    "enabled: false",
    'jobs: [{ name: nightly, schedule: "0 3 * * *", command: "true" }]\n',
  );
  writeFileSync(file, off);
  await eventually(async () => restarts() === 2, 10_000, "the autoscaler stopped by the edit");
  await expectLogged(
    () => receiver.stdout(),
    "dropship-receiver: autoscaler off (autoscale/enabled is false)\n",
  );
  // the push listener's certificate is read at the start: said so, and nothing restarted
  writeFileSync(
    file,
    `${off}pipeline: { tls: { certificate_file: push.crt, key_file: push.key } }\n`,
  );
  await eventually(
    async () => receiver.stdout().includes("pipeline/tls applies when"),
    10_000,
    "the receiver saying what waits for its restart",
  );
  await expectLogged(
    () => receiver.stdout(),
    ` dropship-receiver: ${file}: pipeline/tls applies when the receiver restarts (read at its start)\n`,
  );
  expect(restarts()).toBe(2);
  // beside a change the parts take up: both said
  writeFileSync(
    file,
    `${off}pipeline: { health_timeout: 20s, tls: { certificate_file: push.crt, key_file: push.key } }\n`,
  );
  await eventually(
    async () => restarts() === 3,
    10_000,
    "the receiver taking the pipeline section",
  );
  await expectLogged(
    () => receiver.stdout(),
    `changed pipeline: the autoscaler, self-healing, certificates, backups and canary steps started again from it; pipeline/tls applies when the receiver restarts (read at its start)\n`,
  );
  expect(receiver.stderr()).not.toContain("does not validate");
  // each part's first look waited for its Redis connection: no false alarm at a start
  expect(receiver.stdout()).not.toContain("Redis does not answer");
  expect(receiver.stdout()).not.toContain("could not be read");
  expect(await receiver.stop()).toBe(0);
}, 60_000);
