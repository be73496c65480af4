export { Http1Parser } from './parser';
export type { Http1ParserOptions } from './parser';
export type { HttpMessage, ParseError, ParseErrorReason, Http1ParserCallbacks } from './types';
