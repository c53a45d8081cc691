import { expect, test } from "bun:test";
import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import {
  describeChange,
  hostAppEnv,
  isReservedName,
  parseAssignments,
  settingsFaults,
  settingsLines,
} from "../../../server/shared/app-settings.ts";
import {
  appSettingsVariable,
  parseEnvFile,
  readAppSettings,
  writeAppSettings,
} from "../../../server/shared/config/env-file.ts";
import { tempDir } from "../../helpers/tmp.ts";

test("NAME=value arguments: the value may hold = and spaces; every fault is named", () => {
  expect(parseAssignments(["STRIPE_KEY=sk_live_a=b", "GREETING=hello there", "EMPTY="])).toEqual({
    settings: { STRIPE_KEY: "sk_live_a=b", GREETING: "hello there", EMPTY: "" },
  });
  const bad = parseAssignments([
    "lower=1",
    "1ST=x",
    "NOEQUALS",
    "=x",
    "PORT=8080",
    "DROPSHIP_TRACK=x",
    "BUN_CONFIG=x",
    "LD_PRELOAD=/tmp/x.so",
    "QUOTE=it's",
    "LINES=a\nb",
    "SLASH=a\\b",
    `BIG=${"x".repeat(8193)}`,
  ]);
  expect("faults" in bad && bad.faults).toEqual([
    `"lower" is not a setting's name — capital letters, digits and _, not starting with a digit, at most 128`,
    `"1ST" is not a setting's name — capital letters, digits and _, not starting with a digit, at most 128`,
    `"NOEQUALS" is not NAME=value`,
    `"=x" is not NAME=value`,
    "PORT is dropship's own (PORT, HOST, REDIS_URL, PATH, HOME, USER, SHELL, DROPSHIP_*, BUN_*, LD_*) — pick another name",
    "DROPSHIP_TRACK is dropship's own (PORT, HOST, REDIS_URL, PATH, HOME, USER, SHELL, DROPSHIP_*, BUN_*, LD_*) — pick another name",
    "BUN_CONFIG is dropship's own (PORT, HOST, REDIS_URL, PATH, HOME, USER, SHELL, DROPSHIP_*, BUN_*, LD_*) — pick another name",
    "LD_PRELOAD is dropship's own (PORT, HOST, REDIS_URL, PATH, HOME, USER, SHELL, DROPSHIP_*, BUN_*, LD_*) — pick another name",
    "the value of QUOTE holds a quote ('), a backslash or a line break, which the hosts' settings files cannot carry — encode it (base64, say) and decode it in the app",
    "the value of LINES holds a quote ('), a backslash or a line break, which the hosts' settings files cannot carry — encode it (base64, say) and decode it in the app",
    "the value of SLASH holds a quote ('), a backslash or a line break, which the hosts' settings files cannot carry — encode it (base64, say) and decode it in the app",
    "the value of BIG is 8193 characters; at most 8192",
  ]);
  expect(isReservedName("NODE_ENV")).toBe(false);
  expect(
    settingsFaults({
      A: "x".repeat(8000),
      B: "x".repeat(8000),
      C: "x".repeat(8000),
      D: "x".repeat(8000),
      E: "x".repeat(8000),
    }),
  ).toEqual(["the settings come to 40010 characters; at most 32768 in all"]);
});

// What roles/dropship_service/templates/env.j2 wrote for these settings (ansible 2.14, the
// template module run by hand): Python's shlex.quote, keys sorted, the log-time line last.
const ANSIBLE_WROTE = `# Written by Ansible (dropship_service); settings for dropship-app.
API_KEY='abc$def ghi'
DROPSHIP_TRACK=production
EMPTY=''
HOST=10.78.0.5
PLAIN=x-y.z:1/2,3+4=5@6%
PORT=3000
REDIS_URL=redis://app:p%40ss@10.78.0.2:6379/0
# every line logged starts with its time, which \`bun run logs --since\` reads
DROPSHIP_LOG_TIME=1
`;

test("a host's app.env is rewritten as Ansible writes it: dropship's own settings stay, the team's are replaced", () => {
  const onHost = parseEnvFile(ANSIBLE_WROTE);
  expect(onHost.API_KEY).toBe("abc$def ghi");
  // the same settings: byte for byte what Ansible wrote, so a converge changes nothing
  expect(
    hostAppEnv(onHost, { API_KEY: "abc$def ghi", EMPTY: "", PLAIN: "x-y.z:1/2,3+4=5@6%" }),
  ).toBe(ANSIBLE_WROTE);
  // the team's replaced whole; a setting of theirs can never shadow dropship's own
  const next = hostAppEnv(onHost, { SENTRY_DSN: "https://k@sentry.example/1", PORT: "1" });
  expect(next).toBe(`# Written by Ansible (dropship_service); settings for dropship-app.
DROPSHIP_TRACK=production
HOST=10.78.0.5
PORT=3000
REDIS_URL=redis://app:p%40ss@10.78.0.2:6379/0
SENTRY_DSN=https://k@sentry.example/1
# every line logged starts with its time, which \`bun run logs --since\` reads
DROPSHIP_LOG_TIME=1
`);
  expect(parseEnvFile(next)).toMatchObject({
    SENTRY_DSN: "https://k@sentry.example/1",
    PORT: "3000",
  });
});

test("what changed is said by name only", () => {
  expect(describeChange({ A: "1", B: "2", C: "3" }, { A: "1", B: "two", D: "4" })).toBe(
    "added D; changed B; removed C",
  );
  expect(describeChange({ A: "1" }, { A: "1" })).toBe("");
});

test("the control machine's file: 0600, read back as written, and handed to Ansible as JSON", () => {
  const file = join(tempDir("dropship-app-env-"), ".dropship", "app.env");
  expect(readAppSettings(file)).toEqual({});
  const settings = { GREETING: "hello there", TOKEN: "t0k$n", EMPTY: "" };
  writeAppSettings(file, settingsLines(settings));
  expect(statSync(file).mode & 0o777).toBe(0o600);
  expect(readFileSync(file, "utf8")).toContain("GREETING='hello there'\n");
  expect(readAppSettings(file)).toEqual(settings);
  expect(JSON.parse(appSettingsVariable(file).DROPSHIP_APP_SETTINGS as string)).toEqual(settings);
  expect(appSettingsVariable(undefined)).toEqual({});
  // edited by hand into a fault: the converge stops with the file's name, not a host's mystery
  writeAppSettings(file, ["PORT=1"]);
  expect(() => appSettingsVariable(file)).toThrow(`${file}: PORT is dropship's own`);
});
