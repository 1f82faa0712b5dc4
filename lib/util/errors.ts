/**
 * User-facing errors. Anything thrown as a {@link StarmambaError} is a problem with the user's
 * input (a config key, a data folder, an image), and the CLI prints its message and exits with
 * code 2 instead of a stack trace.
 * @module
 */

/** An error caused by user input: the message says what, where, and how to fix it. */
export class StarmambaError extends Error {
  /** Process exit code the CLI uses for this error. */
  readonly exitCode: number;
  /**
   * Creates a user-input error.
   * @param message what went wrong, where (file, key), and how to fix it.
   * @param exitCode process exit code for the CLI (2: bad input).
   */
  constructor(message: string, exitCode = 2) {
    super(message);
    this.name = "StarmambaError";
    this.exitCode = exitCode;
  }
}
