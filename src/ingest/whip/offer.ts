// What a WHIP offer must have for drake: H264 (packetization-mode 1) video, Opus if it has audio, both
// sendonly. Checked on the main thread before a worker starts (cheap 400/406) and again in the actor.
import { NotAcceptableError, ValidationError } from '../../shared/errors.ts';
import { parseOffer, pickH264, pickOpus, type OfferCodec, type ParsedOffer } from '../../actors/peer/sdp.ts';

export interface WhipOffer {
  parsed: ParsedOffer;
  h264: OfferCodec;
  opus: OfferCodec | null;
}

export function checkWhipOffer(offer: string): WhipOffer {
  let parsed: ParsedOffer;
  try {
    parsed = parseOffer(offer);
  } catch (err) {
    throw new ValidationError(`malformed SDP offer: ${(err as Error).message}`);
  }
  const videoMedia = parsed.media.find((m) => m.kind === 'video');
  const audioMedia = parsed.media.find((m) => m.kind === 'audio');
  const h264 = pickH264(videoMedia);
  if (!h264) throw new NotAcceptableError('the offer has no H264 (packetization-mode=1) video: drake takes H264 and Opus over WHIP');
  const opus = pickOpus(audioMedia);
  if (audioMedia && !opus) throw new NotAcceptableError("the offer's audio has no Opus: drake takes H264 and Opus over WHIP");
  for (const m of [videoMedia, audioMedia]) {
    if (m && !['sendonly', 'sendrecv'].includes(m.direction)) throw new ValidationError(`the ${m.kind} section must be sendonly (WHIP publishes)`);
  }
  return { parsed, h264, opus };
}
