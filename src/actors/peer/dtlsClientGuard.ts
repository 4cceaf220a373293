// werift's DTLS client (drake's side of every WHEP and WHIP session: the answer takes a=setup:active)
// treats two repeats that RFC 6347 expects a client to shrug off as new handshake steps:
// * A second HelloVerifyRequest: the peer repeats it when drake's ClientHello went out twice (werift
//   retransmits flight 1 after 500 ms, so any peer that answers slower than that on a loaded box sees
//   two). werift then throws ("flight 3 already running") and the session fails with ICE connected.
//   werift's and Pion's DTLS servers send HelloVerifyRequest; libwebrtc's (Chromium's) and libdatachannel's
//   OpenSSL build do not.
// * A server flight 4 after the handshake (a browser repeats it when drake's flight 5 is slow): werift
//   makes a fresh ECDHE key, derives a new master secret, replaces its record cipher and sends flight 5
//   again for ~30 s. The viewer keeps the first keys: werift's later DTLS records (the close_notify on
//   DELETE) no longer decrypt there, and keys exported afterwards no longer match.
import type { RTCPeerConnection } from 'werift';

const HELLO_VERIFY_REQUEST = 3;
/** ServerHello, Certificate, ServerKeyExchange, CertificateRequest, ServerHelloDone. */
const FLIGHT_4 = new Set([2, 11, 12, 13, 14]);

/** werift's SessionType.CLIENT (dtls/src/cipher/suites/abstract). */
const CLIENT = 1;

interface Handshake {
  msg_type: number;
}

interface DtlsClientInternals {
  sessionType?: number;
  connected?: boolean;
  /** The handshake flight werift is in (3 once it answered a HelloVerifyRequest, 7 when done). */
  dtls?: { flight: number };
  onHandleHandshakes?: (assembled: Handshake[]) => Promise<void>;
}

interface DtlsTransportInternals {
  dtls?: DtlsClientInternals;
  onStateChange: { subscribe(fn: (state: string) => void): unknown };
}

const guarded = new WeakSet<object>();

function stale(client: DtlsClientInternals, h: Handshake): boolean {
  if (h.msg_type === HELLO_VERIFY_REQUEST) return (client.dtls?.flight ?? 0) >= 3;
  return client.connected === true && FLIGHT_4.has(h.msg_type);
}

function guard(client: DtlsClientInternals | undefined): void {
  const handle = client?.onHandleHandshakes;
  // Only the client: werift's server answers a repeated flight 5 with its flight 6 again, as it should.
  if (!client || client.sessionType !== CLIENT || !handle || guarded.has(client)) return;
  guarded.add(client);
  client.onHandleHandshakes = (assembled) => {
    const fresh = assembled.filter((h) => !stale(client, h));
    return fresh.length === 0 ? Promise.resolve() : handle.call(client, fresh);
  };
}

/**
 * Makes each of the peer's werift DTLS clients ignore a repeated HelloVerifyRequest and, once connected,
 * a repeated server flight 4. Call after setRemoteDescription: the transports exist then, and werift
 * creates their DTLS socket only when ICE has connected. Repeat calls are no-ops.
 */
export function guardDtlsClients(pc: RTCPeerConnection): void {
  for (const transport of pc.dtlsTransports) {
    const t = transport as unknown as DtlsTransportInternals;
    if (t.dtls) {
      guard(t.dtls);
      continue;
    }
    if (guarded.has(t)) continue;
    guarded.add(t);
    // werift announces "connecting" just before it creates the socket in the same turn, and sends the
    // first ClientHello 100 ms later: a microtask is early enough.
    t.onStateChange.subscribe((state) => {
      if (state === 'connecting') queueMicrotask(() => guard(t.dtls));
    });
  }
}
