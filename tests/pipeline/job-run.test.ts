import { expect, test } from "bun:test";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { jobOutputCleaner } from "../../pipeline/job-run.ts";
import { appUser, redisPasswordFor } from "../../server/shared/state/acl.ts";
import { tempDir } from "../helpers/tmp.ts";

test("a job's output loses the control host's secrets, the app's settings and the app's Redis passwords", () => {
  const dir = tempDir();
  writeFileSync(join(dir, "dropship.yml"), "name: shop\n");
  mkdirSync(join(dir, ".dropship"));
  writeFileSync(join(dir, ".dropship/app.env"), "API_TOKEN='tok-0123456789'\nSTYLE=warm\nEMPTY=\n");
  const master = "fleet-master-password";
  const env = {
    DROPSHIP_CONFIG: join(dir, "dropship.yml"),
    DROPSHIP_REDIS_PASSWORD: master,
    DIGITALOCEAN_TOKEN: "dop_v1_abcdefabcdef",
  };
  const clean = jobOutputCleaner(env, dir);
  const production = redisPasswordFor(master, appUser("production"));
  const staging = redisPasswordFor(master, appUser("staging"));
  expect(
    clean(
      `token=tok-0123456789 style=warm do=dop_v1_abcdefabcdef url=redis://app-production:${production}@10.0.0.2:6379 staging=${staging} master=${master}`,
    ),
  ).toBe(
    "token=**** style=warm do=<DIGITALOCEAN_TOKEN> url=redis://app-production:****@10.0.0.2:6379 staging=**** master=<DROPSHIP_REDIS_PASSWORD>",
  );
  // no app settings file, no fleet password: the control host's own secrets still go
  const bare = jobOutputCleaner({ DIGITALOCEAN_TOKEN: "dop_v1_abcdefabcdef" }, tempDir());
  expect(bare("dop_v1_abcdefabcdef tok-0123456789")).toBe("<DIGITALOCEAN_TOKEN> tok-0123456789");
});
