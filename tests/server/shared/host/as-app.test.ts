import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { asApp } from "../../../../server/shared/host/as-app.ts";
import { SANDBOX, sandboxSettings } from "../../../../server/shared/host/sandbox.ts";

const TEMPLATES = join(import.meta.dir, "../../../../ansible/roles/dropship_service/templates");

/** The words a shell makes of `line`: each argument as the program it runs would get it. */
function words(line: string): string[] {
  const out = Bun.spawnSync(["sh", "-c", `printf '%s\\0' ${line}`]);
  expect(out.exitCode).toBe(0);
  return out.stdout.toString().split("\0").slice(0, -1);
}

/** The two ways the command runs: under systemd, and elsewhere. */
function branches(command: string): { systemd: string; elsewhere: string } {
  const match =
    /^cd \/srv\/dropship\/current && if \[ -d \/run\/systemd\/system \]; then exec (.*); else (.*); fi$/s.exec(
      command,
    );
  expect(match).not.toBeNull();
  return { systemd: match?.[1] as string, elsewhere: match?.[2] as string };
}

const job = `echo "it's $DROPSHIP_JOB"; exit 3`;

test("under systemd: a unit of its own, as the app's user, in the app's sandbox with no capability, the app's settings, its timeout", () => {
  const { systemd } = branches(
    asApp(job, { env: { DROPSHIP_JOB: "report's" }, timeoutMs: 90_500 }),
  );
  expect(words(systemd)).toEqual([
    "/usr/bin/systemd-run",
    "--quiet",
    "--wait",
    "--collect",
    "--pipe",
    "--uid=dropship",
    "--working-directory=/srv/dropship/current",
    "-p",
    "EnvironmentFile=/srv/dropship/shared/app.env",
    "-p",
    "CapabilityBoundingSet=",
    ...SANDBOX.flatMap((setting) => ["-p", setting]),
    "-E",
    "DROPSHIP_JOB=report's",
    "--",
    "/usr/bin/timeout",
    "--kill-after=10s",
    "91s",
    "/bin/sh",
    "-c",
    job,
  ]);
  // on a terminal: one of its own; without a timeout, none
  const console = words(branches(asApp("bun repl", { pty: true })).systemd);
  expect(console.slice(0, 5)).toEqual([
    "/usr/bin/systemd-run",
    "--quiet",
    "--wait",
    "--collect",
    "--pty",
  ]);
  expect(console.slice(-4)).toEqual(["--", "/bin/sh", "-c", "bun repl"]);
});

test("without systemd: runuser, the settings handed to the user's shell on a descriptor of root's", () => {
  const { elsewhere } = branches(asApp(job, { env: { DROPSHIP_JOB: "report" }, timeoutMs: 500 }));
  expect(elsewhere).toBe(
    `DROPSHIP_JOB='report' exec /usr/bin/timeout --kill-after=10s 1s /usr/sbin/runuser -u dropship -- /bin/sh -c 'set -a; eval "$(cat <&3)"; set +a; exec 3<&-; exec sh -c "$1"' sh 'echo "it'\\''s $DROPSHIP_JOB"; exit 3' 3< /srv/dropship/shared/app.env`,
  );
  expect(words(elsewhere.replace(/ 3< \S+$/, "")).slice(-1)).toEqual([job]);
  expect(branches(asApp("bash", { pty: true })).elsewhere).toStartWith(
    "exec /usr/sbin/runuser --pty -u dropship -- ",
  );
});

test("the sandbox is the one every service's unit includes, setting for setting", () => {
  const file = readFileSync(join(TEMPLATES, "sandbox.conf"), "utf8");
  expect(SANDBOX).toEqual(sandboxSettings(file));
  expect(SANDBOX).toContain("ProtectSystem=strict");
  expect(SANDBOX).toContain("NoNewPrivileges=true");
  expect(SANDBOX).toContain("SystemCallFilter=~@privileged");
  // the file is taken as it is, into units and onto command lines alike: no Jinja in it
  expect(file).not.toMatch(/\{[{%#]/);
  expect(readFileSync(join(TEMPLATES, "unit.service.j2"), "utf8")).toContain(
    "{% include 'sandbox.conf' %}",
  );
});

test("a line of the sandbox that is not a setting is refused, by its text", () => {
  expect(sandboxSettings("# why\n\nA=b c\n  B=1  \n")).toEqual(["A=b c", "B=1"]);
  expect(() => sandboxSettings("A=1\n{% if x %}\n")).toThrow(
    'sandbox.conf: "{% if x %}" is not a Key=Value setting',
  );
});
