// RED metrics from every exchange (see README.md, Metrics): the stage the agent starts, and what
// config and tests name.
export { MetricsStage, type MetricsSettings, type MetricsStageStats } from './metrics-stage';
export { RedMetrics, RED_METRICS_DEFAULTS, METRIC_NAMES, OVERFLOW_ATTRIBUTE, type RedMetricsOptions, type RedMetricsStats, type FoldReason } from './red-metrics';
export { DURATION_BOUNDARIES, SIZE_BOUNDARIES } from './histogram';
