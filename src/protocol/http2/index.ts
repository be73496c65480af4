import type { ProtocolDetector } from '../detect';
import { detectHttp2 } from './detect';
import { createHttp2Session } from './session';

export { Http2Session, createHttp2Session } from './session';
export { detectHttp2 } from './detect';
export { Http2FramePrinter } from './sniff';
export { HpackDecoder, DecodeResult } from './hpack-decoder';
export { HpackEncoder } from './hpack-encoder';
export { FrameReader } from './frame-reader';
export type { FrameHead, FrameSink } from './frame-reader';
export { CLIENT_PREFACE, FrameType, Flag, encodeFrame } from './frame';

/** HTTP/2 (and gRPC on it): the entry in src/protocol/detect.ts's PROTOCOLS. */
export const http2Detector: ProtocolDetector = {
  protocol: 'http/2',
  detect: detectHttp2,
  create: createHttp2Session,
};
