// werift's DTLS client (drake's side of every WHEP session: the answer takes a=setup:active) handles a
// server flight 4 that arrives after the handshake as a new one: it makes a fresh ECDHE key, derives a
// new master secret, replaces its record cipher and sends flight 5 again, retransmitting it for ~30 s.
// A browser repeats flight 4 whenever drake's flight 5 is slow to come (a loaded box), so the copy often
// lands just after the handshake. The viewer keeps the first keys: werift's later DTLS records (the
// close_notify on DELETE) no longer decrypt there, and keys exported afterwards no longer match.
import type { RTCPeerConnection } from 'werift';

/** ServerHello, Certificate, ServerKeyExchange, CertificateRequest, ServerHelloDone. */
const FLIGHT_4 = new Set([2, 11, 12, 13, 14]);

/** werift's SessionType.CLIENT (dtls/src/cipher/suites/abstract). */
const CLIENT = 1;

interface DtlsClientInternals {
  sessionType?: number;
  connected?: boolean;
  onHandleHandshakes?: (assembled: Array<{ msg_type: number }>) => Promise<void>;
}

const guarded = new WeakSet<object>();

/**
 * Makes each of the peer's connected DTLS clients drop flight 4 messages from then on (RFC 6347: a
 * finished handshake has nothing to answer them with). Call once DTLS is connected; repeat calls are no-ops.
 */
export function ignoreLateServerFlights(pc: RTCPeerConnection): void {
  for (const transport of pc.dtlsTransports) {
    const client = (transport as unknown as { dtls?: DtlsClientInternals }).dtls;
    const handle = client?.onHandleHandshakes;
    // Only the client: werift's server answers a repeated flight 5 with its flight 6 again, as it should.
    if (!client || client.sessionType !== CLIENT || !handle || guarded.has(client)) continue;
    guarded.add(client);
    client.onHandleHandshakes = (assembled) => {
      if (client.connected && assembled.some((h) => FLIGHT_4.has(h.msg_type))) return Promise.resolve();
      return handle.call(client, assembled);
    };
  }
}
