/**
 * Running an exported graph with onnxruntime-node (npm; it loads in Deno). The package is
 * imported on first use, so nothing else pays for its native library.
 * @module
 */
import { StarmambaError } from "../../util/errors.ts";

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
      const nchw = new Float32Array(x.length);
      for (let b = 0; b < n; b++) {
        for (let y = 0; y < h; y++) {
          for (let xx = 0; xx < w; xx++) {
            for (let ch = 0; ch < c; ch++) {
              nchw[((b * c + ch) * h + y) * w + xx] = x[((b * h + y) * w + xx) * c + ch];
            }
          }
        }
      }
      const out = await session.run({ images: new ort.Tensor("float32", nchw, [n, c, h, w]) });
      return Float32Array.from(out.probs.data as Float32Array);
    },
    release: () => session.release(),
  };
}
