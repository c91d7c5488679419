/**
 * SIGINT/SIGTERM abort the build through its AbortSignal, so every step stops, unmounts and
 * cleans up on the way out; the exit code is then 130 or 143, as shells expect.
 */
export async function withSignals<T>(fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  let received: NodeJS.Signals | undefined;
  const onSignal = (sig: NodeJS.Signals) => {
    if (received) return;
    received = sig;
    controller.abort(new Error(`interrupted by ${sig}`));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    return await fn(controller.signal);
  } catch (err) {
    if (received) {
      process.stderr.write(`error: build interrupted by ${received}\n`);
      process.exit(received === 'SIGINT' ? 130 : 143);
    }
    throw err;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
