// The one owner of a stream worker's wire. Calls go through comlink; when the worker dies every
// pending and later call rejects with WorkerClosedError (comlink alone would hang forever).
// Events are re-emitted one setImmediate later so they never overtake the reply they follow.
import { MessageChannel, type Worker } from 'node:worker_threads';
import * as Comlink from 'comlink';
import { nodeEndpoint } from '../../shared/comlinkNode.ts';
import { rebuildError, WorkerClosedError } from '../../shared/errors.ts';
import { TypedEmitter } from '../../shared/events.ts';
import {
  streamEventSchema,
  type CallResult,
  type ProcessStateDto,
  type ReportEntryDto,
  type RuntimeDto,
  type StreamActorApi,
  type StreamCommand,
  type StreamEvent,
  type StreamInit,
  type WhepCreatedDto,
  type ProbeDto,
  type RelayTargetDto,
  type WhepPatchedDto,
  type WhepSessionDto,
  type WhepStatsDto,
} from '../../shared/protocol.ts';
import type { ProcessConfig } from '../../shared/processConfig.ts';
import { siblingModule, startWorker } from '../../shared/startWorker.ts';
import { Logger } from '../../shared/log.ts';

const log = new Logger('StreamHandle');
const WORKER_ENTRY = siblingModule('../stream/worker', import.meta.url);

export interface StreamHandleEvents {
  event: [StreamEvent];
  /** The worker is gone: reason is the error text or exit code. `expected` is true after close(). */
  died: [reason: string, expected: boolean];
}

export class StreamHandle extends TypedEmitter<StreamHandleEvents> {
  readonly #worker: Worker;
  readonly #remote: Comlink.Remote<StreamActorApi>;
  readonly #closedPromise: Promise<never>;
  #rejectClosed!: (err: Error) => void;
  #dead = false;
  #closing = false;
  #lastError: string | null = null;

  constructor(processId: string) {
    super();
    const { port1, port2 } = new MessageChannel();
    this.#worker = startWorker(WORKER_ENTRY, {
      workerData: { port: port2, processId },
      transferList: [port2],
      name: `stream:${processId}`,
    });
    this.#closedPromise = new Promise<never>((_, reject) => {
      this.#rejectClosed = reject;
    });
    this.#closedPromise.catch(() => undefined);
    this.#remote = Comlink.wrap<StreamActorApi>(nodeEndpoint(port1));
    port1.on('message', (data: unknown) => {
      if (!data || typeof data !== 'object' || !('event' in data)) return;
      const parsed = streamEventSchema.safeParse(data);
      if (!parsed.success) {
        log.warn(`dropping malformed event from stream ${processId}`);
        return;
      }
      setImmediate(() => this.safeEmit('event', parsed.data));
    });
    this.#worker.on('error', (err) => {
      this.#lastError = err.message;
    });
    this.#worker.on('exit', (code) => {
      this.#dead = true;
      port1.close();
      const reason = this.#lastError ? `stream worker crashed: ${this.#lastError}` : `stream worker exited with code ${code}`;
      this.#rejectClosed(new WorkerClosedError(reason));
      setImmediate(() => this.safeEmit('died', reason, this.#closing));
    });
  }

  get dead(): boolean {
    return this.#dead;
  }

  async #call<T>(method: string, invoke: () => Promise<CallResult<T>>): Promise<T> {
    if (this.#dead) throw new WorkerClosedError(`stream worker is gone (${method})`);
    const result = await Promise.race([invoke(), this.#closedPromise]);
    if (!result.ok) throw rebuildError(result.error);
    return result.value;
  }

  init(init: StreamInit): Promise<void> {
    return this.#call('stream.init', () => this.#remote.init(init));
  }
  command(cmd: StreamCommand): Promise<void> {
    return this.#call('stream.command', () => this.#remote.command(cmd));
  }
  update(config: ProcessConfig): Promise<void> {
    return this.#call('stream.update', () => this.#remote.update(config));
  }
  state(): Promise<ProcessStateDto> {
    return this.#call('stream.state', () => this.#remote.state());
  }
  report(): Promise<ReportEntryDto> {
    return this.#call('stream.report', () => this.#remote.report());
  }
  whepCreate(offer: string): Promise<WhepCreatedDto> {
    return this.#call('stream.whepCreate', () => this.#remote.whepCreate(offer));
  }
  whepPatch(sessionId: string, frag: string, ifMatch: string | null): Promise<WhepPatchedDto> {
    return this.#call('stream.whepPatch', () => this.#remote.whepPatch(sessionId, frag, ifMatch));
  }
  whepDelete(sessionId: string): Promise<boolean> {
    return this.#call('stream.whepDelete', () => this.#remote.whepDelete(sessionId));
  }
  whepStats(): Promise<WhepStatsDto> {
    return this.#call('stream.whepStats', () => this.#remote.whepStats());
  }
  whepSessions(): Promise<WhepSessionDto[]> {
    return this.#call('stream.whepSessions', () => this.#remote.whepSessions());
  }
  probe(timeoutMs: number): Promise<ProbeDto> {
    return this.#call('stream.probe', () => this.#remote.probe(timeoutMs));
  }
  runtime(): Promise<RuntimeDto> {
    return this.#call('stream.runtime', () => this.#remote.runtime());
  }
  crashForTest(): Promise<void> {
    return this.#call('stream.crash', () => this.#remote.crash());
  }
  relayHold(target: RelayTargetDto): Promise<{ video: boolean; audio: boolean }> {
    return this.#call('stream.relayHold', () => this.#remote.relayHold(target));
  }
  relayDrop(node: string): Promise<boolean> {
    return this.#call('stream.relayDrop', () => this.#remote.relayDrop(node));
  }
  edgeOpen(host: string): Promise<{ port: number; token: string }> {
    return this.#call('stream.edgeOpen', () => this.#remote.edgeOpen(host));
  }
  edgeSource(legs: { video: boolean; audio: boolean }, newSource: boolean): Promise<void> {
    return this.#call('stream.edgeSource', () => this.#remote.edgeSource(legs, newSource));
  }
  crashShardForTest(index: number): Promise<void> {
    return this.#call('stream.crashShard', () => this.#remote.crashShard(index));
  }

  /** Stops the actor's child gracefully, then ends the thread. Idempotent. */
  async close(): Promise<void> {
    if (this.#closing) return;
    this.#closing = true;
    if (!this.#dead) {
      try {
        await this.#call('stream.close', () => this.#remote.close());
      } catch {
        // A worker that is already dying is terminated below all the same.
      }
      this.#remote[Comlink.releaseProxy]();
    }
    await this.#worker.terminate();
  }
}
