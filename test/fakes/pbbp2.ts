/**
 * Hand-written protobuf2 codec for exactly one message type: `pbbp2.Frame`, the binary frame of
 * Feishu's long-connection gateway (feishu-reference.md §3.3). Written by hand so the fake does not
 * share code with the SDK it is meant to check.
 *
 *   message Header { required string key = 1; required string value = 2; }
 *   message Frame {
 *     required uint64 SeqID = 1; required uint64 LogID = 2; required int32 service = 3; required int32 method = 4;
 *     repeated Header headers = 5; optional string payload_encoding = 6; optional string payload_type = 7;
 *     optional bytes payload = 8; optional string LogIDNew = 9;
 *   }
 */

export interface FrameHeader {
  key: string;
  value: string;
}

export interface Frame {
  seqId: bigint;
  logId: bigint;
  service: number;
  /** 0 = control (ping/pong), 1 = data (event/card and their acks). */
  method: number;
  headers: FrameHeader[];
  payloadEncoding?: string;
  payloadType?: string;
  payload?: Uint8Array;
  logIdNew?: string;
}

export const FRAME_METHOD_CONTROL = 0;
export const FRAME_METHOD_DATA = 1;

const WIRE_VARINT = 0;
const WIRE_FIXED64 = 1;
const WIRE_LEN = 2;
const WIRE_FIXED32 = 5;

const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder("utf-8", { fatal: true });

class Writer {
  private readonly chunks: number[] = [];

  varint(value: bigint): void {
    // int32 negatives are encoded as 10-byte two's complement, like protobufjs does.
    let v = value < 0n ? BigInt.asUintN(64, value) : value;
    while (v >= 0x80n) {
      this.chunks.push(Number(v & 0x7fn) | 0x80);
      v >>= 7n;
    }
    this.chunks.push(Number(v));
  }

  tag(field: number, wire: number): void {
    this.varint(BigInt((field << 3) | wire));
  }

  bytes(field: number, data: Uint8Array): void {
    this.tag(field, WIRE_LEN);
    this.varint(BigInt(data.length));
    for (const b of data) this.chunks.push(b);
  }

  string(field: number, value: string): void {
    this.bytes(field, textEncoder.encode(value));
  }

  finish(): Uint8Array {
    return Uint8Array.from(this.chunks);
  }
}

function encodeHeader(header: FrameHeader): Uint8Array {
  const w = new Writer();
  w.string(1, header.key);
  w.string(2, header.value);
  return w.finish();
}

export function encodeFrame(frame: Frame): Uint8Array {
  const w = new Writer();
  // Fields 1-4 are `required`: the SDK's decoder throws when one is missing, so always write them.
  w.tag(1, WIRE_VARINT);
  w.varint(frame.seqId);
  w.tag(2, WIRE_VARINT);
  w.varint(frame.logId);
  w.tag(3, WIRE_VARINT);
  w.varint(BigInt(frame.service));
  w.tag(4, WIRE_VARINT);
  w.varint(BigInt(frame.method));
  for (const header of frame.headers) w.bytes(5, encodeHeader(header));
  if (frame.payloadEncoding !== undefined) w.string(6, frame.payloadEncoding);
  if (frame.payloadType !== undefined) w.string(7, frame.payloadType);
  if (frame.payload !== undefined) w.bytes(8, frame.payload);
  if (frame.logIdNew !== undefined) w.string(9, frame.logIdNew);
  return w.finish();
}

class Reader {
  pos = 0;
  constructor(private readonly buf: Uint8Array) {}

  get done(): boolean {
    return this.pos >= this.buf.length;
  }

  varint(): bigint {
    let result = 0n;
    let shift = 0n;
    for (;;) {
      if (this.pos >= this.buf.length) throw new Error("pbbp2: truncated varint");
      const b = this.buf[this.pos++];
      result |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) return result;
      shift += 7n;
      if (shift > 63n) throw new Error("pbbp2: varint too long");
    }
  }

  bytes(): Uint8Array {
    const len = Number(this.varint());
    if (this.pos + len > this.buf.length) throw new Error("pbbp2: truncated length-delimited field");
    const out = this.buf.subarray(this.pos, this.pos + len);
    this.pos += len;
    return out;
  }

  string(): string {
    return textDecoder.decode(this.bytes());
  }

  skip(wire: number): void {
    if (wire === WIRE_VARINT) this.varint();
    else if (wire === WIRE_FIXED64) this.pos += 8;
    else if (wire === WIRE_LEN) this.bytes();
    else if (wire === WIRE_FIXED32) this.pos += 4;
    else throw new Error(`pbbp2: unsupported wire type ${wire}`);
  }
}

function toInt32(v: bigint): number {
  return Number(BigInt.asIntN(32, v));
}

function decodeHeader(buf: Uint8Array): FrameHeader {
  const r = new Reader(buf);
  let key: string | undefined;
  let value: string | undefined;
  while (!r.done) {
    const tag = Number(r.varint());
    const field = tag >>> 3;
    if (field === 1) key = r.string();
    else if (field === 2) value = r.string();
    else r.skip(tag & 7);
  }
  if (key === undefined || value === undefined) throw new Error("pbbp2: Header misses a required field");
  return { key, value };
}

export function decodeFrame(input: Uint8Array | ArrayBuffer): Frame {
  const r = new Reader(input instanceof Uint8Array ? input : new Uint8Array(input));
  const seen = new Set<number>();
  const frame: Frame = { seqId: 0n, logId: 0n, service: 0, method: 0, headers: [] };
  while (!r.done) {
    const tag = Number(r.varint());
    const field = tag >>> 3;
    seen.add(field);
    switch (field) {
      case 1:
        frame.seqId = r.varint();
        break;
      case 2:
        frame.logId = r.varint();
        break;
      case 3:
        frame.service = toInt32(r.varint());
        break;
      case 4:
        frame.method = toInt32(r.varint());
        break;
      case 5:
        frame.headers.push(decodeHeader(r.bytes()));
        break;
      case 6:
        frame.payloadEncoding = r.string();
        break;
      case 7:
        frame.payloadType = r.string();
        break;
      case 8:
        frame.payload = r.bytes().slice();
        break;
      case 9:
        frame.logIdNew = r.string();
        break;
      default:
        r.skip(tag & 7);
    }
  }
  for (const required of [1, 2, 3, 4]) {
    if (!seen.has(required)) throw new Error(`pbbp2: Frame misses required field ${required}`);
  }
  return frame;
}

export function frameHeader(frame: Frame, key: string): string | undefined {
  return frame.headers.find((h) => h.key === key)?.value;
}
