/**
 * Command-line parsing behind one small module (node:util parseArgs today; jsr:@std/cli can
 * replace it when JSR is reachable), plus the shared CLI error handling: a
 * {@link StarmambaError} prints one message and exits with its code, never a stack trace.
 * @module
 */
import { parseArgs as nodeParseArgs } from "node:util";
import { StarmambaError } from "./errors.ts";

/** Option spec: name → type, short alias, multiple. */
export type OptionSpec = Record<
  string,
  { type: "string" | "boolean"; short?: string; multiple?: boolean; default?: string | boolean }
>;

/** Parsed arguments. */
export interface ParsedArgs {
  values: Record<string, string | boolean | string[] | undefined>;
  positionals: string[];
}

/** Flags that print a document and end the command (exit 0): flag name → the text. */
export type PrintFlags = Record<string, () => string>;

/** Thrown by {@link parseArgs} after `--help` or a print flag; {@link runMain} exits with 0. */
class PrintedAndDone {}

/**
 * Parses `args` against `options`; unknown options are a StarmambaError naming the fix.
 * `-h`/`--help` (always there) prints `usage`, and each flag of `prints` prints its text; then
 * the command ends with exit 0 (inside {@link runMain}), so no CLI repeats that bookkeeping.
 */
export function parseArgs(
  args: string[],
  options: OptionSpec,
  usage: string,
  prints: PrintFlags = {},
): ParsedArgs {
  const all: OptionSpec = { ...options, help: { type: "boolean", short: "h" } };
  for (const flag of Object.keys(prints)) all[flag] = { type: "boolean" };
  let parsed: ParsedArgs;
  try {
    const { values, positionals } = nodeParseArgs({
      args,
      options: all,
      allowPositionals: true,
      strict: true,
    });
    parsed = { values: values as ParsedArgs["values"], positionals };
  } catch (e) {
    throw new StarmambaError(`${(e as Error).message}\n\n${usage}`);
  }
  const text = parsed.values.help
    ? usage
    : Object.entries(prints).find(([flag]) => parsed.values[flag])?.[1]();
  if (text !== undefined) {
    console.log(text);
    throw new PrintedAndDone();
  }
  return parsed;
}

/** Runs a CLI main function: user errors → message + exit code; other errors → stack trace, exit 1. */
export async function runMain(main: () => Promise<number | void>): Promise<never> {
  try {
    const code = await main();
    Deno.exit(code ?? 0);
  } catch (e) {
    if (e instanceof PrintedAndDone) Deno.exit(0);
    if (e instanceof StarmambaError) {
      console.error(`error: ${e.message}`);
      Deno.exit(e.exitCode);
    }
    throw e;
  }
}

/**
 * Graceful stop on Ctrl-C and on SIGTERM (what `timeout`, `docker stop`, systemd and a batch
 * system's preemption send first): the first signal sets a flag that long loops poll (they save
 * their state and stop after the current step, so the run resumes from there); a second one exits
 * at once. Returns the flag's getter, the exit code for a stopped run (128 + the first signal's
 * number, as a shell reports it: 130 or 143) and a function that removes the listeners.
 *
 * @example Poll it between steps
 * ```ts
 * import { stopOnSignals } from "./cli.ts";
 * const stop = stopOnSignals();
 * try {
 *   for (let step = 0; step < 3 && !stop.requested(); step++) console.log(`step ${step}`);
 * } finally {
 *   stop.dispose();
 * }
 * ```
 */
export function stopOnSignals(): {
  requested: () => boolean;
  exitCode: () => number;
  dispose: () => void;
} {
  let stop = false;
  let code = 130;
  const listeners = (["SIGINT", "SIGTERM"] as const).map((signal) => {
    const onSignal = () => {
      // 128 + the signal's number, as a shell reports a process the signal ended.
      const exit = signal === "SIGINT" ? 130 : 143;
      if (stop) Deno.exit(exit);
      stop = true;
      code = exit;
      console.error(
        signal === "SIGINT"
          ? "\nstopping after the current step (Ctrl-C again to abort without saving)…"
          : "\nSIGTERM: stopping after the current step, state saved (a second SIGTERM aborts)…",
      );
    };
    Deno.addSignalListener(signal, onSignal);
    return { signal, onSignal };
  });
  return {
    requested: () => stop,
    exitCode: () => code,
    dispose: () => listeners.forEach((l) => Deno.removeSignalListener(l.signal, l.onSignal)),
  };
}

/**
 * The number an option was given, checked to lie in [min, max]; undefined when the option was
 * not given. Out of range or not a number: a {@link StarmambaError} naming the option.
 */
export function numberOption(
  name: string,
  value: string | boolean | string[] | undefined,
  min: number,
  max: number,
): number | undefined {
  if (value === undefined) return undefined;
  const x = typeof value === "string" ? Number(value) : NaN;
  if (!(x >= min && x <= max)) {
    throw new StarmambaError(`--${name} ${value}: give a number from ${min} to ${max}`);
  }
  return x;
}
