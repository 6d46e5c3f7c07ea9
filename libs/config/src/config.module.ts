import { Global, Module } from '@nestjs/common';
import { loadConfig } from './app-config';
import { APP_CONFIG } from './config.constants';
import { CLOCK, systemClock } from './clock';

@Global()
@Module({
  providers: [
    { provide: APP_CONFIG, useFactory: () => loadConfig() },
    { provide: CLOCK, useValue: systemClock },
  ],
  exports: [APP_CONFIG, CLOCK],
})
export class ConfigModule {}
