// comlink's Node adapter is a UMD file without an exports map: ESM needs the `.js` path, and its
// types describe the CJS default differently from what Node hands to ESM. One typed wrapper here.
import type { Endpoint } from 'comlink';
import adapter from 'comlink/dist/umd/node-adapter.js';
import type { MessagePort } from 'node:worker_threads';

type NodeEndpointFn = (port: MessagePort) => Endpoint;
const fn = adapter as unknown as NodeEndpointFn | { default: NodeEndpointFn };
export const nodeEndpoint: NodeEndpointFn = typeof fn === 'function' ? fn : fn.default;
