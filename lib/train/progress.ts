/**
 * A progress bar for long loops that degrades to plain log lines when stdout is not a
 * terminal (CI logs, nohup).
 * @module
 */

/** Formats seconds as h:mm:ss or m:ss. */
export function formatDuration(s: number): string {
  if (!Number.isFinite(s)) return "?";
  s = Math.max(0, Math.round(s));
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
  const mm = String(m).padStart(h ? 2 : 1, "0"), ss = String(sec).padStart(2, "0");
  return h ? `${h}:${mm}:${ss}` : `${mm}:${ss}`;
}

/** A single-line progress display. */
export class Progress {
  private readonly tty: boolean;
  private readonly start = performance.now();
  private lastLog = 0;
  private readonly enc = new TextEncoder();

  /**
   * @param total units of work (steps) in the whole run
   * @param logEverySec when not a terminal, print at most one line per this many seconds
   */
  constructor(readonly total: number, private readonly logEverySec = 10, quiet = false) {
    this.tty = !quiet && Deno.stdout.isTerminal();
    this.quiet = quiet;
  }
  private readonly quiet: boolean;

  /** Updates the display after `done` units; `fields` are shown after the bar. */
  update(done: number, label: string, fields: Record<string, string>): void {
    if (this.quiet) return;
    const elapsed = (performance.now() - this.start) / 1000;
    const eta = done > 0 ? (elapsed / done) * (this.total - done) : NaN;
    const info = Object.entries(fields).map(([k, v]) => `${k} ${v}`).join("  ");
    if (this.tty) {
      const width = 24;
      const fill = Math.round((width * done) / Math.max(this.total, 1));
      const bar = "█".repeat(fill) + "░".repeat(width - fill);
      const line = `\r${label} ${bar} ${done}/${this.total}  ${info}  ETA ${formatDuration(eta)}`;
      const cols = (() => {
        try {
          return Deno.consoleSize().columns;
        } catch {
          return 120;
        }
      })();
      Deno.stdout.writeSync(this.enc.encode(line.slice(0, cols + 1).padEnd(cols + 1)));
    } else if (elapsed - this.lastLog >= this.logEverySec || done === this.total) {
      this.lastLog = elapsed;
      console.log(`${label} ${done}/${this.total}  ${info}  ETA ${formatDuration(eta)}`);
    }
  }

  /** Ends the bar's line (terminal) so the next output starts cleanly. */
  finish(): void {
    if (this.tty) Deno.stdout.writeSync(this.enc.encode("\n"));
  }

  /** Prints a line without breaking the bar. */
  log(msg: string): void {
    if (this.quiet) return;
    if (this.tty) Deno.stdout.writeSync(this.enc.encode("\r\x1b[2K"));
    console.log(msg);
  }
}
