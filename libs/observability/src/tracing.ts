import {
  Context,
  Link,
  propagation,
  ROOT_CONTEXT,
  Span,
  SpanKind,
  SpanStatusCode,
  TextMapGetter,
  trace,
  Tracer,
} from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, BatchSpanProcessor, SpanProcessor } from '@opentelemetry/sdk-trace-base';

/** Kafka headers (or HTTP headers): values may be Buffers, strings or lists of them. */
export type HeaderCarrier = Record<string, Buffer | string | (Buffer | string)[] | undefined>;

export const TRACEPARENT = 'traceparent';
export const TRACESTATE = 'tracestate';

const headerGetter: TextMapGetter<HeaderCarrier> = {
  keys: (carrier) => Object.keys(carrier),
  get: (carrier, key) => {
    const value = carrier[key];
    const first = Array.isArray(value) ? value[0] : value;
    return first === undefined ? undefined : first.toString();
  },
};

let provider: BasicTracerProvider | undefined;
/** Whether spans leave the process: without an exporter their attributes are never read, so none are set. */
let exporting = false;

/**
 * Registers the process's tracer provider and the W3C trace-context propagator. The provider always
 * creates real span contexts (so trace ids travel through the Kafka headers); spans are exported only
 * when `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set.
 */
export function initTracing(serviceName: string, env: NodeJS.ProcessEnv = process.env): void {
  if (provider) return;
  const spanProcessors: SpanProcessor[] = [];
  if (env.OTEL_EXPORTER_OTLP_ENDPOINT || env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) {
    spanProcessors.push(new BatchSpanProcessor(new OTLPTraceExporter()));
  }
  exporting = spanProcessors.length > 0;
  provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ 'service.name': env.OTEL_SERVICE_NAME ?? serviceName }),
    spanProcessors,
  });
  trace.setGlobalTracerProvider(provider);
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
}

/** Flushes spans not exported yet (SIGTERM). */
export async function shutdownTracing(): Promise<void> {
  await provider?.shutdown().catch(() => undefined);
}

/** The trace context a producer sent in these headers (ROOT_CONTEXT when none or malformed). */
export function extractContext(headers: HeaderCarrier | undefined): Context {
  return headers ? propagation.extract(ROOT_CONTEXT, headers, headerGetter) : ROOT_CONTEXT;
}

/** `traceparent` (and `tracestate`) headers that carry this span onward. */
export function traceHeaders(span: Span): Record<string, string> {
  const headers: Record<string, string> = {};
  propagation.inject(trace.setSpan(ROOT_CONTEXT, span), headers);
  return headers;
}

export const traceIdOf = (span: Span): string => span.spanContext().traceId;

/** The spans of one stage: one per record (a child of its producer's span), one per batch linking them. */
export class StageTracer {
  private readonly tracer: Tracer;

  constructor(private readonly stage: string) {
    // Without a registered provider the API's no-op tracer would drop every trace id.
    if (!provider) initTracing(stage);
    this.tracer = trace.getTracer('kafka-text-classifier');
  }

  /** A record's span in this stage, continuing the trace in its headers or starting one. */
  startRecord(
    headers: HeaderCarrier | undefined,
    attributes: { topic: string; partition: number; offset: string },
  ): Span {
    return this.tracer.startSpan(
      `${this.stage} process`,
      {
        kind: SpanKind.CONSUMER,
        // Per record, the attributes cost more than the span itself (checked one by one by the SDK).
        attributes: exporting
          ? {
              'messaging.system': 'kafka',
              'messaging.destination.name': attributes.topic,
              'messaging.destination.partition.id': String(attributes.partition),
              'messaging.kafka.offset': attributes.offset,
            }
          : undefined,
      },
      extractContext(headers),
    );
  }

  /** A batch's span: a trace of its own, linked to the span of every record in it. */
  startBatch(records: Span[]): Span {
    const links: Link[] = records.map((span) => ({ context: span.spanContext() }));
    return this.tracer.startSpan(
      `${this.stage} batch`,
      { kind: SpanKind.INTERNAL, links, attributes: { 'batch.size': records.length } },
      ROOT_CONTEXT,
    );
  }

  /** An HTTP request's span (gateway), continuing a client's traceparent if it sent one. */
  startRequest(name: string, headers: HeaderCarrier): Span {
    return this.tracer.startSpan(name, { kind: SpanKind.SERVER }, extractContext(headers));
  }
}

export function endSpan(span: Span, error?: unknown): void {
  if (error !== undefined) {
    const message = error instanceof Error ? error.message : JSON.stringify(error);
    span.recordException(error instanceof Error ? error : message);
    span.setStatus({ code: SpanStatusCode.ERROR, message });
  }
  span.end();
}

const TRACEPARENT_RE = /^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$/;

/** The trace id in a `traceparent` header, for log lines (undefined when none or malformed). */
export function traceIdFromHeaders(headers: HeaderCarrier | undefined): string | undefined {
  const value = headers?.[TRACEPARENT];
  const first = Array.isArray(value) ? value[0] : value;
  return first === undefined ? undefined : TRACEPARENT_RE.exec(first.toString().trim())?.[1];
}
