/**
 * `deno run -A bench/onnx_runtime.ts [--preset cpu] [--batch 32] [--rounds 3] [--out f.json]` —
 * inference speed of the network exported to ONNX, run by onnxruntime-node, for each form of
 * the selective scan (lib/interchange/onnx/selective_scan.ts), against starmamba's own forward
 * pass, alternated round by round in one sitting. Writes JSON (medians over rounds); the
 * choice of the default scan form rests on it (docs/interchange.md).
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { openRuntime } from "../lib/backends/runtime.ts";
import { modelConfig } from "../lib/model/config.ts";
import { buildMedMamba } from "../lib/model/medmamba.ts";
import { evalContext } from "../lib/model/layers.ts";
import { paramArrays } from "../lib/interchange/medmamba_layout.ts";
import { medmambaOnnx } from "../lib/interchange/onnx/medmamba.ts";
import { createOnnxSession } from "../lib/interchange/onnx/runtime.ts";
import { codeVersion, environment } from "../lib/results/provenance.ts";
import { parseArgs, runMain } from "../lib/util/cli.ts";
import { writeJsonAtomic } from "../lib/util/fs.ts";
import { rng } from "../lib/util/rng.ts";

const USAGE = `usage: deno run -A bench/onnx_runtime.ts [options]

Inference img/s of starmamba and of onnxruntime running the exported graph (scan forms "scan"
and "doubling"), alternated in rounds; medians written as JSON.

options:
  --preset <name>   cpu (default), tiny, …
  --batch <N>       images per forward pass (default 32)
  --steps <N>       timed forward passes per round and runtime (default 5)
  --rounds <N>      rounds (default 3)
  --out <file>      JSON file (default: print only)
  -h, --help        this help`;

async function main(): Promise<number> {
  const { values } = parseArgs(Deno.args, {
    preset: { type: "string" },
    batch: { type: "string" },
    steps: { type: "string" },
    rounds: { type: "string" },
    out: { type: "string" },
  }, USAGE);
  const preset = (values.preset as string) ?? "cpu";
  const batch = Number(values.batch ?? 32), steps = Number(values.steps ?? 5);
  const rounds = Number(values.rounds ?? 3);
  await openRuntime({ backend: "wasm", model: { scan_kernel: "auto" } }, { quiet: true });
  const cfg = modelConfig(preset);
  const m = buildMedMamba(cfg, 1);
  const params = paramArrays(m.params);
  const s = cfg.image_size;
  const r = rng(1, "bench-onnx");
  const x = Float32Array.from({ length: batch * s * s * cfg.in_channels }, () => r.next());
  const shape: [number, number, number, number] = [batch, s, s, cfg.in_channels];
  const runtimes: Record<string, () => Promise<unknown>> = {
    starmamba: () =>
      Promise.resolve(tf.tidy(() => m.forward(tf.tensor4d(x, shape), evalContext()).dataSync())),
  };
  for (const form of ["scan", "doubling"] as const) {
    const session = await createOnnxSession(medmambaOnnx(params, cfg, { scan: form }), form);
    runtimes[`onnx-${form}`] = () => session.probs(x, shape);
  }
  const rates: Record<string, number[]> = {};
  for (let round = 0; round < rounds; round++) {
    for (const [name, run] of Object.entries(runtimes)) {
      await run(); // warm-up
      const t0 = performance.now();
      for (let i = 0; i < steps; i++) await run();
      const rate = (batch * steps) / ((performance.now() - t0) / 1000);
      (rates[name] ??= []).push(rate);
      console.error(`round ${round + 1} ${name}: ${rate.toFixed(1)} img/s`);
    }
  }
  const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];
  const medians = Object.fromEntries(Object.entries(rates).map(([k, v]) => [k, median(v)]));
  const result = {
    schema: "starmamba.bench-onnx/1",
    created: new Date().toISOString(),
    code: codeVersion("."),
    environment: environment(),
    preset,
    batch,
    steps,
    rounds,
    img_per_s: rates,
    median_img_per_s: medians,
  };
  console.log(JSON.stringify(medians));
  if (values.out) writeJsonAtomic(values.out as string, result);
  return 0;
}

if (import.meta.main) await runMain(main);
