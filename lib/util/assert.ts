/**
 * Assertions for tests and internal invariants. One module so that jsr:@std/assert can replace
 * node:assert/strict later without touching callers (JSR is unreachable on our build machines).
 * @module
 */
import nodeAssert from "node:assert/strict";

/** Throws if `cond` is falsy. */
export function assert(cond: unknown, message?: string): asserts cond {
  if (message === undefined) nodeAssert.ok(cond);
  else nodeAssert.ok(cond, message);
}

/** Deep strict equality. */
export function assertEquals<T>(actual: T, expected: T, message?: string): void {
  // Without a message node prints a diff of the two values.
  if (message === undefined) nodeAssert.deepStrictEqual(actual, expected);
  else nodeAssert.deepStrictEqual(actual, expected, message);
}

/** Deep strict inequality. */
export function assertNotEquals<T>(actual: T, expected: T, message?: string): void {
  if (message === undefined) nodeAssert.notDeepStrictEqual(actual, expected);
  else nodeAssert.notDeepStrictEqual(actual, expected, message);
}

/** Throws unless `fn` throws; returns the thrown error. Optionally checks its class and message. */
export function assertThrows(
  fn: () => unknown,
  // deno-lint-ignore no-explicit-any
  errorClass?: new (...args: any[]) => Error,
  msgIncludes?: string,
): Error {
  try {
    fn();
  } catch (e) {
    if (errorClass && !(e instanceof errorClass)) {
      throw new Error(`expected ${errorClass.name}, got ${(e as Error)?.constructor?.name}: ${e}`);
    }
    if (msgIncludes && !String((e as Error).message).includes(msgIncludes)) {
      throw new Error(`expected message to include "${msgIncludes}", got: ${(e as Error).message}`);
    }
    return e as Error;
  }
  throw new Error("expected function to throw");
}

/** Async version of {@link assertThrows}. */
export async function assertRejects(
  fn: () => Promise<unknown>,
  // deno-lint-ignore no-explicit-any
  errorClass?: new (...args: any[]) => Error,
  msgIncludes?: string,
): Promise<Error> {
  try {
    await fn();
  } catch (e) {
    if (errorClass && !(e instanceof errorClass)) {
      throw new Error(`expected ${errorClass.name}, got ${(e as Error)?.constructor?.name}: ${e}`);
    }
    if (msgIncludes && !String((e as Error).message).includes(msgIncludes)) {
      throw new Error(`expected message to include "${msgIncludes}", got: ${(e as Error).message}`);
    }
    return e as Error;
  }
  throw new Error("expected promise to reject");
}

/**
 * Element-wise closeness: |a - e| <= atol + rtol * |e| for every element.
 * The message names the worst element so a failure is easy to read.
 */
export function assertAllClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  rtol = 1e-5,
  atol = 1e-6,
  label = "",
): void {
  if (actual.length !== expected.length) {
    throw new Error(`${label} length ${actual.length} != expected ${expected.length}`);
  }
  let worst = -1;
  let worstExcess = 0;
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i], e = expected[i];
    const excess = Math.abs(a - e) - (atol + rtol * Math.abs(e));
    if (!(excess <= 0) && (worst < 0 || !(excess <= worstExcess))) {
      worst = i;
      worstExcess = excess;
    }
  }
  if (worst >= 0) {
    throw new Error(
      `${label} not close at [${worst}]: actual ${actual[worst]} expected ${
        expected[worst]
      } (rtol ${rtol}, atol ${atol})`,
    );
  }
}
