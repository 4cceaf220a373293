// WHIP ingest (main thread): which names are being published, one publish actor (worker thread) per
// name, the publishers' tokens, and the hand-off to the supervisor when a publisher leaves. Holds no
// media: everything per packet happens in the actors.
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { DrakeConfig } from '../../shared/config.ts';
import { WHIP_NAME } from '../../shared/config.ts';
import { ConflictError, errorText, NotFoundError, ValidationError } from '../../shared/errors.ts';
import { TypedEmitter } from '../../shared/events.ts';
import { kbitSince, type CollectorTotals, type CoreSession, type SessionSource } from '../../shared/ingestSessions.ts';
import { Logger } from '../../shared/log.ts';
import type { StreamWebrtcSettings, WhepCreatedDto, WhepPatchedDto, WhepSessionDto, WhepStatsDto, WhipPublisherDto } from '../../shared/protocol.ts';
import { checkWhipOffer } from './offer.ts';
import { PublishHandle } from './PublishHandle.ts';

const log = new Logger('whip');
const SESSION_ID = /^[0-9a-f]{32}$/;

export interface WhipIngestOptions {
  config: DrakeConfig['whip'];
  webrtc: StreamWebrtcSettings;
}

interface Publication {
  handle: PublishHandle;
  sessionId: string;
  /** Set once the actor answered the offer; until then the name is only reserved. */
  ready: boolean;
  viewers: number;
}

export interface WhipIngestEvents {
  /** A publication ended (DELETE, publisher lost, worker died); processes reading it reconnect. */
  ended: [name: string, reason: string];
}

function sameSecret(given: string, want: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(want);
  return a.length === b.length && timingSafeEqual(a, b);
}

export class WhipIngest extends TypedEmitter<WhipIngestEvents> implements SessionSource {
  readonly collector = 'whip';
  readonly maxSessions = 0;
  /** Publications seen by sessions() and what they had received then; those gone add to #past. */
  readonly #seen = new Map<string, number>();
  readonly #past: CollectorTotals = { sessions: 0, bytesRx: 0, bytesTx: 0 };
  readonly #opts: WhipIngestOptions;
  readonly #pubs = new Map<string, Publication>();
  /** Credential of the SDP URL that {whip} hands FFmpeg (drake's own processes only). */
  readonly readerSecret = randomBytes(18).toString('base64url');
  #closing = false;

  constructor(opts: WhipIngestOptions) {
    super();
    this.#opts = opts;
  }

  /** '' when the name needs no token; a per-name token replaces the global one. */
  tokenFor(name: string): string {
    return this.#opts.config.tokens[name] ?? this.#opts.config.token;
  }

  tokenMatches(name: string, given: string): boolean {
    const want = this.tokenFor(name);
    return want === '' || sameSecret(given, want);
  }

  readerSecretMatches(given: string): boolean {
    return sameSecret(given, this.readerSecret);
  }

  static validName(name: string): boolean {
    return WHIP_NAME.test(name);
  }

  has(name: string): boolean {
    return this.#pubs.get(name)?.ready === true;
  }

  hasSession(name: string, sessionId: string): boolean {
    const p = this.#pubs.get(name);
    return p?.ready === true && p.sessionId === sessionId;
  }

  get viewers(): number {
    let n = 0;
    for (const p of this.#pubs.values()) n += p.viewers;
    return n;
  }

  /** A publisher's offer: 409 while the name has one (or is being set up). */
  async publish(name: string, offer: string): Promise<{ sessionId: string; answer: string; etag: string }> {
    if (!WhipIngest.validName(name)) throw new ValidationError(`invalid stream name ${JSON.stringify(name)}`);
    if (this.#closing) throw new NotFoundError('drake is shutting down');
    if (this.#pubs.has(name)) throw new ConflictError(`stream ${name} already has a publisher (DELETE its session first)`);
    checkWhipOffer(offer); // a bad offer costs no worker
    const handle = new PublishHandle(name);
    const pub: Publication = { handle, sessionId: randomBytes(16).toString('hex'), ready: false, viewers: 0 };
    this.#pubs.set(name, pub);
    handle.on('event', (e) => {
      if (e.event === 'publish.viewers') pub.viewers = e.viewers;
      else if (e.event === 'publish.ended') void this.#end(name, pub, e.reason);
    });
    handle.on('died', (reason) => void this.#end(name, pub, reason));
    try {
      const w = this.#opts.webrtc;
      await handle.init({ name, webrtc: w, mediaTimeoutMs: this.#opts.config.media_timeout_seconds * 1000 });
      const published = await handle.publish(offer);
      pub.ready = true;
      log.info(`${name}: publisher accepted`);
      return { sessionId: pub.sessionId, ...published };
    } catch (err) {
      if (this.#pubs.get(name) === pub) this.#pubs.delete(name);
      await handle.close('publisher setup failed').catch(() => undefined);
      throw err;
    }
  }

  async #end(name: string, pub: Publication, reason: string): Promise<void> {
    if (this.#pubs.get(name) !== pub) return;
    this.#pubs.delete(name);
    const wasReady = pub.ready;
    await pub.handle.close(reason).catch((err) => log.warn(`${name}: closing its worker: ${errorText(err)}`));
    if (wasReady && !this.#closing) this.safeEmit('ended', name, reason);
  }

  #get(name: string): Publication {
    const p = this.#pubs.get(name);
    if (!p?.ready) throw new NotFoundError(`stream ${name} is not being published`);
    return p;
  }

  #session(name: string, sessionId: string): Publication {
    const p = this.#pubs.get(name);
    if (!p?.ready || !SESSION_ID.test(sessionId) || p.sessionId !== sessionId) throw new NotFoundError('unknown WHIP session');
    return p;
  }

  patch(name: string, sessionId: string, frag: string, ifMatch: string | null): Promise<WhepPatchedDto> {
    return this.#session(name, sessionId).handle.patch(frag, ifMatch);
  }

  /** DELETE by the publisher: false when there is no such session. */
  async unpublish(name: string, sessionId: string): Promise<boolean> {
    const p = this.#pubs.get(name);
    if (!p?.ready || p.sessionId !== sessionId) return false;
    await this.#end(name, p, 'DELETE by the publisher');
    return true;
  }

  async list(): Promise<WhipPublisherDto[]> {
    const ready = [...this.#pubs.values()].filter((p) => p.ready);
    const infos = await Promise.all(ready.map((p) => p.handle.info().catch(() => null)));
    return infos.filter((i): i is WhipPublisherDto => i !== null).sort((a, b) => a.name.localeCompare(b.name));
  }

  /** The publishers in Core's session shape (`reference`: the name, `extra`: publish; bytes: the media received). */
  async sessions(now: number): Promise<CoreSession[]> {
    const ready = [...this.#pubs.values()].filter((p) => p.ready);
    const infos = await Promise.all(ready.map(async (p) => ({ p, info: await p.handle.info().catch(() => null) })));
    const out: CoreSession[] = [];
    const open = new Set<string>();
    for (const { p, info } of infos) {
      if (!info) continue;
      const rx = info.video.bytes + info.audio.bytes;
      open.add(p.sessionId);
      this.#seen.set(p.sessionId, rx);
      out.push({
        id: p.sessionId,
        reference: info.name,
        created_at: info.since,
        local: '',
        remote: info.remote,
        extra: 'publish',
        bytes_rx: rx,
        bytes_tx: 0,
        bandwidth_rx_kbit: kbitSince(rx, info.since, now),
        bandwidth_tx_kbit: 0,
      });
    }
    for (const [id, rx] of this.#seen) {
      if (open.has(id)) continue;
      this.#past.sessions++;
      this.#past.bytesRx += rx;
      this.#seen.delete(id);
    }
    return out;
  }

  /** Publications since start (as last seen by sessions() for those gone) and the media bytes they sent. */
  totals(): CollectorTotals {
    const t = { ...this.#past };
    for (const rx of this.#seen.values()) {
      t.sessions++;
      t.bytesRx += rx;
    }
    return t;
  }

  /** The WHEP viewers of every published stream, with the publication's name. */
  async viewerSessions(): Promise<Array<{ name: string; sessions: WhepSessionDto[] }>> {
    const ready = [...this.#pubs.entries()].filter(([, p]) => p.ready);
    return Promise.all(ready.map(async ([name, p]) => ({ name, sessions: await p.handle.whepSessions().catch(() => []) })));
  }

  /** The SDP a process's FFmpeg reads (drake starts forwarding the stream's RTP to its ports). */
  readerSdp(name: string): Promise<string> {
    return this.#get(name).handle.addReader();
  }

  whepCreate(name: string, offer: string): Promise<WhepCreatedDto> {
    return this.#get(name).handle.whepCreate(offer);
  }

  whepPatch(name: string, sessionId: string, frag: string, ifMatch: string | null): Promise<WhepPatchedDto> {
    return this.#get(name).handle.whepPatch(sessionId, frag, ifMatch);
  }

  async whepDelete(name: string, sessionId: string): Promise<boolean> {
    const p = this.#pubs.get(name);
    if (!p?.ready) return false;
    return p.handle.whepDelete(sessionId).catch(() => false);
  }

  async whepHasSession(name: string, sessionId: string): Promise<boolean> {
    const p = this.#pubs.get(name);
    if (!p?.ready) return false;
    const sessions = await p.handle.whepSessions().catch(() => []);
    return sessions.some((s) => s.id === sessionId);
  }

  whepStats(name: string): Promise<WhepStatsDto> {
    return this.#get(name).handle.whepStats();
  }

  async close(): Promise<void> {
    this.#closing = true;
    await Promise.all([...this.#pubs.entries()].map(([name, p]) => this.#end(name, p, 'drake is shutting down')));
  }
}
