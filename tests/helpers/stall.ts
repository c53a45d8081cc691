/**
 * A call that waits until released, counting how often it was made: a dependency that holds a
 * part's work under way while the part is stopped. Released, it does `then` (returns or throws).
 */
export function stalledCall<T>(then: () => T) {
  let calls = 0;
  let open = () => {};
  const released = new Promise<void>((resolve) => {
    open = resolve;
  });
  return {
    call: async (): Promise<T> => {
      calls++;
      await released;
      return then();
    },
    release: () => open(),
    calls: () => calls,
  };
}

/** Whether `promise` has settled `ms` from now. */
export async function settledWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let settled = false;
  const mark = () => {
    settled = true;
  };
  promise.then(mark, mark);
  await Bun.sleep(ms);
  return settled;
}
