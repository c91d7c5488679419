/**
 * A value made on its first use, at most once. Most of a cached rebuild is Node start-up, so what
 * only some builds reach is loaded when reached (src/README.md, "Start-up"): a module through
 * `await import()` where it is used, a shared value (the registry client) through `lazy`.
 */
export interface Lazy<T> {
  get(): Promise<T>;
  /** The value if something already asked for it; never makes it. */
  made(): Promise<T> | undefined;
}

export function lazy<T>(make: () => Promise<T>): Lazy<T> {
  let value: Promise<T> | undefined;
  return {
    get: () => (value ??= make()),
    made: () => value,
  };
}
