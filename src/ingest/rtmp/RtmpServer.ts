// drake's built-in RTMP server (Core's rtmp.*): encoders publish a stream by name under rtmp.app,
// processes and other clients play it. node-media-server's protocol engine speaks RTMP (handshake,
// chunk stream, AMF0 commands, FLV tags); drake owns the rest: the listening socket, who may publish
// or play what, the streams and their players, limits, and logs. node-media-server's own server,
// HTTP API, store and process-wide state are not used.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import NmsRtmp, { type NmsAvPacket, type NmsInvoke } from 'node-media-server/src/protocol/rtmp.js';
import nmsLogger from 'node-media-server/src/core/logger.js';
import { envName, isLoopbackHost } from '../../shared/config.ts';
import { DrakeError } from '../../shared/errors.ts';
import { kbitSince, type CollectorTotals, type CoreSession, type SessionSource } from '../../shared/ingestSessions.ts';
import { Logger } from '../../shared/log.ts';
import type { z } from 'zod';
import { appPrefix, parseListenAddress, resolveStreamPath, rtmpUrlTemplate, type rtmpStreamSchema } from './streamPath.ts';

const log = new Logger('rtmp');

// node-media-server logs through one console.log singleton: route it into drake's log instead.
nmsLogger.log = (message: string, level = 'info') => {
  if (level === 'error') log.warn(message);
  else log.debug(message);
};

/** What one client may cost: beyond these a connection is closed. */
export const RTMP_LIMITS = {
  connections: 256,
  /** An RTMP message (one video frame, one command): the protocol allows 16 MiB. */
  messageBytes: 8 * 1024 * 1024,
  /** Chunk streams one connection may open (a publisher uses a handful). */
  chunkStreams: 64,
  /** Handshake, connect and publish/play must be done by then. */
  setupMs: 10_000,
  /** A publisher that sends nothing for this long is gone. */
  idleMs: 30_000,
  /** A player whose unsent data passes this is too slow and is dropped (memory stays bounded). */
  playerBacklogBytes: 16 * 1024 * 1024,
  /** The packets since the last keyframe kept for joining players. */
  gopBytes: 32 * 1024 * 1024,
} as const;

export interface RtmpSettings {
  address: string;
  app: string;
  token: string;
  /** RTMPS (rtmp.enable_tls): a TLS listener on its own address in front of the same streams. */
  tls?: { address: string; certFile: string; keyFile: string };
}

/** A TLS client that has not finished its handshake by then is dropped (Node's default waits 120 s). */
const TLS_HANDSHAKE_TIMEOUT_MS = 10_000;

/** One published stream as GET /api/v3/rtmp lists it (Core's shape, `name` is its path). */
export type RtmpStreamInfo = z.output<typeof rtmpStreamSchema>;

interface Stream {
  name: string;
  publisher: Connection;
  players: Set<Connection>;
  metadata: Buffer | null;
  audioHeader: Buffer | null;
  videoHeader: Buffer | null;
  gop: Buffer[];
  gopBytes: number;
}

class ProtocolError extends Error {}

/** node-media-server's engine with drake's limits and drake's decisions on publish and play. */
class Engine extends NmsRtmp {
  readonly #conn: Connection;
  constructor(conn: Connection) {
    super();
    this.#conn = conn;
  }
  override packetParse(): void {
    super.packetParse();
    if (this.inPackets.size > RTMP_LIMITS.chunkStreams) throw new ProtocolError(`more than ${RTMP_LIMITS.chunkStreams} chunk streams`);
  }
  override packetAlloc(): void {
    if (this.parserPacket.header.length > RTMP_LIMITS.messageBytes) throw new ProtocolError(`a message of ${this.parserPacket.header.length} bytes`);
    super.packetAlloc();
  }
  override controlHandler(): void {
    super.controlHandler();
    // Set Chunk Size: 1..2^31-1 (RFC-like spec §5.4.1); 0 would stall the parser for good.
    if (!(this.inChunkSize >= 1 && this.inChunkSize <= 0x7fffffff)) throw new ProtocolError(`chunk size ${this.inChunkSize}`);
  }
  override onPublish(invoke: NmsInvoke): void {
    this.#conn.request('publish', invoke);
  }
  override onPlay(invoke: NmsInvoke): void {
    this.#conn.request('play', invoke);
  }
}

class Connection {
  readonly socket: net.Socket;
  readonly engine: Engine;
  readonly peer: string;
  readonly id = randomBytes(16).toString('hex');
  readonly createdAt = Date.now() / 1000;
  role: 'new' | 'publisher' | 'player' | 'closed' = 'new';
  stream: Stream | null = null;
  readonly #server: RtmpServer;
  #setupTimer: NodeJS.Timeout;

  constructor(socket: net.Socket, server: RtmpServer) {
    this.socket = socket;
    this.#server = server;
    this.peer = `${socket.remoteAddress}:${socket.remotePort}`;
    this.engine = new Engine(this);
    this.engine.onOutputCallback = (buf) => {
      if (!socket.destroyed) socket.write(buf);
    };
    this.engine.onPacketCallback = (packet) => {
      if (this.role === 'publisher' && this.stream) server.forward(this.stream, packet);
    };
    this.#setupTimer = setTimeout(() => this.close('no publish or play in time'), RTMP_LIMITS.setupMs);
    socket.setNoDelay(true);
    socket.on('data', (data: Buffer) => {
      if (this.role === 'closed') return;
      try {
        const err = this.engine.parserData(data);
        if (err) this.close(err);
      } catch (err) {
        // Malformed input from one client ends that client, never drake.
        this.close(`malformed RTMP: ${(err as Error).message}`);
      }
    });
    socket.on('timeout', () => this.close('idle'));
    socket.on('error', (err) => log.debug(`${this.peer}: ${err.message}`));
    socket.on('close', () => {
      clearTimeout(this.#setupTimer);
      if (this.role !== 'closed') this.#server.detach(this);
      this.role = 'closed';
    });
  }

  request(kind: 'publish' | 'play', invoke: NmsInvoke): void {
    const engine = this.engine;
    const raw = typeof invoke.streamName === 'string' ? invoke.streamName : '';
    engine.streamId = engine.parserPacket.header.stream_id;
    if (this.role !== 'new') return this.refuse(kind, 'this connection already publishes or plays');
    const app = typeof engine.connectCmdObj?.app === 'string' ? engine.connectCmdObj.app : '';
    const verdict = this.#server.admit(kind, app, raw, this);
    if (!verdict.ok) return this.refuse(kind, verdict.reason);
    clearTimeout(this.#setupTimer);
    engine.streamApp = app;
    engine.streamName = verdict.name;
    if (kind === 'publish') {
      engine.respondPublish();
      this.socket.setTimeout(RTMP_LIMITS.idleMs);
    } else {
      engine.respondPlay();
    }
  }

  refuse(kind: 'publish' | 'play', reason: string): void {
    log.info(`${this.peer}: ${kind} refused: ${reason}`);
    const code = kind === 'publish' ? (reason.includes('token') ? 'NetStream.Publish.Unauthorized' : 'NetStream.Publish.BadName') : 'NetStream.Play.StreamNotFound';
    this.engine.sendStatusMessage(this.engine.streamId, 'error', code, reason);
    this.socket.end();
    // A client that does not close its side after the refusal is not kept waiting for.
    setTimeout(() => this.socket.destroy(), 2000).unref();
    this.role = 'closed';
  }

  send(buf: Buffer): void {
    if (this.socket.writableLength > RTMP_LIMITS.playerBacklogBytes) {
      this.close('too slow (player backlog over the limit)');
      return;
    }
    this.socket.write(buf);
  }

  close(reason: string): void {
    if (this.role === 'closed' && this.socket.destroyed) return;
    log.info(`${this.peer}: closed: ${reason}`);
    this.socket.destroy();
  }
}

export class RtmpServer implements SessionSource {
  readonly collector = 'rtmp';
  readonly maxSessions = RTMP_LIMITS.connections;
  readonly #settings: RtmpSettings;
  /** Connections that published or played, including those gone (Core's session summary counts them). */
  readonly #past: CollectorTotals = { sessions: 0, bytesRx: 0, bytesTx: 0 };
  readonly #server: net.Server;
  #tlsServer: tls.Server | null = null;
  #tlsPort = 0;
  readonly #streams = new Map<string, Stream>();
  readonly #connections = new Set<Connection>();
  #host = '';
  #port = 0;
  #closed = false;

  private constructor(settings: RtmpSettings) {
    this.#settings = settings;
    this.#server = net.createServer((socket) => this.#accept(socket));
    this.#server.maxConnections = RTMP_LIMITS.connections;
  }

  /** A new connection, plain or (after its TLS handshake) RTMPS: both go to the same engine and limits. */
  #accept(socket: net.Socket): void {
    if (this.#closed || this.#connections.size >= RTMP_LIMITS.connections) {
      socket.destroy();
      return;
    }
    const conn = new Connection(socket, this);
    this.#connections.add(conn);
    socket.on('close', () => {
      this.#connections.delete(conn);
      if (conn.stream) {
        this.#past.sessions++;
        this.#past.bytesRx += socket.bytesRead;
        this.#past.bytesTx += socket.bytesWritten;
      }
    });
  }

  /** Listens with `server` on `address` exclusively, or fails with drake's message naming `key`. */
  static async #listen(server: net.Server, address: string, key: string, what: string): Promise<{ host: string; port: number }> {
    const where = parseListenAddress(address);
    if (!where) throw new DrakeError(`${key} "${address}" is not host:port`);
    await new Promise<void>((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException) =>
        reject(
          new DrakeError(
            `cannot listen for ${what} on ${address} (${err.code ?? err.message}: in use, e.g. by another drake, or not an address of this machine): ` +
              `stop the other server or choose another ${key} (${envName(key.split('.'))})`,
          ),
        );
      server.once('error', onError);
      server.listen({ host: where.host, port: where.port, exclusive: true }, () => {
        server.off('error', onError);
        resolve();
      });
    });
    server.on('error', (err) => log.error(`${what} listener: ${err.message}`));
    return { host: where.host, port: (server.address() as net.AddressInfo).port };
  }

  /** Listens on rtmp.address; refuses to start when the address is taken (exclusively ours). */
  static async start(settings: RtmpSettings): Promise<RtmpServer> {
    // The certificate first: a bad file stops drake before any port is taken.
    const credentials = settings.tls ? readTlsFiles(settings.tls.certFile, settings.tls.keyFile) : null;
    const server = new RtmpServer(settings);
    const where = await RtmpServer.#listen(server.#server, settings.address, 'rtmp.address', 'RTMP');
    server.#host = where.host;
    server.#port = where.port;
    if (settings.tls && credentials) {
      let secure: tls.Server;
      try {
        secure = tls.createServer({ ...credentials, handshakeTimeout: TLS_HANDSHAKE_TIMEOUT_MS }, (socket) => server.#accept(socket));
      } catch (err) {
        await server.close();
        throw new DrakeError(`tls.cert_file / tls.key_file: not a usable certificate and key (${(err as Error).message})`);
      }
      secure.maxConnections = RTMP_LIMITS.connections;
      // Failed handshakes (a plain RTMP client, a scanner) are the client's problem, not drake's.
      secure.on('tlsClientError', (err, socket) => {
        log.debug(`RTMPS ${socket.remoteAddress ?? '?'}: TLS handshake failed: ${err.message}`);
        socket.destroy();
      });
      server.#tlsServer = secure;
      try {
        server.#tlsPort = (await RtmpServer.#listen(secure, settings.tls.address, 'rtmp.address_tls', 'RTMPS')).port;
      } catch (err) {
        await server.close();
        throw err;
      }
    }
    const tlsNote = settings.tls ? `, RTMPS on ${settings.tls.address} (port ${server.#tlsPort})` : '';
    log.info(`RTMP server on ${settings.address} (port ${server.#port})${tlsNote}, app ${settings.app}${settings.token ? ', token required' : ''}`);
    const tlsHost = settings.tls ? parseListenAddress(settings.tls.address)?.host ?? '' : '127.0.0.1';
    if (!settings.token && (!isLoopbackHost(where.host) || !isLoopbackHost(tlsHost))) {
      log.warn(`RTMP on ${settings.address}${tlsNote} without rtmp.token: anyone who reaches it can publish and play`);
    }
    return server;
  }

  /** The RTMPS port (0: rtmp.enable_tls is off). */
  get tlsPort(): number {
    return this.#tlsPort;
  }

  get port(): number {
    return this.#port;
  }

  /** The {rtmp} placeholder's template: rtmp://host:port<app>/{name}[?token=…]. */
  get urlTemplate(): string {
    return rtmpUrlTemplate(this.#host, this.#port, this.#settings.app, this.#settings.token);
  }

  /** The streams being published now, by name. */
  list(): RtmpStreamInfo[] {
    return [...this.#streams.keys()].sort().map((name) => ({ name: `${appPrefix(this.#settings.app)}/${name}` }));
  }

  /** Publishers and players now, in Core's session shape (connections still setting up are not sessions yet). */
  sessions(now: number): CoreSession[] {
    const out: CoreSession[] = [];
    for (const c of this.#connections) {
      if (!c.stream || (c.role !== 'publisher' && c.role !== 'player')) continue;
      const rx = c.socket.bytesRead;
      const tx = c.socket.bytesWritten;
      out.push({
        id: c.id,
        reference: `${appPrefix(this.#settings.app)}/${c.stream.name}`,
        created_at: Math.floor(c.createdAt),
        local: `${c.socket.localAddress ?? ''}:${c.socket.localPort ?? ''}`,
        remote: c.peer,
        extra: c.role === 'publisher' ? 'publish' : 'play',
        bytes_rx: rx,
        bytes_tx: tx,
        bandwidth_rx_kbit: kbitSince(rx, c.createdAt, now),
        bandwidth_tx_kbit: kbitSince(tx, c.createdAt, now),
      });
    }
    return out;
  }

  /** Sessions and bytes since start, those open now included. */
  totals(): CollectorTotals {
    const t = { ...this.#past };
    for (const c of this.#connections) {
      if (!c.stream) continue;
      t.sessions++;
      t.bytesRx += c.socket.bytesRead;
      t.bytesTx += c.socket.bytesWritten;
    }
    return t;
  }

  admit(kind: 'publish' | 'play', app: string, name: string, conn: Connection): { ok: true; name: string } | { ok: false; reason: string } {
    const verdict = resolveStreamPath(app, name, this.#settings);
    if (!verdict.ok) return verdict;
    const existing = this.#streams.get(verdict.name);
    if (kind === 'publish') {
      if (existing) return { ok: false, reason: `${verdict.name} is already being published` };
      const stream: Stream = { name: verdict.name, publisher: conn, players: new Set(), metadata: null, audioHeader: null, videoHeader: null, gop: [], gopBytes: 0 };
      this.#streams.set(verdict.name, stream);
      conn.role = 'publisher';
      conn.stream = stream;
      log.info(`${conn.peer}: publishing ${verdict.name}`);
      return verdict;
    }
    if (!existing) return { ok: false, reason: `${verdict.name} is not being published` };
    conn.role = 'player';
    conn.stream = existing;
    // The player first gets what a decoder needs to start: metadata, codec headers, the current GOP.
    // respondPlay() goes out before these: queue them behind it.
    queueMicrotask(() => {
      if (conn.role !== 'player') return;
      if (this.#streams.get(existing.name) !== existing) {
        conn.socket.end();
        return;
      }
      for (const b of [existing.metadata, existing.audioHeader, existing.videoHeader, ...existing.gop]) if (b) conn.send(b);
      existing.players.add(conn);
    });
    log.info(`${conn.peer}: playing ${verdict.name}`);
    return verdict;
  }

  forward(stream: Stream, packet: NmsAvPacket): void {
    const msg = NmsRtmp.createMessage(packet);
    switch (packet.flags) {
      case 0:
        stream.audioHeader = msg;
        break;
      case 2:
        stream.videoHeader = msg;
        break;
      case 5:
        stream.metadata = msg;
        break;
      case 3:
        stream.gop = [msg];
        stream.gopBytes = msg.length;
        break;
      case 1:
      case 4:
        if (stream.gop.length > 0) {
          stream.gop.push(msg);
          stream.gopBytes += msg.length;
          // A stream without keyframes in sight: stop caching rather than grow.
          if (stream.gopBytes > RTMP_LIMITS.gopBytes) {
            stream.gop = [];
            stream.gopBytes = 0;
          }
        }
        break;
    }
    for (const p of stream.players) p.send(msg);
  }

  detach(conn: Connection): void {
    const stream = conn.stream;
    if (!stream) return;
    if (conn.role === 'publisher' && this.#streams.get(stream.name) === stream) {
      this.#streams.delete(stream.name);
      log.info(`${conn.peer}: ${stream.name} unpublished`);
      // Players of a stream that ended get EOF: a process reading it goes to reconnect.
      for (const p of stream.players) p.socket.end();
      stream.players.clear();
    } else {
      stream.players.delete(conn);
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const listeners = [this.#server, this.#tlsServer].filter((l): l is net.Server => l !== null && l.listening);
    const closed = Promise.all(listeners.map((l) => new Promise<void>((resolve) => l.close(() => resolve()))));
    for (const c of this.#connections) c.socket.destroy();
    this.#streams.clear();
    await closed;
    log.info('RTMP server stopped');
  }
}

/** tls.cert_file and tls.key_file (PEM), read once at start; a missing or unreadable one stops drake with its name. */
function readTlsFiles(certFile: string, keyFile: string): { cert: Buffer; key: Buffer } {
  if (!certFile || !keyFile) throw new DrakeError('rtmp.enable_tls needs tls.cert_file and tls.key_file (PEM certificate and private key)');
  const read = (file: string, key: string) => {
    try {
      return readFileSync(file);
    } catch (err) {
      throw new DrakeError(`${key} "${file}": ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  };
  return { cert: read(certFile, 'tls.cert_file'), key: read(keyFile, 'tls.key_file') };
}
