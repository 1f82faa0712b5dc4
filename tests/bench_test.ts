import { join } from "node:path";
import { assert, assertEquals } from "../lib/util/assert.ts";
import { openRuntime } from "../lib/backends/runtime.ts";
import { type ModelConfig, modelConfig } from "../lib/model/config.ts";
import { buildMedMamba } from "../lib/model/medmamba.ts";
import { estimatePeak, flopsPerImage } from "../bench/flops.ts";
import {
  parsePeerModel,
  parsePeerScan,
  PEER_BENCH_ENV,
  peerEnvironment,
  peerStatus,
  runPeerModel,
} from "../bench/peer.ts";
import { compareTable, settingsDiff } from "../bench/report.ts";
import { TASK_PERMISSIONS } from "./permissions.ts";

const ROOT = new URL("..", import.meta.url).pathname;

/** A network small enough to count by hand: 32×32 input, patch 4 (L = 64), N = 2, K = 1. */
function handConfig(depths: number[]): ModelConfig {
  return modelConfig("cpu", {
    dim: 4,
    depths,
    image_size: 32,
    d_state: 2,
    directions: 1,
  });
}

Deno.test("FLOPs per image match hand-worked counts", () => {
  // One block, C = 4 (half 2; SS2D d_model 2, d_inner 4, dt_rank 1), L = 8·8 = 64:
  //   patch embed 2·64·(16·3)·4 = 24576; 3×3 convs 2·(2·64·9·2·2) = 9216; 1×1 2·64·2·2 = 512;
  //   in_proj 2·64·2·8 = 2048; depthwise 2·64·9·4 = 4608; x_proj 2·64·4·(1+4) = 2560;
  //   dt_proj 2·64·1·4 = 512; scan 9·64·4·2 = 4608; out_proj 2·64·4·2 = 1024; head 2·4·2 = 16.
  const one = flopsPerImage(handConfig([1]));
  assertEquals(one.scan, 4608);
  assertEquals(one.conv, 9216 + 4608);
  assertEquals(one.matmul, 24576 + 512 + 2048 + 2560 + 512 + 1024 + 16);
  assertEquals(one.forward, 49680);
  assertEquals(one.train, 3 * 49680);
  // Two stages: + merging 2·16·16·8 = 4096, then C = 8 at L = 16: convs 9216 + 512,
  // in_proj 2048, depthwise 2304, x_proj 1280, dt_proj 256, scan 2304, out_proj 1024; head 32.
  const two = flopsPerImage(handConfig([1, 1]));
  assertEquals(two.scan, 4608 + 2304);
  assertEquals(two.forward, 24576 + 9728 + 15360 + 4096 + 9728 + 9216 + 32);
});

Deno.test("FLOPs of the cpu and tiny presets agree with the built models' weight shapes", async () => {
  // Independent route: every weight matrix / kernel costs 2·(its size) per output position,
  // and the scan 9·(rows of A)·N·L, with positions read off the parameter names.
  await openRuntime({ backend: "cpu", model: { scan_kernel: "loop" } });
  for (const preset of ["cpu", "tiny"]) {
    const cfg = modelConfig(preset);
    const m = buildMedMamba(cfg, 0);
    const L0 = (cfg.image_size / cfg.patch_size) ** 2;
    let dense = 0, scan = 0;
    for (const p of m.params.params.values()) {
      const shape = p.variable.shape;
      const size = p.variable.size;
      const stage = Number(p.name.match(/^layers\.(\d+)\./)?.[1] ?? -1);
      let L = 1;
      if (p.name.startsWith("patch_embed")) L = L0;
      else if (p.name.includes(".downsample.")) L = L0 / 4 ** (stage + 1);
      else if (stage >= 0) L = L0 / 4 ** stage;
      if (p.name.endsWith(".A_logs")) scan += 9 * size * L;
      else if (/(\.weight|_weight)$/.test(p.name) && shape.length >= 2) dense += 2 * size * L;
    }
    const f = flopsPerImage(cfg);
    assertEquals(f.scan, scan, `${preset} scan`);
    assertEquals(f.matmul + f.conv, dense, `${preset} matmul + conv`);
    m.params.dispose();
  }
});

Deno.test("peak estimate from cpuinfo text", () => {
  const info = (flags: string, mhz = "2000.000") =>
    [0, 1].map((i) => `processor\t: ${i}\ncpu MHz\t\t: ${mhz}\nflags\t\t: fpu ${flags} sse2\n`)
      .join("\n");
  const p = estimatePeak(info("avx avx2 fma avx512f"))!;
  assertEquals([p.cores, p.flopsPerCycle, p.ghz, p.gflops], [2, 32, 2, 128]);
  assert(p.basis.startsWith("ESTIMATE"));
  assertEquals(estimatePeak(info("avx"))!.gflops, 2 * 16 * 2);
  assertEquals(estimatePeak("no clock here"), null);
});

Deno.test("peer output parsing", () => {
  const out = [
    "python 3.11.2 (/usr/bin/python3), torch 1.13.0a0, torch.get_num_threads()=2",
    "model: preset=cpu params=1,516,290 scan=fast official_variant=True input=3x64x64 batch=32",
    "forward-only (eval, no_grad):   300.00 images/s   step ms min 90.0 / median 100.0 / max 120.0",
    "train fwd+bwd+AdamW step:        40.00 images/s   step ms min 700.0 / median 800.0 / max 900.0",
    "peak RSS 812 MiB, total wall 20.1 s",
  ].join("\n");
  const p = parsePeerModel(out, "cpu", 32, "cmd");
  assertEquals(p.params, 1_516_290);
  assertEquals(p.inferImagesPerSec, 320); // 32 images / 100 ms
  assertEquals(p.trainImagesPerSec, 40);
  assertEquals(p.inferImagesPerSecMean, 300);
  assertEquals(p.peakRssMiB, 812);
  const scan = parsePeerScan(
    "selective scan alone, tiny stage-1 shape: u/delta (32, 384, 256), B/C (32, 4, 16, 256)\n" +
      "  fast     forward      12.5 ms   forward+backward      40.0 ms   (min 11.0 / 38.0)\n",
    "fast",
    "cmd",
  );
  assertEquals([scan.shape, scan.forwardMs, scan.forwardBackwardMs], [[32, 384, 256], 12.5, 40]);
  const missing = peerStatus("/no/such/peer");
  assertEquals(missing.available, false);
  assert(missing.reason?.includes("/no/such/peer"), missing.reason);
});

Deno.test("the peer's environment holds none of our OpenMP variables", () => {
  const parent = {
    PATH: "/usr/bin",
    HOME: "/root",
    OMP_WAIT_POLICY: "passive",
    OMP_NUM_THREADS: "1",
    GOMP_SPINCOUNT: "0",
    KMP_BLOCKTIME: "0",
    OMPX_NOT_OPENMP: "kept", // no underscore after OMP: not an OpenMP variable
  };
  const { env, record } = peerEnvironment(parent, { ...PEER_BENCH_ENV });
  for (const k of ["OMP_WAIT_POLICY", "OMP_NUM_THREADS", "GOMP_SPINCOUNT", "KMP_BLOCKTIME"]) {
    assert(!(k in env), k);
  }
  assertEquals(env.PATH, "/usr/bin");
  assertEquals(env.OMPX_NOT_OPENMP, "kept");
  assertEquals(env.OPENBLAS_NUM_THREADS, "1");
  assertEquals(record.withheld, {
    OMP_WAIT_POLICY: "passive",
    OMP_NUM_THREADS: "1",
    GOMP_SPINCOUNT: "0",
    KMP_BLOCKTIME: "0",
  });
  assertEquals(record.set, { ...PEER_BENCH_ENV });
  assertEquals(record.inherited, 3);
});

Deno.test("the peer child process starts without OMP_WAIT_POLICY even when we have it", () => {
  // A stand-in peer whose bench.sh records the environment it was started with.
  const dir = Deno.makeTempDirSync();
  Deno.writeTextFileSync(join(dir, "bench_train.py"), "");
  Deno.writeTextFileSync(
    join(dir, "bench.sh"),
    [
      'env > "$(dirname "$0")/env.txt"',
      'echo "model: preset=cpu params=1,516,290"',
      'echo "forward-only (eval, no_grad):   300.00 images/s   step ms min 90.0 / median 100.0"',
      'echo "train fwd+bwd+AdamW step:        40.00 images/s   step ms min 700.0 / median 800.0"',
    ].join("\n"),
  );
  const before = Deno.env.get("OMP_WAIT_POLICY");
  Deno.env.set("OMP_WAIT_POLICY", "passive");
  Deno.env.set("GOMP_SPINCOUNT", "0");
  try {
    const p = runPeerModel(dir, "cpu", { batch: 32, warmup: 0, steps: 1 });
    const seen = Deno.readTextFileSync(join(dir, "env.txt")).split("\n");
    assert(!seen.some((l) => l.startsWith("OMP_WAIT_POLICY=")), seen.join("\n"));
    assert(!seen.some((l) => l.startsWith("GOMP_SPINCOUNT=")), seen.join("\n"));
    assert(seen.some((l) => l.startsWith("PATH=")), "PATH inherited");
    assertEquals(p.environment?.withheld.OMP_WAIT_POLICY, "passive");
    assertEquals(p.trainImagesPerSec, 40);
    assert(p.command.includes("bench.sh cpu --official"), p.command);
  } finally {
    if (before === undefined) Deno.env.delete("OMP_WAIT_POLICY");
    else Deno.env.set("OMP_WAIT_POLICY", before);
    Deno.env.delete("GOMP_SPINCOUNT");
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("compare table: ratio b ÷ a", () => {
  const t = compareTable({ "x.images_per_s": 10, "only.a": 1 }, { "x.images_per_s": 25 }, [
    "a",
    "b",
  ]);
  assert(/x\.images_per_s\s+10\.000\s+25\.000\s+2\.50/.test(t), t);
  assert(t.includes("only in a: only.a"), t);
  const settings = { batch: "32", backend: "wasm" };
  assertEquals(
    settingsDiff({ figures: {}, settings }, { figures: {}, settings: { ...settings, batch: "8" } }),
    ["batch: a 32, b 8"],
  );
});

function bench(args: string[]): { code: number; stdout: string; stderr: string } {
  const out = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      ...TASK_PERMISSIONS,
      join(ROOT, "bench/bench.ts"),
      ...args,
    ],
    cwd: ROOT,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).outputSync();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

Deno.test("bench --quick writes a complete result file; --compare with itself gives 1.00", () => {
  const dir = Deno.makeTempDirSync();
  const file = join(dir, "r.json");
  const run = bench([
    "--quick",
    "--presets",
    "cpu",
    "--batch",
    "4",
    "--steps",
    "1",
    "--warmup",
    "0",
    "--scan-batch",
    "1",
    "--scan-reps",
    "1",
    "--out",
    file,
  ]);
  assertEquals(run.code, 0, run.stderr + run.stdout);
  assert(run.stdout.includes(`wrote ${file}`), run.stdout);
  const r = JSON.parse(Deno.readTextFileSync(file));
  const positive = (x: unknown, what: string) =>
    assert(typeof x === "number" && Number.isFinite(x) && x > 0, `${what} = ${x}`);

  assert(/^[0-9a-f]{40}$|^unknown$/.test(r.code.commit), r.code.commit);
  assertEquals(typeof r.code.dirty, "boolean");
  for (const k of ["deno", "tfjs", "cpu", "backend"]) assert(r.environment[k], k);
  positive(r.environment.cores, "cores");
  assertEquals(r.backend, "wasm");
  assert(["native", "loop"].includes(r.scanKernel.name), r.scanKernel.name);
  positive(r.scanKernel.threads, "scan threads");
  assertEquals(r.command.options.batch, 4);
  assertEquals(r.command.options.presets, ["cpu"]);
  assertEquals(Object.keys(r.presets), ["cpu"]);

  const cpu = r.presets.cpu;
  assertEquals(cpu.params, 1_516_290);
  for (const m of ["train", "infer"]) {
    positive(cpu[m].imagesPerSec, `${m} images/s`);
    positive(cpu[m].step.median, `${m} step`);
    positive(cpu[m].gflops, `${m} GFLOP/s`);
    assertEquals(cpu[m].step.samples.length, 1);
  }
  positive(cpu.flopsPerImage.forward, "FLOPs");
  positive(cpu.peakRssMiB, "peak RSS");
  assert(Number.isFinite(cpu.loss.first), "loss");

  const kernels = r.scan.map((s: { kernel: string }) => s.kernel);
  assert(kernels.includes("loop"), kernels.join());
  for (const s of r.scan) {
    positive(s.forwardMs.median, `${s.kernel} fwd`);
    positive(s.forwardBackwardMs.median, `${s.kernel} fwd+bwd`);
  }
  const figures = Object.entries(r.figures) as [string, number][];
  assert(figures.length >= 10, `${figures.length} figures`);
  for (const [k, v] of figures) positive(v, k);

  const cmp = bench(["--compare", file, file]);
  assertEquals(cmp.code, 0, cmp.stderr);
  const rows = cmp.stdout.split("\n").filter((l) => figures.some(([k]) => l.startsWith(k + " ")));
  assertEquals(rows.length, figures.length, cmp.stdout);
  for (const row of rows) assert(row.trimEnd().endsWith(" 1.00"), row);
  assert(!cmp.stdout.includes("differ in"), cmp.stdout);
  Deno.removeSync(dir, { recursive: true });
});

Deno.test("bench: bad options are user errors with a fix", () => {
  const bad = bench(["--presets", "huge", "--out", "/dev/null"]);
  assertEquals(bad.code, 2, bad.stderr);
  assert(bad.stderr.includes("unknown model preset") && bad.stderr.includes("tiny"), bad.stderr);
  const one = bench(["--compare", "only-one.json"]);
  assertEquals(one.code, 2, one.stderr);
  assert(one.stderr.includes("two result files"), one.stderr);
  const help = bench(["--help"]);
  assertEquals(help.code, 0);
  assert(help.stdout.includes("--peer"), help.stdout);
});
