/**
 * Waits for the first of `signals` (answered), or for `until` to end (undefined; its error is
 * thrown). A timer is held meanwhile: when a signal listener is all that keeps it alive, Bun's
 * event loop polls without sleeping and takes a whole core (Bun 1.4.5: the foreground demo
 * spent a core doing nothing for as long as it ran).
 */
export function untilSignal(
  signals: readonly NodeJS.Signals[] = ["SIGINT", "SIGTERM"],
  until?: Promise<unknown>,
): Promise<NodeJS.Signals | undefined> {
  const keepAlive = setInterval(() => {}, 2 ** 30);
  return new Promise<NodeJS.Signals | undefined>((resolve, reject) => {
    const handlers = signals.map((signal) => {
      const handler = () => done(signal);
      process.once(signal, handler);
      return [signal, handler] as const;
    });
    const stop = () => {
      clearInterval(keepAlive);
      for (const [name, handler] of handlers) process.off(name, handler);
    };
    const done = (signal?: NodeJS.Signals) => {
      stop();
      resolve(signal);
    };
    until?.then(
      () => done(),
      (error) => {
        stop();
        reject(error);
      },
    );
  });
}
