/**
 * Per-kernel profile of one training step: which kernels a step dispatches, where each runs
 * (native C, XNNPACK/wasm, or a TypeScript loop registered by starmamba), and its share of the
 * step. `deno run -A bench/profile_step.ts [--preset cpu] [--batch 32] [--backend wasm]`;
 * --preset takes any network `deno task bench --presets` does (convnet, resnet18-imagenet, …).
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { openRuntime } from "../lib/backends/runtime.ts";
import { benchNetwork } from "./networks.ts";
import { createNetwork } from "../lib/model/registry.ts";
import { rng } from "../lib/util/rng.ts";
import { parseArgs, runMain } from "../lib/util/cli.ts";
import { crossEntropy } from "../lib/train/loss.ts";
import { Adam } from "../lib/train/optim.ts";

const USAGE =
  "usage: deno run -A bench/profile_step.ts [--preset cpu] [--batch 32] [--backend wasm]\n" +
  "  --preset: any network of deno task bench --presets (cpu, convnet, resnet18-imagenet, …)";

/** Where each kernel starmamba dispatches runs, for the profile table. */
export function kernelHome(name: string, backend: string): string {
  if (name === "StarmambaSS2DCore" || name === "StarmambaSS2DCoreGrad") {
    return "native C (fused SS2D)";
  }
  if (name.startsWith("StarmambaSelectiveScan")) return "native C or TS loop (scan kernel)";
  if (name.startsWith("StarmambaBlock")) return "native C (fused SS-Conv-SSM block)";
  // tf.customGrad runs the fused block's forward inside a kernel of this name: not extra work.
  if (name === "forward") return "tf.customGrad wrapper (contains StarmambaBlock)";
  if (name === "StarmambaConv2DFilterGrad") return "native C (im2col + gemm)";
  if (name === "StarmambaNorm" || name === "StarmambaNormGrad") {
    return backend === "wasm" ? "native C (fused norm)" : "TypeScript loop (fused norm)";
  }
  if (name === "StarmambaAdamStep") {
    return backend === "wasm"
      ? "native C, every tensor in one call (TS loop without it)"
      : "TypeScript loop";
  }
  if (name === "StarmambaEmaUpdate") {
    return backend === "wasm"
      ? "native C on the wasm heap (TS loop without it)"
      : "TypeScript loop";
  }
  if (name === "StarmambaLeakyReluGrad" || name === "LeakyRelu") {
    return backend === "wasm" ? "native C, large tensors (else TS loop / stock)" : backend;
  }
  // ResNet's strided convolutions: native only (the wasm backend needs the library for them).
  if (name.startsWith("StarmambaConv2DStrided")) return "native C (im2col + gemm)";
  if (name === "StarmambaFlipFilter") {
    return backend === "wasm" ? "native C (TS loop without it)" : "TypeScript loop";
  }
  if (name.startsWith("Starmamba")) return "TypeScript loop (starmamba)";
  if (backend !== "wasm") return backend;
  if (["Slice", "SplitV", "Concat"].includes(name)) return "TypeScript loop (starmamba override)";
  if (["Sum", "Mean"].includes(name)) {
    return "TS loop over leading axes (starmamba override), else wasm";
  }
  if (name === "Identity") return "shares the buffer (starmamba override)";
  if (name === "BatchMatMul") return "native C gemm (small ones: XNNPACK)";
  if (name === "Conv2D") return "native C (im2col + gemm)";
  if (name === "DepthwiseConv2dNative") return "wasm (XNNPACK)";
  return "wasm";
}

await runMain(async () => {
  const { values } = parseArgs(Deno.args, {
    preset: { type: "string" },
    batch: { type: "string" },
    backend: { type: "string" },
  }, USAGE);
  const backend = (values.backend as string) ?? "wasm";
  const bs = Number(values.batch ?? 32);
  const { scanKernel: kernel } = await openRuntime({ backend, model: { scan_kernel: "auto" } });
  const m = createNetwork(benchNetwork((values.preset as string) ?? "cpu").description, 1);
  const vars = m.params.trainable();
  const opt = new Adam(vars, { weightDecay: 0.05 });
  const x = tf.randomNormal([bs, 64, 64, 3], 0, 1, "float32", 1) as tf.Tensor4D;
  const labels = Int32Array.from({ length: bs }, (_, i) => i % 2);
  const step = () =>
    tf.tidy(() => {
      const ctx = {
        training: true,
        rng: rng(1, "dp"),
        bnUpdates: [] as { variable: tf.Variable; value: tf.Tensor }[],
      };
      const { value, grads } = tf.variableGrads(
        () => crossEntropy(m.forward(x, ctx), labels, null),
        vars,
      );
      opt.step(vars.map((v) => grads[v.name]), 1e-3);
      value.dataSync();
      ctx.bnUpdates.forEach((u) => u.value.dispose());
    });
  step();
  const t0 = performance.now();
  step();
  const wall = performance.now() - t0;
  const prof = await tf.profile(() => step());
  const agg = new Map<string, { ms: number; n: number }>();
  for (const k of prof.kernels) {
    const a = agg.get(k.name) ?? { ms: 0, n: 0 };
    a.ms += k.kernelTimeMs as number;
    a.n++;
    agg.set(k.name, a);
  }
  const total = [...agg.values()].reduce((s, a) => s + a.ms, 0);
  console.log(
    `backend ${backend}, scan kernel ${kernel.name}, batch ${bs}: step ${wall.toFixed(0)} ms ` +
      `(${(bs * 1000 / wall).toFixed(1)} img/s); kernels ${total.toFixed(0)} ms, JS overhead ${
        (wall - total).toFixed(0)
      } ms\n`,
  );
  console.log("| kernel | runs on | calls | ms | share |\n|---|---|---:|---:|---:|");
  [...agg.entries()].sort((a, b) => b[1].ms - a[1].ms).forEach(([n, a]) =>
    console.log(
      `| ${n} | ${kernelHome(n, backend)} | ${a.n} | ${a.ms.toFixed(1)} | ${
        (100 * a.ms / total).toFixed(1)
      }% |`,
    )
  );
  return 0;
});
