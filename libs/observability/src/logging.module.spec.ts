import { loggingOptions } from './logging.module';

describe('loggingOptions', () => {
  it('defaults to JSON lines at info', () => {
    expect(loggingOptions({})).toEqual({ format: 'json', level: 'info' });
  });

  it('takes LOG_FORMAT=pretty and a LOG_LEVEL', () => {
    expect(loggingOptions({ LOG_FORMAT: 'pretty', LOG_LEVEL: 'debug' })).toEqual({ format: 'pretty', level: 'debug' });
  });

  it('names the bad variable', () => {
    expect(() => loggingOptions({ LOG_FORMAT: 'xml' })).toThrow(/LOG_FORMAT must be json or pretty/);
    expect(() => loggingOptions({ LOG_LEVEL: 'loud' })).toThrow(/LOG_LEVEL must be one of/);
  });
});
