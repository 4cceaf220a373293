// Credentials never leave drake in text it shows: FFmpeg's log and prelude, the command in a process's
// state, probe logs and drake's own log. {memfs} puts user:password into URLs and an Authorization
// header into FFmpeg's options, and users put their own (rtmp://user:pass@, srt ...?passphrase=) there.

/** URL userinfo, also in the backslash-escaped forms of tee/hls options (`http\\://user\\:pass@`). */
const URL_USERINFO = /([a-z][a-z0-9+.-]*\\*:\/\/)([^\s/@:\\]*)(\\*:)([^\s/@]+)@/gi;
/** An HTTP Authorization header as FFmpeg's -headers carries it (any scheme, or a bare credential). */
const AUTH_HEADER = /(authorization:[ \t]*)(?:(basic|bearer|digest|negotiate)[ \t]+)?[^\s\\'",]+/gi;
/** Query or option parameters that hold a secret (SRT passphrase, RTMP/Core tokens, passwords). */
const SECRET_PARAM = /([?&:,\s](?:passphrase|password|passwd|pwd|token|secret|access_token|auth_token)=)[^&\s'",]+/gi;

/** The token in an SRT stream id of Core's syntax (`streamid=name,mode:request,token:T`), as {srt} writes it. */
const STREAMID_TOKEN = /(,token:)[^&\s'",]+/gi;

export const REDACTED = '***';

/** `text` with every credential it recognises replaced by ***; user names and hosts stay readable. */
export function redact(text: string): string {
  if (!text) return text;
  return text
    .replace(URL_USERINFO, (_m, scheme: string, user: string, sep: string) => `${scheme}${user}${sep}${REDACTED}@`)
    .replace(AUTH_HEADER, (_m, head: string, scheme: string | undefined) => `${head}${scheme ? `${scheme} ` : ''}${REDACTED}`)
    .replace(SECRET_PARAM, (_m, head: string) => `${head}${REDACTED}`)
    .replace(STREAMID_TOKEN, (_m, head: string) => `${head}${REDACTED}`);
}
