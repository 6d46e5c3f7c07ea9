import { DynamicModule, Module } from '@nestjs/common';
import { RecordKind } from '@app/avro';
import { READINESS_CHECKS } from '@app/observability';
import { StageRuntime } from './stage-runtime';
import { STAGE_HANDLER, STAGE_OPTIONS, StageOptions } from './stage.types';

/**
 * A consuming stage: `StageModule.forStage({ name, input, output, topics, handler })` gives the app
 * the runtime (consumer, decoding, DLQ, producing, commits, drain) and its readiness checks.
 * Needs ConfigModule, KafkaModule, AvroModule and ObservabilityModule in the app.
 */
@Module({})
export class StageModule {
  static forStage<In extends RecordKind, Out extends RecordKind>(options: StageOptions<In, Out>): DynamicModule {
    return {
      module: StageModule,
      imports: options.imports ?? [],
      providers: [
        ...(options.providers ?? []),
        { provide: STAGE_OPTIONS, useValue: options },
        options.handler,
        { provide: STAGE_HANDLER, useExisting: options.handler },
        StageRuntime,
        {
          provide: READINESS_CHECKS,
          inject: [StageRuntime],
          useFactory: (runtime: StageRuntime<In, Out>) => runtime.readinessChecks(),
        },
      ],
      exports: [StageRuntime, READINESS_CHECKS, options.handler],
    };
  }
}
