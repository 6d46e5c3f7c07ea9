import { spawn } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import {
  isolatedEnv,
  postJson,
  ROOT,
  RunningService,
  startService,
  stopService,
  uniqueSuffix,
  waitFor,
  waitReady,
} from '@app/testing';
import puppeteer, { Browser, Page } from 'puppeteer-core';

// Debian's chromium package (apt-get install -y chromium), or CHROMIUM_PATH.
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const ARTIFACTS = join(ROOT, '.e2e', 'artifacts');

describe('the page at / in a real headless browser', () => {
  const env = isolatedEnv({ PREDICT_TIMEOUT_MS: '30000', METRICS_LAG_INTERVAL_MS: '1000' });
  const services: RunningService[] = [];
  let gateway: RunningService;
  let browser: Browser;
  let page: Page;

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) {
      throw new Error(
        `no chromium at ${CHROMIUM}: install Debian's package (apt-get install -y chromium) or set CHROMIUM_PATH`,
      );
    }
    const [preprocessor, inference] = await Promise.all([
      startService('preprocessor', env),
      startService('inference', env),
    ]);
    services.push(preprocessor, inference);
    // The gateway reads the stages' health and metrics for the page.
    gateway = await startService('gateway', {
      ...env,
      PREPROCESSOR_URL: preprocessor.url,
      INFERENCE_URL: inference.url,
    });
    services.push(gateway);
    await Promise.all(services.map((s) => waitReady(s)));
    browser = await puppeteer.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--headless=new', '--disable-gpu', '--disable-dev-shm-usage'],
    });
    page = await browser.newPage();
    await page.setViewport({ width: 1280, height: 900 });
  });

  afterAll(async () => {
    await browser?.close();
    await Promise.all(services.map((s) => stopService(s)));
  });

  it('loads with nothing fetched from outside the gateway, and shows every service up', async () => {
    const requested: string[] = [];
    page.on('request', (req) => requested.push(req.url()));
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(String(error)));
    const res = await page.goto(gateway.url, { waitUntil: 'load' });
    expect(res?.status()).toBe(200);
    expect(await page.title()).toBe('kafka-text-classifier');
    for (const part of ['kafka', 'registry', 'gateway', 'preprocessor', 'inference']) {
      await page.waitForSelector(`[data-part="${part}"][data-state="up"]`, { timeout: 15_000 });
    }
    expect(requested.filter((url) => !url.startsWith(gateway.url))).toEqual([]);
    expect(errors).toEqual([]);
  });

  it("classifies a typed text, showing its category and a bar for every label's score", async () => {
    const text = '这是一个政治新闻。';
    await page.type('#text', text);
    await page.click('#classify');
    await page.waitForFunction("document.getElementById('category').textContent !== ''", { timeout: 30_000 });
    const category = await page.$eval('#category', (el) => el.textContent);
    const bars = await page.$$eval('#scores .bar', (els) => els.length);
    // The same model answers the same text the same way through the API.
    const direct = await postJson(`${gateway.url}/predict`, { text });
    expect(category).toBe(direct.body.category);
    expect(bars).toBe(Object.keys(direct.body.scores as Record<string, number>).length);
  });

  it('moves the charts while `npm run produce` runs', async () => {
    const file = join(tmpdir(), `page-e2e-${uniqueSuffix()}.txt`);
    const texts = Array.from(
      { length: 5000 },
      (_, i) => `text number ${i}: free money, click here, or a meeting at ${i}`,
    );
    writeFileSync(file, texts.join('\n') + '\n');
    const produce = spawn('npm', ['run', 'produce', '--', file], {
      cwd: ROOT,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const log = createWriteStream(join(ROOT, '.e2e', 'logs', `produce-${uniqueSuffix()}.log`));
    produce.stdout.pipe(log);
    produce.stderr.pipe(log);
    const produced = new Promise<number | null>((res) => produce.once('exit', res));
    try {
      // The typed text of the previous test alone makes < 1 text/s: several points well above that
      // can only come from the stream.
      const busy = await waitFor(
        () =>
          page.$eval('#c-rate', (el) => {
            const values = (el.getAttribute('data-values') ?? '').split(',').map(Number);
            const high = values.filter((v: number) => v > 5);
            return high.length >= 2 ? high : undefined;
          }),
        { timeoutMs: 120_000, intervalMs: 500, description: 'two points of texts/s above 5 on the page' },
      );
      expect(busy.length).toBeGreaterThanOrEqual(2);
      for (const chart of ['#c-batch', '#c-latency', '#c-efficiency']) {
        const points = await page.$eval(chart, (el) => Number(el.getAttribute('data-points')));
        expect(points).toBeGreaterThanOrEqual(2);
      }
    } finally {
      expect(await produced).toBe(0);
    }
    // The CI artifact (and the README's picture): the stream drained, the charts drawn.
    await waitFor(() => page.$eval('#c-queue', (el) => el.getAttribute('data-last') === '0'), {
      timeoutMs: 60_000,
      intervalMs: 500,
      description: 'the queue drained',
    });
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, 'page.png'), fullPage: true });
  });
});
