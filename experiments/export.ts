/**
 * `deno task export --model <name|run dir> --format safetensors|onnx --out <file>` — writes a
 * model for use outside starmamba: a PyTorch state_dict (the official MedMamba's, or
 * torchvision's resnet18 for a ResNet-18 run), or one ONNX graph of the whole network (MedMamba
 * or ResNet-18; lib/interchange).
 * @module
 */
import { exportOnnx, exportSafetensors } from "../lib/experiment/interchange.ts";
import { parseArgs, runMain } from "../lib/util/cli.ts";
import { StarmambaError } from "../lib/util/errors.ts";
import { checkOutputFile } from "../lib/util/fs.ts";

const USAGE = `usage: deno task export --model <name|run dir> --format safetensors|onnx --out <file>

Writes a run's model (the weights predict uses) in a format other tools read.

  --format safetensors  a PyTorch state_dict, by the run's network (model.arch):
                        medmamba: the official MedMamba (github.com/YubiaoYue/MedMamba) state_dict:
                        its key names, PyTorch layouts (Conv2d (out, in, kh, kw), Linear (out,
                        in)), BatchNorm num_batches_tracked; __metadata__ holds
                        medmamba.vssm_kwargs (the VSSM(...) arguments), medmamba.variant (how the
                        network departs from the official code, or "official"), starmamba's
                        model config, class names, input preprocessing and provenance. In Python:
                          from safetensors.torch import load_file
                          net = VSSM(**json.loads(meta["medmamba.vssm_kwargs"]))
                          net.load_state_dict(load_file(path)); net.eval()
                        resnet18: torchvision's resnet18 state_dict, key for key;
                        __metadata__ torchvision.recipe holds the Python that builds the module
                        (torchvision's constructor, and conv1/maxpool for the small stem), then
                          net.load_state_dict(load_file(path), strict=True); net.eval()
                        and the same starmamba metadata. Other networks have no layout yet.
  --format onnx         the whole network as one ONNX graph (opset 17): a MedMamba with its
                        selective scan, a ResNet-18 as torchvision's forward pass (other
                        networks have no graph yet). Input "images" (N, C, H, W) float32,
                        normalised as the metadata's starmamba.input says; outputs "logits" and
                        "probs". Runs in onnxruntime (deno task predict --runtime onnx uses it);
                        the same metadata as above in metadata_props.
  --onnx-scan <form>    MedMamba: how the scan is written: scan (ONNX Scan operator, the default; the
                        faster one measured, docs/interchange.md) or doubling (log2 L rounds of
                        whole-tensor ops, no loop)

options:
  --model <name|dir>   a released model (deno task models) or a run folder
  --format <fmt>       safetensors (default) or onnx
  --out <file>         the file to write (written atomically)
  -h, --help           this help

example:
  deno task export --model aries-cpu-ctx-s1 --format safetensors --out aries-cpu-ctx-s1.safetensors`;

async function main(): Promise<number> {
  const { values } = parseArgs(Deno.args, {
    model: { type: "string" },
    format: { type: "string" },
    out: { type: "string" },
    "onnx-scan": { type: "string" },
  }, USAGE);
  if (!values.model) throw new StarmambaError(`--model <name|run dir> is required\n\n${USAGE}`);
  if (!values.out) throw new StarmambaError(`--out <file> is required\n\n${USAGE}`);
  const format = (values.format as string | undefined) ?? "safetensors";
  if (format !== "safetensors" && format !== "onnx") {
    throw new StarmambaError(`--format ${format}: supported formats are safetensors and onnx`);
  }
  const scan = (values["onnx-scan"] as string | undefined) ?? "scan";
  if (scan !== "scan" && scan !== "doubling") {
    throw new StarmambaError(`--onnx-scan ${scan}: choose scan or doubling`);
  }
  const [model, out] = [values.model as string, values.out as string];
  checkOutputFile(out, "--out"); // before the model loads: a bad path fails at once
  const s = format === "onnx"
    ? await exportOnnx(model, out, scan)
    : await exportSafetensors(model, out);
  console.error(
    `wrote ${s.file}: ${s.tensors} ${format === "onnx" ? "parameters" : "tensors"}, ` +
      `${(s.bytes / 2 ** 20).toFixed(1)} MiB, ${s.layout}` +
      (s.variant.length ? `, variant: ${s.variant.join("; ")}` : ""),
  );
  return 0;
}

if (import.meta.main) await runMain(main);
