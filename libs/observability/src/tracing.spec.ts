import { StageTracer, traceHeaders, traceIdFromHeaders } from './tracing';

describe('tracing through Kafka headers', () => {
  const tracer = new StageTracer('test');
  const where = { topic: 't', partition: 0, offset: '1' };

  it("continues the producer's trace: same trace id, a new span id, the parent's sampled flag", () => {
    const parent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    const span = tracer.startRecord({ traceparent: Buffer.from(parent) }, where);
    const out = traceHeaders(span).traceparent;
    expect(out).toMatch(/^00-0af7651916cd43dd8448eb211c80319c-[0-9a-f]{16}-01$/);
    expect(out).not.toContain('b7ad6b7169203331');
    expect(traceIdFromHeaders({ traceparent: out })).toBe('0af7651916cd43dd8448eb211c80319c');
  });

  it('starts a new trace when the headers carry none, or a malformed one', () => {
    for (const headers of [{}, { traceparent: 'garbage' }, undefined]) {
      const a = traceIdFromHeaders(traceHeaders(tracer.startRecord(headers, where)));
      const b = traceIdFromHeaders(traceHeaders(tracer.startRecord(headers, where)));
      expect(a).toMatch(/^[0-9a-f]{32}$/);
      expect(a).not.toBe('0'.repeat(32));
      expect(b).not.toBe(a);
    }
  });

  it("links a batch's span to every record's span", () => {
    const records = [tracer.startRecord({}, where), tracer.startRecord({}, where)];
    const batch = tracer.startBatch(records) as unknown as { links: { context: { spanId: string } }[] };
    expect(batch.links.map((l) => l.context.spanId)).toEqual(records.map((r) => r.spanContext().spanId));
  });

  it('reads no trace id from a header that is not a traceparent', () => {
    expect(traceIdFromHeaders({ traceparent: '00-xyz-abc-01' })).toBeUndefined();
    expect(traceIdFromHeaders({})).toBeUndefined();
  });
});
