/**
 * The part of ONNX's protobuf schema (onnx/onnx.proto, IR version 8) that a feed-forward graph
 * needs, as a protobufjs descriptor: models, graphs, nodes, attributes (including subgraphs for
 * Scan), tensors and value infos. Field numbers are those of onnx.proto.
 * @module
 */
import protobuf from "protobufjs";

/** ONNX TensorProto.DataType values used here. */
export const DataType = { FLOAT: 1, INT32: 6, INT64: 7 } as const;

/** ONNX AttributeProto.AttributeType values used here. */
export const AttributeType = { FLOAT: 1, INT: 2, STRING: 3, TENSOR: 4, GRAPH: 5, INTS: 7 } as const;

const f = (
  type: string,
  id: number,
  rule?: "repeated",
) => (rule ? { type, id, rule } : { type, id });

const SCHEMA = {
  nested: {
    onnx: {
      nested: {
        ModelProto: {
          fields: {
            ir_version: f("int64", 1),
            opset_import: f("OperatorSetIdProto", 8, "repeated"),
            producer_name: f("string", 2),
            producer_version: f("string", 3),
            domain: f("string", 4),
            model_version: f("int64", 5),
            doc_string: f("string", 6),
            graph: f("GraphProto", 7),
            metadata_props: f("StringStringEntryProto", 14, "repeated"),
          },
        },
        OperatorSetIdProto: { fields: { domain: f("string", 1), version: f("int64", 2) } },
        StringStringEntryProto: { fields: { key: f("string", 1), value: f("string", 2) } },
        GraphProto: {
          fields: {
            node: f("NodeProto", 1, "repeated"),
            name: f("string", 2),
            initializer: f("TensorProto", 5, "repeated"),
            doc_string: f("string", 10),
            input: f("ValueInfoProto", 11, "repeated"),
            output: f("ValueInfoProto", 12, "repeated"),
          },
        },
        NodeProto: {
          fields: {
            input: f("string", 1, "repeated"),
            output: f("string", 2, "repeated"),
            name: f("string", 3),
            op_type: f("string", 4),
            attribute: f("AttributeProto", 5, "repeated"),
            domain: f("string", 7),
          },
        },
        AttributeProto: {
          fields: {
            name: f("string", 1),
            type: f("int32", 20),
            f: f("float", 2),
            i: f("int64", 3),
            s: f("bytes", 4),
            t: f("TensorProto", 5),
            g: f("GraphProto", 6),
            floats: f("float", 7, "repeated"),
            ints: f("int64", 8, "repeated"),
          },
        },
        TensorProto: {
          fields: {
            dims: f("int64", 1, "repeated"),
            data_type: f("int32", 2),
            name: f("string", 8),
            raw_data: f("bytes", 9),
          },
        },
        ValueInfoProto: { fields: { name: f("string", 1), type: f("TypeProto", 2) } },
        TypeProto: { fields: { tensor_type: f("TypeProtoTensor", 1) } },
        TypeProtoTensor: { fields: { elem_type: f("int32", 1), shape: f("TensorShapeProto", 2) } },
        TensorShapeProto: { fields: { dim: f("Dimension", 1, "repeated") } },
        Dimension: { fields: { dim_value: f("int64", 1), dim_param: f("string", 2) } },
      },
    },
  },
};

const root = protobuf.Root.fromJSON(SCHEMA);

/** The ModelProto message type (encode/decode/verify). */
export const ModelProto: protobuf.Type = root.lookupType("onnx.ModelProto");

/** Serialises a ModelProto given as a plain object with onnx.proto's field names. */
export function encodeModel(model: Record<string, unknown>): Uint8Array {
  const err = ModelProto.verify(model);
  if (err) throw new Error(`invalid ONNX model: ${err}`);
  return ModelProto.encode(ModelProto.fromObject(model)).finish();
}

/** Parses a serialised ModelProto into a plain object (int64 as numbers). */
export function decodeModel(bytes: Uint8Array): Record<string, unknown> {
  return ModelProto.toObject(ModelProto.decode(bytes), { longs: Number, bytes: Uint8Array });
}
