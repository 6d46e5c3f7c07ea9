import { SchemaRegistry, SchemaType } from '@kafkajs/confluent-schema-registry';
import { retry } from '@app/common';
import type { RegistryAuth } from '@app/config';
import type { Type } from 'avsc';
import type { Middleware } from 'mappersmith';
import { TimeoutMiddleware } from 'mappersmith/middleware/timeout';
import { RegistryUnavailableError, SchemaIncompatibleError } from './codec.errors';
import { toRegistryError } from './registry-errors';

/** Attempts of an idempotent registry call that timed out or found the registry unreachable. */
const ATTEMPTS = 3;

/** Apicurio's answer to a rule created concurrently by another client. */
const RULE_EXISTS = /rule named .COMPATIBILITY. already exists/i;

export type CompatibilityLevel = 'BACKWARD' | 'BACKWARD_TRANSITIVE' | 'FORWARD' | 'FULL' | 'NONE';

/**
 * The only code that talks to the schema registry (Confluent-compatible REST API).
 * Schema registration and lookup go through @kafkajs/confluent-schema-registry (which caches by id);
 * the config and compatibility endpoints, which that client does not expose, go through fetch.
 */
export class SchemaRegistryAdapter {
  private readonly client: SchemaRegistry;
  /** The Authorization header's value; kept out of every message and log. */
  readonly #authorization?: string;

  constructor(
    readonly url: string,
    private readonly timeoutMs = 5_000,
    auth: RegistryAuth = {},
  ) {
    this.#authorization = authorizationHeader(auth);
    const header = this.#authorization;
    const authMiddleware: Middleware = () => ({
      prepareRequest: (next) => next().then((request) => request.enhance({ headers: { authorization: header ?? '' } })),
    });
    // A registry can accept a request and never answer it (seen with Apicurio's kafkasql storage under
    // load): every call has a deadline, so callers get a RegistryUnavailableError instead of a hang.
    this.client = new SchemaRegistry({
      host: url,
      retry: { retries: 2, maxRetryTimeInSecs: 2 },
      middlewares: [TimeoutMiddleware(timeoutMs), ...(header ? [authMiddleware] : [])],
    });
  }

  /** From the validated settings: the URL and its credentials (given apart, never inside the URL). */
  static fromConfig(registry: { url: string; auth: RegistryAuth }, timeoutMs = 5_000): SchemaRegistryAdapter {
    return new SchemaRegistryAdapter(registry.url, timeoutMs, registry.auth);
  }

  async setCompatibility(subject: string, level: CompatibilityLevel): Promise<void> {
    const put = () =>
      this.request('PUT', `/config/${encodeURIComponent(subject)}`, { compatibility: level }, { subject });
    try {
      await put();
    } catch (error) {
      // Services starting together set a new subject's level at once; Apicurio creates the rule for
      // the first and answers the others 409 "A rule named 'COMPATIBILITY' already exists". The rule
      // is there now: read it back, and set it again (an update this time) only if it differs.
      if (!(error instanceof SchemaIncompatibleError) || !RULE_EXISTS.test(error.message)) throw error;
      if ((await this.getCompatibility(subject)) !== level) await put();
    }
  }

  async getCompatibility(subject: string): Promise<string | undefined> {
    const body = (await this.request(
      'GET',
      `/config/${encodeURIComponent(subject)}`,
      undefined,
      { subject },
      [404],
    )) as { compatibilityLevel?: string; compatibility?: string } | undefined;
    return body?.compatibilityLevel ?? body?.compatibility;
  }

  /** Asks the registry itself whether `schema` may become the next version of `subject`. */
  async isCompatible(subject: string, schema: string): Promise<boolean> {
    const body = (await this.request(
      'POST',
      `/compatibility/subjects/${encodeURIComponent(subject)}/versions/latest`,
      { schema },
      { subject },
      [404],
    )) as { is_compatible?: boolean } | undefined;
    // No version yet: anything is compatible.
    return body === undefined ? true : body.is_compatible === true;
  }

  /**
   * Registers (or finds) `schema` under `subject`; returns its id. 409 → SchemaIncompatibleError.
   * `level` must equal the subject's configured level (the client checks it before registering), so
   * call setCompatibility first.
   */
  async register(subject: string, schema: string, level: CompatibilityLevel): Promise<number> {
    return this.retried(async () => {
      try {
        const { id } = await this.client.register(
          { type: SchemaType.AVRO, schema },
          { subject, compatibility: level as never },
        );
        return id;
      } catch (error) {
        throw toRegistryError(error, { subject });
      }
    });
  }

  /** The writer's avsc Type for a schema id (cached after the first call). */
  async getType(schemaId: number): Promise<Type> {
    try {
      return (await this.client.getSchema(schemaId)) as unknown as Type;
    } catch (error) {
      throw toRegistryError(error, { schemaId });
    }
  }

  async listSubjects(): Promise<string[]> {
    return (await this.request('GET', '/subjects', undefined, {})) as string[];
  }

  /** Registration-time calls are idempotent, so a transient failure is simply tried again. */
  private retried<T>(call: () => Promise<T>): Promise<T> {
    return retry(call, {
      retries: ATTEMPTS - 1,
      initialBackoffMs: 200,
      isRetriable: (error) => error instanceof RegistryUnavailableError,
    });
  }

  private request(
    method: string,
    path: string,
    body: unknown,
    context: { subject?: string },
    tolerated: number[] = [],
  ): Promise<unknown> {
    return this.retried(async () => {
      let response: Response;
      try {
        response = await fetch(`${this.url}${path}`, {
          method,
          headers: {
            'Content-Type': 'application/vnd.schemaregistry.v1+json',
            Accept: 'application/json',
            ...(this.#authorization ? { Authorization: this.#authorization } : {}),
          },
          body: body === undefined ? undefined : JSON.stringify(body),
          signal: AbortSignal.timeout(this.timeoutMs),
        });
      } catch (error) {
        throw toRegistryError(error, context);
      }
      if (tolerated.includes(response.status)) return undefined;
      const text = await response.text();
      if (!response.ok) {
        let message = text;
        try {
          message = (JSON.parse(text) as { message?: string }).message ?? text;
        } catch {
          /* not JSON: keep the text */
        }
        throw toRegistryError(Object.assign(new Error(message), { status: response.status }), context);
      }
      return text ? (JSON.parse(text) as unknown) : undefined;
    });
  }
}

function authorizationHeader(auth: RegistryAuth): string | undefined {
  if (auth.token) return `Bearer ${auth.token.reveal()}`;
  if (auth.username && auth.password) {
    return `Basic ${Buffer.from(`${auth.username}:${auth.password.reveal()}`).toString('base64')}`;
  }
  return undefined;
}
