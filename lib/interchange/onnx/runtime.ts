/**
 * Running an exported graph with onnxruntime-node (npm; it loads in Deno). The package is
 * imported on first use, so nothing else pays for its native library.
 * @module
 */
import { StarmambaError } from "../../util/errors.ts";
import { permute } from "../medmamba_layout.ts";

/** An onnxruntime session of a starmamba graph (input "images" NCHW, output "probs"). */
export interface OnnxSession {
  /** Class probabilities (n × classes, row-major) of normalised NHWC images. */
  probs(x: Float32Array, shape: [number, number, number, number]): Promise<Float32Array>;
  /** Frees the session. */
  release(): Promise<void>;
}

/** Opens `model` (serialised ONNX) with onnxruntime's CPU execution provider. */
export async function createOnnxSession(model: Uint8Array, label: string): Promise<OnnxSession> {
  let ort: typeof import("onnxruntime-node");
  try {
    ort = await import("onnxruntime-node");
  } catch (e) {
    throw new StarmambaError(
      `onnxruntime-node could not be loaded (${(e as Error).message.split("\n")[0]}); ` +
        "use the default runtime, or check that npm packages can be installed",
    );
  }
  let session: Awaited<ReturnType<typeof ort.InferenceSession.create>>;
  try {
    session = await ort.InferenceSession.create(model);
  } catch (e) {
    throw new StarmambaError(`${label}: onnxruntime cannot load it (${(e as Error).message})`);
  }
  return {
    async probs(x, [n, h, w, c]) {
      // NHWC → NCHW, the layout of the graph's input (PyTorch's).
      const nchw = permute({ shape: [n, h, w, c], data: x }, [0, 3, 1, 2]).data;
      const out = await session.run({ images: new ort.Tensor("float32", nchw, [n, c, h, w]) });
      return Float32Array.from(out.probs.data as Float32Array);
    },
    release: () => session.release(),
  };
}
