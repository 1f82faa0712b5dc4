/**
 * Hostile inputs (issue 29) through the real commands: each ends with exit code 2 and one
 * `error:` line naming the file or key and the fix, and writes nothing it should not.
 */
import { assert, assertEquals } from "../lib/util/assert.ts";
import { join } from "node:path";
import { encodeSafetensors, type TensorToWrite } from "../lib/interchange/safetensors.ts";
import { decodeSafetensors } from "../lib/interchange/safetensors.ts";
import { assertOneLineError, ROOT, runScript } from "./permissions.ts";

const FIXTURE = join(ROOT, "tests/fixtures/peer_medmamba/model.safetensors");

/** Runs `experiments/<script>` with the tasks' permissions in `cwd`, no ARIES data folder set. */
const run = (script: string, args: string[], cwd: string) =>
  runScript(`experiments/${script}`, args, { cwd, env: { STARMAMBA_DATA: "" } });

/** A folder with `files` (name → text or bytes) written into it. */
function folder(files: Record<string, string | Uint8Array>): string {
  const dir = Deno.makeTempDirSync();
  for (const [name, body] of Object.entries(files)) {
    if (typeof body === "string") Deno.writeTextFileSync(join(dir, name), body);
    else Deno.writeFileSync(join(dir, name), body);
  }
  return dir;
}

/** A tiny synthetic run: what an experiment would train if nothing stopped it. */
const TINY = "data:\n  synthetic_n: 20\n  size: 32\nmodel:\n  dim: 8\n  depths: [1, 1, 1, 1]\n" +
  "train:\n  epochs: 1\n  batch_size: 4\n  steps_per_epoch: 1\n";

Deno.test("experiment: a catalogue label that differs from a class only in case stops at its line", () => {
  const dir = folder({
    "exp.yaml": "data:\n  source: catalog\n  catalog: sources.csv\n",
    "sources.csv": "path,label\na.png,galaxy\nb.png,Star\nc.png,star\n",
  });
  assertOneLineError(
    run("experiment.ts", ["exp.yaml"], dir),
    'line 3 (b.png): label "Star" is not one of the classes galaxy, star (did you mean star?',
  );
});

Deno.test("experiment: a catalogue that is not UTF-8 names its line and the iconv command", () => {
  const latin1 = Uint8Array.from(
    "path,label\na.png,galaxy\nb.png,\xe9toile\n",
    (c) => c.charCodeAt(0),
  );
  const dir = folder({
    "exp.yaml": "data:\n  source: catalog\n  catalog: sources.csv\n",
    "sources.csv": latin1,
  });
  assertOneLineError(
    run("experiment.ts", ["exp.yaml"], dir),
    `${join(dir, "sources.csv")}: line 3 is not UTF-8 text; convert the catalogue, e.g. ` +
      "iconv -f latin1 -t utf-8",
  );
});

Deno.test("experiment: `train:` left empty under extends is refused, not trained on defaults", () => {
  const dir = folder({ "base.yaml": TINY, "exp.yaml": "extends: base.yaml\ntrain:\n" });
  assertOneLineError(
    run("experiment.ts", ["exp.yaml"], dir),
    `train is empty (null): delete the line to inherit ${join(dir, "base.yaml")}'s train section`,
  );
});

Deno.test("experiment: a name with .. or a separator cannot write outside the results folder", () => {
  const dir = folder({});
  for (const name of ["../escape", "..", "a/../../escape"]) {
    Deno.writeTextFileSync(
      join(dir, "exp.yaml"),
      `experiment: ${JSON.stringify(name)}\noutput:\n  scratch_dir: ${
        join(dir, "out", "scratch")
      }\n${TINY}`,
    );
    assertOneLineError(run("experiment.ts", ["exp.yaml"], dir), 'key "experiment"');
  }
  // Nothing was written, inside the scratch folder or beside it.
  assertEquals([...Deno.readDirSync(dir)].map((e) => e.name), ["exp.yaml"]);
});

Deno.test("catalog synthetic: a folder that holds a catalogue is refused unless --force", () => {
  const dir = folder({});
  const args = ["synthetic", "sky", "--n", "20", "--size", "32", "--per-frame", "10"];
  assertEquals(run("catalog.ts", args, dir).code, 0);
  const before = Deno.readTextFileSync(join(dir, "sky", "sources.csv"));
  assertOneLineError(
    run("catalog.ts", [...args.slice(0, 3), "24", "--size", "32", "--format", "png"], dir),
    "sky already holds a catalogue (sources.csv and 20 file(s) in cutouts/); writing a sky " +
      "there would overwrite part of it: choose a new folder, or pass --force",
  );
  assertEquals(Deno.readTextFileSync(join(dir, "sky", "sources.csv")), before);
  assertEquals([...Deno.readDirSync(join(dir, "sky", "cutouts"))].length, 20);
  assertEquals(run("catalog.ts", [...args, "--force", "--seed", "2"], dir).code, 0);
  assert(Deno.readTextFileSync(join(dir, "sky", "sources.csv")) !== before);
});

Deno.test("import: a PyTorch .pth, NaN weights, an official checkpoint without --config: one line each", () => {
  const zip = new Uint8Array(4096);
  zip.set([0x50, 0x4b, 0x03, 0x04]);
  const { tensors } = decodeSafetensors(Deno.readFileSync(FIXTURE), FIXTURE);
  const out = new Map<string, TensorToWrite>();
  for (const [k, t] of tensors) {
    out.set(k, { shape: t.shape, data: t.data as Float32Array | BigInt64Array });
  }
  (out.get("head.weight")!.data as Float32Array)[0] = NaN;
  const dir = folder({ "m.pth": zip, "nan.safetensors": encodeSafetensors(out) });
  const config = join(ROOT, "configs/quickstart.yaml");
  assertOneLineError(
    run("import.ts", ["m.pth", "--config", config], dir),
    'm.pth: a PyTorch zip archive (torch.save), not safetensors; convert it in Python: import torch; from safetensors.torch import save_file; sd = torch.load("m.pth"',
  );
  assertOneLineError(
    run("import.ts", ["nan.safetensors", "--config", config, "--classes", "galaxy,star"], dir),
    'nan.safetensors: tensor "head.weight" holds 1 NaN/Inf value(s)',
  );
  assertOneLineError(
    run("import.ts", [FIXTURE], dir),
    `${FIXTURE}: give --config <yaml> describing the images the network expects; it carries ` +
      "no starmamba metadata",
  );
  assertEquals([...Deno.readDirSync(dir)].map((e) => e.name).sort(), ["m.pth", "nan.safetensors"]);
});
