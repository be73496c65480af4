// The embedded default for metrics, like the span lines: with no collector configured, `run`
// prints every interval a compact table of what changed since the last one, one row per
// (process, side, route, status): exchanges, errors, mean duration.
import { Family, allSeries, type RedMetrics } from './red-metrics';

const SIDE: Record<Family, string> = {
  [Family.HttpServer]: 'server',
  [Family.HttpClient]: 'client',
  [Family.RpcServer]: 'server',
  [Family.RpcClient]: 'client',
};

function pad(text: string, width: number): string {
  return text.length >= width ? text : text + ' '.repeat(width - text.length);
}

function padLeft(text: string, width: number): string {
  return text.length >= width ? text : ' '.repeat(width - text.length) + text;
}

/** The table's text for what changed since the last call ('' when nothing did). */
export function routeTable(red: RedMetrics, intervalMs: number): string {
  const rows: string[][] = [];
  for (const proc of red.processes()) {
    for (const s of allSeries(proc)) {
      const count = s.duration.count - s.shownCount;
      if (count === 0) continue;
      const sum = s.duration.sum - s.shownSum;
      const errors = s.errors - s.shownErrors;
      s.shownCount = s.duration.count;
      s.shownSum = s.duration.sum;
      s.shownErrors = s.errors;
      rows.push([
        `${proc.info.serviceName}[${proc.info.pid}]`,
        SIDE[s.family],
        s.label,
        s.status || '-',
        String(count),
        String(errors),
        ((sum / count) * 1000).toFixed(2),
      ]);
    }
  }
  if (rows.length === 0) return '';
  rows.sort((a, b) => (a[0] + a[1] + a[2] + a[3] < b[0] + b[1] + b[2] + b[3] ? -1 : 1));
  const head = ['PROCESS', 'SIDE', 'ROUTE', 'STATUS', 'COUNT', 'ERRORS', 'MEAN_MS'];
  const widths = head.map((h, i) => Math.min(60, Math.max(h.length, ...rows.map((r) => r[i].length))));
  const line = (r: string[]): string => r.map((c, i) => (i >= 4 ? padLeft(c, widths[i]) : pad(c, widths[i]))).join('  ').trimEnd();
  return `metrics, last ${Math.round(intervalMs / 1000)} s:\n${[head, ...rows].map(line).join('\n')}\n`;
}
