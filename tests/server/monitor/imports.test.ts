import { expect, test } from "bun:test";
import { resolve } from "node:path";

const MONITOR = resolve(import.meta.dir, "../../../server/monitor");

// The monitor runs on every droplet within 40 MB; TypeBox's checker alone would be ~5 MB of
// it. So it checks stored records with the generated checks (records/checks.ts) instead.
test("the monitor reads shared records without loading a schema library", async () => {
  const script = `
    for (const file of ["monitor.ts", "settings.ts", "redis.ts", "metrics.ts"])
      await import(${JSON.stringify(`${MONITOR}/`)} + file);
    const loaded = Object.keys(require.cache);
    console.log(JSON.stringify({
      count: loaded.length,
      typebox: loaded.filter((path) => path.includes("@sinclair/typebox")),
      checks: loaded.some((path) => path.endsWith("records/checks.ts")),
    }));`;
  const child = Bun.spawn([process.execPath, "-e", script], { stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([
    new Response(child.stdout).text(),
    new Response(child.stderr).text(),
    child.exited,
  ]);
  expect({ code, err }).toEqual({ code: 0, err: "" });
  const seen = JSON.parse(out) as { count: number; typebox: string[]; checks: boolean };
  expect(seen.count).toBeGreaterThan(5);
  expect(seen.checks).toBe(true);
  expect(seen.typebox).toEqual([]);
});
