// Reads llhttp's Markdown test corpus (shared/conformance/llhttp, format in its README) into
// cases: input bytes exactly as llhttp's runner (test/md-test.ts) builds them, plus the
// message-level facts its callback log states.

import fs from 'node:fs';
import path from 'node:path';
import vm from 'node:vm';

export const CORPUS_SUBDIR = path.join('shared', 'conformance', 'llhttp');

/**
 * The corpus directory: $TLSOTEL_LLHTTP_CORPUS, else the first `shared/conformance/llhttp`
 * found walking up from `from` (dist/test/protocol inside a checkout whose sibling is shared/).
 */
export function findCorpusDir(from: string): string | undefined {
  const override = process.env.TLSOTEL_LLHTTP_CORPUS;
  if (override !== undefined && override !== '') return override;
  for (let dir = path.resolve(from); ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, CORPUS_SUBDIR);
    if (fs.existsSync(path.join(candidate, 'README.md'))) return candidate;
    if (path.dirname(dir) === dir) return undefined;
  }
}

export interface CorpusCase {
  /** Path inside the corpus, e.g. "request/sample.md". */
  file: string;
  /** 1-based line of the case's heading. */
  line: number;
  name: string;
  meta: { type?: string; noScan?: boolean; pause?: string; skipBody?: boolean; [key: string]: unknown };
  input: Buffer;
  log: string[];
}

/** Every case with an http input in the corpus's .md files, in file order. */
export function loadCorpus(dir: string): CorpusCase[] {
  const files = ['request', 'response']
    .flatMap((sub) => fs.readdirSync(path.join(dir, sub)).filter((f) => f.endsWith('.md')).map((f) => `${sub}/${f}`))
    .sort();
  return files.flatMap((file) => parseMarkdown(file, fs.readFileSync(path.join(dir, file), 'utf8')));
}

interface Section {
  name: string;
  line: number;
  meta?: CorpusCase['meta'];
  blocks: Map<string, string[][]>;
}

function parseMarkdown(file: string, text: string): CorpusCase[] {
  const sections: Section[] = [];
  let section: Section | undefined;
  let fence: { kind: string; lines: string[] } | undefined;
  const lines = text.split('\n');
  lines.forEach((raw, index) => {
    const line = raw.replace(/\r$/, '');
    if (fence !== undefined) {
      if (line.startsWith('```')) {
        if (section === undefined) throw new Error(`${file}:${index + 1}: code block before any heading`);
        const list = section.blocks.get(fence.kind) ?? [];
        list.push(fence.lines);
        section.blocks.set(fence.kind, list);
        fence = undefined;
      } else {
        fence.lines.push(line);
      }
      return;
    }
    const fenceOpen = /^```(\w*)\s*$/.exec(line);
    if (fenceOpen !== null) {
      fence = { kind: fenceOpen[1], lines: [] };
      return;
    }
    const heading = /^#{1,6}\s+(.*)$/.exec(line);
    if (heading !== null) {
      section = { name: heading[1].trim(), line: index + 1, blocks: new Map() };
      sections.push(section);
      return;
    }
    const meta = /^<!--\s*meta=(.*?)\s*-->\s*$/.exec(line);
    if (meta !== null && section !== undefined) section.meta = JSON.parse(meta[1]) as CorpusCase['meta'];
  });
  if (fence !== undefined) throw new Error(`${file}: unterminated code block`);

  return sections
    .filter((s) => s.blocks.has('http'))
    .map((s) => {
      const http = s.blocks.get('http')!;
      const log = s.blocks.get('log');
      if (http.length !== 1 || log === undefined || log.length !== 1 || s.meta === undefined) {
        throw new Error(`${file}:${s.line} "${s.name}": expected one meta comment, one http and one log block`);
      }
      return {
        file,
        line: s.line,
        name: s.name,
        meta: s.meta,
        input: inputBytes(http[0]),
        log: log[0].filter((l) => l !== ''),
      };
    });
}

/** The http block turned into bytes in md-test.ts's order (see the corpus README). */
export function inputBytes(blockLines: string[]): Buffer {
  // A fenced block's text is its lines each ending in "\n"; the runner drops the final one.
  let input = blockLines.join('\n');
  input = input.replace(/\\(\r\n|\r|\n)/g, '');
  input = input.replace(/\r\n|\r|\n/g, '\r\n');
  input = input.replace(/\\r/g, '\r');
  input = input.replace(/\\n/g, '\n');
  input = input.replace(/\\t/g, '\t');
  input = input.replace(/\\f/g, '\f');
  input = input.replace(/\\x([0-9a-fA-F]+)/g, (_all, hex: string) => String.fromCharCode(parseInt(hex, 16)));
  input = input.replace(/\\([0-7]{1,3})/g, (_all, digits: string) => String.fromCharCode(parseInt(digits, 8)));
  input = input.replace(/\$\{(.+?)\}/g, (_all, code: string) => String(vm.runInNewContext(code, {}, { timeout: 1000 })));
  // The runner hands the string to the parser as UTF-8 (the log's offsets count \xff as 2 bytes).
  return Buffer.from(input, 'utf8');
}

/** One message as llhttp's log describes it. Strings are the input bytes read as latin1. */
export interface LoggedMessage {
  method?: string;
  url?: string;
  statusCode?: number;
  reason: string;
  version?: string;
  headers: Array<[string, string]>;
  trailers: Array<[string, string]>;
  bodySize: number;
  headersComplete: boolean;
  complete: boolean;
  upgrade: boolean;
}

export interface LoggedOutcome {
  messages: LoggedMessage[];
  /** The error that stopped llhttp ("Pause on CONNECT/Upgrade" is not one: it is an upgrade). */
  error?: { offset: number; code: number; reason: string };
  /** llhttp_finish() state for *-finish cases: 0 safe, 1 safe with a message completed, 2 unsafe. */
  finish?: number;
}

/** llhttp's HPE_PAUSED_UPGRADE: the message before it asked for CONNECT/Upgrade. */
const PAUSED_UPGRADE = 22;

const SPAN = /^off=(\d+) len=(\d+) span\[(\w+)\]=/;
const HEADERS_COMPLETE = /^off=\d+ headers complete (?:method|status)=(\d+) v=(\d+)\/(\d+) flags=[0-9a-f]+ content_length=\d+$/;
const ERROR = /^off=(\d+) error code=(\d+) reason="(.*)"$/;
const FINISH = /^off=NULL finish=(\d+)$/;
const OTHER = /^off=\d+ (message begin|message complete|method complete|url complete|protocol complete|version complete|status complete|header_field complete|header_value complete|chunk header len=\d+|chunk complete|chunk_extension_name complete|chunk_extension_value complete|reset|skip body|pause)$/;

/** Reads the log of a case into messages; header values are trimmed of OWS, as ours are. */
export function readLog(c: CorpusCase): LoggedOutcome {
  const isResponse = (c.meta.type ?? '').startsWith('response');
  const out: LoggedOutcome = { messages: [] };
  let msg: LoggedMessage | undefined;
  let fieldOpen = false;
  const current = (line: string): LoggedMessage => {
    if (msg === undefined) throw new Error(`${c.file}:${c.line}: "${line}" outside a message`);
    return msg;
  };
  for (const line of c.log) {
    const span = SPAN.exec(line);
    if (span !== null) {
      const off = Number(span[1]), len = Number(span[2]);
      if (off + len > c.input.length) throw new Error(`${c.file}:${c.line}: span past the input in "${line}"`);
      const text = c.input.toString('latin1', off, off + len);
      const m = current(line);
      const fields = m.headersComplete ? m.trailers : m.headers;
      switch (span[3]) {
        case 'method': m.method = (m.method ?? '') + text; break;
        case 'url': m.url = (m.url ?? '') + text; break;
        case 'status': m.reason += text; break;
        case 'body': m.bodySize += len; break;
        case 'header_field':
          if (fieldOpen) fields[fields.length - 1][0] += text;
          else fields.push([text, '']);
          fieldOpen = true;
          break;
        case 'header_value':
          fields[fields.length - 1][1] += text;
          break;
        default:
          break; // protocol, version (taken from "headers complete"), chunk extensions
      }
      continue;
    }
    if (line.endsWith(' message begin')) {
      msg = { reason: '', headers: [], trailers: [], bodySize: 0, headersComplete: false, complete: false, upgrade: false };
      out.messages.push(msg);
      fieldOpen = false;
      continue;
    }
    if (line.endsWith(' header_field complete')) {
      fieldOpen = false;
      continue;
    }
    const done = HEADERS_COMPLETE.exec(line);
    if (done !== null) {
      const m = current(line);
      m.headersComplete = true;
      m.version = `${done[2]}.${done[3]}`;
      if (isResponse) m.statusCode = Number(done[1]);
      fieldOpen = false;
      continue;
    }
    if (line.endsWith(' message complete')) {
      current(line).complete = true;
      continue;
    }
    const error = ERROR.exec(line);
    if (error !== null) {
      const code = Number(error[2]);
      const last = out.messages[out.messages.length - 1];
      if (code === PAUSED_UPGRADE && last?.complete === true) last.upgrade = true;
      else out.error = { offset: Number(error[1]), code, reason: error[3] };
      continue;
    }
    const finish = FINISH.exec(line);
    if (finish !== null) {
      out.finish = Number(finish[1]);
      continue;
    }
    if (!OTHER.test(line)) throw new Error(`${c.file}:${c.line}: unknown log line "${line}"`);
  }
  for (const m of out.messages) {
    for (const field of [...m.headers, ...m.trailers]) field[1] = field[1].replace(/^[ \t]+|[ \t]+$/g, '');
  }
  return out;
}
