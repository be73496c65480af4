// The parent's side of the load bench's OTLP receiver (receiver.ts, forked so that its CPU is its
// own), for bench/load/bench.ts and bench/grpcio.ts; and the median both benches report.
import { fork, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import type { ReceiverMode } from '../grpc-receivers';

export interface Receiver {
  child: ChildProcess;
  port: number;
  count(windows: Array<{ fromMs: number; toMs: number }>, pids: number[]): Promise<Array<Record<number, { SERVER: number; CLIENT: number; OTHER: number }>>>;
  reset(): Promise<void>;
}

export async function startReceiver(mode: ReceiverMode = 'h2'): Promise<Receiver> {
  const child = fork(path.join(__dirname, 'receiver.js'), [mode], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const next = (type: string): Promise<Record<string, unknown>> => new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`receiver: no ${type} answer`)), 30_000);
    const on = (m: Record<string, unknown>): void => {
      if (m.type !== type) return;
      clearTimeout(t);
      child.off('message', on);
      resolve(m);
    };
    child.on('message', on);
  });
  const ready = await next('ready');
  return {
    child,
    port: Number(ready.port),
    async count(windows, pids) {
      const answer = next('count');
      child.send({ type: 'count', windows, pids });
      return (await answer).counts as Array<Record<number, { SERVER: number; CLIENT: number; OTHER: number }>>;
    },
    async reset() {
      const answer = next('reset');
      child.send({ type: 'reset' });
      await answer;
    },
  };
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  if (n === 0) return NaN;
  return n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}
