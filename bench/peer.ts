/**
 * The PyTorch peer (../shared/peer): runs its benchmark in the same sitting and parses its
 * images/s and scan timings, so starmamba can be compared as a ratio on the same machine.
 * @module
 */
import { join } from "node:path";

const PYTHON = "/usr/bin/python3";

/**
 * Variables of the OpenMP runtimes (GNU, LLVM/Intel) that the bench's own process may carry
 * (a user's shell, CI) and that would change how PyTorch's threads wait or spin: never passed
 * on. OMP_WAIT_POLICY=passive alone made the peer 2–3× slower here (issue 17).
 */
export const OPENMP_VARIABLE = /^(OMP|KMP|GOMP)_/;

/**
 * What the peer's bench.sh sets for itself (one OpenBLAS thread, no malloc trimming): the
 * scan-alone call runs python directly and gets the same, so both peer figures share one setup.
 */
export const PEER_BENCH_ENV: Readonly<Record<string, string>> = {
  MALLOC_MMAP_MAX_: "0",
  MALLOC_TRIM_THRESHOLD_: "1000000000000",
  OPENBLAS_NUM_THREADS: "1",
};

/** The environment a peer command ran in, as recorded in the bench JSON. */
export interface PeerEnvironment {
  /** Variables set explicitly for the peer (beyond what it inherits). */
  set: Record<string, string>;
  /** OpenMP variables of the bench's process that were withheld, with their values. */
  withheld: Record<string, string>;
  /** How many other variables of the bench's process were inherited (PATH, HOME, …). */
  inherited: number;
}

/**
 * The environment for a peer child process: the parent's variables minus every OpenMP one
 * ({@link OPENMP_VARIABLE}), plus `set`. Exported for tests.
 */
export function peerEnvironment(
  parent: Record<string, string>,
  set: Record<string, string> = {},
): { env: Record<string, string>; record: PeerEnvironment } {
  const env: Record<string, string> = {};
  const withheld: Record<string, string> = {};
  for (const [k, v] of Object.entries(parent)) {
    if (OPENMP_VARIABLE.test(k)) withheld[k] = v;
    else env[k] = v;
  }
  const inherited = Object.keys(env).length;
  for (const [k, v] of Object.entries(set)) {
    if (OPENMP_VARIABLE.test(k)) throw new Error(`peer environment may not set ${k}`);
    env[k] = v;
  }
  return { env, record: { set: { ...set }, withheld, inherited } };
}

/** The peer's figures for one preset. */
export interface PeerPreset {
  preset: string;
  params: number | null;
  /** Training step (fwd + bwd + AdamW): images/s from the median step. */
  trainImagesPerSec: number;
  /** Forward only (eval, no_grad): images/s from the median step. */
  inferImagesPerSec: number;
  /** The peer's own figures (batch·steps / total time, i.e. from the mean). */
  trainImagesPerSecMean: number;
  inferImagesPerSecMean: number;
  trainStepMedianMs: number;
  inferStepMedianMs: number;
  peakRssMiB: number | null;
  command: string;
  /** The environment it ran in (no OpenMP variables of ours). */
  environment?: PeerEnvironment;
  /** Whether the peer's parameter count equals ours (same network); null if unknown. */
  paramsMatch?: boolean | null;
}

/** The peer's scan-alone figures (mean of its reps). */
export interface PeerScan {
  impl: string;
  /** u/delta shape (batch, dim, len). */
  shape: number[];
  forwardMs: number;
  forwardBackwardMs: number;
  command: string;
  /** The environment it ran in (no OpenMP variables of ours). */
  environment?: PeerEnvironment;
}

/** Where the peer is and whether it can run. */
export interface PeerStatus {
  dir: string;
  available: boolean;
  /** Why not, and how to set it up. */
  reason?: string;
  torch?: string;
}

/** Runs a peer command in a clean environment (see {@link peerEnvironment}). */
function run(
  cmd: string,
  args: string[],
  cwd: string,
  set: Record<string, string> = {},
): { ok: boolean; out: string; environment: PeerEnvironment } {
  const { env, record } = peerEnvironment(Deno.env.toObject(), set);
  try {
    const r = new Deno.Command(cmd, {
      args,
      cwd,
      env,
      clearEnv: true,
      stdout: "piped",
      stderr: "piped",
    }).outputSync();
    const dec = new TextDecoder();
    return { ok: r.success, out: dec.decode(r.stdout) + dec.decode(r.stderr), environment: record };
  } catch (e) {
    return { ok: false, out: (e as Error).message, environment: record };
  }
}

/** {@link run}, or an Error naming the command and the end of its output; `command` for the JSON. */
function runOrThrow(
  cmd: string,
  args: string[],
  cwd: string,
  set: Record<string, string> = {},
): { out: string; command: string; environment: PeerEnvironment } {
  const r = run(cmd, args, cwd, set);
  const command = `${cmd} ${args.join(" ")}`;
  if (!r.ok) throw new Error(`${command} failed:\n${r.out.slice(-2000)}`);
  return { out: r.out, command, environment: r.environment };
}

/** Checks for the peer folder and a torch-enabled /usr/bin/python3. */
export function peerStatus(dir: string): PeerStatus {
  try {
    Deno.statSync(join(dir, "bench_train.py"));
  } catch {
    return { dir, available: false, reason: `no peer at ${dir} (bench_train.py not found)` };
  }
  const r = run(PYTHON, ["-c", "import torch; print(torch.__version__)"], dir);
  if (!r.ok) {
    return {
      dir,
      available: false,
      reason: `${PYTHON} cannot import torch. Set it up once with \`bash ${
        join(dir, "setup.sh")
      }\` (Debian python3-torch + OpenBLAS, ~3 min, needs root), then rerun with --peer`,
    };
  }
  return { dir, available: true, torch: r.out.trim().split("\n").pop() };
}

function num(text: string, re: RegExp, what: string, out: string): number {
  const m = text.match(re);
  if (!m) throw new Error(`peer output has no ${what}:\n${out.slice(-2000)}`);
  return Number(m[1].replace(/,/g, ""));
}

/** Parses bench_train.py's model benchmark output (exported for tests). */
export function parsePeerModel(
  out: string,
  preset: string,
  batch: number,
  command: string,
): PeerPreset {
  const fwd = out.split("\n").find((l) => l.startsWith("forward-only")) ?? "";
  const tr = out.split("\n").find((l) => l.startsWith("train fwd+bwd")) ?? "";
  const ips = /([\d.]+) images\/s/;
  const med = /median ([\d.]+)/;
  const inferMed = num(fwd, med, "forward-only median", out);
  const trainMed = num(tr, med, "training median", out);
  const params = out.match(/params=([\d,]+)/);
  const rss = out.match(/peak RSS ([\d.]+) MiB/);
  return {
    preset,
    params: params ? Number(params[1].replace(/,/g, "")) : null,
    trainImagesPerSec: (batch * 1000) / trainMed,
    inferImagesPerSec: (batch * 1000) / inferMed,
    trainImagesPerSecMean: num(tr, ips, "training images/s", out),
    inferImagesPerSecMean: num(fwd, ips, "forward-only images/s", out),
    trainStepMedianMs: trainMed,
    inferStepMedianMs: inferMed,
    peakRssMiB: rss ? Number(rss[1]) : null,
    command,
  };
}

/** Parses bench_train.py's scan-alone output for `impl` (exported for tests). */
export function parsePeerScan(out: string, impl: string, command: string): PeerScan {
  const shape = out.match(/u\/delta \((\d+), (\d+), (\d+)\)/);
  const line = out.split("\n").find((l) => l.trim().startsWith(`${impl} `)) ?? "";
  return {
    impl,
    shape: shape ? shape.slice(1, 4).map(Number) : [],
    forwardMs: num(line, /forward\s+([\d.]+) ms/, `${impl} forward ms`, out),
    forwardBackwardMs: num(line, /forward\+backward\s+([\d.]+) ms/, `${impl} fwd+bwd ms`, out),
    command,
  };
}

/**
 * Runs the peer's model benchmark for `preset` through its bench.sh (the settings its README
 * says are fastest here), with our batch, warm-up and step counts. `--official` selects the
 * official code's block variant, which is what starmamba's defaults build.
 */
export function runPeerModel(
  dir: string,
  preset: string,
  o: { batch: number; warmup: number; steps: number },
): PeerPreset {
  const args = [
    join(dir, "bench.sh"),
    preset,
    "--official",
    "--batch",
    String(o.batch),
    "--warmup",
    String(o.warmup),
    "--steps",
    String(o.steps),
  ];
  const r = runOrThrow("bash", args, dir);
  return { ...parsePeerModel(r.out, preset, o.batch, r.command), environment: r.environment };
}

/**
 * Runs bench/peer_cnn.py (the PyTorch equivalents of the bench's other networks: the ConvNet,
 * torchvision's ResNet-18, the shared MedMamba with one half of each block off) for network
 * `name` with `args` (bench/networks.ts), our batch, warm-up and steps, in bench.sh's
 * environment ({@link PEER_BENCH_ENV}) without our OpenMP variables. `sharedDir` is the MedMamba
 * peer's folder (../shared/peer).
 */
export function runPeerScript(
  benchDir: string,
  sharedDir: string,
  name: string,
  args: string[],
  o: { batch: number; warmup: number; steps: number },
): PeerPreset {
  const argv = [
    join(benchDir, "peer_cnn.py"),
    ...args,
    "--shared",
    sharedDir,
    "--batch",
    String(o.batch),
    "--warmup",
    String(o.warmup),
    "--steps",
    String(o.steps),
  ];
  const r = runOrThrow(PYTHON, argv, benchDir, { ...PEER_BENCH_ENV });
  return { ...parsePeerModel(r.out, name, o.batch, r.command), environment: r.environment };
}

/** Runs the peer's scan-alone benchmark (its "fast" implementation, tiny stage-1 shape). */
export function runPeerScan(dir: string, o: { batch: number; reps: number }): PeerScan {
  const args = [
    join(dir, "bench_train.py"),
    "--no-model",
    "--scan-impls",
    "fast",
    "--scan-batch",
    String(o.batch),
    "--scan-reps",
    String(o.reps),
  ];
  const r = runOrThrow(PYTHON, args, dir, { ...PEER_BENCH_ENV });
  return { ...parsePeerScan(r.out, "fast", r.command), environment: r.environment };
}
