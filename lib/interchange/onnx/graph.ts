/**
 * A small ONNX graph builder: nodes in order, float32/int64 initializers with unique names, and
 * the plain objects lib/interchange/onnx/proto.ts serialises. Each `op` call returns its output
 * names, so a network reads as its forward pass.
 * @module
 */
import { AttributeType, DataType, encodeModel } from "./proto.ts";

/** The ONNX opset the graphs are written for (LayerNormalization arrived in 17). */
export const ONNX_OPSET = 17;

/** An attribute value: an int, a float, a list of ints, a string, or a subgraph. */
export type Attr =
  | { i: number }
  | { f: number }
  | { ints: number[] }
  | { s: string }
  | { g: Record<string, unknown> };

/** A graph input or output: a float32 tensor with fixed or named (dynamic) dimensions. */
export interface ValueInfo {
  /** Tensor name. */
  name: string;
  /** Dimensions; a string is a named dynamic dimension (e.g. the batch "N"). Omit: unknown. */
  dims?: (number | string)[];
  /** Element type (default float). */
  elemType?: number;
}

/** Builds one ONNX graph. */
export class OnnxGraph {
  private readonly nodes: Record<string, unknown>[] = [];
  private readonly initializers: Record<string, unknown>[] = [];
  private readonly int64Cache = new Map<string, string>();
  private counter = 0;

  /** `name` is the graph's name; `prefix` keeps names unique across nested graphs. */
  constructor(readonly name: string, private readonly prefix = "") {}

  /** A new unique tensor name. */
  fresh(hint: string): string {
    return `${this.prefix}${hint}_${this.counter++}`;
  }

  /** Adds a float32 initializer (row-major values) and returns its name. */
  floats(name: string, data: Float32Array, dims: number[]): string {
    const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength).slice();
    this.initializers.push({ name, dims, data_type: DataType.FLOAT, raw_data: bytes });
    return name;
  }

  /** An int64 vector constant (shared between uses of the same values). */
  ints(values: number[]): string {
    const key = values.join(",");
    const hit = this.int64Cache.get(key);
    if (hit) return hit;
    const name = this.fresh("i64");
    const data = BigInt64Array.from(values.map((v) => BigInt(v)));
    this.initializers.push({
      name,
      dims: [values.length],
      data_type: DataType.INT64,
      raw_data: new Uint8Array(data.buffer),
    });
    this.int64Cache.set(key, name);
    return name;
  }

  /** A float32 scalar constant. */
  scalar(v: number): string {
    return this.floats(this.fresh("f32"), Float32Array.of(v), []);
  }

  /** Appends a node; returns its `outputs` output names. */
  op(type: string, inputs: string[], attrs: Record<string, Attr> = {}, outputs = 1): string[] {
    const out = Array.from({ length: outputs }, () => this.fresh(type.toLowerCase()));
    this.nodes.push({
      op_type: type,
      name: this.fresh(`${type}_node`),
      input: inputs,
      output: out,
      attribute: Object.entries(attrs).map(([name, a]) => attribute(name, a)),
    });
    return out;
  }

  /** {@link op} with one output, returned as a string. */
  op1(type: string, inputs: string[], attrs: Record<string, Attr> = {}): string {
    return this.op(type, inputs, attrs, 1)[0];
  }

  /** The GraphProto object with these inputs and outputs. */
  proto(inputs: ValueInfo[], outputs: ValueInfo[]): Record<string, unknown> {
    return {
      name: this.name,
      node: this.nodes,
      initializer: this.initializers,
      input: inputs.map(valueInfo),
      output: outputs.map(valueInfo),
    };
  }
}

function attribute(name: string, a: Attr): Record<string, unknown> {
  if ("i" in a) return { name, type: AttributeType.INT, i: a.i };
  if ("f" in a) return { name, type: AttributeType.FLOAT, f: a.f };
  if ("ints" in a) return { name, type: AttributeType.INTS, ints: a.ints };
  if ("s" in a) return { name, type: AttributeType.STRING, s: new TextEncoder().encode(a.s) };
  return { name, type: AttributeType.GRAPH, g: a.g };
}

function valueInfo(v: ValueInfo): Record<string, unknown> {
  const tensor: Record<string, unknown> = { elem_type: v.elemType ?? DataType.FLOAT };
  if (v.dims) {
    tensor.shape = {
      dim: v.dims.map((d) => typeof d === "number" ? { dim_value: d } : { dim_param: d }),
    };
  }
  return { name: v.name, type: { tensor_type: tensor } };
}

/** What a classifier graph takes and gives: NCHW images of one size, one logit per class. */
export interface ClassifierShape {
  /** Channels of the input images (C). */
  in_channels: number;
  /** Their side (H = W). */
  image_size: number;
  /** Logits per image. */
  num_classes: number;
}

/**
 * The serialised model of a classifier graph whose forward pass `g` ends in `logits`: input
 * "images" (N, C, H, W), outputs "logits" and "probs" (their softmax), opset {@link ONNX_OPSET},
 * `metadata` in metadata_props — the interface every starmamba export shares, so one runtime
 * wrapper (lib/interchange/onnx/runtime.ts) runs any of them.
 */
export function encodeClassifier(
  g: OnnxGraph,
  logits: string,
  shape: ClassifierShape,
  metadata: Record<string, string> = {},
): Uint8Array {
  const out = g.op1("Identity", [logits]);
  const probs = g.op1("Softmax", [logits], { axis: { i: -1 } });
  const s = shape.image_size;
  const graph = g.proto(
    [{ name: "images", dims: ["N", shape.in_channels, s, s] }],
    [{ name: out, dims: ["N", shape.num_classes] }, {
      name: probs,
      dims: ["N", shape.num_classes],
    }],
  );
  // Stable output names for users: rename the last two tensors.
  renameOutput(graph, out, "logits");
  renameOutput(graph, probs, "probs");
  return encodeModel({
    ir_version: 8,
    opset_import: [{ domain: "", version: ONNX_OPSET }],
    producer_name: "starmamba",
    graph,
    metadata_props: Object.entries(metadata).map(([key, value]) => ({ key, value })),
  });
}

/** Renames a graph output everywhere it appears. */
function renameOutput(graph: Record<string, unknown>, from: string, to: string): void {
  for (const n of graph.node as { output: string[] }[]) {
    n.output = n.output.map((o) => (o === from ? to : o));
  }
  for (const o of graph.output as { name: string }[]) if (o.name === from) o.name = to;
}
