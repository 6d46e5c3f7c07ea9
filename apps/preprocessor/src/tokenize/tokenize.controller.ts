import { Controller } from '@nestjs/common';
import { EventPattern, Payload } from '@nestjs/microservices';
import type { InboundRecord } from '@app/avro';
import { RAW_PATTERN } from '../preprocessor.constants';
import { TokenizeService } from './tokenize.service';

@Controller()
export class TokenizeController {
  constructor(private readonly tokenize: TokenizeService) {}

  // Awaited by the transport: the offset is committed only after this resolves, i.e. after the ack.
  @EventPattern(RAW_PATTERN)
  async onRaw(@Payload() inbound: InboundRecord<'raw'>): Promise<void> {
    await this.tokenize.handle(inbound);
  }
}
