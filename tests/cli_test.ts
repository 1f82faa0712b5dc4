import { assert, assertEquals } from "../lib/util/assert.ts";
import { join } from "node:path";
import { TASK_PERMISSIONS } from "./permissions.ts";

const ROOT = new URL("..", import.meta.url).pathname;

/** Runs an experiments/ script (default: the experiment runner) with the tasks' permissions. */
function runCli(
  args: string[],
  env: Record<string, string> = {},
  script = "experiments/experiment.ts",
): { code: number; stderr: string; stdout: string } {
  const out = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      ...TASK_PERMISSIONS,
      join(ROOT, script),
      ...args,
    ],
    cwd: ROOT,
    env: { NO_COLOR: "1", ...env },
    stdout: "piped",
    stderr: "piped",
  }).outputSync();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

function tmpYaml(text: string): string {
  const dir = Deno.makeTempDirSync();
  const p = join(dir, "exp.yaml");
  Deno.writeTextFileSync(p, text);
  return p;
}

const cases: [string, () => string[], string][] = [
  ["missing config file", () => ["/no/such/config.yaml"], "config file not found"],
  ["unknown key", () => [tmpYaml("trian:\n  epochs: 1\n")], 'did you mean "train"'],
  ["wrong type", () => [tmpYaml("train:\n  batch_size: big\n")], "expected an integer"],
  ["unknown backend", () => [tmpYaml("backend: tpu\n")], "not one of"],
  ["unknown preset", () => [tmpYaml("model:\n  preset: huge\n")], "not one of"],
  ["bad --set", () => ["configs/quickstart.yaml", "--set", "train.epochs"], "key=value"],
  ["unknown option", () => ["configs/quickstart.yaml", "--frobnicate"], "Unknown option"],
  [
    "data folder that does not exist",
    () => [tmpYaml("data:\n  source: folder\n  root: /no/such/data\n")],
    "10.34740/kaggle/ds/1396185",
  ],
];

for (const [name, args, msg] of cases) {
  Deno.test(`bad input → exit code 2 and one clear message: ${name}`, () => {
    const r = runCli(args(), { STARMAMBA_DATA: "" });
    assertEquals(r.code, 2, r.stderr);
    assert(r.stderr.includes(msg), `expected "${msg}" in: ${r.stderr}`);
    assert(!/\n\s+at /.test(r.stderr), `no stack trace expected: ${r.stderr}`);
  });
}

Deno.test("--help prints usage and exits 0", () => {
  const r = runCli(["--help"]);
  assertEquals(r.code, 0);
  assert(r.stdout.includes("usage: deno task experiment"));
});

Deno.test("every command answers -h/--help with its usage on stdout and exit 0, nothing else run", () => {
  const scripts = [
    "experiments/experiment.ts",
    "experiments/ablate.ts",
    "experiments/compare.ts",
    "experiments/evaluate.ts",
    "experiments/predict.ts",
    "experiments/verify_results.ts",
    "experiments/models.ts",
    "experiments/export.ts",
    "experiments/import.ts",
    "experiments/catalog.ts",
    "bench/bench.ts",
    "bench/block_profile.ts",
    "bench/profile_step.ts",
  ];
  for (const script of scripts) {
    for (const flag of ["--help", "-h"]) {
      const r = runCli([flag], {}, script);
      assertEquals(r.code, 0, `${script} ${flag}: ${r.stderr}`);
      assert(/usage/i.test(r.stdout), `${script} ${flag} printed: ${r.stdout}`);
      assertEquals(r.stderr, "", `${script} ${flag}`);
    }
  }
});

Deno.test("print flags: experiment --keys is docs/config.md, ablate --json-schema is configs/ablations/schema.json", () => {
  const keys = runCli(["--keys"]);
  assertEquals(keys.code, 0, keys.stderr);
  assertEquals(keys.stdout, Deno.readTextFileSync(join(ROOT, "docs/config.md")));
  const schema = runCli(["--json-schema"], {}, "experiments/ablate.ts");
  assertEquals(schema.code, 0, schema.stderr);
  assertEquals(
    JSON.parse(schema.stdout),
    JSON.parse(Deno.readTextFileSync(join(ROOT, "configs/ablations/schema.json"))),
  );
});

Deno.test("evaluate CLI: --help exits 0; a missing --model, a missing folder and bad --errors/--top/--class-weight-power exit 2", () => {
  const run = (args: string[]) => {
    const r = runCli(args, {}, "experiments/evaluate.ts");
    return { code: r.code, text: r.stdout + r.stderr };
  };
  const help = run(["--help"]);
  assertEquals(help.code, 0);
  assert(help.text.includes("usage: deno task evaluate"));
  const none = run([]);
  assertEquals(none.code, 2);
  assert(none.text.includes("--model <run dir> is required"), none.text);
  const missing = run(["--model", "no/such/run"]);
  assertEquals(missing.code, 2);
  assert(missing.text.includes("no such folder"), missing.text);
  for (
    const [flag, value, text] of [["--context", "bogus", "choose frame or single"], [
      "--runtime",
      "bogus",
      "choose starmamba or onnx",
    ]]
  ) {
    const bad = run(["--model", "no/such/run", flag, value]);
    assertEquals(bad.code, 2);
    assert(bad.text.includes(text), bad.text);
  }
  const png = run(["--model", "no/such/run", "--errors", "sheet.png"]);
  assertEquals(png.code, 2);
  assert(png.text.includes("give an .svg file name"), png.text);
  const top = run(["--model", "no/such/run", "--errors", "sheet.svg", "--top", "0"]);
  assertEquals(top.code, 2);
  assert(top.text.includes("--top 0"), top.text);
  const power = run(["--model", "no/such/run", "--class-weight-power", "2"]);
  assertEquals(power.code, 2);
  assert(power.text.includes("--class-weight-power 2"), power.text);
});

Deno.test("export/import/models CLIs: bad input is exit 2 with one message, never a stack trace", () => {
  const cases: [string, string[], string][] = [
    ["experiments/export.ts", ["--out", "x.safetensors"], "--model <name|run dir> is required"],
    ["experiments/export.ts", ["--model", "aries-cpu-ctx-s1"], "--out <file> is required"],
    [
      "experiments/export.ts",
      ["--model", "aries-cpu-ctx-s1", "--out", "x", "--format", "tflite"],
      "supported formats are safetensors and onnx",
    ],
    [
      "experiments/export.ts",
      ["--model", "no-such-model", "--out", "x.safetensors"],
      "nor a released model",
    ],
    ["experiments/import.ts", [], "give one .safetensors file"],
    ["experiments/import.ts", ["m.safetensors"], "m.safetensors: no such file"],
    [
      "experiments/import.ts",
      ["no/such.safetensors", "--config", "configs/quickstart.yaml"],
      "no/such.safetensors: no such file",
    ],
    [
      "experiments/predict.ts",
      ["--model", "x", "img.png", "--runtime", "tpu"],
      "choose starmamba or onnx",
    ],
    ["experiments/models.ts", ["--bogus"], "Unknown option"],
  ];
  for (const [script, args, text] of cases) {
    const r = runCli(args, {}, script);
    assertEquals(r.code, 2, `${script} ${args.join(" ")}: ${r.stderr}`);
    assert(r.stderr.includes(text), `${script} ${args.join(" ")}: ${r.stderr}`);
    assert(!/\n\s+at /.test(r.stderr), `no stack trace expected: ${r.stderr}`);
  }
});
