import { expect, test } from "bun:test";
import { join, resolve } from "node:path";
import {
  ansibleDir,
  convergeSummary,
  type HostRecap,
  parseRecap,
} from "../../../server/shared/ansible.ts";

const OUTPUT = `PLAY [Production hosts run the app and the monitor] ****************************

TASK [dropship_host : The dropship service user ...] ***************************
ok: [web-1]
ok: [web-2]

PLAY RECAP *********************************************************************
web-1                      : ok=16   changed=3    unreachable=0    failed=0    skipped=4    rescued=0    ignored=0
web-2                      : ok=14   changed=0    unreachable=0    failed=0    skipped=4    rescued=0    ignored=0
`;

const recap = (changed: number): HostRecap => ({ ok: 14, changed, unreachable: 0, failed: 0 });

test("the recap is read per host", () => {
  expect(parseRecap(OUTPUT)).toEqual({
    "web-1": { ok: 16, changed: 3, unreachable: 0, failed: 0 },
    "web-2": { ok: 14, changed: 0, unreachable: 0, failed: 0 },
  });
  expect(parseRecap("ERROR! the playbook could not be read")).toEqual({});
});

test("a converge that changed nothing says so; one that did names each host that changed", () => {
  expect(convergeSummary([{ "proxy-1": recap(0) }, { "web-1": recap(0), "web-2": recap(0) }])).toBe(
    "3 hosts as configured already: nothing changed",
  );
  expect(convergeSummary([{ "proxy-1": recap(5) }, { "web-1": recap(0), "web-2": recap(1) }])).toBe(
    "3 hosts configured: 6 changes (proxy-1 5, web-2 1)",
  );
  expect(convergeSummary([{ "web-1": recap(1) }])).toBe("1 host configured: 1 change (web-1 1)");
  // a playbook whose role has no hosts adds none
  expect(convergeSummary([{}, { "web-1": recap(0) }])).toBe(
    "1 host as configured already: nothing changed",
  );
});

test("the playbooks are found from the code's folder and from a bundle of it deeper in the checkout", () => {
  const root = resolve(import.meta.dir, "../../..");
  expect(ansibleDir(join(root, "server/shared"))).toBe(join(root, "ansible"));
  expect(ansibleDir(join(root, "dist/test-bundles-x/receiver"))).toBe(join(root, "ansible"));
  expect(ansibleDir(join(root, "dist/a/b/c/d"))).toBe(join(root, "ansible"));
});
