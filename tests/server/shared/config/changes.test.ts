import { expect, test } from "bun:test";
import {
  changedAtStartOnly,
  changedSections,
  withStartSettings,
} from "../../../../server/shared/config/changes.ts";
import type { Config } from "../../../../server/shared/config/schema.ts";
import { validateConfig } from "../../../../server/shared/config/validate.ts";

const config = (yaml: string): Config => {
  const checked = validateConfig(Bun.YAML.parse(yaml) ?? {});
  if (!checked.ok) throw new Error(checked.errors.join("\n"));
  return checked.config;
};

test("the sections a config edit changed, in the reference's order; a default written out is no change", () => {
  const before = config("name: shop\nautoscale: { max: 4 }\n");
  expect(changedSections(before, config("name: shop\nautoscale: { max: 4 }\n"))).toEqual([]);
  // the value the default gives, now written: the same config
  expect(changedSections(before, config("name: shop\nautoscale: { max: 4, min: 2 }\n"))).toEqual(
    [],
  );
  expect(
    changedSections(
      before,
      config(
        'name: shop\nheal: { after: 30s }\nautoscale: { max: 3 }\njobs: [{ name: nightly, schedule: "0 3 * * *", command: "true" }]\n',
      ),
    ),
  ).toEqual(["autoscale", "heal", "jobs"]);
  expect(changedSections(before, config("name: cafe\nautoscale: { max: 4 }\n"))).toEqual(["name"]);
});

test("the listener's and the hooks' settings wait for the receiver's restart; the rest does not", () => {
  const before = config("name: shop\n");
  expect(changedAtStartOnly(before, config("name: shop\nautoscale: { max: 3 }\n"))).toEqual([]);
  const tls = config(
    "name: shop\npipeline: { tls: { certificate_file: push.crt, key_file: push.key } }\n",
  );
  expect(changedAtStartOnly(before, tls)).toEqual(["pipeline/tls"]);
  expect(changedAtStartOnly(tls, tls)).toEqual([]);
  expect(
    changedAtStartOnly(
      before,
      config(
        "name: shop\ndigitalocean: { ssh_key: ~/.ssh/deploy }\npipeline: { push_limit: 64, repos: [app, site], health_timeout: 20s }\ngitops: { repo: /srv/inventory }\n",
      ),
    ),
  ).toEqual(["digitalocean/ssh_key", "pipeline/repos", "pipeline/push_limit", "gitops/repo"]);
});

test("a running receiver works on from the settings it read at the start, and the rest as edited", () => {
  const atStart = config(
    "name: shop\npipeline: { push_limit: 64 }\ngitops: { repo: /srv/inventory }\n",
  );
  const edited = config(
    "name: shop\nautoscale: { max: 3 }\npipeline: { push_limit: 128, health_timeout: 20s }\ngitops: { repo: /srv/other }\n",
  );
  const running = withStartSettings(atStart, edited);
  expect(running.autoscale.max).toBe(3);
  expect(running.pipeline.health_timeout).toBe(edited.pipeline.health_timeout);
  expect(running.pipeline.push_limit).toBe(64);
  expect(running.gitops.repo).toBe("/srv/inventory");
  // what it was made from is left as it was
  expect(edited.pipeline.push_limit).toBe(128);
  expect(changedAtStartOnly(atStart, running)).toEqual([]);
});
