/**
 * `deno task models [--json]` — lists the released models: name, network, parameters, input,
 * split, accuracy with its protocol, and the weights' size on disk (lib/registry).
 * @module
 */
import { join } from "node:path";
import { RELEASED, REPO_ROOT } from "../lib/registry/released.ts";
import { modelCards } from "../lib/registry/card.ts";
import { writeFileAtomic } from "../lib/util/fs.ts";
import { describeReleased, modelsTable } from "../lib/registry/describe.ts";
import { parseArgs, runMain } from "../lib/util/cli.ts";
import { recordInManifest } from "../lib/results/manifest.ts";

const USAGE = `usage: deno task models [--json] [--cards]

Lists the released models. Each name works wherever a run folder does:
  deno task predict --model <name> <images...>
  deno task evaluate --model <name>
  deno task export --model <name> --format safetensors --out <file>

options:
  --json        one JSON object per model instead of the table
  --cards       (re)write the model cards models/<name>.md from the result files
  -h, --help    this help`;

async function main(): Promise<number> {
  const { values } = parseArgs(Deno.args, {
    json: { type: "boolean" },
    cards: { type: "boolean" },
  }, USAGE);
  // Reads every released run's files first, so a damaged one is one line naming it (the cards
  // read the same files).
  const rows = RELEASED.map(describeReleased);
  if (values.cards) {
    const written: string[] = [];
    for (const [path, text] of modelCards()) {
      writeFileAtomic(join(REPO_ROOT, path), text);
      written.push(join(REPO_ROOT, path));
      console.error(`wrote ${path}`);
    }
    // The cards are published files: models/SHA256SUMS records them (deno task verify-results).
    recordInManifest(join(REPO_ROOT, "models"), written);
    return 0;
  }
  console.log(values.json ? JSON.stringify(rows, null, 2) : modelsTable(rows));
  return await Promise.resolve(0);
}

if (import.meta.main) await runMain(main);
