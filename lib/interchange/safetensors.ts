/**
 * The safetensors file format (huggingface/safetensors), read and written without a dependency:
 * an 8-byte little-endian header length N, N bytes of JSON (`{name: {dtype, shape,
 * data_offsets}, "__metadata__": {string: string}}`), then the tensors' bytes, little-endian
 * and row-major. The npm registry has no maintained implementation, and the format is small
 * enough that its rules (offsets inside the buffer, no holes, no overlaps) are checked here.
 * @module
 */
import { StarmambaError } from "../util/errors.ts";

/** The element types starmamba reads; it writes F32 and I64 (BatchNorm's num_batches_tracked). */
export type SafetensorsDtype = "F32" | "F64" | "F16" | "BF16" | "I64" | "I32";

/** One tensor of a safetensors file. Floating data is widened/narrowed to float32 on reading. */
export interface StoredTensor {
  /** The dtype in the file. */
  dtype: SafetensorsDtype;
  /** Shape, outermost first ([] for a scalar). */
  shape: number[];
  /** Values in row-major order: float32 for the float dtypes, bigint for I64, int32 for I32. */
  data: Float32Array | BigInt64Array | Int32Array;
}

/** A decoded safetensors file. */
export interface SafetensorsFile {
  /** Tensors in file order. */
  tensors: Map<string, StoredTensor>;
  /** The `__metadata__` strings (empty when absent). */
  metadata: Record<string, string>;
}

const BYTES: Record<SafetensorsDtype, number> = { F32: 4, F64: 8, F16: 2, BF16: 2, I64: 8, I32: 4 };

/** Largest header accepted (the reference implementation's limit is 100 MB). */
const MAX_HEADER = 100_000_000;

/** Element count of a shape. */
function numel(shape: number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** IEEE half → float32. */
function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * 2 ** -14 * (f / 1024);
  if (e === 31) return f ? NaN : s * Infinity;
  return s * 2 ** (e - 15) * (1 + f / 1024);
}

/** Copies `bytes` into an aligned buffer and views it as the stored dtype, converted. */
function decodeData(dtype: SafetensorsDtype, bytes: Uint8Array): StoredTensor["data"] {
  const copy = bytes.slice().buffer;
  switch (dtype) {
    case "F32":
      return new Float32Array(copy);
    case "F64":
      return Float32Array.from(new Float64Array(copy));
    case "I64":
      return new BigInt64Array(copy);
    case "I32":
      return new Int32Array(copy);
    case "F16":
      return Float32Array.from(new Uint16Array(copy), halfToFloat);
    case "BF16": {
      // bfloat16 is the top half of a float32.
      const u = new Uint16Array(copy);
      const w = new Uint32Array(u.length);
      for (let i = 0; i < u.length; i++) w[i] = u[i] << 16;
      return new Float32Array(w.buffer);
    }
  }
}

/**
 * Decodes a safetensors file. `file` names it in errors. Every structural fault (short file,
 * bad JSON, unknown dtype, offsets outside the data, holes or overlaps, size not shape × dtype)
 * is a {@link StarmambaError} naming the file and the tensor.
 */
export function decodeSafetensors(bytes: Uint8Array, file: string): SafetensorsFile {
  const fail = (why: string): never => {
    throw new StarmambaError(`${file}: not a valid safetensors file (${why})`);
  };
  // A header that does not parse may be a PyTorch file under the wrong name: say how to convert.
  const notHeader = (why: string): never => {
    const torch = torchFormat(bytes);
    if (torch === null) return fail(why);
    throw new StarmambaError(
      `${file}: a PyTorch ${torch} (torch.save), not safetensors; convert it in Python: ` +
        "import torch; from safetensors.torch import save_file; " +
        `sd = torch.load(${JSON.stringify(file)}, map_location="cpu"); ` +
        'save_file({k: v.contiguous() for k, v in sd.items()}, "model.safetensors") ' +
        '(take sd["state_dict"] or model.state_dict() first if it holds more)',
    );
  };
  if (bytes.length < 8) notHeader(`${bytes.length} bytes, shorter than the 8-byte header length`);
  const n = Number(new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true));
  if (n > MAX_HEADER || 8 + n > bytes.length) notHeader(`header length ${n} exceeds the file`);
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(8, 8 + n)));
  } catch (e) {
    return notHeader(`header is not JSON: ${(e as Error).message}`);
  }
  if (typeof header !== "object" || header === null || Array.isArray(header)) {
    fail("header is not a JSON object");
  }
  const data = bytes.subarray(8 + n);
  const metadata: Record<string, string> = {};
  const spans: [number, number, string][] = [];
  const tensors = new Map<string, StoredTensor>();
  for (const [name, v] of Object.entries(header)) {
    if (name === "__metadata__") {
      for (const [k, s] of Object.entries((v ?? {}) as Record<string, unknown>)) {
        if (typeof s !== "string") fail(`__metadata__.${k} is not a string`);
        metadata[k] = s as string;
      }
      continue;
    }
    const t = v as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    const dtype = t?.dtype as SafetensorsDtype;
    if (!(typeof dtype === "string" && dtype in BYTES)) {
      fail(
        `tensor "${name}" has dtype ${JSON.stringify(t?.dtype)}; starmamba reads ` +
          Object.keys(BYTES).join(", "),
      );
    }
    const shape = t.shape as number[];
    const off = t.data_offsets as number[];
    if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0)) {
      fail(`tensor "${name}" has shape ${JSON.stringify(t.shape)}`);
    }
    if (!Array.isArray(off) || off.length !== 2 || !off.every(Number.isInteger)) {
      fail(`tensor "${name}" has data_offsets ${JSON.stringify(t.data_offsets)}`);
    }
    const [a, b] = off;
    if (a < 0 || b < a || b > data.length) {
      fail(`tensor "${name}" spans bytes ${a}..${b} of a ${data.length}-byte data section`);
    }
    if (b - a !== numel(shape) * BYTES[dtype]) {
      fail(
        `tensor "${name}" has ${b - a} bytes but shape [${shape}] of ${dtype} needs ` +
          `${numel(shape) * BYTES[dtype]}`,
      );
    }
    spans.push([a, b, name]);
    tensors.set(name, { dtype, shape, data: decodeData(dtype, data.subarray(a, b)) });
  }
  // The format requires the tensors to tile the data section exactly.
  spans.sort((x, y) => x[0] - y[0] || x[1] - y[1]);
  let end = 0;
  for (const [a, b, name] of spans) {
    if (a !== end) fail(`tensor "${name}" starts at byte ${a}, expected ${end} (hole or overlap)`);
    end = b;
  }
  if (end !== data.length) fail(`${data.length - end} bytes after the last tensor`);
  return { tensors, metadata };
}

/**
 * Which of torch.save's formats `bytes` start with: the zip archive (PyTorch ≥ 1.6, "PK\x03\x04")
 * or a bare pickle (protocol 2-5: 0x80 then the protocol); null for neither.
 */
function torchFormat(bytes: Uint8Array): string | null {
  if (bytes[0] === 0x50 && bytes[1] === 0x4b && bytes[2] === 0x03 && bytes[3] === 0x04) {
    return "zip archive";
  }
  if (bytes[0] === 0x80 && bytes[1] >= 2 && bytes[1] <= 5) return "pickle";
  return null;
}

/** A tensor to write: float32 values or int64 (for num_batches_tracked). */
export interface TensorToWrite {
  /** Shape, outermost first. */
  shape: number[];
  /** Row-major values. */
  data: Float32Array | BigInt64Array;
}

/**
 * Encodes tensors as a safetensors file, in the order given (insertion order of the map), with
 * the header padded by spaces to a multiple of 8 bytes as the reference writer does, so every
 * tensor starts 8-byte aligned.
 */
export function encodeSafetensors(
  tensors: Map<string, TensorToWrite>,
  metadata: Record<string, string> = {},
): Uint8Array {
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length) header.__metadata__ = metadata;
  let offset = 0;
  for (const [name, t] of tensors) {
    if (t.data.length !== numel(t.shape)) {
      throw new Error(`tensor ${name}: ${t.data.length} values for shape [${t.shape}]`);
    }
    const dtype = t.data instanceof BigInt64Array ? "I64" : "F32";
    const size = t.data.byteLength;
    header[name] = { dtype, shape: t.shape, data_offsets: [offset, offset + size] };
    offset += size;
  }
  let json = new TextEncoder().encode(JSON.stringify(header));
  const pad = (8 - (json.length % 8)) % 8;
  if (pad) json = new TextEncoder().encode(JSON.stringify(header) + " ".repeat(pad));
  const out = new Uint8Array(8 + json.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  let at = 8 + json.length;
  for (const t of tensors.values()) {
    out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), at);
    at += t.data.byteLength;
  }
  return out;
}
