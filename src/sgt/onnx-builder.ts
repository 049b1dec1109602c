/**
 * Tiny helpers to write ONNX models from code with the protobufjs-generated `onnx-proto` classes.
 * Tensors are always written as `raw_data` (one byte copy) rather than `float_data` arrays, which
 * would create one JS number per element and make a 10M-element table take seconds.
 */
import onnxProto from 'onnx-proto';
import type { onnx as OnnxTypes } from 'onnx-proto';

const { onnx } = onnxProto;

/** ONNX TensorProto element types used here (values of onnx.TensorProto.DataType). */
export const ElemType = {
  FLOAT: 1,
  INT64: 7,
  FLOAT16: 10,
} as const;
export type ElemType = (typeof ElemType)[keyof typeof ElemType];

/** Operator set used by every graph written here; ORT 1.30 supports it fully on CPU and CUDA. */
export const OPSET_VERSION = 17;
/** IR version 8 is what onnx-proto 8 describes; ORT reads IR 3 through 11. */
const IR_VERSION = 8;

export type TensorProto = OnnxTypes.ITensorProto;
export type NodeProto = OnnxTypes.INodeProto;
export type ValueInfoProto = OnnxTypes.IValueInfoProto;

export function rawTensor(
  name: string,
  elemType: ElemType,
  dims: readonly number[],
  data: ArrayBufferView,
): TensorProto {
  return {
    name,
    dataType: elemType,
    dims: [...dims],
    rawData: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
  };
}

/**
 * An initializer whose bytes live in another file of the model's directory (ONNX external data):
 * `location` is relative to the .onnx file, `offset`/`length` in bytes. ORT reads (or maps) it at
 * session creation; the .onnx file itself stays a few kilobytes whatever the weights weigh.
 */
export function externalTensor(
  name: string,
  elemType: ElemType,
  dims: readonly number[],
  location: string,
  offset: number,
  length: number,
): TensorProto {
  return {
    name,
    dataType: elemType,
    dims: [...dims],
    dataLocation: onnx.TensorProto.DataLocation.EXTERNAL,
    externalData: [
      { key: 'location', value: location },
      { key: 'offset', value: String(offset) },
      { key: 'length', value: String(length) },
    ],
  };
}

export function floatTensor(name: string, dims: readonly number[], data: Float32Array): TensorProto {
  return rawTensor(name, ElemType.FLOAT, dims, data);
}

export function floatScalar(name: string, value: number): TensorProto {
  return floatTensor(name, [], Float32Array.of(value));
}

export function int64Tensor(name: string, dims: readonly number[], values: readonly number[]): TensorProto {
  return rawTensor(
    name,
    ElemType.INT64,
    dims,
    BigInt64Array.from(values, (v) => BigInt(v)),
  );
}

/** A graph input/output declaration; string dims are symbolic (`B`, `T`). */
export function valueInfo(name: string, elemType: ElemType, dims: readonly (number | string)[]): ValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType,
        shape: { dim: dims.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d })) },
      },
    },
  };
}

export type AttributeValue = number | readonly number[];

/**
 * A node. Attribute values: integers become INT, arrays INTS (every attribute used here is an
 * integer; FLOAT attributes are not needed, scalars go in as initializers).
 */
export function node(
  opType: string,
  inputs: readonly string[],
  outputs: readonly string[],
  attributes: Record<string, AttributeValue> = {},
): NodeProto {
  const attribute = Object.entries(attributes).map(([name, value]) =>
    typeof value === 'number'
      ? { name, type: onnx.AttributeProto.AttributeType.INT, i: value }
      : { name, type: onnx.AttributeProto.AttributeType.INTS, ints: [...value] },
  );
  return { opType, input: [...inputs], output: [...outputs], name: `${opType}_${outputs[0] ?? ''}`, attribute };
}

export interface GraphSpec {
  readonly name: string;
  readonly inputs: readonly ValueInfoProto[];
  readonly outputs: readonly ValueInfoProto[];
  readonly initializers: readonly TensorProto[];
  readonly nodes: readonly NodeProto[];
  readonly docString?: string;
}

/** Serialises a single-graph model with the default operator domain. */
export function encodeModel(graph: GraphSpec, producerName = 'sgt-proxy'): Uint8Array {
  const model = onnx.ModelProto.create({
    irVersion: IR_VERSION,
    producerName,
    opsetImport: [{ domain: '', version: OPSET_VERSION }],
    graph: {
      name: graph.name,
      docString: graph.docString ?? '',
      input: [...graph.inputs],
      output: [...graph.outputs],
      initializer: [...graph.initializers],
      node: [...graph.nodes],
    },
  });
  return onnx.ModelProto.encode(model).finish();
}
