import { Controller, Get, Header, Inject, NotFoundException, Param, Res } from '@nestjs/common';
import { HealthCheckService, HealthIndicatorService } from '@nestjs/terminus';
import { projectRoot } from '@app/config';
import { READINESS_CHECKS, ReadinessCheck, readinessStates } from '@app/observability';
import type { Response } from 'express';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PipelineStatus, StatusService } from './status.service';

const PAGE_DIR = join(projectRoot(), 'apps', 'gateway', 'public');
const ASSETS: Record<string, string> = {
  'app.js': 'text/javascript; charset=utf-8',
  'charts.js': 'text/javascript; charset=utf-8',
  'style.css': 'text/css; charset=utf-8',
};

/**
 * The page to try the classifier and watch the pipeline (static files in apps/gateway/public: no
 * build step, nothing fetched from the internet) and the JSON it polls.
 */
@Controller()
export class StatusController {
  constructor(
    private readonly statuses: StatusService,
    @Inject(READINESS_CHECKS) private readonly checks: ReadinessCheck[],
    private readonly health: HealthCheckService,
    private readonly indicators: HealthIndicatorService,
  ) {}

  @Get()
  @Header('Content-Type', 'text/html; charset=utf-8')
  @Header('Cache-Control', 'no-cache')
  page(): string {
    return readFileSync(join(PAGE_DIR, 'index.html'), 'utf8');
  }

  @Get('assets/:file')
  asset(@Param('file') file: string, @Res() res: Response): void {
    if (!Object.hasOwn(ASSETS, file)) throw new NotFoundException(`no asset ${file}`);
    res
      .type(ASSETS[file])
      .setHeader('Cache-Control', 'no-cache')
      .send(readFileSync(join(PAGE_DIR, file), 'utf8'));
  }

  @Get('v1/status')
  status(): Promise<PipelineStatus> {
    return this.statuses.status(() => readinessStates(this.checks, this.health, this.indicators));
  }
}
