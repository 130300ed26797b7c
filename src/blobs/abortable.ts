/**
 * `promise`'s outcome, or the reason of `signal` if it aborts first. The work behind `promise` is
 * not stopped, only no longer waited for: for work that can't be interrupted (a digest worker
 * hashing a disk's zeros, a range read already sent).
 */
export function abortable<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise;
  signal.throwIfAborted();
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}
