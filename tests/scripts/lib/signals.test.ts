import { expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { untilSignal } from "../../../scripts/lib/signals.ts";
import { cpuTicks } from "../../../server/shared/proc.ts";
import { tempDir } from "../../helpers/tmp.ts";

const HELPER = resolve(import.meta.dir, "../../../scripts/lib/signals.ts");

test("a process waiting for a signal sleeps: it takes almost no CPU, and the signal ends the wait", async () => {
  const dir = tempDir("dropship-signals-");
  const script = join(dir, "wait.ts");
  writeFileSync(
    script,
    `import { untilSignal } from ${JSON.stringify(HELPER)};\nconsole.log("waiting");\nconsole.log(\`got \${await untilSignal()}\`);\n`,
  );
  const child = Bun.spawn([process.execPath, script], { stdout: "pipe", stderr: "pipe" });
  try {
    await waitsAsleep(child);
  } finally {
    child.kill("SIGKILL"); // a failed check leaves it running otherwise (at a whole core, if it spins)
  }
});

async function waitsAsleep(child: Bun.Subprocess<"ignore", "pipe", "pipe">) {
  const reader = child.stdout.getReader();
  const first = new TextDecoder().decode((await reader.read()).value);
  expect(first).toBe("waiting\n");
  const before = cpuTicks(child.pid);
  await Bun.sleep(1000);
  // a loop that polls without sleeping spends ~100 ticks a second (a core); asleep, about none
  expect(cpuTicks(child.pid) - before).toBeLessThan(20);
  child.kill("SIGINT");
  expect(await child.exited).toBe(0);
  let rest = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    rest += new TextDecoder().decode(value);
  }
  expect(rest).toBe("got SIGINT\n");
}

test("the wait ends with what it waits on too, and leaves no listener behind", async () => {
  const listeners = process.listenerCount("SIGINT");
  expect(await untilSignal(["SIGINT"], Bun.sleep(10))).toBeUndefined();
  expect(process.listenerCount("SIGINT")).toBe(listeners);
  const failed = untilSignal(["SIGINT"], Promise.reject(new Error("the stream broke")));
  await expect(failed).rejects.toThrow("the stream broke");
  expect(process.listenerCount("SIGINT")).toBe(listeners);
});
