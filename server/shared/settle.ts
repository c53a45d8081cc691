/**
 * Every value once all the work has ended, or, when any failed, its first error once the rest
 * has ended too — so nothing is left running behind a failure (the four playbooks of a
 * converge: one failing used to leave the others running while the caller tore their hosts
 * down). Each further failure is added to the first error's message.
 */
export async function allEnded<T>(work: Promise<T>[]): Promise<T[]> {
  const results = await Promise.allSettled(work);
  const failed = results.flatMap((r) => (r.status === "rejected" ? [r.reason] : []));
  if (failed.length === 0) return results.map((r) => (r as PromiseFulfilledResult<T>).value);
  const [first, ...more] = failed.map((e) => (e instanceof Error ? e : new Error(String(e))));
  if (first && more.length > 0) first.message += `\n${more.map((e) => e.message).join("\n")}`;
  throw first;
}
