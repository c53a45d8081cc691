import { expect, test } from "bun:test";
import { pipeInto } from "../../../server/shared/proc.ts";

test("a child that stops reading half way fails the piping, not this process", async () => {
  // it takes less than a pipe holds, then exits: the next piece is written in part, and the
  // rest meets a closed pipe while nobody is writing
  const child = Bun.spawn(["sh", "-c", "head -c 1000 >/dev/null; sleep 0.2"], {
    stdin: "pipe",
    stdout: "ignore",
  });
  const body = (async function* () {
    for (let i = 0; i < 6; i++) {
      yield new Uint8Array(256 * 1024);
      await Bun.sleep(150);
    }
  })();
  const unhandled: unknown[] = [];
  const note = (reason: unknown) => unhandled.push(reason);
  process.on("unhandledRejection", note);
  try {
    await expect(pipeInto(body, child.stdin)).rejects.toThrow("EPIPE");
    await Bun.sleep(300);
  } finally {
    process.off("unhandledRejection", note);
  }
  expect(unhandled).toEqual([]);
  expect(await child.exited).toBe(0);
});

test("a child that reads it all gets every byte, in order, and its end", async () => {
  const child = Bun.spawn(["sha256sum"], { stdin: "pipe", stdout: "pipe" });
  const pieces = Array.from({ length: 8 }, (_, i) => new Uint8Array(200_000).fill(i));
  await pipeInto(
    (async function* () {
      yield* pieces;
    })(),
    child.stdin,
  );
  const whole = Buffer.concat(pieces);
  expect((await new Response(child.stdout).text()).split(" ")[0]).toBe(
    new Bun.CryptoHasher("sha256").update(whole).digest("hex"),
  );
  expect(await child.exited).toBe(0);
});
