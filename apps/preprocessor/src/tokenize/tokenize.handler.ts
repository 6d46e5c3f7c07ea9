import { Inject, Injectable } from '@nestjs/common';
import type { RawText, TokenizedText } from '@app/avro';
import { InvalidTextError, textProblem } from '@app/common';
import { APP_CONFIG, CLOCK, Clock, PreprocessorConfig } from '@app/config';
import type { RecordHandler } from '@app/stage';
import { TextTokenizer } from '@app/tokenizer';
import { MODEL_ID } from '../preprocessor.constants';

/** raw → tokenized with the model's own tokenizer. A text the gateway would refuse is refused here too (DLQ). */
@Injectable()
export class TokenizeHandler implements RecordHandler<'raw', 'tokenized'> {
  readonly mode = 'record';

  constructor(
    @Inject(APP_CONFIG) private readonly config: PreprocessorConfig,
    @Inject(CLOCK) private readonly clock: Clock,
    @Inject(MODEL_ID) private readonly modelId: string,
    private readonly tokenizer: TextTokenizer,
  ) {}

  handle(raw: RawText): TokenizedText {
    const problem = textProblem(raw.text, this.config.limits.maxTextBytes);
    if (problem) throw new InvalidTextError(problem);
    const { inputIds, tokenCount, truncated } = this.tokenizer.encode(raw.text);
    return {
      id: raw.id,
      inputIds,
      tokenCount,
      truncated,
      tokenizer: this.modelId,
      createdAt: raw.createdAt,
      tokenizedAt: this.clock.now(),
      source: raw.source,
      metadata: raw.metadata,
    };
  }
}
