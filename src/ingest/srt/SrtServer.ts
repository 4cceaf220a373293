// drake's built-in SRT server (Core's srt.*): one UDP port, publishers and players told apart by the stream
// id (`name,mode:publish,token:T` or `#!::r=name,m=publish,token=T`). The protocol, the admission at the
// handshake and the relay from a publisher to its players run natively (native/srt, libsrt on its own
// thread); this side owns the lifecycle, the settings and limits, the log, and Core's GET /api/v3/srt view.
import { isIP } from 'node:net';
import { isLoopbackHost } from '../../shared/config.ts';
import { DrakeError } from '../../shared/errors.ts';
import { kbitSince, type CollectorTotals, type CoreSession, type SessionSource } from '../../shared/ingestSessions.ts';
import { Logger } from '../../shared/log.ts';
import { parseListenAddress } from '../rtmp/streamPath.ts';
import { loadSrtAddon, type SrtAddon, type SrtHandle, type SrtNativeEvent } from './addon.ts';
import { srtUrlTemplate, type SrtChannels } from './srtUrl.ts';

const log = new Logger('srt');

/** What the server takes on: beyond these a caller is refused at the handshake (SRT reject 1402). */
export const SRT_LIMITS = {
  connections: 256,
  /**
   * The listener's SRT latency (ms); a connection runs at the larger of this and the caller's. Low, as
   * Core's {srt} (20 ms): callers on real networks ask for more themselves.
   */
  latencyMs: 20,
  /** Live-mode SRT messages are at most 1456 bytes (MPEG-TS callers send 1316): native/srt MAX_PAYLOAD, for the docs. */
  payloadBytes: 1456,
} as const;

export interface SrtSettings {
  address: string;
  passphrase: string;
  token: string;
}

export class SrtServer implements SessionSource {
  readonly collector = 'srt';
  readonly maxSessions = SRT_LIMITS.connections;
  /** Connections seen (by SRT socket id) and the bytes of those that are gone: Core's session summary counts them. */
  readonly #seen = new Map<number, { rx: number; tx: number }>();
  readonly #past: CollectorTotals = { sessions: 0, bytesRx: 0, bytesTx: 0 };
  readonly #addon: SrtAddon;
  readonly #handle: SrtHandle;
  readonly #host: string;
  readonly #port: number;
  readonly #settings: SrtSettings;
  #closed = false;

  private constructor(addon: SrtAddon, handle: SrtHandle, host: string, settings: SrtSettings) {
    this.#addon = addon;
    this.#handle = handle;
    this.#host = host;
    this.#port = addon.port(handle);
    this.#settings = settings;
  }

  /**
   * Listens on srt.address (UDP, exclusively ours); refuses to start when the addon or the port is missing.
   * `load`: where the addon comes from (tests give one that finds none, as on a machine without libsrt).
   */
  static start(settings: SrtSettings, load: typeof loadSrtAddon = loadSrtAddon): SrtServer {
    const { addon, error } = load();
    if (!addon) {
      throw new DrakeError(
        `SRT is unavailable: the SRT server addon is not built (${error}). Install libsrt-gnutls-dev and run \`node native/srt/build.mjs\` (or npm install), or turn srt.enable off`,
      );
    }
    const where = parseListenAddress(settings.address);
    if (!where) throw new DrakeError(`srt.address "${settings.address}" is not host:port`);
    const host = where.host === 'localhost' ? '127.0.0.1' : where.host;
    if (isIP(host) === 0) throw new DrakeError(`srt.address "${settings.address}": the host must be an IP address (or localhost)`);
    let handle: SrtHandle;
    try {
      handle = addon.start(
        { host, port: where.port, passphrase: settings.passphrase, token: settings.token, maxConnections: SRT_LIMITS.connections, latencyMs: SRT_LIMITS.latencyMs },
        onEvent,
      );
    } catch (err) {
      throw new DrakeError(
        `cannot listen for SRT on ${settings.address} (${(err as Error).message}: in use, e.g. by another drake, or not an address of this machine): ` +
          'stop the other server or choose another srt.address (DRAKE_SRT_ADDRESS)',
      );
    }
    const server = new SrtServer(addon, handle, host, settings);
    log.info(
      `SRT server on ${settings.address} (UDP port ${server.#port}, libsrt ${addon.libsrt})${settings.token ? ', token required' : ''}${settings.passphrase ? ', encrypted' : ''}`,
    );
    if (!settings.token && !isLoopbackHost(host)) log.warn(`SRT on ${settings.address} without srt.token: anyone who reaches it can publish and play`);
    return server;
  }

  get port(): number {
    return this.#port;
  }

  /** The {srt} placeholder's template (Core's caller URL with `{name}`, `{mode}`, `{latency}`). */
  get urlTemplate(): string {
    return srtUrlTemplate(this.#host, this.#port, this.#settings.token, this.#settings.passphrase);
  }

  /** GET /api/v3/srt: Core's channels view with each connection's libsrt statistics. */
  channels(): SrtChannels {
    const out: SrtChannels = { publisher: {}, subscriber: {}, connections: {}, log: {} };
    if (this.#closed) return out;
    for (const c of this.#addon.connections(this.#handle)) {
      if (c.mode === 'publish') out.publisher[c.name] = c.id;
      else (out.subscriber[c.name] ??= []).push(c.id);
      out.connections[String(c.id)] = {
        log: {},
        stats: c.stats,
        mode: c.mode,
        name: c.name,
        remote: c.peer,
        connected_at: Math.floor(c.since / 1000),
        relay_drops: c.relayDrops,
      };
    }
    return out;
  }

  /** Publishers and players now, in Core's session shape (`extra`: publish or request, as the stream id said). */
  sessions(now: number): CoreSession[] {
    if (this.#closed) return [];
    const list = this.#addon.connections(this.#handle);
    this.#account(list);
    return list.map((c) => {
      const rx = c.stats.recv_bytes ?? 0;
      const tx = c.stats.sent_bytes ?? 0;
      const since = c.since / 1000;
      return {
        id: String(c.id),
        reference: c.name,
        created_at: Math.floor(since),
        local: `${this.#host}:${this.#port}`,
        remote: c.peer,
        extra: c.mode,
        bytes_rx: rx,
        bytes_tx: tx,
        bandwidth_rx_kbit: kbitSince(rx, since, now),
        bandwidth_tx_kbit: kbitSince(tx, since, now),
      };
    });
  }

  /** Sessions and bytes since start (what was last seen of connections that are gone, and those open now). */
  totals(): CollectorTotals {
    if (!this.#closed) this.#account(this.#addon.connections(this.#handle));
    const t = { ...this.#past };
    for (const b of this.#seen.values()) {
      t.sessions++;
      t.bytesRx += b.rx;
      t.bytesTx += b.tx;
    }
    return t;
  }

  /** Folds connections that are gone into the past totals; remembers the latest bytes of the open ones. */
  #account(open: readonly { id: number; stats: Record<string, number> }[]): void {
    const ids = new Set<number>();
    for (const c of open) {
      ids.add(c.id);
      this.#seen.set(c.id, { rx: c.stats.recv_bytes ?? 0, tx: c.stats.sent_bytes ?? 0 });
    }
    for (const [id, b] of this.#seen) {
      if (ids.has(id)) continue;
      this.#past.sessions++;
      this.#past.bytesRx += b.rx;
      this.#past.bytesTx += b.tx;
      this.#seen.delete(id);
    }
  }

  /** Messages relayed from publishers and callers refused, since start. */
  counters(): { relayed: number; refused: number } {
    return this.#addon.counters(this.#handle);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    // Joins the relay thread (at most one epoll wait, 200 ms) and closes every connection.
    this.#addon.stop(this.#handle);
    log.info('SRT server stopped');
  }
}

function onEvent(e: SrtNativeEvent): void {
  switch (e.type) {
    case 'publish':
      log.info(`${e.peer}: publishing ${e.name} (#${e.id})`);
      break;
    case 'unpublish':
      log.info(`${e.peer}: ${e.name} unpublished (${e.reason})`);
      break;
    case 'play':
      log.info(`${e.peer}: playing ${e.name} (#${e.id})`);
      break;
    case 'play-end':
      log.info(`${e.peer}: stopped playing ${e.name} (${e.reason})`);
      break;
    case 'refused':
      log.info(`${e.peer}: refused${e.name ? ` (${e.name})` : ''}: ${e.reason}${e.code ? ` [SRT reject ${e.code}]` : ''}`);
      break;
  }
}
