import { Inject, Injectable } from '@nestjs/common';
import { APP_CONFIG, GatewayConfig } from '@app/config';
import { MetricsService, parsePromText, PromSample } from '@app/observability';

export type ServiceName = 'gateway' | 'preprocessor' | 'inference';

export interface ServiceStatus {
  /** Answered at all (its HTTP server is up). */
  up: boolean;
  ready: boolean;
  checks: Record<string, string>;
  url: string;
}

export interface PipelineStatus {
  time: number;
  services: Record<ServiceName, ServiceStatus>;
  kafka: 'up' | 'down';
  registry: 'up' | 'down';
  /** The pipeline's own metrics of every service (the default process/runtime ones left out); null when unreadable. */
  metrics: Record<ServiceName, PromSample[] | null>;
}

// A loaded stage may answer slowly; unreadable metrics come back as null, never as zeros.
const PROBE_TIMEOUT_MS = 3_000;
const PIPELINE_METRIC =
  /^(stage_|pipeline_|batch_|model_|kafka_consumer_lag|http_request_duration_seconds_(count|sum))/;

/**
 * What the page at / shows: each service's readiness and metrics, read from the stages' own
 * /health/ready and /metrics (PREPROCESSOR_URL, INFERENCE_URL) and from this gateway.
 */
@Injectable()
export class StatusService {
  constructor(
    @Inject(APP_CONFIG) private readonly config: GatewayConfig,
    private readonly metrics: MetricsService,
  ) {}

  async status(gatewayChecks: () => Promise<Record<string, string>>): Promise<PipelineStatus> {
    const { preprocessorUrl, inferenceUrl } = this.config.status;
    const [gwChecks, gwMetrics, pre, inf] = await Promise.all([
      gatewayChecks(),
      this.metrics.render(),
      this.probe(preprocessorUrl),
      this.probe(inferenceUrl),
    ]);
    const gateway: ServiceStatus = {
      up: true,
      ready: Object.values(gwChecks).every((s) => s === 'up'),
      checks: gwChecks,
      url: `http://localhost:${this.config.ports.gateway}`,
    };
    const services = { gateway, preprocessor: pre.status, inference: inf.status };
    // Kafka is up when any service reached a broker lately; the registry as the gateway sees it.
    const kafka = Object.values(services).some((s) => s.checks.kafka === 'up') ? 'up' : 'down';
    return {
      time: Date.now(),
      services,
      kafka,
      registry: gwChecks.registry === 'up' ? 'up' : 'down',
      metrics: { gateway: pipelineOnly(gwMetrics), preprocessor: pre.metrics, inference: inf.metrics },
    };
  }

  private async probe(url: string): Promise<{ status: ServiceStatus; metrics: PromSample[] | null }> {
    const get = (path: string) => fetch(`${url}${path}`, { signal: AbortSignal.timeout(PROBE_TIMEOUT_MS) });
    const [health, metrics] = await Promise.all([
      get('/health/ready')
        .then(async (res) => ({ ok: res.ok, body: (await res.json()) as { checks?: Record<string, string> } }))
        .catch(() => undefined),
      get('/metrics')
        .then((res) => (res.ok ? res.text() : undefined))
        .catch(() => undefined),
    ]);
    return {
      status: { up: health !== undefined, ready: health?.ok ?? false, checks: health?.body.checks ?? {}, url },
      metrics: metrics === undefined ? null : pipelineOnly(metrics),
    };
  }
}

function pipelineOnly(text: string): PromSample[] {
  return parsePromText(text).filter((s) => PIPELINE_METRIC.test(s.name));
}
