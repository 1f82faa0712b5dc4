/**
 * The permissions every `deno task` command runs with (deno.json's tasks), for tests that start
 * a command as a subprocess.
 * @module
 */

/** `deno run` flags of the project's tasks. */
export const TASK_PERMISSIONS: readonly string[] = [
  "--allow-read",
  "--allow-write",
  "--allow-env",
  "--allow-ffi",
  "--allow-run",
  "--allow-sys",
];
