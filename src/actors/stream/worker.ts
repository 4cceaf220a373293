// Entry of a stream actor's worker thread: exposes the StreamActor over comlink on the port the
// supervisor handed over, and posts events on the same port so they stay ordered with replies.
import type { MessagePort } from 'node:worker_threads';
import { workerData } from 'node:worker_threads';
import * as Comlink from 'comlink';
import { nodeEndpoint } from '../../shared/comlinkNode.ts';
import { toCallResult as guard } from '../../shared/callResult.ts';
import type { StreamActorApi, StreamEvent, StreamInit } from '../../shared/protocol.ts';
import { addRuntime, threadRuntime } from '../../shared/runtime.ts';
import { StreamActor } from './StreamActor.ts';

const port = (workerData as { port: MessagePort }).port;
let actor: StreamActor | null = null;

function need(): StreamActor {
  if (!actor) throw new Error('stream actor not initialised');
  return actor;
}

const api: StreamActorApi = {
  init: (init: StreamInit) =>
    guard(() => {
      if (actor) throw new Error('stream actor already initialised');
      actor = new StreamActor(init, (event: StreamEvent) => port.postMessage(event));
    }),
  command: (cmd) => guard(() => need().command(cmd)),
  update: (config) => guard(() => need().update(config)),
  state: () => guard(() => need().state()),
  report: () => guard(() => need().report()),
  close: () => guard(() => actor?.close()),
  whepCreate: (offer) => guard(() => need().whepCreate(offer)),
  whepPatch: (id, frag, ifMatch) => guard(() => need().whepPatch(id, frag, ifMatch)),
  whepDelete: (id) => guard(() => need().whepDelete(id)),
  whepStats: () => guard(() => need().whepStats()),
  whepSessions: () => guard(() => need().whepSessions()),
  probe: (timeoutMs) => guard(() => need().probe(timeoutMs)),
  runtime: () => guard(async () => addRuntime([threadRuntime(), ...((await actor?.shardRuntimes()) ?? [])])),
  crashShard: (index) => guard(() => need().crashShard(index)),
  relayHold: (target) => guard(() => need().relayHold(target)),
  relayDrop: (node) => guard(() => need().relayDrop(node)),
  edgeOpen: (host) => guard(() => need().edgeOpen(host)),
  edgeSource: (legs, fresh) => guard(() => need().edgeSource(legs, fresh)),
  crash: () =>
    guard(() => {
      setImmediate(() => {
        throw new Error('forced crash (test hook)');
      });
    }),
};

Comlink.expose(api, nodeEndpoint(port));
