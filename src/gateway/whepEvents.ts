// The WHEP server-sent events extension (urn:ietf:params:whep:ext:core:server-sent-events): a viewer
// POSTs the event types it wants to its session's /sse URL and long-polls the event stream it gets
// back. Events come from the supervisor's observer: active/inactive follow the FFmpeg process running
// or not, reconnect tells players to rejoin when the process runs again after a stop or crash (a new
// encoder), viewercount follows the stream's viewers (coalesced to one event a second).
// The stream URL carries 128 random bits: an EventSource cannot send an Authorization header.
import { randomBytes } from 'node:crypto';
import type { Supervisor } from '../actors/supervisor/Supervisor.ts';
import type { ExecState } from '../shared/processConfig.ts';
import type { StreamOut } from './http.ts';

export const SSE_REL = 'urn:ietf:params:whep:ext:core:server-sent-events';
export const SSE_EVENTS = ['active', 'inactive', 'reconnect', 'viewercount'] as const;
export type SseEvent = (typeof SSE_EVENTS)[number];

/** Events kept for a stream while no GET is attached (the client reconnects between long polls). */
const MAX_QUEUED = 64;
/** Event streams one WHEP session may hold; a new one past this ends its oldest (no unbounded POSTs). */
const MAX_PER_SESSION = 4;
const KEEPALIVE_MS = 15_000;
const VIEWERCOUNT_EVERY_MS = 1000;
const MEDIA_WAIT_MS = 15_000;
const MEDIA_POLL_MS = 100;

interface EventStream {
  id: string;
  processId: string;
  sessionId: string;
  events: ReadonlySet<SseEvent>;
  out: StreamOut | null;
  queue: string[];
  /** The process stopped running since this stream was made: its next run is a restart. */
  wasInactive: boolean;
}

export class WhepEvents {
  readonly #sup: Supervisor;
  readonly #streams = new Map<string, EventStream>();
  /** Per process, the pending viewer check (see #onViewers). */
  readonly #viewerChecks = new Map<string, NodeJS.Timeout>();
  readonly #keepalive: NodeJS.Timeout;
  #subscribed = false;

  constructor(sup: Supervisor) {
    this.#sup = sup;
    this.#keepalive = setInterval(() => {
      for (const s of this.#streams.values()) s.out?.write(': keep-alive\n\n');
    }, KEEPALIVE_MS);
    this.#keepalive.unref();
  }

  get size(): number {
    return this.#streams.size;
  }

  /** The observer exists once the supervisor does (the gateway is built before it). */
  #subscribe(): void {
    if (this.#subscribed) return;
    this.#subscribed = true;
    const o = this.#sup.observer;
    o.on('statechange', (id, from, to) => this.#onState(id, from, to));
    o.on('viewers', (id) => this.#onViewers(id));
    o.on('deleteprocess', (id) => this.#endWhere((s) => s.processId === id));
  }

  /** A new event stream for a live session; returns its id. `wanted` null: every event drake has. */
  async create(processId: string, sessionId: string, wanted: SseEvent[] | null): Promise<string> {
    this.#subscribe();
    const mine = [...this.#streams.values()].filter((s) => s.sessionId === sessionId);
    for (const old of mine.slice(0, Math.max(0, mine.length - MAX_PER_SESSION + 1))) this.#end(old);
    const id = randomBytes(16).toString('hex');
    const s: EventStream = {
      id,
      processId,
      sessionId,
      events: new Set(wanted ?? SSE_EVENTS),
      out: null,
      queue: [],
      wasInactive: false,
    };
    this.#streams.set(id, s);
    // The draft: "active" at the beginning of the playback when a publication is ongoing; no initial
    // "inactive" when there is none.
    const state = await this.#sup.state(processId).catch(() => null);
    if (state?.exec === 'running') this.#send(s, 'active', {});
    else s.wasInactive = true;
    this.#sendViewers(s);
    return id;
  }

  has(processId: string, sessionId: string, id: string): boolean {
    const s = this.#streams.get(id);
    return !!s && s.processId === processId && s.sessionId === sessionId;
  }

  /** GET: the long poll. Queued events go out first; a second GET replaces the first. */
  attach(id: string, out: StreamOut): void {
    const s = this.#streams.get(id);
    if (!s) {
      out.end();
      return;
    }
    s.out?.end();
    s.out = out;
    out.write(': drake whep events\n\n');
    for (const e of s.queue.splice(0)) out.write(e);
    out.onClose(() => {
      if (s.out === out) s.out = null;
    });
  }

  /** DELETE of the event stream: later GETs get 404. */
  delete(id: string): boolean {
    const s = this.#streams.get(id);
    if (!s) return false;
    this.#end(s);
    return true;
  }

  /** The WHEP session ended: its event streams end with it. */
  endSession(sessionId: string): void {
    this.#endWhere((s) => s.sessionId === sessionId);
  }

  close(): void {
    clearInterval(this.#keepalive);
    for (const t of this.#viewerChecks.values()) clearTimeout(t);
    this.#viewerChecks.clear();
    this.#endWhere(() => true);
  }

  #endWhere(match: (s: EventStream) => boolean): void {
    for (const s of [...this.#streams.values()]) if (match(s)) this.#end(s);
  }

  #end(s: EventStream): void {
    this.#streams.delete(s.id);
    s.out?.end();
    s.out = null;
  }

  #send(s: EventStream, event: SseEvent, data: unknown): void {
    if (!s.events.has(event)) return;
    // One data line per event, as the draft asks: JSON.stringify never emits a newline.
    const frame = `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
    if (s.out?.open) s.out.write(frame);
    else {
      s.queue.push(frame);
      if (s.queue.length > MAX_QUEUED) s.queue.shift();
    }
  }

  #onState(id: string, from: ExecState, to: ExecState): void {
    if (to === 'running' && from !== 'running') {
      void this.#whenMedia(id).then((ok) => {
        if (!ok) return;
        for (const s of this.#streams.values()) {
          if (s.processId !== id) continue;
          this.#send(s, 'active', {});
          if (s.wasInactive) this.#send(s, 'reconnect', {});
          s.wasInactive = false;
        }
      });
    } else if (from === 'running' && to !== 'running') {
      for (const s of this.#streams.values()) {
        if (s.processId !== id) continue;
        this.#send(s, 'inactive', {});
        s.wasInactive = true;
      }
    }
  }

  /**
   * "active" means a viewer can join now: FFmpeg runs AND its first keyframe is in the GOP cache (a
   * POST before that gets 409). Polled briefly after the process starts running.
   */
  async #whenMedia(id: string): Promise<boolean> {
    const deadline = Date.now() + MEDIA_WAIT_MS;
    while (Date.now() < deadline) {
      if (![...this.#streams.values()].some((s) => s.processId === id)) return false;
      const st = await this.#sup.whepStats(id).catch(() => null);
      if (!st) return false;
      if (st.gopPackets > 0) return true;
      await new Promise((r) => setTimeout(r, MEDIA_POLL_MS));
    }
    return true;
  }

  /**
   * Viewers came or went: within a second, once per process however many changed (a join storm is
   * one check), send the count and end the streams of sessions that are gone (DELETE ends them at
   * once; this catches sessions that timed out or whose connection failed).
   */
  #onViewers(id: string): void {
    if (this.#viewerChecks.has(id) || ![...this.#streams.values()].some((s) => s.processId === id)) return;
    this.#viewerChecks.set(
      id,
      setTimeout(() => {
        this.#viewerChecks.delete(id);
        void this.#checkViewers(id);
      }, VIEWERCOUNT_EVERY_MS),
    );
  }

  async #checkViewers(id: string): Promise<void> {
    const [live, stats] = await Promise.all([this.#sup.whepSessionIds(id), this.#sup.whepStats(id).catch(() => null)]);
    this.#endWhere((s) => s.processId === id && !live.has(s.sessionId));
    if (!stats) return;
    for (const s of this.#streams.values()) if (s.processId === id) this.#send(s, 'viewercount', { viewercount: stats.viewers });
  }

  #sendViewers(s: EventStream): void {
    if (!s.events.has('viewercount')) return;
    void this.#sup.whepStats(s.processId).then(
      (st) => this.#send(s, 'viewercount', { viewercount: st.viewers }),
      () => undefined,
    );
  }
}
