import { Module, OnApplicationBootstrap } from '@nestjs/common';
import {
  avroDeserializerProvider,
  AvroModule,
  avroSerializerProvider,
  SchemaRegistration,
  SchemaRegistryAdapter,
} from '@app/avro';
import { ConfigModule, loadGatewayConfig } from '@app/config';
import { KafkaConnection, KafkaModule } from '@app/kafka';
import { HealthController, ObservabilityModule, ReadinessCheck, readinessChecks } from '@app/observability';
import { PREDICTION_DESERIALIZER, RAW_SERIALIZER } from './gateway.constants';
import { PredictController } from './predict/predict.controller';
import { PredictService } from './predict/predict.service';
import { PendingReplies } from './replies/pending-replies';
import { PredictionListener } from './replies/prediction.listener';
import { StatusController } from './status/status.controller';
import { StatusService } from './status/status.service';

@Module({
  imports: [ConfigModule.forApp(loadGatewayConfig), KafkaModule, AvroModule, ObservabilityModule.forService('gateway')],
  controllers: [PredictController, HealthController, StatusController],
  providers: [
    readinessChecks(
      [KafkaConnection, SchemaRegistration, SchemaRegistryAdapter, PredictionListener],
      (
        kafka: KafkaConnection,
        schemas: SchemaRegistration,
        registry: SchemaRegistryAdapter,
        listener: PredictionListener,
      ): ReadinessCheck[] => [
        // A broker answered the listener lately (the producer alone does not notice a dead broker).
        { name: 'kafka', check: () => kafka.isReady && listener.health.brokerReachable },
        // Requests need the registry only for schemas not cached yet: once registered, an outage does not matter.
        { name: 'registry', check: () => schemas.isRegistered || registry.listSubjects().then(() => true) },
        { name: 'schemas', check: () => schemas.isRegistered },
        { name: 'predictions-listener', check: () => listener.isListening },
      ],
    ),
    PredictService,
    StatusService,
    PendingReplies,
    PredictionListener,
    avroSerializerProvider(RAW_SERIALIZER, 'raw'),
    avroDeserializerProvider(PREDICTION_DESERIALIZER, 'prediction'),
  ],
})
export class GatewayModule implements OnApplicationBootstrap {
  constructor(private readonly listener: PredictionListener) {}

  onApplicationBootstrap(): void {
    this.listener.start();
  }
}
