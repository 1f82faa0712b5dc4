/**
 * How tests start a command and the tiny run they train: the permissions every `deno task`
 * command runs with (deno.json's tasks), {@link runScript} to start a script as a subprocess,
 * {@link assertOneLineError} for the shape of a refusal, and {@link TINY_RUN}, the `--set`
 * overrides of a run small enough to train inside a test.
 * @module
 */
import { join } from "node:path";
import { assert, assertEquals } from "../lib/util/assert.ts";

/** The repository root (this file's folder's parent). */
export const ROOT: string = new URL("..", import.meta.url).pathname;

/** `deno run` flags of the project's tasks. */
export const TASK_PERMISSIONS: readonly string[] = [
  "--allow-read",
  "--allow-write",
  "--allow-env",
  "--allow-ffi",
  "--allow-run",
  "--allow-sys",
];

/**
 * `--set` overrides that shrink configs/quickstart.yaml to a run of two steps on 96 synthetic
 * 32×32 cutouts with an 8-wide network. Overrides apply in order, so `[...TINY_RUN, extra]`
 * changes what `extra` sets and keeps the rest.
 */
export const TINY_RUN: readonly string[] = [
  "data.synthetic_n=96",
  "data.size=32",
  "model.dim=8",
  "model.depths=[1, 1, 1, 1]",
  "model.patch_size=2",
  "train.epochs=1",
  "train.steps_per_epoch=2",
];

/** Options of {@link runScript}. */
export interface RunScriptOptions {
  /** The folder it runs in; the repository root if not given. */
  cwd?: string;
  /** Its permission flags; {@link TASK_PERMISSIONS} if not given. */
  permissions?: readonly string[];
  /** Further `deno run` flags, after the permissions and before the script (e.g. `--config=…`). */
  flags?: readonly string[];
  /** Environment variables set over `NO_COLOR=1` (the rest is inherited). */
  env?: Record<string, string>;
}

/**
 * Runs `deno run <permissions> <flags> <ROOT/script> <args…>` to the end and returns its exit
 * code and its stdout and stderr as text. `script` is relative to the repository root, e.g.
 * `experiments/predict.ts`.
 */
export function runScript(
  script: string,
  args: readonly string[],
  opts: RunScriptOptions = {},
): { code: number; stdout: string; stderr: string } {
  const o = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      ...(opts.permissions ?? TASK_PERMISSIONS),
      ...(opts.flags ?? []),
      join(ROOT, script),
      ...args,
    ],
    cwd: opts.cwd ?? ROOT,
    env: { NO_COLOR: "1", ...opts.env },
    stdout: "piped",
    stderr: "piped",
  }).outputSync();
  const dec = new TextDecoder();
  return { code: o.code, stdout: dec.decode(o.stdout), stderr: dec.decode(o.stderr) };
}

/**
 * A refusal as the house rules want it: exit code 2 and a stderr of exactly one line, an
 * `error: ` line holding each of `wants` (so no stack trace either).
 */
export function assertOneLineError(
  r: { code: number; stderr: string },
  ...wants: string[]
): void {
  assertEquals(r.code, 2, r.stderr);
  const lines = r.stderr.trim().split("\n");
  assertEquals(lines.length, 1, r.stderr);
  assert(lines[0].startsWith("error: "), r.stderr);
  for (const w of wants) assert(lines[0].includes(w), `expected "${w}" in: ${r.stderr}`);
}

/** A script started in the background, its stdout read as it comes. */
export interface Spawned {
  child: Deno.ChildProcess;
  /** Reads stdout until `done(everything so far)` holds or it ends; returns what was read. */
  readUntil(done: (out: string) => boolean): Promise<string>;
  /** Waits for the end: the exit code, all of stdout and all of stderr. */
  finish(): Promise<{ code: number; out: string; err: string }>;
}

/** Starts `script` with the tasks' permissions in `cwd`, stdout and stderr piped. */
export function spawnScript(script: string, args: readonly string[], cwd: string): Spawned {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", ...TASK_PERMISSIONS, join(ROOT, script), ...args],
    cwd,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const dec = new TextDecoder();
  const reader = child.stdout.getReader();
  let out = "";
  const readUntil = async (done: (out: string) => boolean) => {
    while (!done(out)) {
      const r = await reader.read();
      if (r.done) break;
      out += dec.decode(r.value);
    }
    return out;
  };
  const finish = async () => {
    const [status, err] = await Promise.all([
      child.status,
      new Response(child.stderr).text(),
      readUntil(() => false),
    ]);
    return { code: status.code, out, err };
  };
  return { child, readUntil, finish };
}
