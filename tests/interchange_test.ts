/**
 * Interchange with the official MedMamba (PyTorch): the safetensors format against hand-worked
 * bytes and values, the state_dict's keys and shapes against a checkpoint written by an
 * independent PyTorch implementation (tests/fixtures/peer_medmamba, made once by its
 * peer_fixture.py), PyTorch's logits for fixed inputs reproduced after import, and export →
 * import bit-identical.
 */
import * as tf from "@tensorflow/tfjs-core";
import { join } from "node:path";
import {
  assert,
  assertAllClose,
  assertEquals,
  assertRejects,
  assertThrows,
} from "../lib/util/assert.ts";
import { loadConfig } from "../lib/config/load.ts";
import { modelConfig } from "../lib/model/config.ts";
import { evalContext } from "../lib/model/layers.ts";
import { buildMedMamba } from "../lib/model/medmamba.ts";
import { setupBackend } from "../lib/backends/setup.ts";
import { loadRun } from "../lib/experiment/predict.ts";
import { exportSafetensors, importSafetensors } from "../lib/experiment/interchange.ts";
import {
  decodeSafetensors,
  encodeSafetensors,
  type StoredTensor,
  type TensorToWrite,
} from "../lib/interchange/safetensors.ts";
import {
  type NamedArray,
  officialStateDict,
  paramArrays,
  permute,
} from "../lib/interchange/medmamba_layout.ts";
import { StarmambaError } from "../lib/util/errors.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const FIXTURE = join(ROOT, "tests/fixtures/peer_medmamba");
/** The fixture network (peer_fixture.py CONFIG) as config overrides. */
const FIXTURE_CONFIG = [
  "model.dim=8",
  "model.depths=[2, 1, 1, 1]",
  "model.d_state=4",
  "model.patch_size=4",
  "data.size=32",
];

function readFixture(name: string) {
  return decodeSafetensors(Deno.readFileSync(join(FIXTURE, name)), name);
}

/** A safetensors file from a hand-written header and data section. */
function rawFile(header: unknown, data: Uint8Array, headerText?: string): Uint8Array {
  const json = new TextEncoder().encode(headerText ?? JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

Deno.test("safetensors: hand-written bytes decode to the values, dtypes converted", () => {
  // F16 1.0 = 0x3c00, -2 = 0xc000, 65504 = 0x7bff; BF16 1.0 = 0x3f80, -0.5 = 0xbf00.
  const data = new Uint8Array([
    0x00,
    0x3c,
    0x00,
    0xc0,
    0xff,
    0x7b,
    0x80,
    0x3f,
    0x00,
    0xbf,
    7,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
  ]);
  const f = decodeSafetensors(
    rawFile({
      __metadata__: { format: "pt" },
      h: { dtype: "F16", shape: [3], data_offsets: [0, 6] },
      b: { dtype: "BF16", shape: [2], data_offsets: [6, 10] },
      n: { dtype: "I64", shape: [], data_offsets: [10, 18] },
    }, data),
    "hand.safetensors",
  );
  assertEquals([...f.tensors.get("h")!.data as Float32Array], [1, -2, 65504]);
  assertEquals([...f.tensors.get("b")!.data as Float32Array], [1, -0.5]);
  assertEquals([...f.tensors.get("n")!.data as BigInt64Array], [7n]);
  assertEquals(f.tensors.get("n")!.shape, []);
  assertEquals(f.metadata, { format: "pt" });
});

Deno.test("safetensors: encode → decode round trip, header padded to 8 bytes", () => {
  const t = new Map<string, TensorToWrite>([
    ["a", { shape: [2, 3], data: Float32Array.from([1, 2, 3, 4, 5, Math.PI]) }],
    ["z", { shape: [], data: new BigInt64Array([42n]) }],
  ]);
  const bytes = encodeSafetensors(t, { k: "v" });
  const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
  assertEquals(n % 8, 0);
  const back = decodeSafetensors(bytes, "x");
  assertEquals(back.metadata, { k: "v" });
  assertEquals([...back.tensors.keys()], ["a", "z"]);
  assertEquals(back.tensors.get("a")!.data, Float32Array.from([1, 2, 3, 4, 5, Math.PI]));
  assertEquals(back.tensors.get("a")!.shape, [2, 3]);
  assertEquals(back.tensors.get("z")!.dtype, "I64");
});

Deno.test("safetensors: every malformed file is one StarmambaError naming file and tensor", () => {
  const f4 = new Uint8Array(8);
  const cases: [Uint8Array, RegExp][] = [
    [new Uint8Array(5), /shorter than the 8-byte header/],
    [rawFile(null, f4, "{not json"), /header is not JSON/],
    [rawFile({ w: { dtype: "Q8", shape: [2], data_offsets: [0, 8] } }, f4), /"w" has dtype "Q8"/],
    [rawFile({ w: { dtype: "F32", shape: [3], data_offsets: [0, 8] } }, f4), /"w" has 8 bytes/],
    [rawFile({ w: { dtype: "F32", shape: [4], data_offsets: [0, 16] } }, f4), /"w" spans/],
    [rawFile({ w: { dtype: "F32", shape: [1], data_offsets: [4, 8] } }, f4), /hole or overlap/],
    [rawFile({ w: { dtype: "F32", shape: [1], data_offsets: [0, 4] } }, f4), /4 bytes after/],
  ];
  const big = new Uint8Array(16);
  new DataView(big.buffer).setBigUint64(0, 1000n, true);
  cases.push([big, /header length 1000 exceeds/]);
  for (const [bytes, re] of cases) {
    const e = assertThrows(() => decodeSafetensors(bytes, "bad.safetensors"), StarmambaError);
    assert(/^bad\.safetensors: not a valid safetensors file/.test(e.message), e.message);
    assert(re.test(e.message), `${e.message} !~ ${re}`);
  }
});

Deno.test("permute: a hand-worked transpose and HWIO → OIHW", () => {
  const t = permute({ shape: [2, 3], data: Float32Array.from([1, 2, 3, 4, 5, 6]) }, [1, 0]);
  assertEquals(t.shape, [3, 2]);
  assertEquals([...t.data], [1, 4, 2, 5, 3, 6]);
  // HWIO [1,2,1,2]: w[0][x][0][o] = 10x + o → OIHW [2,1,1,2]: w[o][0][0][x].
  const c = permute({ shape: [1, 2, 1, 2], data: Float32Array.from([0, 1, 10, 11]) }, [3, 2, 0, 1]);
  assertEquals(c.shape, [2, 1, 1, 2]);
  assertEquals([...c.data], [0, 10, 1, 11]);
});

/** starmamba's state of a freshly built network, as named arrays. */
function ourArrays(cfg = modelConfig("cpu")): Map<string, NamedArray> {
  const m = buildMedMamba(cfg, 3);
  const out = paramArrays(m.params);
  m.params.dispose();
  return out;
}

Deno.test("official keys and PyTorch shapes of the cpu preset, by hand", async () => {
  await setupBackend("cpu");
  const sd = officialStateDict(ourArrays(), modelConfig("cpu"));
  const shape = (k: string) => sd.get(k)?.shape;
  const b = "layers.0.blocks.0";
  assertEquals(shape("patch_embed.proj.weight"), [32, 3, 4, 4]);
  assertEquals(shape("patch_embed.norm.weight"), [32]);
  assertEquals(shape(`${b}.ln_1.weight`), [16]);
  assertEquals(shape(`${b}.self_attention.in_proj.weight`), [64, 16]);
  assertEquals(shape(`${b}.self_attention.conv2d.weight`), [32, 1, 3, 3]);
  assertEquals(shape(`${b}.self_attention.x_proj_weight`), [4, 1 + 2 * 16, 32]);
  assertEquals(shape(`${b}.self_attention.dt_projs_weight`), [4, 32, 1]);
  assertEquals(shape(`${b}.self_attention.dt_projs_bias`), [4, 32]);
  assertEquals(shape(`${b}.self_attention.A_logs`), [128, 16]);
  assertEquals(shape(`${b}.self_attention.Ds`), [128]);
  assertEquals(shape(`${b}.self_attention.out_norm.weight`), [32]);
  assertEquals(shape(`${b}.self_attention.out_proj.weight`), [16, 32]);
  for (const i of [0, 2, 5]) {
    for (const s of ["weight", "bias", "running_mean", "running_var"]) {
      assertEquals(shape(`${b}.conv33conv33conv11.${i}.${s}`), [16]);
    }
    const n = sd.get(`${b}.conv33conv33conv11.${i}.num_batches_tracked`)!;
    assertEquals([n.shape, n.data instanceof BigInt64Array], [[], true]);
  }
  assertEquals(shape(`${b}.conv33conv33conv11.1.weight`), [16, 16, 3, 3]);
  assertEquals(shape(`${b}.conv33conv33conv11.4.weight`), [16, 16, 3, 3]);
  assertEquals(shape(`${b}.conv33conv33conv11.7.weight`), [16, 16, 1, 1]);
  for (const i of [3, 6, 8]) assertEquals(shape(`${b}.conv33conv33conv11.${i}.weight`), undefined);
  assertEquals(shape("layers.2.downsample.norm.weight"), [512]);
  assertEquals(shape("layers.2.downsample.reduction.weight"), [512, 256].reverse());
  assertEquals(shape("layers.3.downsample.norm.weight"), undefined);
  assertEquals(shape("head.weight"), [2, 256]);
  assertEquals(shape("norm.weight"), undefined);
  // 4 stages × 2 blocks × (2 ln + 11 SS2D + 3 BN × 5 + 3 conv × 2) + 3 merges × 3 + 4 + 2
  assertEquals(sd.size, 8 * (2 + 11 + 15 + 6) + 9 + 6);
});

Deno.test("our export's keys and shapes equal those of a checkpoint written by PyTorch", async () => {
  await setupBackend("cpu");
  const cfg = modelConfig("cpu", {
    dim: 8,
    depths: [2, 1, 1, 1],
    d_state: 4,
    image_size: 32,
  });
  const ours = officialStateDict(ourArrays(cfg), cfg);
  const torch = readFixture("model.safetensors").tensors;
  const list = (m: Map<string, { shape: number[] }>) =>
    [...m].map(([k, v]) => `${k} [${v.shape}]`).sort();
  assertEquals(list(ours), list(torch));
});

const work = Deno.makeTempDirSync();
const config = loadConfig(join(ROOT, "configs/quickstart.yaml"), FIXTURE_CONFIG);

/** Logits of a run's network for the fixture's NCHW inputs. */
async function logitsOf(runDir: string): Promise<Float32Array> {
  const run = await loadRun(runDir);
  const x = readFixture("io.safetensors").tensors.get("inputs") as StoredTensor;
  const out = tf.tidy(() => {
    const nchw = tf.tensor4d(x.data as Float32Array, x.shape as [number, number, number, number]);
    return run.model.forward(tf.transpose(nchw, [0, 2, 3, 1]), evalContext());
  });
  const v = out.dataSync() as Float32Array;
  out.dispose();
  run.model.params.dispose();
  return v;
}

const imported = await importSafetensors(join(FIXTURE, "model.safetensors"), config, {
  classNames: ["galaxy", "star"],
  outDir: join(work, "from-torch"),
});

Deno.test("a checkpoint written by PyTorch, imported, gives PyTorch's logits", async () => {
  const want = readFixture("io.safetensors").tensors.get("logits")!.data as Float32Array;
  const got = await logitsOf(imported);
  assertAllClose(got, want, 1e-5, 1e-5, "logits vs PyTorch (float64)");
  // The fixture is sensitive: its BatchNorm statistics and weights are all perturbed, so a
  // swapped conv/BN index or a missing transpose moves the logits far beyond the tolerance.
  assert(Math.max(...want.map(Math.abs)) > 0.5);
});

Deno.test("export → import → export is bit-identical, and predict reads the imported run", async () => {
  const a = join(work, "a.safetensors"), b = join(work, "b.safetensors");
  await exportSafetensors(imported, a);
  const again = await importSafetensors(a, config, { outDir: join(work, "again") });
  await exportSafetensors(again, b);
  const ta = decodeSafetensors(Deno.readFileSync(a), "a").tensors;
  const tb = decodeSafetensors(Deno.readFileSync(b), "b").tensors;
  assertEquals([...ta.keys()], [...tb.keys()]);
  for (const [k, v] of ta) assertEquals(tb.get(k)!.data, v.data, k);
  // Our export of a PyTorch checkpoint holds exactly PyTorch's float values.
  const torch = readFixture("model.safetensors").tensors;
  for (const [k, v] of torch) {
    if (v.dtype === "F32") assertEquals(ta.get(k)!.data, v.data, k);
  }
  const meta = decodeSafetensors(Deno.readFileSync(a), "a").metadata;
  assertEquals(JSON.parse(meta["starmamba.class_names"]), ["galaxy", "star"]);
  assertEquals(JSON.parse(meta["medmamba.vssm_kwargs"]).dims, [8, 16, 32, 64]);
  assertEquals(meta["medmamba.variant"], "official");
});

Deno.test("import: a config that does not fit, a damaged file, no class names: clear errors", async () => {
  const torchFile = join(FIXTURE, "model.safetensors");
  const wrong = loadConfig(join(ROOT, "configs/quickstart.yaml"), [
    ...FIXTURE_CONFIG,
    "model.dim=16",
    "model.d_state=8",
  ]);
  const e1 = await assertRejects(
    () => importSafetensors(torchFile, wrong, { classNames: ["a", "b"], outDir: join(work, "x") }),
    StarmambaError,
  );
  assert(/model\.dim: the checkpoint has 8, the config 16/.test(e1.message), e1.message);
  assert(/model\.d_state: the checkpoint has 4, the config 8/.test(e1.message), e1.message);
  const cut = join(work, "cut.safetensors");
  Deno.writeFileSync(cut, Deno.readFileSync(torchFile).subarray(0, 5000));
  const e2 = await assertRejects(
    () => importSafetensors(cut, config, { classNames: ["a", "b"], outDir: join(work, "y") }),
    StarmambaError,
  );
  assert(e2.message.startsWith(`${cut}: not a valid safetensors file`), e2.message);
  const e3 = await assertRejects(
    () => importSafetensors(torchFile, config, { outDir: join(work, "z") }),
    StarmambaError,
  );
  assert(/pass --classes/.test(e3.message), e3.message);
});

Deno.test("safetensors: a PyTorch file (torch.save zip or pickle) is named as such, with the conversion", () => {
  const zip = new Uint8Array(64);
  zip.set([0x50, 0x4b, 0x03, 0x04]);
  // The legacy format opens with a protocol-2 pickle of torch's magic number.
  const pickle = new Uint8Array(64);
  pickle.set([0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8]);
  for (const [bytes, kind] of [[zip, "zip archive"], [pickle, "pickle"]] as const) {
    const e = assertThrows(() => decodeSafetensors(bytes, "m.pth"), StarmambaError);
    assert(
      e.message.startsWith(`m.pth: a PyTorch ${kind} (torch.save), not safetensors;`),
      e.message,
    );
    assert(e.message.includes('sd = torch.load("m.pth", map_location="cpu"); save_file('));
    assert(!e.message.includes("\n"), e.message);
  }
  // A real safetensors header may begin with the byte 0x80 (a 640-byte header): still read.
  const t = new Map<string, TensorToWrite>([["w", { shape: [1], data: Float32Array.of(1) }]]);
  const meta = { pad: "x".repeat(640 - 87) };
  const bytes = encodeSafetensors(t, meta);
  assertEquals([bytes[0], bytes[1]], [0x80, 0x02]);
  assertEquals(decodeSafetensors(bytes, "ok").metadata, meta);
});

/** The PyTorch fixture with `edit` applied to its tensors (and metadata), re-encoded. */
function editedFixture(
  name: string,
  edit: (t: Map<string, StoredTensor>, meta: Record<string, string>) => void,
  from = join(FIXTURE, "model.safetensors"),
): string {
  const { tensors, metadata } = decodeSafetensors(Deno.readFileSync(from), from);
  edit(tensors, metadata);
  const out = new Map<string, TensorToWrite>();
  for (const [k, t] of tensors) {
    out.set(k, { shape: t.shape, data: t.data as Float32Array | BigInt64Array });
  }
  const file = join(work, name);
  Deno.writeFileSync(file, encodeSafetensors(out, metadata));
  return file;
}

Deno.test("import: weights holding NaN or Inf are refused, naming the tensor", async () => {
  for (const bad of [NaN, Infinity, -Infinity]) {
    const file = editedFixture("nan.safetensors", (t) => {
      (t.get("layers.1.blocks.0.ln_1.weight")!.data as Float32Array)[3] = bad;
    });
    const e = await assertRejects(
      () => importSafetensors(file, config, { classNames: ["a", "b"], outDir: join(work, "n") }),
      StarmambaError,
    );
    assertEquals(
      e.message,
      `${file}: tensor "layers.1.blocks.0.ln_1.weight" holds 1 NaN/Inf value(s), the first at ` +
        `flat index 3 (${bad}); the checkpoint is damaged or its training diverged: import one ` +
        "saved before that",
    );
  }
});

Deno.test("import: an exported file's own config is used without --config; a --config that describes other inputs is refused", async () => {
  const file = join(work, "meta.safetensors");
  await exportSafetensors(imported, file);
  // The RGB network with the field-context recipe's inputs and another preset.
  const context = loadConfig(join(ROOT, "configs/quickstart.yaml"), [
    ...FIXTURE_CONFIG,
    "data.field_context=true",
    "model.preset=tiny",
    "augment.normalize_std=0.25",
  ]);
  const e = await assertRejects(
    () => importSafetensors(file, context, { outDir: join(work, "ctx") }),
    StarmambaError,
  );
  for (
    const want of [
      "data.field_context: the file has false, the config true",
      'model.preset: the file has "cpu", the config "tiny"',
      "augment.normalize_std: the file has 0.5, the config 0.25",
      "leave out --config to take them from the file",
    ]
  ) assert(e.message.includes(want), `${want} not in: ${e.message}`);
  assert(e.message.startsWith(`${file}'s metadata describes other inputs than `), e.message);
  assert(!e.message.includes("\n"), e.message);
  // Without --config the file's own config is the run's: predict feeds what the network knows.
  const dir = await importSafetensors(file, null, { outDir: join(work, "own") });
  const run = await loadRun(dir);
  run.model.params.dispose();
  assertEquals(run.config, config.config);
  assertEquals(run.classNames, ["galaxy", "star"]);
  // --set on the file's config may not change what it describes.
  await assertRejects(
    () => importSafetensors(file, null, { outDir: join(work, "own2"), set: ["data.size=64"] }),
    StarmambaError,
    "data.size: the file has 32, the config 64; leave these keys out of --set",
  );
  // An older export (no starmamba.config) is still checked on what its metadata says …
  const older = editedFixture("older.safetensors", (_, m) => {
    delete m["starmamba.config"];
  }, file);
  await assertRejects(
    () => importSafetensors(older, context, { outDir: join(work, "old") }),
    StarmambaError,
    "data.field_context: the file has false, the config true",
  );
  // … but cannot stand in for a config; nor can a checkpoint of the official code.
  for (const f of [older, join(FIXTURE, "model.safetensors")]) {
    await assertRejects(
      () => importSafetensors(f, null, { outDir: join(work, "none") }),
      StarmambaError,
      `${f}: give --config <yaml> describing the images the network expects;`,
    );
  }
});
