import { DynamicModule, Global, Module } from '@nestjs/common';
import { APP_CONFIG } from './config.constants';
import { CLOCK, systemClock } from './clock';

/**
 * The app's validated config under APP_CONFIG, read once at boot by the app's own loader
 * (loadGatewayConfig, loadPreprocessorConfig, loadInferenceConfig), and the clock.
 */
@Global()
@Module({})
export class ConfigModule {
  static forApp(load: () => object): DynamicModule {
    return {
      module: ConfigModule,
      providers: [
        { provide: APP_CONFIG, useFactory: load },
        { provide: CLOCK, useValue: systemClock },
      ],
      exports: [APP_CONFIG, CLOCK],
    };
  }
}
