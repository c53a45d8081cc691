import { expect, test } from "bun:test";
import { allEnded } from "../../../server/shared/settle.ts";

const after = <T>(ms: number, value: T) =>
  new Promise<T>((resolve) => setTimeout(() => resolve(value), ms));
const failAfter = (ms: number, message: string) =>
  new Promise<never>((_, reject) => setTimeout(() => reject(new Error(message)), ms));

test("every value, in order, once all have ended", async () => {
  expect(await allEnded([after(20, "a"), after(5, "b"), Promise.resolve("c")])).toEqual([
    "a",
    "b",
    "c",
  ]);
});

test("a failure is thrown only once the rest has ended, with every other failure in it", async () => {
  let slowEnded = false;
  const slow = after(150, "slow").then((v) => {
    slowEnded = true;
    return v;
  });
  const error = await allEnded([
    failAfter(5, "redis.yml failed"),
    slow,
    failAfter(10, "proxy.yml failed"),
  ]).catch((e: Error) => e);
  expect(slowEnded).toBe(true);
  expect(error).toBeInstanceOf(Error);
  expect((error as Error).message).toBe("redis.yml failed\nproxy.yml failed");
});
