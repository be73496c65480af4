// RED metrics on a Prometheus scrape endpoint (--prometheus-port), with
// @opentelemetry/exporter-prometheus: a MetricReader serving the text format on
// http://HOST:PORT/metrics, fed by a MetricProducer over RedMetrics.
//
// A scrape has one target and one resource (the agent's, as target_info): the traced processes
// are told apart by a `service_name` label, and the series of several processes of one service
// with the same attributes are summed (Prometheus refuses two series with the same labels).
// When a process is forgotten its part leaves the sums: Prometheus reads that as a counter reset.
import type { HrTime } from '@opentelemetry/api';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { defaultResource, resourceFromAttributes, type Resource } from '@opentelemetry/resources';
import { MeterProvider, type CollectionResult, type MetricProducer } from '@opentelemetry/sdk-metrics';
import { ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION } from '@opentelemetry/semantic-conventions';
import * as os from 'node:os';
import { ATTR_HOST_NAME } from '../trace/semconv';
import { VERSION } from '../trace/version';
import type { Logger } from '../util/log';
import { allSeries, metricData, METRICS_SCOPE, Series, type RedMetrics } from './red-metrics';

export interface PrometheusOptions {
  port: number;
  /** Interface to listen on; default all. */
  host?: string;
  log: Logger;
}

/** Series of every process, summed per (service.name, attributes). */
export function mergedByService(red: RedMetrics): Series[] {
  const merged = new Map<string, Series>();
  for (const proc of red.processes()) {
    const service = proc.info.serviceName;
    for (const s of allSeries(proc)) {
      const key = `${service}\u0000${s.family}\u0000${s.key}`;
      let m = merged.get(key);
      if (m === undefined) {
        m = new Series(s.family, s.key, { ...s.attributes, [ATTR_SERVICE_NAME]: service }, s.startTime, s.label, s.status, s.isError);
        merged.set(key, m);
      }
      m.duration.add(s.duration);
      if (s.requestSize !== undefined) m.requestSize!.add(s.requestSize);
      if (s.responseSize !== undefined) m.responseSize!.add(s.responseSize);
    }
  }
  return [...merged.values()];
}

class RedProducer implements MetricProducer {
  constructor(private readonly red: RedMetrics, private readonly resource: Resource) {}

  collect(): Promise<CollectionResult> {
    const ms = Date.now();
    const end: HrTime = [Math.floor(ms / 1000), (ms % 1000) * 1e6];
    const metrics = metricData(mergedByService(this.red), end);
    return Promise.resolve({ resourceMetrics: { resource: this.resource, scopeMetrics: [{ scope: METRICS_SCOPE, metrics }] }, errors: [] });
  }
}

export class PrometheusEndpoint {
  private readonly provider: MeterProvider;
  private readonly exporter: PrometheusExporter;
  private shutdownPromise: Promise<void> | undefined;

  /** Starts listening; a port that cannot be bound is logged (the agent goes on without it). */
  constructor(red: RedMetrics, private readonly opts: PrometheusOptions) {
    const resource = defaultResource().merge(resourceFromAttributes({
      [ATTR_SERVICE_NAME]: 'tlsotel',
      [ATTR_SERVICE_VERSION]: VERSION,
      [ATTR_HOST_NAME]: os.hostname(),
    }));
    this.exporter = new PrometheusExporter({
      port: opts.port,
      ...(opts.host !== undefined ? { host: opts.host } : {}),
      metricProducers: [new RedProducer(red, resource)],
    }, (error) => {
      if (error) opts.log.warn(`metrics: cannot serve Prometheus on port ${opts.port}: ${error.message}`);
      else opts.log.info(`metrics: Prometheus scrape endpoint on http://${opts.host ?? '0.0.0.0'}:${opts.port}/metrics`);
    });
    this.provider = new MeterProvider({ resource, readers: [this.exporter] });
  }

  /** Stops serving. Never rejects. */
  shutdown(): Promise<void> {
    this.shutdownPromise ??= this.provider.shutdown({ timeoutMillis: 1000 }).catch((error: unknown) => {
      this.opts.log.debug(`metrics: Prometheus endpoint shutdown: ${(error as Error).message}`);
    });
    return this.shutdownPromise;
  }
}
