import { ApiError } from '../errors/index.js';
import { generateKeyPair, type HpkeRecipientContext, type KeyPair } from './hpke/index.js';
import {
  LATEST_PROTECTION_VERSION,
  OUTPUT_PROTECTION_VERSION_HEADER,
  encodeBase64,
  parseAnsweredVersion,
  parseClientPublicKey,
  parseRequestedVersion,
  parseServerPublicKey,
  setupProtectedRecipient,
  type ProtectionVersion,
} from './wire.js';

export interface OutputProtectionSettings {
  /** true: the proxy holds the key and decrypts; false: the client's key and the ciphertext pass through. */
  decrypt: boolean;
  clientKeyHeader: string;
  serverKeyHeader: string;
  keyRefreshMs: number;
  /** Told each time the key pair is replaced (telemetry). */
  onKeyRotation?: () => void;
}

/** What the answer needs: a context to open its fields with, and headers to relay to the client. */
export interface ProtectedAnswer {
  recipient?: HpkeRecipientContext;
  clientHeaders: Record<string, string>;
  /** The wire format the upstream answered in; absent when the answer is not protected. */
  version?: ProtectionVersion;
}

/** One request's side of output protection, from the headers it sends upstream to the answer's. */
export interface ProtectedCall {
  upstreamHeaders: Record<string, string>;
  accept(upstreamResponseHeaders: Headers): ProtectedAnswer;
}

export class UpstreamNotProtectedError extends ApiError {
  constructor(headerName: string) {
    super(
      500,
      'server_error',
      `The upstream is not output-protected: its response has no ${headerName} header, so the proxy (SGP_OUTPUT_DECRYPTION=true) cannot decrypt it. Protect the upstream or set SGP_OUTPUT_DECRYPTION=false.`,
      { code: 'upstream_not_output_protected' },
    );
  }
}

/**
 * The proxy's key pair, replaced once it is older than the refresh period. Rotation happens on
 * use rather than on a timer; a request keeps the pair it started with, so in-flight streams
 * still decrypt after a rotation.
 */
export class RotatingKeyPair {
  private pair: KeyPair;
  private createdAt: number;

  constructor(
    private readonly refreshMs: number,
    private readonly now: () => number = Date.now,
    private readonly onRotation: () => void = () => undefined,
  ) {
    this.pair = generateKeyPair();
    this.createdAt = now();
  }

  current(): KeyPair {
    if (this.now() - this.createdAt >= this.refreshMs) {
      this.pair = generateKeyPair();
      this.createdAt = this.now();
      this.onRotation();
    }
    return this.pair;
  }
}

export class ProxyOutputProtection {
  private readonly keys: RotatingKeyPair | undefined;

  constructor(
    private readonly settings: OutputProtectionSettings,
    now?: () => number,
  ) {
    this.keys = settings.decrypt ? new RotatingKeyPair(settings.keyRefreshMs, now, settings.onKeyRotation) : undefined;
  }

  /** The configured header names (a browser on another origin needs them allowed and exposed). */
  get headerNames(): { clientKey: string; serverKey: string } {
    return { clientKey: this.settings.clientKeyHeader, serverKey: this.settings.serverKeyHeader };
  }

  /** The proxy holds the key (SGP_OUTPUT_DECRYPTION): it asks for the newest wire format and opens it. */
  get decrypts(): boolean {
    return this.keys !== undefined;
  }

  begin(clientHeaders: Headers): ProtectedCall {
    return this.keys ? this.decrypting(this.keys.current()) : this.passingThrough(clientHeaders);
  }

  private decrypting(pair: KeyPair): ProtectedCall {
    const { clientKeyHeader, serverKeyHeader } = this.settings;
    return {
      // The newest format: a v1 upstream ignores the header and answers v1 (no version header).
      upstreamHeaders: {
        [clientKeyHeader]: encodeBase64(pair.publicKey),
        [OUTPUT_PROTECTION_VERSION_HEADER]: String(LATEST_PROTECTION_VERSION),
      },
      accept(headers) {
        const enc = headers.get(serverKeyHeader);
        if (enc === null) throw new UpstreamNotProtectedError(serverKeyHeader);
        const version = parseAnsweredVersion(headers.get(OUTPUT_PROTECTION_VERSION_HEADER));
        const recipient = setupProtectedRecipient(
          parseServerPublicKey(enc, serverKeyHeader),
          pair.privateKey,
          version,
          {
            recipientPublicKey: pair.publicKey,
          },
        );
        return { recipient, clientHeaders: {}, version };
      },
    };
  }

  /** The client manages its own keys: its key goes up, the server's key and the ciphertext come back. */
  private passingThrough(clientHeaders: Headers): ProtectedCall {
    const { clientKeyHeader, serverKeyHeader } = this.settings;
    const clientKey = clientHeaders.get(clientKeyHeader);
    // Checked here, with the error the upstream's middleware would give (400 naming the header,
    // code invalid_client_public_key), rather than relayed back as a generic upstream error.
    if (clientKey !== null) parseClientPublicKey(clientKey, clientKeyHeader);
    const version = clientHeaders.get(OUTPUT_PROTECTION_VERSION_HEADER);
    if (clientKey !== null) parseRequestedVersion(version);
    const upstreamHeaders: Record<string, string> = clientKey === null ? {} : { [clientKeyHeader]: clientKey };
    if (clientKey !== null && version !== null) upstreamHeaders[OUTPUT_PROTECTION_VERSION_HEADER] = version;
    return {
      upstreamHeaders,
      accept(headers) {
        const enc = headers.get(serverKeyHeader);
        const clientHeaders: Record<string, string> = {};
        if (enc === null) return { clientHeaders };
        clientHeaders[serverKeyHeader] = enc;
        // The client needs the version to pick its `info`; absent means a v1 upstream.
        const answered = headers.get(OUTPUT_PROTECTION_VERSION_HEADER);
        if (answered !== null) clientHeaders[OUTPUT_PROTECTION_VERSION_HEADER] = answered;
        // Lenient here: the version is the client's to check; the proxy only needs to know v2.
        return { clientHeaders, version: answered === '2' ? 2 : 1 };
      },
    };
  }
}
