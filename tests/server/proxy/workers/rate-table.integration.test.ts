import { afterAll, expect, test } from "bun:test";
import { join } from "node:path";
import { createRateTable } from "../../../../server/proxy/workers/rate-table.ts";
import { fileTempDir } from "../../../helpers/tmp.ts";

// Two processes over one table, as the workers of a host are (spawned: not among the unit
// tests, which every push's gate runs)
const ROOT = join(import.meta.dir, "../../../..");
const table = createRateTable(1000, fileTempDir());
afterAll(() => table.remove());

test("workers in separate processes share each address's bucket, and none of their requests is lost between them", async () => {
  const burst = 300_000;
  // each takes 400 000 requests for one address at one instant (no token comes back), both
  // at once: a bucket changed without compare-and-swap lets through more than its burst
  const startAt = Date.now() + 400;
  const worker = `
    import { RequestRate } from "${ROOT}/server/proxy/request-rate.ts";
    import { openRateTable } from "${ROOT}/server/proxy/workers/rate-table.ts";
    const rate = new RequestRate({ perSecond: 1, burst: ${burst}, tracked: 1000 }, openRateTable("${table.path}", 1000));
    while (Date.now() < ${startAt}) {}
    let allowed = 0;
    for (let i = 0; i < 400_000; i++) if (rate.take("203.0.113.7", 5_000) === 0) allowed++;
    console.log(allowed);
  `;
  const children = [1, 2].map(() =>
    Bun.spawn([process.execPath, "-e", worker], { stdout: "pipe", stderr: "inherit" }),
  );
  try {
    const counts = await Promise.all(
      children.map(async (child) => Number(await new Response(child.stdout).text())),
    );
    expect(await Promise.all(children.map((child) => child.exited))).toEqual([0, 0]);
    // both got some of it, and together exactly the burst
    expect(counts.every((count) => count > 0)).toBe(true);
    expect((counts[0] as number) + (counts[1] as number)).toBe(burst);
  } finally {
    for (const child of children) child.kill();
  }
});
