/**
 * Where the fused SS-Conv-SSM block's time goes, section by section: builds
 * bench/block_profile.c against native/cpu/ with -DBLOCK_PROFILE (block.c's section timers) and
 * runs every block of a preset, forward then backward, at batch 32 on 64×64 input.
 *
 *   deno run -A bench/block_profile.ts [--preset cpu|tiny] [--threads 2] [--reps 10]
 * @module
 */
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { modelConfig } from "../lib/model/config.ts";
import { type OptionSpec, parseArgs, runMain } from "../lib/util/cli.ts";
import { StarmambaError } from "../lib/util/errors.ts";

const USAGE =
  `Usage: deno run -A bench/block_profile.ts [--preset cpu|tiny] [--threads N] [--reps N]

Builds bench/block_profile.c with the native sources (gcc, or $CC; -DBLOCK_PROFILE) and prints the
fused blocks' forward and backward time per training step and each section's share.`;

const OPTIONS: OptionSpec = {
  preset: { type: "string" },
  threads: { type: "string" },
  reps: { type: "string" },
};

const ROOT = fileURLToPath(new URL("..", import.meta.url));

await runMain(async () => {
  const { values } = parseArgs(Deno.args, OPTIONS, USAGE);
  const cfg = modelConfig(String(values.preset ?? "cpu"));
  if (cfg.image_size !== 64 || cfg.depths.length !== 4) {
    throw new StarmambaError("block_profile times 4-stage presets at 64×64 input");
  }
  const cc = Deno.env.get("CC") || "gcc";
  const dir = join(ROOT, "native", "cpu");
  const sources = [...Deno.readDirSync(dir)].filter((e) => e.name.endsWith(".c"))
    .map((e) => join(dir, e.name)).sort();
  const exe = join(Deno.makeTempDirSync(), "block_profile");
  const build = await new Deno.Command(cc, {
    args: [
      ...["-DBLOCK_PROFILE", "-O3", "-march=native", "-fopenmp", "-std=gnu11", "-o", exe],
      join(ROOT, "bench", "block_profile.c"),
      ...sources,
      "-lm",
    ],
  }).output();
  if (!build.success) {
    throw new StarmambaError(`${cc} failed:\n${new TextDecoder().decode(build.stderr)}`);
  }
  const run = await new Deno.Command(exe, {
    args: [
      String(cfg.dim),
      cfg.depths.join(","),
      String(values.threads ?? 2),
      String(values.reps ?? 10),
    ],
  }).output();
  Deno.removeSync(exe);
  console.log(new TextDecoder().decode(run.stdout).trimEnd());
  return run.success ? 0 : 1;
});
