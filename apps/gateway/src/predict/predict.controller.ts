import { Body, Controller, HttpCode, HttpStatus, Inject, Post, Req } from '@nestjs/common';
import type { Prediction } from '@app/avro';
import { APP_CONFIG, GatewayConfig } from '@app/config';
import { traceHeaders, TracedRequest } from '@app/observability';
import { parseMany, parseSingle } from './predict-request';
import { PredictService } from './predict.service';

// `category` is the original design's name for the label; every answer (single or batch) carries it.
const view = (p: Prediction) => ({
  id: p.id,
  category: p.label,
  label: p.label,
  score: p.score,
  scores: p.scores,
  model: p.model,
  modelVersion: p.modelVersion,
  truncated: p.truncated,
  batchSize: p.batchSize,
  metadata: p.metadata,
  timings: { createdAt: p.createdAt, tokenizedAt: p.tokenizedAt, predictedAt: p.predictedAt },
});

/** The request's trace context, carried onto every record it produces. */
const traceOf = (req: TracedRequest) => (req.span ? traceHeaders(req.span) : undefined);

@Controller()
export class PredictController {
  constructor(
    private readonly predictions: PredictService,
    @Inject(APP_CONFIG) private readonly config: GatewayConfig,
  ) {}

  private get metadataLimits() {
    return { maxEntries: this.config.limits.maxMetadataEntries, maxBytes: this.config.limits.maxMetadataBytes };
  }

  /** The original design's call: one text, answered with its category. */
  @Post('predict')
  @HttpCode(HttpStatus.OK)
  async predictOne(@Body() body: unknown, @Req() req: TracedRequest) {
    const input = parseSingle(body, this.config.limits.maxTextBytes, this.metadataLimits);
    const [prediction] = await this.predictions.predict([input], traceOf(req));
    return view(prediction);
  }

  @Post('v1/predict')
  @HttpCode(HttpStatus.OK)
  async predictMany(@Body() body: unknown, @Req() req: TracedRequest) {
    const inputs = parseMany(
      body,
      this.config.limits.maxTextBytes,
      this.config.limits.maxTextsPerRequest,
      this.metadataLimits,
    );
    return { predictions: (await this.predictions.predict(inputs, traceOf(req))).map(view) };
  }

  /** Fire and forget: results appear on the predictions topic, keyed by these ids. */
  @Post('v1/texts')
  @HttpCode(HttpStatus.ACCEPTED)
  async submit(@Body() body: unknown, @Req() req: TracedRequest) {
    const inputs = parseMany(
      body,
      this.config.limits.maxTextBytes,
      this.config.limits.maxTextsPerRequest,
      this.metadataLimits,
    );
    return { ids: await this.predictions.submit(inputs, traceOf(req)) };
  }
}
