// drake SRTP: RTP → SRTP (RFC 3711 AES_CM_128_HMAC_SHA1_80, RFC 7714 AEAD_AES_128_GCM) for the fan-out hot
// path, SRTCP both ways (protectRtcp / unprotectRtcp, for the RTCP viewers send back: RR, NACK, PLI), plus a
// sendmmsg(2) helper. Plain N-API C (no node-addon-api).
//
// Crypto comes from the OpenSSL inside the running node binary: the .node file is built against Node's own
// headers (node-gyp --nodedir) and is NOT linked with -lcrypto; EVP_*/SHA1_* resolve from the node
// executable at load time. This ties the build to the OpenSSL ABI of the Node it was built for (rebuild per
// Node major; Electron/BoringSSL will not work).
//
// Per context (one per viewer/DTLS session): session keys derived once, one reusable EVP_CIPHER_CTX keyed once
// (only the IV changes per packet), and for CM the HMAC-SHA1 inner/outer SHA1 states after the ipad/opad block,
// so a packet costs one IV reset + one cipher pass + two SHA1 finishes and no allocation.
//
// SRTCP (RFC 3711 §3.4, RFC 7714 §9) lives in the same context: its session keys (KDF labels 3/4/5) are
// derived at createContext next to the SRTP ones, with a second EVP_CIPHER_CTX and its own HMAC states, so the
// SRTP send path reads none of it. Which keys a context holds is the caller's choice: DTLS's local key/salt for
// protect/protectRtcp, the remote ones for unprotectRtcp. protectRtcp numbers packets per sender SSRC (bytes
// 4..7) from 1, wrapping 2^31−1 → 0, as werift does (byte-identical output). unprotectRtcp keeps a 128-index
// replay window per sender SSRC (a ring bitmap in a fixed table of RTCP_RX_SLOTS, least recently accepted
// evicted: a peer cannot grow memory or the lookup by inventing SSRCs) and only updates it once the packet
// authenticated. Index arithmetic is modulo 2^31, so a sender that wraps like werift keeps working.
// E=0 (unencrypted but authenticated) SRTCP is accepted: RFC 3711 §3.4 makes SRTCP encryption optional per
// packet and the E flag is covered by the HMAC / GCM AAD, so it cannot be cleared by anyone without the key
// (werift and libsrtp accept it as well).
//
// Threads: an addon is loaded once per process but contexts are N-API externals of the env (thread) that
// created them; never share one across worker threads (the JS side cannot anyway).
#ifndef _GNU_SOURCE
#define _GNU_SOURCE  // sendmmsg, struct mmsghdr
#endif
#define NAPI_VERSION 8
#include <node_api.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/sha.h>

#ifdef __linux__
#include <arpa/inet.h>
#include <netinet/in.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>
#include <uv.h>
#endif

#define PROFILE_CM 1   // SRTP_AES128_CM_HMAC_SHA1_80 (DTLS-SRTP protection profile 0x0001)
#define PROFILE_GCM 7  // SRTP_AEAD_AES_128_GCM (0x0007)
#define HEADER_SLOT 12 // per-viewer header template size in protectBatch
#define ADDRESS_SLOT 28 // one destination record in sendBatch: room for a struct sockaddr_in6
#define SEND_CHUNK 256 // messages per sendmmsg call (kernel caps vlen at UIO_MAXIOV = 1024)
#define RTCP_WINDOW 128   // SRTCP replay window (indexes), as libsrtp's RTCP replay database
#define RTCP_RX_SLOTS 16  // sender SSRCs whose replay window a context keeps (a browser uses 1–3)
#define RTCP_INDEX_MASK 0x7fffffffu

// unprotectRtcp's results below 0 (types.ts SRTCP_ERROR mirrors these)
#define SRTCP_MALFORMED (-1)      // shorter than header + E|index + tag, or not RTCP version 2
#define SRTCP_AUTH_FAILED (-2)    // tag mismatch (HMAC-SHA1-80 or GCM)
#define SRTCP_REPLAYED (-3)       // this index of this SSRC was already accepted
#define SRTCP_TOO_OLD (-4)        // RTCP_WINDOW or more behind the highest accepted index of this SSRC
#define SRTCP_OUT_TOO_SMALL (-5)  // out cannot hold the plaintext

// Type tag of our externals, so a foreign value is rejected instead of dereferenced.
static const napi_type_tag kCtxTag = {0x6472616b65737274ULL, 0x7020637478763101ULL};

typedef struct {
  uint32_t ssrc;
  uint32_t roc;  // rollover counter of the highest index sent so far
  uint16_t seq;  // s_l: highest sequence number sent so far (with roc)
  uint8_t started;
} ssrc_state;

typedef struct {
  uint32_t ssrc;
  uint32_t index;  // last SRTCP index sent (0 before the first: the first packet gets 1)
} rtcp_tx_state;

typedef struct {
  uint64_t seen[RTCP_WINDOW / 64];  // bit (i mod RTCP_WINDOW): index i accepted, for i in (highest − WINDOW, highest]
  uint64_t last_used;               // ctx->rtcp_tick when this slot last accepted a packet (0: free)
  uint32_t ssrc;
  uint32_t highest;                 // highest index accepted (modulo 2^31)
} rtcp_rx_state;

typedef struct {
  int profile;
  int tag_len;
  EVP_CIPHER_CTX *cipher;  // keyed once; per packet only the IV is set
  uint8_t salt[14];        // session salt (GCM uses the first 12 bytes)
  SHA_CTX hmac_inner;      // CM: SHA1 state after (auth_key ^ ipad)
  SHA_CTX hmac_outer;      // CM: SHA1 state after (auth_key ^ opad)
  ssrc_state *states;
  uint32_t n_states;
  uint32_t cap_states;
  uint32_t last;  // index of the last state hit: nearly every packet of a viewer hits the same one or two
  // SRTCP, after everything the SRTP path touches
  EVP_CIPHER_CTX *rtcp_cipher;  // keyed once with the SRTCP session key
  uint8_t rtcp_salt[14];
  SHA_CTX rtcp_inner;
  SHA_CTX rtcp_outer;
  rtcp_tx_state *rtcp_tx;
  uint32_t n_rtcp_tx;
  uint32_t cap_rtcp_tx;
  uint64_t rtcp_tick;
  rtcp_rx_state rtcp_rx[RTCP_RX_SLOTS];
} srtp_ctx;

static __thread int g_last_send_errno = 0;

// ---------------------------------------------------------------------------------------------- helpers

#define CHECK(env, call)                         \
  do {                                           \
    if ((call) != napi_ok) return throw_last(env); \
  } while (0)

static napi_value throw_last(napi_env env) {
  const napi_extended_error_info *info = NULL;
  napi_get_last_error_info(env, &info);
  bool pending = false;
  napi_is_exception_pending(env, &pending);
  if (!pending) napi_throw_error(env, NULL, info && info->error_message ? info->error_message : "napi call failed");
  return NULL;
}

static napi_value throw_type(napi_env env, const char *msg) {
  napi_throw_type_error(env, NULL, msg);
  return NULL;
}

static napi_value throw_range(napi_env env, const char *msg) {
  napi_throw_range_error(env, NULL, msg);
  return NULL;
}

static napi_value make_u32(napi_env env, uint32_t v) {
  napi_value r;
  napi_create_uint32(env, v, &r);
  return r;
}

static napi_value make_i32(napi_env env, int32_t v) {
  napi_value r;
  napi_create_int32(env, v, &r);
  return r;
}

static inline void put32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24);
  p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8);
  p[3] = (uint8_t)v;
}

static inline uint32_t get32(const uint8_t *p) {
  return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}

static bool get_buffer(napi_env env, napi_value v, uint8_t **data, size_t *len) {
  bool is_buf = false;
  if (napi_is_buffer(env, v, &is_buf) != napi_ok || !is_buf) return false;
  void *d = NULL;
  if (napi_get_buffer_info(env, v, &d, len) != napi_ok) return false;
  *data = (uint8_t *)d;
  return true;
}

static bool get_typed_array(napi_env env, napi_value v, napi_typedarray_type want, void **data, size_t *len) {
  bool is_ta = false;
  if (napi_is_typedarray(env, v, &is_ta) != napi_ok || !is_ta) return false;
  napi_typedarray_type type;
  return napi_get_typedarray_info(env, v, &type, len, data, NULL, NULL) == napi_ok && type == want;
}

static bool get_u32_array(napi_env env, napi_value v, uint32_t **data, size_t *len) {
  return get_typed_array(env, v, napi_uint32_array, (void **)data, len);
}

static srtp_ctx *get_ctx(napi_env env, napi_value v) {
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_external) return NULL;
  bool ok = false;
  if (napi_check_object_type_tag(env, v, &kCtxTag, &ok) != napi_ok || !ok) return NULL;
  void *p = NULL;
  if (napi_get_value_external(env, v, &p) != napi_ok) return NULL;
  return (srtp_ctx *)p;
}

// ---------------------------------------------------------------------------------------------- KDF

static bool aes_ecb_block(const uint8_t key[16], const uint8_t in[16], uint8_t out[16]) {
  EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
  if (!c) return false;
  int n = 0, ok = EVP_EncryptInit_ex(c, EVP_aes_128_ecb(), NULL, key, NULL) == 1 &&
                  EVP_CIPHER_CTX_set_padding(c, 0) == 1 && EVP_EncryptUpdate(c, out, &n, in, 16) == 1 && n == 16;
  EVP_CIPHER_CTX_free(c);
  return ok;
}

// RFC 3711 §4.3.1 with key_derivation_rate 0 (index/kdr = 0): x = (label << 48) XOR master_salt, where the
// master salt is 112 bits; AES-CM keystream with IV = x·2^16. RFC 7714 (GCM) uses the same KDF with its 96-bit
// master salt; like libsrtp and werift, the salt is zero-padded at the end to 112 bits.
static bool kdf(const uint8_t mk[16], const uint8_t ms14[14], uint8_t label, uint8_t *out, size_t len) {
  uint8_t iv[16], block[16];
  memcpy(iv, ms14, 14);
  iv[7] ^= label;
  for (size_t off = 0, ctr = 0; off < len; off += 16, ctr++) {
    iv[14] = (uint8_t)(ctr >> 8);
    iv[15] = (uint8_t)ctr;
    if (!aes_ecb_block(mk, iv, block)) return false;
    memcpy(out + off, block, len - off < 16 ? len - off : 16);
  }
  OPENSSL_cleanse(block, sizeof block);
  return true;
}

static void ctx_free(srtp_ctx *c) {
  if (!c) return;
  if (c->cipher) EVP_CIPHER_CTX_free(c->cipher);
  if (c->rtcp_cipher) EVP_CIPHER_CTX_free(c->rtcp_cipher);
  free(c->states);
  free(c->rtcp_tx);
  OPENSSL_cleanse(c, sizeof *c);
  free(c);
}

static void ctx_finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  ctx_free((srtp_ctx *)data);
}

// ---------------------------------------------------------------------------------------------- ROC

static ssrc_state *state_for(srtp_ctx *c, uint32_t ssrc) {
  if (c->n_states > c->last && c->states[c->last].ssrc == ssrc) return &c->states[c->last];
  for (uint32_t i = 0; i < c->n_states; i++) {
    if (c->states[i].ssrc == ssrc) {
      c->last = i;
      return &c->states[i];
    }
  }
  if (c->n_states == c->cap_states) {
    uint32_t cap = c->cap_states ? c->cap_states * 2 : 4;
    ssrc_state *s = (ssrc_state *)realloc(c->states, cap * sizeof *s);
    if (!s) return NULL;
    c->states = s;
    c->cap_states = cap;
  }
  ssrc_state *s = &c->states[c->n_states];
  memset(s, 0, sizeof *s);
  s->ssrc = ssrc;
  c->last = c->n_states++;
  return s;
}

// Sender-side packet index (RFC 3711 §3.3.1, the same estimate libsrtp's receiver makes): the ROC whose index
// is closest to the highest one sent so far; the state only moves forward, so a late retransmission of a
// packet from before the wrap is protected with ROC-1 and does not disturb later packets. The first packet
// starts at ROC 0. A guess below ROC 0 (a packet "before" the very first one across a wrap) uses ROC 0.
// For in-order sequences this equals werift's SrtpContext.updateRolloverCount.
static uint32_t roc_for(ssrc_state *s, uint16_t seq) {
  if (!s->started) {
    s->started = 1;
    s->roc = 0;
    s->seq = seq;
    return 0;
  }
  uint32_t roc = s->roc;
  uint32_t v = roc;
  if (s->seq < 32768) {
    if ((int32_t)seq - (int32_t)s->seq > 32768) {
      if (roc == 0) return 0;  // before the stream's first ROC: nothing sensible to update
      v = roc - 1;
    }
  } else if ((int32_t)s->seq - 32768 > (int32_t)seq) {
    v = roc + 1;
  }
  if (v > roc || (v == roc && seq > s->seq)) {
    s->roc = v;
    s->seq = seq;
  }
  return v;
}

// ---------------------------------------------------------------------------------------------- protect

// RTP header length (fixed part + CSRCs + extension), or -1 when the packet is not RTP v2 or is truncated.
static long rtp_header_len(const uint8_t *p, size_t len) {
  if (len < 12 || (p[0] >> 6) != 2) return -1;
  size_t hl = 12 + 4 * (size_t)(p[0] & 0x0f);
  if (p[0] & 0x10) {
    if (hl + 4 > len) return -1;
    hl += 4 + 4 * (((size_t)p[hl + 2] << 8) | p[hl + 3]);
  }
  return hl > len ? -1 : (long)hl;
}

// Protects one packet whose header (hl bytes) is already in dst; the payload (plen bytes) is read from src,
// which may be dst + hl (in place). Writes the tag after the payload. Returns false on an OpenSSL failure.
static bool protect_core(srtp_ctx *c, uint8_t *dst, size_t hl, const uint8_t *src, size_t plen) {
  uint16_t seq = (uint16_t)((dst[2] << 8) | dst[3]);
  uint32_t ssrc = get32(dst + 8);
  ssrc_state *s = state_for(c, ssrc);
  if (!s) return false;
  uint32_t roc = roc_for(s, seq);
  int n = 0;
  if (c->profile == PROFILE_CM) {
    // IV = (k_s · 2^16) XOR (SSRC · 2^64) XOR (i · 2^16), i = ROC · 2^16 + SEQ
    uint8_t iv[16];
    memcpy(iv, c->salt, 14);
    iv[14] = iv[15] = 0;
    iv[4] ^= (uint8_t)(ssrc >> 24), iv[5] ^= (uint8_t)(ssrc >> 16), iv[6] ^= (uint8_t)(ssrc >> 8), iv[7] ^= (uint8_t)ssrc;
    iv[8] ^= (uint8_t)(roc >> 24), iv[9] ^= (uint8_t)(roc >> 16), iv[10] ^= (uint8_t)(roc >> 8), iv[11] ^= (uint8_t)roc;
    iv[12] ^= (uint8_t)(seq >> 8), iv[13] ^= (uint8_t)seq;
    // Re-init with only an IV keeps the key schedule and resets the CTR block offset (num) to 0.
    if (EVP_EncryptInit_ex(c->cipher, NULL, NULL, NULL, iv) != 1) return false;
    if (plen && EVP_EncryptUpdate(c->cipher, dst + hl, &n, src, (int)plen) != 1) return false;
    // auth tag = first 80 bits of HMAC-SHA1(k_a, header || encrypted payload || ROC)
    uint8_t rocb[4], digest[SHA_DIGEST_LENGTH];
    put32(rocb, roc);
    SHA_CTX h = c->hmac_inner;
    SHA1_Update(&h, dst, hl + plen);
    SHA1_Update(&h, rocb, 4);
    SHA1_Final(digest, &h);
    h = c->hmac_outer;
    SHA1_Update(&h, digest, SHA_DIGEST_LENGTH);
    SHA1_Final(digest, &h);
    memcpy(dst + hl + plen, digest, 10);
    return true;
  }
  // GCM (RFC 7714 §8.1): IV = (0x0000 || SSRC || ROC || SEQ) XOR salt[0..12]; AAD = the RTP header.
  uint8_t iv[12];
  memcpy(iv, c->salt, 12);
  iv[2] ^= (uint8_t)(ssrc >> 24), iv[3] ^= (uint8_t)(ssrc >> 16), iv[4] ^= (uint8_t)(ssrc >> 8), iv[5] ^= (uint8_t)ssrc;
  iv[6] ^= (uint8_t)(roc >> 24), iv[7] ^= (uint8_t)(roc >> 16), iv[8] ^= (uint8_t)(roc >> 8), iv[9] ^= (uint8_t)roc;
  iv[10] ^= (uint8_t)(seq >> 8), iv[11] ^= (uint8_t)seq;
  if (EVP_EncryptInit_ex(c->cipher, NULL, NULL, NULL, iv) != 1) return false;
  if (EVP_EncryptUpdate(c->cipher, NULL, &n, dst, (int)hl) != 1) return false;
  if (plen && EVP_EncryptUpdate(c->cipher, dst + hl, &n, src, (int)plen) != 1) return false;
  int fin = 0;
  if (EVP_EncryptFinal_ex(c->cipher, dst + hl + plen, &fin) != 1) return false;
  return EVP_CIPHER_CTX_ctrl(c->cipher, EVP_CTRL_GCM_GET_TAG, 16, dst + hl + plen) == 1;
}

// Session key, salt and (CM) HMAC ipad/opad states for labels base, base+1, base+2 (key, auth, salt): one cipher
// context keyed once, so a packet only sets its IV.
static bool setup_keys(srtp_ctx *c, const uint8_t mk[16], const uint8_t salt14[14], uint8_t base, EVP_CIPHER_CTX **cipher,
                       uint8_t salt_out[14], SHA_CTX *inner, SHA_CTX *outer) {
  uint8_t key[16], auth[20];
  bool ok = kdf(mk, salt14, base, key, 16) && kdf(mk, salt14, (uint8_t)(base + 2), salt_out, 14);
  if (ok && c->profile == PROFILE_CM) ok = kdf(mk, salt14, (uint8_t)(base + 1), auth, 20);
  *cipher = ok ? EVP_CIPHER_CTX_new() : NULL;
  ok = *cipher != NULL &&
       EVP_EncryptInit_ex(*cipher, c->profile == PROFILE_CM ? EVP_aes_128_ctr() : EVP_aes_128_gcm(), NULL, key, NULL) == 1;
  if (ok && c->profile == PROFILE_CM) {
    uint8_t pad[64];
    memset(pad, 0x36, 64);
    for (int i = 0; i < 20; i++) pad[i] ^= auth[i];
    ok = SHA1_Init(inner) == 1 && SHA1_Update(inner, pad, 64) == 1;
    memset(pad, 0x5c, 64);
    for (int i = 0; i < 20; i++) pad[i] ^= auth[i];
    ok = ok && SHA1_Init(outer) == 1 && SHA1_Update(outer, pad, 64) == 1;
    OPENSSL_cleanse(pad, sizeof pad);
  }
  OPENSSL_cleanse(key, sizeof key);
  OPENSSL_cleanse(auth, sizeof auth);
  return ok;
}

// createContext(profile: 1 | 7, masterKey: Buffer(16), masterSalt: Buffer(14 | 12), ssrc?: number) → external
static napi_value CreateContext(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 3) return throw_type(env, "createContext(profile, masterKey, masterSalt, ssrc?)");
  int32_t profile = 0;
  if (napi_get_value_int32(env, argv[0], &profile) != napi_ok || (profile != PROFILE_CM && profile != PROFILE_GCM))
    return throw_type(env, "profile must be 1 (AES_CM_128_HMAC_SHA1_80) or 7 (AEAD_AES_128_GCM)");
  uint8_t *mk, *ms;
  size_t mkl, msl;
  if (!get_buffer(env, argv[1], &mk, &mkl) || mkl != 16) return throw_type(env, "masterKey must be a 16-byte Buffer");
  size_t want_salt = profile == PROFILE_CM ? 14 : 12;
  if (!get_buffer(env, argv[2], &ms, &msl) || msl != want_salt)
    return throw_type(env, profile == PROFILE_CM ? "masterSalt must be a 14-byte Buffer" : "masterSalt must be a 12-byte Buffer");
  bool has_ssrc = false;
  uint32_t ssrc = 0;
  if (argc > 3) {
    napi_valuetype t;
    napi_typeof(env, argv[3], &t);
    if (t != napi_undefined) {
      if (t != napi_number || napi_get_value_uint32(env, argv[3], &ssrc) != napi_ok) return throw_type(env, "ssrc must be a uint32");
      has_ssrc = true;
    }
  }

  srtp_ctx *c = (srtp_ctx *)calloc(1, sizeof *c);
  if (!c) return throw_range(env, "out of memory");
  c->profile = profile;
  c->tag_len = profile == PROFILE_CM ? 10 : 16;
  uint8_t salt14[14] = {0};
  memcpy(salt14, ms, msl);
  // SRTP: labels 0 (key), 1 (auth key), 2 (salt); SRTCP: 3, 4, 5 (RFC 3711 §4.3.2)
  bool ok = setup_keys(c, mk, salt14, 0x00, &c->cipher, c->salt, &c->hmac_inner, &c->hmac_outer) &&
            setup_keys(c, mk, salt14, 0x03, &c->rtcp_cipher, c->rtcp_salt, &c->rtcp_inner, &c->rtcp_outer);
  OPENSSL_cleanse(salt14, sizeof salt14);
  if (ok && has_ssrc) ok = state_for(c, ssrc) != NULL;
  if (!ok) {
    ctx_free(c);
    napi_throw_error(env, NULL, "SRTP context setup failed (OpenSSL)");
    return NULL;
  }
  napi_value ext;
  if (napi_create_external(env, c, ctx_finalize, NULL, &ext) != napi_ok) {
    ctx_free(c);
    return throw_last(env);
  }
  CHECK(env, napi_type_tag_object(env, ext, &kCtxTag));
  return ext;
}

// Reads the (ctx, packet: Buffer, out: Buffer) arguments protect, protectRtcp and unprotectRtcp share.
// false after throwing (`name` names the function in the message): the caller returns NULL.
static bool ctx_packet_out(napi_env env, napi_callback_info info, const char *name, srtp_ctx **c, uint8_t **pkt, size_t *len, uint8_t **out,
                           size_t *cap) {
  size_t argc = 3;
  napi_value argv[3];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) {
    throw_last(env);
    return false;
  }
  *c = argc >= 3 ? get_ctx(env, argv[0]) : NULL;
  if (!*c) {
    char msg[96];
    snprintf(msg, sizeof msg, "%s(ctx, packet, out): ctx is not an SRTP context of this backend", name);
    throw_type(env, msg);
    return false;
  }
  if (!get_buffer(env, argv[1], pkt, len) || !get_buffer(env, argv[2], out, cap)) {
    throw_type(env, "packet and out must be Buffers");
    return false;
  }
  return true;
}

// protect(ctx, packet: Buffer, out: Buffer) → bytes written to out (packet length + tag).
// In place: packet = buf.subarray(0, len), out = buf (same start, room for the tag); other overlaps are undefined.
static napi_value Protect(napi_env env, napi_callback_info info) {
  srtp_ctx *c;
  uint8_t *pkt, *out;
  size_t len, cap;
  if (!ctx_packet_out(env, info, "protect", &c, &pkt, &len, &out, &cap)) return NULL;
  long hl = rtp_header_len(pkt, len);
  if (hl < 0) return throw_range(env, "not an RTP v2 packet (or truncated header)");
  if (cap < len + (size_t)c->tag_len) return throw_range(env, "out is too small for packet + auth tag");
  if (out != pkt) memmove(out, pkt, (size_t)hl);
  if (!protect_core(c, out, (size_t)hl, pkt + hl, len - (size_t)hl)) {
    napi_throw_error(env, NULL, "SRTP protect failed (OpenSSL)");
    return NULL;
  }
  return make_u32(env, (uint32_t)(len + (size_t)c->tag_len));
}

// protectBatch(ctxs: ctx[], src: Buffer, headers: Buffer, out: Buffer, stride: number, lengths: Uint32Array[, count]) → K
//   K = count when given (≤ ctxs.length: callers keep one grown array and pass how many entries are live), else
//   ctxs.length.
//   src: ONE plaintext RTP packet (its CSRCs, extension and payload are shared by all viewers).
//   headers: K × 12 bytes; bytes 1..11 of slot i (M/PT, seq, timestamp, SSRC) become viewer i's fixed header.
//     Byte 0 (V, P, X, CC) always comes from src, because the CSRC list and extension are copied from src.
//   out: viewer i's SRTP packet is written at i·stride; lengths[i] gets its length. stride ≥ src + 16.
// Everything is validated before the first packet is touched, so it either throws or protects all K.
static napi_value ProtectBatch(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value argv[7];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 6) return throw_type(env, "protectBatch(ctxs, src, headers, out, stride, lengths[, count])");
  bool is_arr = false;
  uint32_t k = 0;
  if (napi_is_array(env, argv[0], &is_arr) != napi_ok || !is_arr) return throw_type(env, "ctxs must be an array of SRTP contexts");
  CHECK(env, napi_get_array_length(env, argv[0], &k));
  if (argc >= 7) {
    napi_valuetype t;
    CHECK(env, napi_typeof(env, argv[6], &t));
    if (t != napi_undefined) {
      uint32_t count;
      if (napi_get_value_uint32(env, argv[6], &count) != napi_ok) return throw_type(env, "count must be a uint32");
      if (count > k) return throw_range(env, "count exceeds ctxs.length");
      k = count;
    }
  }
  uint8_t *src, *hdrs, *out;
  size_t len, hlen, cap, nlen;
  uint32_t *lengths, stride;
  if (!get_buffer(env, argv[1], &src, &len) || !get_buffer(env, argv[2], &hdrs, &hlen) || !get_buffer(env, argv[3], &out, &cap))
    return throw_type(env, "src, headers and out must be Buffers");
  if (napi_get_value_uint32(env, argv[4], &stride) != napi_ok) return throw_type(env, "stride must be a uint32");
  if (!get_u32_array(env, argv[5], &lengths, &nlen)) return throw_type(env, "lengths must be a Uint32Array");
  long hl = rtp_header_len(src, len);
  if (hl < 0) return throw_range(env, "src is not an RTP v2 packet (or truncated header)");
  if (stride < len + 16) return throw_range(env, "stride must be at least src.length + 16");
  if (hlen < (size_t)k * HEADER_SLOT) return throw_range(env, "headers must hold ctxs.length × 12 bytes");
  if (cap < (size_t)k * stride) return throw_range(env, "out must hold ctxs.length × stride bytes");
  if (nlen < k) return throw_range(env, "lengths must hold ctxs.length entries");
  if ((src < out + (size_t)k * stride && out < src + len) || (hdrs < out + (size_t)k * stride && out < hdrs + hlen))
    return throw_range(env, "out must not overlap src or headers");

  // Resolve every context first (a bad element throws before anything is written). Stack for typical K.
  srtp_ctx *stack_ctx[256];
  srtp_ctx **ctxs = k <= 256 ? stack_ctx : (srtp_ctx **)malloc(k * sizeof(srtp_ctx *));
  if (!ctxs) return throw_range(env, "out of memory");
  for (uint32_t i = 0; i < k; i++) {
    napi_value el;
    if (napi_get_element(env, argv[0], i, &el) != napi_ok || !(ctxs[i] = get_ctx(env, el))) {
      if (ctxs != stack_ctx) free(ctxs);
      return throw_type(env, "ctxs[i] is not an SRTP context of this backend");
    }
  }
  size_t plen = len - (size_t)hl;
  bool ok = true;
  for (uint32_t i = 0; i < k && ok; i++) {
    uint8_t *dst = out + (size_t)i * stride;
    memcpy(dst, src, (size_t)hl);
    memcpy(dst + 1, hdrs + (size_t)i * HEADER_SLOT + 1, HEADER_SLOT - 1);
    ok = protect_core(ctxs[i], dst, (size_t)hl, src + hl, plen);
    lengths[i] = (uint32_t)(len + (size_t)ctxs[i]->tag_len);
  }
  if (ctxs != stack_ctx) free(ctxs);
  if (!ok) {
    napi_throw_error(env, NULL, "SRTP protect failed (OpenSSL)");
    return NULL;
  }
  return make_u32(env, k);
}

// protectInto(ctx, src: Buffer, header: Buffer, out: Buffer, slot, stride, lengths: Uint32Array) → SRTP length
//   One packet into slot `slot` of a send batch: the RTP packet src with bytes 1..11 (M/PT, seq, timestamp, SSRC)
//   taken from header[1..11], protected into out[slot·stride ..]; lengths[slot] gets its length. For batches of
//   different packets (bursts, NACK answers) that leave in one sendBatch; nothing is allocated.
static napi_value ProtectInto(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value argv[7];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  srtp_ctx *c = argc >= 7 ? get_ctx(env, argv[0]) : NULL;
  if (!c) return throw_type(env, "protectInto(ctx, src, header, out, slot, stride, lengths): ctx is not an SRTP context of this backend");
  uint8_t *src, *hdr, *out;
  size_t len, hlen, cap, nlen;
  uint32_t slot, stride, *lengths;
  if (!get_buffer(env, argv[1], &src, &len) || !get_buffer(env, argv[2], &hdr, &hlen) || !get_buffer(env, argv[3], &out, &cap))
    return throw_type(env, "src, header and out must be Buffers");
  if (napi_get_value_uint32(env, argv[4], &slot) != napi_ok || napi_get_value_uint32(env, argv[5], &stride) != napi_ok)
    return throw_type(env, "slot and stride must be uint32");
  if (!get_u32_array(env, argv[6], &lengths, &nlen)) return throw_type(env, "lengths must be a Uint32Array");
  long hl = rtp_header_len(src, len);
  if (hl < 0) return throw_range(env, "src is not an RTP v2 packet (or truncated header)");
  if (hlen < HEADER_SLOT) return throw_range(env, "header must hold 12 bytes");
  if (stride < len + (size_t)c->tag_len) return throw_range(env, "stride must be at least src.length + tag");
  if (slot >= nlen || ((size_t)slot + 1) * stride > cap) return throw_range(env, "slot is beyond out or lengths");
  uint8_t *dst = out + (size_t)slot * stride;
  if ((src < dst + stride && dst < src + len) || (hdr < dst + stride && dst < hdr + HEADER_SLOT))
    return throw_range(env, "out's slot must not overlap src or header");
  memcpy(dst, src, (size_t)hl);
  memcpy(dst + 1, hdr + 1, HEADER_SLOT - 1);
  if (!protect_core(c, dst, (size_t)hl, src + hl, len - (size_t)hl)) {
    napi_throw_error(env, NULL, "SRTP protect failed (OpenSSL)");
    return NULL;
  }
  uint32_t n = (uint32_t)(len + (size_t)c->tag_len);
  lengths[slot] = n;
  return make_u32(env, n);
}

// protectRun(ctx, stage, offsets, lens, kinds, count, mask, params, out, slot, stride, lengths) -> slots written
//   One viewer's share of a live flush, in one call: of the `count` staged packets (stage[offsets[i], +lens[i]],
//   kinds[i] 0 = video, 1 = audio), those whose kind bit is in `mask` (1 video, 2 audio), every video one first,
//   then every audio one, each in staging order, protected into out from slot `slot` on, each with the viewer's
//   header for its kind: params = [video seq, audio seq, video SSRC, audio SSRC, video PT, audio PT]. Marker,
//   timestamp, byte 0, CSRCs, extension and payload come from the packet; the seqs count up per packet and are
//   written back into params. lengths[slot + j] = SRTP length of the j-th. A packet that is not RTP v2 is
//   skipped (0 slots, no seq). Everything is checked before the first packet is touched.
static napi_value ProtectRun(napi_env env, napi_callback_info info) {
  size_t argc = 12;
  napi_value argv[12];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  srtp_ctx *c = argc >= 12 ? get_ctx(env, argv[0]) : NULL;
  if (!c) return throw_type(env, "protectRun(ctx, stage, offsets, lens, kinds, count, mask, params, out, slot, stride, lengths): ctx is not an SRTP context of this backend");
  uint8_t *stage, *out, *kinds;
  size_t slen, cap, noff, nlens, nparams, nlen, nkinds;
  uint32_t *offsets, *lens, *params, *lengths, count, mask, slot, stride;
  if (!get_buffer(env, argv[1], &stage, &slen) || !get_buffer(env, argv[8], &out, &cap)) return throw_type(env, "stage and out must be Buffers");
  if (!get_u32_array(env, argv[2], &offsets, &noff) || !get_u32_array(env, argv[3], &lens, &nlens) || !get_u32_array(env, argv[7], &params, &nparams) ||
      !get_u32_array(env, argv[11], &lengths, &nlen))
    return throw_type(env, "offsets, lens, params and lengths must be Uint32Arrays");
  if (!get_typed_array(env, argv[4], napi_uint8_array, (void **)&kinds, &nkinds)) return throw_type(env, "kinds must be a Uint8Array");
  if (napi_get_value_uint32(env, argv[5], &count) != napi_ok || napi_get_value_uint32(env, argv[6], &mask) != napi_ok ||
      napi_get_value_uint32(env, argv[9], &slot) != napi_ok || napi_get_value_uint32(env, argv[10], &stride) != napi_ok)
    return throw_type(env, "count, mask, slot and stride must be uint32");
  if (count > noff || count > nlens || count > nkinds) return throw_range(env, "count exceeds offsets, lens or kinds");
  if (nparams < 6) return throw_range(env, "params must hold 6 values");
  if ((stage < out + cap && out < stage + slen)) return throw_range(env, "out must not overlap stage");
  uint32_t k = 0;
  for (uint32_t i = 0; i < count; i++) {
    if (!(mask & (1u << (kinds[i] & 1)))) continue;
    if ((size_t)offsets[i] + lens[i] > slen) return throw_range(env, "a staged packet lies beyond stage");
    if (stride < (size_t)lens[i] + (size_t)c->tag_len) return throw_range(env, "stride must be at least a packet's length + tag");
    k++;
  }
  if ((size_t)slot + k > nlen || ((size_t)slot + k) * stride > cap) return throw_range(env, "the run does not fit out or lengths");
  uint32_t at = slot;
  for (int kind = 0; kind < 2; kind++) {
    if (!(mask & (1u << kind))) continue;
    uint32_t seq = params[kind], ssrc = params[2 + kind], pt = params[4 + kind] & 0x7f;
    for (uint32_t i = 0; i < count; i++) {
      if ((kinds[i] & 1) != kind) continue;
      const uint8_t *src = stage + offsets[i];
      size_t len = lens[i];
      long hl = rtp_header_len(src, len);
      if (hl < 0) continue;
      uint8_t *dst = out + (size_t)at * stride;
      memcpy(dst, src, (size_t)hl);
      dst[1] = (uint8_t)((src[1] & 0x80) | pt);
      dst[2] = (uint8_t)(seq >> 8), dst[3] = (uint8_t)seq;
      put32(dst + 8, ssrc);
      if (!protect_core(c, dst, (size_t)hl, src + hl, len - (size_t)hl)) {
        napi_throw_error(env, NULL, "SRTP protect failed (OpenSSL)");
        return NULL;
      }
      lengths[at++] = (uint32_t)(len + (size_t)c->tag_len);
      seq = (seq + 1) & 0xffff;
    }
    params[kind] = seq;
  }
  return make_u32(env, at - slot);
}

// ---------------------------------------------------------------------------------------------- SRTCP

static rtcp_tx_state *rtcp_tx_for(srtp_ctx *c, uint32_t ssrc) {
  for (uint32_t i = 0; i < c->n_rtcp_tx; i++)
    if (c->rtcp_tx[i].ssrc == ssrc) return &c->rtcp_tx[i];
  if (c->n_rtcp_tx == c->cap_rtcp_tx) {
    uint32_t cap = c->cap_rtcp_tx ? c->cap_rtcp_tx * 2 : 2;
    rtcp_tx_state *s = (rtcp_tx_state *)realloc(c->rtcp_tx, cap * sizeof *s);
    if (!s) return NULL;
    c->rtcp_tx = s;
    c->cap_rtcp_tx = cap;
  }
  rtcp_tx_state *s = &c->rtcp_tx[c->n_rtcp_tx++];
  s->ssrc = ssrc;
  s->index = 0;
  return s;
}

static rtcp_rx_state *rtcp_rx_find(srtp_ctx *c, uint32_t ssrc) {
  for (int i = 0; i < RTCP_RX_SLOTS; i++)
    if (c->rtcp_rx[i].last_used && c->rtcp_rx[i].ssrc == ssrc) return &c->rtcp_rx[i];
  return NULL;
}

static inline bool window_bit(const rtcp_rx_state *s, uint32_t index) {
  uint32_t b = index % RTCP_WINDOW;
  return (s->seen[b / 64] >> (b % 64)) & 1;
}

// 0 when index may be accepted, else SRTCP_REPLAYED / SRTCP_TOO_OLD. Indexes are compared modulo 2^31: up to
// 2^30 ahead of the highest is new, anything else is behind.
static int replay_check(const rtcp_rx_state *s, uint32_t index) {
  uint32_t ahead = (index - s->highest) & RTCP_INDEX_MASK;
  if (ahead == 0) return SRTCP_REPLAYED;
  if (ahead < 0x40000000u) return 0;
  if (((s->highest - index) & RTCP_INDEX_MASK) >= RTCP_WINDOW) return SRTCP_TOO_OLD;
  return window_bit(s, index) ? SRTCP_REPLAYED : 0;
}

// Records an authenticated index (replay_check said 0). A sender SSRC not seen before takes a free slot or the
// one that accepted a packet least recently.
static void replay_accept(srtp_ctx *c, rtcp_rx_state *s, uint32_t ssrc, uint32_t index) {
  if (!s) {
    s = &c->rtcp_rx[0];
    for (int i = 1; i < RTCP_RX_SLOTS && s->last_used; i++)
      if (c->rtcp_rx[i].last_used < s->last_used) s = &c->rtcp_rx[i];
    memset(s, 0, sizeof *s);
    s->ssrc = ssrc;
    s->highest = index;
  }
  uint32_t ahead = (index - s->highest) & RTCP_INDEX_MASK;
  if (ahead != 0 && ahead < 0x40000000u) {
    if (ahead >= RTCP_WINDOW) {
      memset(s->seen, 0, sizeof s->seen);
    } else {
      for (uint32_t k = 1; k <= ahead; k++) {
        uint32_t b = (s->highest + k) % RTCP_WINDOW;
        s->seen[b / 64] &= ~(1ULL << (b % 64));
      }
    }
    s->highest = index;
  }
  uint32_t b = index % RTCP_WINDOW;
  s->seen[b / 64] |= 1ULL << (b % 64);
  s->last_used = ++c->rtcp_tick;
}

// CM: IV = (k_s · 2^16) XOR (SSRC · 2^64) XOR (index · 2^16) (RFC 3711 §4.1.1 with i = the SRTCP index).
static void rtcp_iv_cm(const srtp_ctx *c, uint32_t ssrc, uint32_t index, uint8_t iv[16]) {
  memcpy(iv, c->rtcp_salt, 14);
  iv[14] = iv[15] = 0;
  iv[4] ^= (uint8_t)(ssrc >> 24), iv[5] ^= (uint8_t)(ssrc >> 16), iv[6] ^= (uint8_t)(ssrc >> 8), iv[7] ^= (uint8_t)ssrc;
  iv[10] ^= (uint8_t)(index >> 24), iv[11] ^= (uint8_t)(index >> 16), iv[12] ^= (uint8_t)(index >> 8), iv[13] ^= (uint8_t)index;
}

// GCM (RFC 7714 §9.1): IV = (0x0000 || SSRC || 0x0000 || 0 || index(31)) XOR salt[0..12].
static void rtcp_iv_gcm(const srtp_ctx *c, uint32_t ssrc, uint32_t index, uint8_t iv[12]) {
  memcpy(iv, c->rtcp_salt, 12);
  iv[2] ^= (uint8_t)(ssrc >> 24), iv[3] ^= (uint8_t)(ssrc >> 16), iv[4] ^= (uint8_t)(ssrc >> 8), iv[5] ^= (uint8_t)ssrc;
  iv[8] ^= (uint8_t)(index >> 24), iv[9] ^= (uint8_t)(index >> 16), iv[10] ^= (uint8_t)(index >> 8), iv[11] ^= (uint8_t)index;
}

// HMAC-SHA1(k_a, data) truncated to 80 bits, from the precomputed ipad/opad states.
static void rtcp_hmac(const srtp_ctx *c, const uint8_t *data, size_t len, uint8_t tag[10]) {
  uint8_t digest[SHA_DIGEST_LENGTH];
  SHA_CTX h = c->rtcp_inner;
  SHA1_Update(&h, data, len);
  SHA1_Final(digest, &h);
  h = c->rtcp_outer;
  SHA1_Update(&h, digest, SHA_DIGEST_LENGTH);
  SHA1_Final(digest, &h);
  memcpy(tag, digest, 10);
}

// Encrypts pkt[8, len) into out[8, len) (the 8-byte header is already in out) and appends E|index and the tag:
//   CM:  header || ciphertext || E|index || HMAC-80(header .. E|index)          (RFC 3711 §3.4)
//   GCM: header || ciphertext || tag(16) || E|index, AAD = header || E|index    (RFC 7714 §9, §17)
static bool protect_rtcp_core(srtp_ctx *c, uint8_t *out, const uint8_t *pkt, size_t len, uint32_t index) {
  uint32_t ssrc = get32(out + 4);
  uint8_t trailer[4];
  put32(trailer, 0x80000000u | index);
  size_t plen = len - 8;
  int n = 0;
  if (c->profile == PROFILE_CM) {
    uint8_t iv[16];
    rtcp_iv_cm(c, ssrc, index, iv);
    if (EVP_EncryptInit_ex(c->rtcp_cipher, NULL, NULL, NULL, iv) != 1) return false;
    if (plen && EVP_EncryptUpdate(c->rtcp_cipher, out + 8, &n, pkt + 8, (int)plen) != 1) return false;
    memcpy(out + len, trailer, 4);
    rtcp_hmac(c, out, len + 4, out + len + 4);
    return true;
  }
  uint8_t iv[12];
  rtcp_iv_gcm(c, ssrc, index, iv);
  if (EVP_EncryptInit_ex(c->rtcp_cipher, NULL, NULL, NULL, iv) != 1) return false;
  if (EVP_EncryptUpdate(c->rtcp_cipher, NULL, &n, out, 8) != 1) return false;
  if (EVP_EncryptUpdate(c->rtcp_cipher, NULL, &n, trailer, 4) != 1) return false;
  if (plen && EVP_EncryptUpdate(c->rtcp_cipher, out + 8, &n, pkt + 8, (int)plen) != 1) return false;
  int fin = 0;
  if (EVP_EncryptFinal_ex(c->rtcp_cipher, out + len, &fin) != 1) return false;
  if (EVP_CIPHER_CTX_ctrl(c->rtcp_cipher, EVP_CTRL_GCM_GET_TAG, 16, out + len) != 1) return false;
  memcpy(out + len + 16, trailer, 4);
  return true;
}

// Plaintext length, or an SRTCP_* code. Reads only pkt[0, len), writes only out[0, cap). On any failure out's
// contents are unspecified (never unauthenticated plaintext: a GCM failure zeroes what it decrypted).
static int unprotect_rtcp_core(srtp_ctx *c, const uint8_t *pkt, size_t len, uint8_t *out, size_t cap) {
  size_t tag = (size_t)c->tag_len;
  if (len < 8 + 4 + tag || (pkt[0] >> 6) != 2 || len > 0x7fffffff) return SRTCP_MALFORMED;
  size_t plain = len - 4 - tag;
  if (cap < plain) return SRTCP_OUT_TOO_SMALL;
  const uint8_t *trailer = c->profile == PROFILE_CM ? pkt + plain : pkt + len - 4;
  uint32_t word = get32(trailer);
  bool encrypted = (word >> 31) != 0;
  uint32_t index = word & RTCP_INDEX_MASK;
  uint32_t ssrc = get32(pkt + 4);
  rtcp_rx_state *s = rtcp_rx_find(c, ssrc);
  if (s) {
    int r = replay_check(s, index);
    if (r) return r;
  }
  int n = 0;
  if (c->profile == PROFILE_CM) {
    uint8_t want[10];
    rtcp_hmac(c, pkt, len - tag, want);
    if (CRYPTO_memcmp(want, pkt + len - tag, 10) != 0) return SRTCP_AUTH_FAILED;
    if (encrypted) {
      uint8_t iv[16];
      rtcp_iv_cm(c, ssrc, index, iv);
      if (out != pkt) memmove(out, pkt, 8);
      if (EVP_EncryptInit_ex(c->rtcp_cipher, NULL, NULL, NULL, iv) != 1) return SRTCP_AUTH_FAILED;
      if (plain > 8 && EVP_EncryptUpdate(c->rtcp_cipher, out + 8, &n, pkt + 8, (int)(plain - 8)) != 1) return SRTCP_AUTH_FAILED;
    } else if (out != pkt) {
      memmove(out, pkt, plain);
    }
  } else {
    // GCM: with E=1 the AAD is header || E|index and the rest is ciphertext; with E=0 all of the RTCP is AAD.
    uint8_t iv[12];
    rtcp_iv_gcm(c, ssrc, index, iv);
    uint8_t tagb[16];
    memcpy(tagb, pkt + plain, 16);
    size_t aad = encrypted ? 8 : plain;
    bool ok = EVP_DecryptInit_ex(c->rtcp_cipher, NULL, NULL, NULL, iv) == 1 &&
              EVP_DecryptUpdate(c->rtcp_cipher, NULL, &n, pkt, (int)aad) == 1 &&
              EVP_DecryptUpdate(c->rtcp_cipher, NULL, &n, trailer, 4) == 1;
    uint8_t hdr[8];
    memcpy(hdr, pkt, 8);
    if (ok && encrypted && plain > 8) ok = EVP_DecryptUpdate(c->rtcp_cipher, out + 8, &n, pkt + 8, (int)(plain - 8)) == 1;
    int fin = 0;
    ok = ok && EVP_CIPHER_CTX_ctrl(c->rtcp_cipher, EVP_CTRL_GCM_SET_TAG, 16, tagb) == 1 &&
         EVP_DecryptFinal_ex(c->rtcp_cipher, out + plain, &fin) == 1;
    if (!ok) {
      if (encrypted && plain > 8) memset(out + 8, 0, plain - 8);
      return SRTCP_AUTH_FAILED;
    }
    if (encrypted) {
      memcpy(out, hdr, 8);
    } else if (out != pkt) {
      memmove(out, pkt, plain);
    }
  }
  replay_accept(c, s, ssrc, index);
  return (int)plain;
}

// protectRtcp(ctx, packet: Buffer, out: Buffer) → bytes written (packet + 4 + tag: +14 CM, +20 GCM).
// packet: a (compound) RTCP packet, ≥ 8 bytes, version 2. In place as for protect (same start, room after).
static napi_value ProtectRtcp(napi_env env, napi_callback_info info) {
  srtp_ctx *c;
  uint8_t *pkt, *out;
  size_t len, cap;
  if (!ctx_packet_out(env, info, "protectRtcp", &c, &pkt, &len, &out, &cap)) return NULL;
  if (len < 8 || (pkt[0] >> 6) != 2 || len > 0x7fffffff) return throw_range(env, "not an RTCP v2 packet (or shorter than 8 bytes)");
  if (cap < len + 4 + (size_t)c->tag_len) return throw_range(env, "out is too small for packet + SRTCP index + auth tag");
  rtcp_tx_state *s = rtcp_tx_for(c, get32(pkt + 4));
  if (!s) return throw_range(env, "out of memory");
  uint32_t index = s->index + 1;
  if (index > RTCP_INDEX_MASK) index = 0;
  if (out != pkt) memmove(out, pkt, 8);
  if (!protect_rtcp_core(c, out, pkt, len, index)) {
    napi_throw_error(env, NULL, "SRTCP protect failed (OpenSSL)");
    return NULL;
  }
  s->index = index;
  return make_u32(env, (uint32_t)(len + 4 + (size_t)c->tag_len));
}

// unprotectRtcp(ctx, packet: Buffer, out: Buffer) → plaintext RTCP length (≥ 8) written to out, or < 0:
//   SRTCP_MALFORMED, SRTCP_AUTH_FAILED, SRTCP_REPLAYED, SRTCP_TOO_OLD, SRTCP_OUT_TOO_SMALL (see the defines).
// Throws only for wrong argument types. In place: out === packet (or the same start).
static napi_value UnprotectRtcp(napi_env env, napi_callback_info info) {
  srtp_ctx *c;
  uint8_t *pkt, *out;
  size_t len, cap;
  if (!ctx_packet_out(env, info, "unprotectRtcp", &c, &pkt, &len, &out, &cap)) return NULL;
  return make_i32(env, unprotect_rtcp_core(c, pkt, len, out, cap));
}

// setRtcpIndex(ctx, ssrc: number, index: number) → undefined: protectRtcp's next packet of ssrc gets index + 1
// (0 after 2^31 − 1). Like werift's Context.setIndex; for tests and to continue a sender's numbering.
static napi_value SetRtcpIndex(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  srtp_ctx *c = argc >= 3 ? get_ctx(env, argv[0]) : NULL;
  if (!c) return throw_type(env, "setRtcpIndex(ctx, ssrc, index): ctx is not an SRTP context of this backend");
  uint32_t ssrc, index;
  if (napi_get_value_uint32(env, argv[1], &ssrc) != napi_ok || napi_get_value_uint32(env, argv[2], &index) != napi_ok)
    return throw_type(env, "ssrc and index must be uint32");
  if (index > RTCP_INDEX_MASK) return throw_range(env, "index must be below 2^31");
  rtcp_tx_state *s = rtcp_tx_for(c, ssrc);
  if (!s) return throw_range(env, "out of memory");
  s->index = index;
  return NULL;
}

// ---------------------------------------------------------------------------------------------- sendmmsg

// setAddress(addrs: Buffer, index: number, ip: string, port: number) → 4 | 6
// Writes a struct sockaddr_in / sockaddr_in6 into the 28-byte record `index` of addrs.
static napi_value SetAddress(napi_env env, napi_callback_info info) {
#ifdef __linux__
  size_t argc = 4;
  napi_value argv[4];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  uint8_t *buf;
  size_t cap;
  uint32_t index, port;
  char ip[64];
  size_t iplen = 0;
  if (argc < 4 || !get_buffer(env, argv[0], &buf, &cap)) return throw_type(env, "setAddress(addrs, index, ip, port)");
  if (napi_get_value_uint32(env, argv[1], &index) != napi_ok || napi_get_value_uint32(env, argv[3], &port) != napi_ok || port > 65535)
    return throw_type(env, "index and port must be uint32 (port ≤ 65535)");
  if (napi_get_value_string_utf8(env, argv[2], ip, sizeof ip, &iplen) != napi_ok) return throw_type(env, "ip must be a string");
  // index + 1 in 32 bits wraps to 0 for index 0xFFFFFFFF (and -1 reads as that): widen first.
  if (((size_t)index + 1) * ADDRESS_SLOT > cap) return throw_range(env, "index is beyond addrs");
  uint8_t *rec = buf + (size_t)index * ADDRESS_SLOT;
  memset(rec, 0, ADDRESS_SLOT);
  struct sockaddr_in a4;
  struct sockaddr_in6 a6;
  memset(&a4, 0, sizeof a4);
  memset(&a6, 0, sizeof a6);
  if (inet_pton(AF_INET, ip, &a4.sin_addr) == 1) {
    a4.sin_family = AF_INET;
    a4.sin_port = htons((uint16_t)port);
    memcpy(rec, &a4, sizeof a4);
    return make_u32(env, 4);
  }
  if (inet_pton(AF_INET6, ip, &a6.sin6_addr) == 1) {
    a6.sin6_family = AF_INET6;
    a6.sin6_port = htons((uint16_t)port);
    memcpy(rec, &a6, sizeof a6);
    return make_u32(env, 6);
  }
  return throw_type(env, "ip is not a numeric IPv4/IPv6 address");
#else
  return throw_type(env, "setAddress: sendmmsg path is Linux-only");
#endif
}

// UDP GSO (Linux ≥ 4.18): one sendmsg with a UDP_SEGMENT cmsg carries a train of datagrams to one destination,
// cut by the kernel (or the NIC) into segments of gso_size bytes, the last one possibly shorter. The socket layer,
// routing and the UDP header work are paid once per train instead of once per datagram; a normal UDP socket at
// the other end still gets every segment as its own datagram. Limits: 64 segments (UDP_MAX_SEGMENTS on older
// kernels), an IP datagram's 64 KiB in all.
#ifndef SOL_UDP
#define SOL_UDP 17
#endif
#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif
#define GSO_MAX_SEGMENTS 64
#define GSO_MAX_BYTES 65487  // 65535 − IPv6 header − UDP header: fits both families
// sendBatch's counters (types.ts SEND_COUNTER mirrors these): added to, never reset, by the native side
#define CNT_SYSCALLS 0
#define CNT_MESSAGES 1
#define CNT_PACKETS 2
#define CNT_GSO_MESSAGES 3
#define CNT_GSO_PACKETS 4
#define CNT_GSO_REFUSED 5
#define CNT_LENGTH 6

#ifdef __linux__
// Kernel support, probed once per thread (getsockopt UDP_SEGMENT answers ENOPROTOOPT before 4.18). Older
// kernels would not reject the cmsg: they ignore it and send the whole train as one big datagram, so a train
// is never built without this probe saying yes. -1: not probed yet.
static __thread int g_gso_kernel = -1;

static bool gso_kernel(int fd) {
  if (g_gso_kernel < 0) {
    int v = 0;
    socklen_t l = sizeof v;
    g_gso_kernel = getsockopt(fd, SOL_UDP, UDP_SEGMENT, &v, &l) == 0 ? 1 : 0;
  }
  return g_gso_kernel == 1;
}

// errnos with which a GSO train fails where the same datagrams sent one by one go: no UDP_SEGMENT support,
// no checksum offload on the route's device or an IPsec route (EIO), a segment plus headers above the path MTU
// (EMSGSIZE, EINVAL on older kernels).
static bool gso_refusal(int err) {
  return err == EIO || err == EINVAL || err == ENOPROTOOPT || err == EOPNOTSUPP || err == EMSGSIZE;
}
#endif

// sendBatch(fd, out: Buffer, stride, lengths: Uint32Array, addrs: Buffer, count[, gso: boolean[, counters: Float64Array(6)]])
//   → packets sent
// Sends packet i (out[i·stride, +lengths[i]]) to the sockaddr in addrs record i, with as few sendmmsg calls as
// possible. Never blocks (MSG_DONTWAIT): on EAGAIN/ENOBUFS it stops and returns how many packets the kernel took;
// a packet that fails for its own reason (bad address, EMSGSIZE, ...) is skipped and the rest still go.
// lastSendError() tells the last errno seen (0 when all went).
// gso (when the kernel has UDP_SEGMENT): consecutive packets to the same address with the same length (the last
// of a run may be shorter) go as one message with a UDP_SEGMENT cmsg, ≤ 64 segments / 64 KiB; all messages of a
// chunk in one sendmmsg. A train the kernel refuses is sent again as plain messages in the same call, nothing is
// lost; when those then go, counters[5] (GSO_REFUSED) is incremented: the caller should stop asking for GSO on
// this socket. Order is kept: packets leave in index order.
// counters (optional): += syscalls, messages, packets, GSO messages, packets in GSO messages, refusals.
static napi_value SendBatch(napi_env env, napi_callback_info info) {
#ifdef __linux__
  size_t argc = 8;
  napi_value argv[8];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 6) return throw_type(env, "sendBatch(fd, out, stride, lengths, addrs, count[, gso[, counters]])");
  int32_t fd;
  uint32_t stride, count;
  uint8_t *out, *addrs;
  size_t cap, acap, nlen;
  uint32_t *lengths;
  if (napi_get_value_int32(env, argv[0], &fd) != napi_ok || fd < 0) return throw_type(env, "fd must be a non-negative int (socket._handle.fd of a bound dgram socket)");
  if (!get_buffer(env, argv[1], &out, &cap) || !get_buffer(env, argv[4], &addrs, &acap)) return throw_type(env, "out and addrs must be Buffers");
  if (napi_get_value_uint32(env, argv[2], &stride) != napi_ok || napi_get_value_uint32(env, argv[5], &count) != napi_ok)
    return throw_type(env, "stride and count must be uint32");
  if (!get_u32_array(env, argv[3], &lengths, &nlen)) return throw_type(env, "lengths must be a Uint32Array");
  if (nlen < count || acap < (size_t)count * ADDRESS_SLOT) return throw_range(env, "lengths/addrs hold fewer than count entries");
  bool gso = false;
  double *cnt = NULL;
  double scratch[CNT_LENGTH];
  if (argc >= 7) {
    napi_valuetype t;
    CHECK(env, napi_typeof(env, argv[6], &t));
    if (t == napi_boolean) CHECK(env, napi_get_value_bool(env, argv[6], &gso));
    else if (t != napi_undefined) return throw_type(env, "gso must be a boolean");
  }
  if (argc >= 8) {
    napi_valuetype t;
    CHECK(env, napi_typeof(env, argv[7], &t));
    if (t != napi_undefined) {
      bool is_ta = false;
      napi_typedarray_type type;
      size_t clen = 0;
      void *d = NULL;
      if (napi_is_typedarray(env, argv[7], &is_ta) != napi_ok || !is_ta ||
          napi_get_typedarray_info(env, argv[7], &type, &clen, &d, NULL, NULL) != napi_ok || type != napi_float64_array || clen < CNT_LENGTH)
        return throw_type(env, "counters must be a Float64Array of 6");
      cnt = (double *)d;
    }
  }
  if (!cnt) cnt = scratch;
  for (uint32_t i = 0; i < count; i++) {
    if (lengths[i] > stride || (size_t)i * stride + lengths[i] > cap) return throw_range(env, "lengths[i] runs past its slot in out");
    uint16_t fam;
    memcpy(&fam, addrs + (size_t)i * ADDRESS_SLOT, sizeof fam);
    if (fam != AF_INET && fam != AF_INET6) return throw_range(env, "addrs record without an address (use setAddress)");
  }
  if (gso && !gso_kernel(fd)) gso = false;

  // One chunk = up to SEND_CHUNK packets, so iov (one per packet) and msgs (one per run) never overflow.
  struct mmsghdr msgs[SEND_CHUNK];
  struct iovec iov[SEND_CHUNK];
  uint32_t first[SEND_CHUNK + 1];  // msgs[m] carries packets first[m] .. first[m + 1] − 1
  union {
    char buf[CMSG_SPACE(sizeof(uint16_t))];
    struct cmsghdr align;
  } ctrl[SEND_CHUNK];
  uint32_t sent = 0, i = 0;
  int last_err = 0;
  // A refused train is sent again plain; whether the kernel refused GSO or the address is at fault shows when
  // its first packet goes (or fails) on its own. pending_refusal: that packet's index, UINT32_MAX: none.
  uint32_t pending_refusal = UINT32_MAX;
  while (i < count) {
    uint32_t limit = count - i < SEND_CHUNK ? count - i : SEND_CHUNK;
    uint32_t p = 0, nm = 0;
    while (p < limit) {
      uint32_t m = i + p;
      uint8_t *rec = addrs + (size_t)m * ADDRESS_SLOT;
      uint16_t fam;
      memcpy(&fam, rec, sizeof fam);
      uint32_t seg = lengths[m], segs = 1;
      size_t bytes = seg;
      if (gso && seg > 0) {
        while (p + segs < limit && segs < GSO_MAX_SEGMENTS) {
          uint32_t k = m + segs, len = lengths[k];
          if (len == 0 || len > seg || bytes + len > GSO_MAX_BYTES || memcmp(addrs + (size_t)k * ADDRESS_SLOT, rec, ADDRESS_SLOT) != 0) break;
          segs++;
          bytes += len;
          if (len < seg) break;  // a shorter one can only end a train
        }
      }
      memset(&msgs[nm], 0, sizeof msgs[nm]);
      struct msghdr *h = &msgs[nm].msg_hdr;
      h->msg_name = rec;
      h->msg_namelen = fam == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
      h->msg_iov = &iov[p];
      h->msg_iovlen = segs;
      for (uint32_t s = 0; s < segs; s++) {
        iov[p + s].iov_base = out + (size_t)(m + s) * stride;
        iov[p + s].iov_len = lengths[m + s];
      }
      if (segs > 1) {
        h->msg_control = ctrl[nm].buf;
        h->msg_controllen = sizeof ctrl[nm].buf;
        struct cmsghdr *cm = CMSG_FIRSTHDR(h);
        cm->cmsg_level = SOL_UDP;
        cm->cmsg_type = UDP_SEGMENT;
        cm->cmsg_len = CMSG_LEN(sizeof(uint16_t));
        uint16_t gs = (uint16_t)seg;
        memcpy(CMSG_DATA(cm), &gs, sizeof gs);
      }
      first[nm++] = p;
      p += segs;
    }
    first[nm] = p;
    int r = sendmmsg(fd, msgs, nm, MSG_DONTWAIT);
    cnt[CNT_SYSCALLS] += 1;
    if (r > 0) {
      uint32_t pk = first[r];
      for (int m = 0; m < r; m++) {
        uint32_t segs = first[m + 1] - first[m];
        if (segs > 1) {
          cnt[CNT_GSO_MESSAGES] += 1;
          cnt[CNT_GSO_PACKETS] += segs;
        }
      }
      cnt[CNT_MESSAGES] += r;
      cnt[CNT_PACKETS] += pk;
      if (pending_refusal != UINT32_MAX) {
        cnt[CNT_GSO_REFUSED] += 1;  // the refused train's first packet went on its own: GSO was the problem
        pending_refusal = UINT32_MAX;
      }
      sent += pk;
      i += pk;
      continue;
    }
    if (r < 0 && errno == EINTR) continue;
    int err = r < 0 ? errno : EIO;
    last_err = err;
    if (err == EAGAIN || err == EWOULDBLOCK || err == ENOBUFS || err == EBADF || err == ENOTSOCK) break;
    uint32_t segs = first[1] - first[0];
    if (segs > 1 && gso_refusal(err)) {
      // The train failed: the rest of this call goes plain, starting with the same packets.
      gso = false;
      pending_refusal = i;
      continue;
    }
    // This message failed on its own: skip its packets, keep going with the rest.
    if (pending_refusal == i) pending_refusal = UINT32_MAX;  // plain fails too: the address, not GSO
    i += segs;
  }
  g_last_send_errno = last_err;
  return make_u32(env, sent);
#else
  return throw_type(env, "sendBatch: sendmmsg path is Linux-only");
#endif
}

// setNoChecksum(fd, on: boolean) → undefined. For tests: SO_NO_CHECK makes the kernel refuse UDP GSO trains
// (EINVAL) while single datagrams still go, as a route without checksum offload does (EIO), so sendBatch's
// refusal path runs against the real kernel.
static napi_value SetNoChecksum(napi_env env, napi_callback_info info) {
#ifdef __linux__
  size_t argc = 2;
  napi_value argv[2];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t fd;
  bool on = false;
  if (argc < 2 || napi_get_value_int32(env, argv[0], &fd) != napi_ok || fd < 0 || napi_get_value_bool(env, argv[1], &on) != napi_ok)
    return throw_type(env, "setNoChecksum(fd, on)");
  int v = on ? 1 : 0;
  if (setsockopt(fd, SOL_SOCKET, SO_NO_CHECK, &v, sizeof v) != 0) return throw_range(env, "setsockopt SO_NO_CHECK failed");
  return NULL;
#else
  return throw_type(env, "setNoChecksum: Linux-only");
#endif
}

static napi_value LastSendError(napi_env env, napi_callback_info info) {
  (void)info;
  return make_i32(env, g_last_send_errno);
}

// ---------------------------------------------------------------------------------------------- batched receive

// recvOpen(fd, buf: Buffer, slot, meta: Uint32Array, max, onBatch: (count) => void[, arrivals: Float64Array]) → receiver
// Reads a bound UDP socket with recvmmsg instead of node's dgram: node reads one datagram per callback, mallocs a
// buffer for it and builds an rinfo object (address string, family, port, size) through V8's slow property path;
// for a viewer's RTCP or FFmpeg's RTP that is most of the cost of receiving. Here, when the socket is readable,
// up to `max` datagrams land in `buf` (datagram i at i·slot) with meta[4i..4i+3] = length, IPv4 address (host
// order, 0 when the sender is not IPv4), port, flags (RECV_TRUNCATED: longer than slot, cut), and onBatch(count)
// runs once for all of them. The slots are reused by the next batch: copy what must live longer. With
// `arrivals`, the kernel stamps each datagram as it reaches the socket (SO_TIMESTAMPNS) and arrivals[i] is that
// time in ms since the epoch (Date.now()'s scale; 0 when the kernel gave none): a reader that waits before
// reading (paced reads) still knows when a report arrived, e.g. for round-trip times. (The kernel turns stamping
// on a moment after the first socket of the system asks; until then the time of the read is reported.)
// recvDropped(receiver) → count: datagrams the kernel dropped at this socket because its receive buffer was full
// (SO_RXQ_OVFL: each datagram carries the socket's drop count when it was queued, so drops show with the next
// datagram that gets through).
// recvDrain(receiver) → count: reads one batch now, without polling (paced reads), and returns how many
// datagrams it holds (0: none waited); onBatch is not called.
// The socket is polled through a dup() of its fd (libuv keys watchers by fd; the dgram handle keeps the
// original, and must not read it: the caller stops its receiving). recvSet(receiver, false/true) pauses and
// resumes; recvClose(receiver) stops for good and closes the duplicate: call it before closing the socket, or
// the duplicate keeps the port bound. A worker that exits with a receiver open closes it (async cleanup hook).
#define RECV_TRUNCATED 1u
#define RECV_META 4
#define RECV_ROUNDS 4  // batches per readiness before yielding to the loop (level-triggered: the rest comes next)

static const napi_type_tag kRecvTag = {0x6472616b65726563ULL, 0x7620626174636801ULL};

#ifdef __linux__
typedef struct {
  uv_poll_t poll;
  napi_env env;
  int fd;  // the dup(); -1 once closed
  bool polling;
  bool closing;
  int owners;  // the JS external and the open poll handle: freed when both let go
  napi_ref cb;
  napi_ref keep;  // [buf, meta]: the memory behind the raw pointers below
  napi_async_context actx;
  napi_async_cleanup_hook_handle cleanup;
  uint8_t *buf;
  uint32_t slot;
  uint32_t *meta;
  double *arrivals;  // NULL: no kernel timestamps asked for
  uint32_t max;
  uint8_t *ctl;  // per message, room for an SO_RXQ_OVFL and an SCM_TIMESTAMPNS
  uint32_t dropped;  // the socket's drop count, as the last datagram read carried it
  struct mmsghdr *msgs;
  struct iovec *iov;
  struct sockaddr_in6 *from;
} receiver;

static void receiver_free(receiver *r) {
  free(r->msgs);
  free(r->iov);
  free(r->from);
  free(r->ctl);
  free(r);
}

static void receiver_release(receiver *r) {
  if (--r->owners == 0) receiver_free(r);
}

static void receiver_closed(uv_handle_t *h) {
  receiver *r = (receiver *)h->data;
  if (r->cleanup) napi_remove_async_cleanup_hook(r->cleanup);
  r->cleanup = NULL;
  receiver_release(r);
}

// Stops polling, closes the duplicate and lets go of the JS values; the handle's memory goes in its close callback.
static void receiver_close(receiver *r) {
  if (r->closing) return;
  r->closing = true;
  r->polling = false;
  uv_close((uv_handle_t *)&r->poll, receiver_closed);
  close(r->fd);
  r->fd = -1;
  napi_env env = r->env;
  if (r->cb) napi_delete_reference(env, r->cb);
  if (r->keep) napi_delete_reference(env, r->keep);
  if (r->actx) napi_async_destroy(env, r->actx);
  r->cb = r->keep = NULL;
  r->actx = NULL;
}

static void receiver_teardown(napi_async_cleanup_hook_handle handle, void *arg) {
  receiver *r = (receiver *)arg;
  if (r->closing) return;  // closing already: its close callback removes the hook
  receiver_close(r);
}

static void receiver_finalize(napi_env env, void *data, void *hint) {
  receiver *r = (receiver *)data;
  // Dropped without recvClose (the callback did not keep it alive): nothing can read it any more.
  if (!r->closing) receiver_close(r);
  receiver_release(r);
}

#define RECV_CTL (CMSG_SPACE(sizeof(struct timespec)) + CMSG_SPACE(sizeof(uint32_t)))

// One recvmmsg into the slots, meta (and arrivals) filled; returns the count, 0 when nothing waits (EAGAIN) or
// the socket reported its pending error (read and cleared by the call).
static int receiver_read(receiver *r) {
  for (uint32_t i = 0; i < r->max; i++) {
    struct msghdr *mh = &r->msgs[i].msg_hdr;
    mh->msg_namelen = sizeof(struct sockaddr_in6);
    mh->msg_flags = 0;
    mh->msg_control = r->ctl + (size_t)i * RECV_CTL;
    mh->msg_controllen = RECV_CTL;
  }
  int n;
  do n = recvmmsg(r->fd, r->msgs, r->max, MSG_DONTWAIT, NULL);
  while (n < 0 && errno == EINTR);
  if (n <= 0) return 0;
  for (int i = 0; i < n; i++) {
    uint32_t *m = r->meta + (size_t)i * RECV_META;
    const struct msghdr *mh = &r->msgs[i].msg_hdr;
    const struct sockaddr_in *a4 = (const struct sockaddr_in *)&r->from[i];
    m[0] = r->msgs[i].msg_len;
    if (a4->sin_family == AF_INET) {
      m[1] = ntohl(a4->sin_addr.s_addr);
      m[2] = ntohs(a4->sin_port);
    } else {
      m[1] = 0;
      m[2] = a4->sin_family == AF_INET6 ? ntohs(r->from[i].sin6_port) : 0;
    }
    m[3] = (mh->msg_flags & MSG_TRUNC) ? RECV_TRUNCATED : 0;
    double at = 0;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR((struct msghdr *)mh, c)) {
      if (c->cmsg_level != SOL_SOCKET) continue;
      if (c->cmsg_type == SCM_TIMESTAMPNS && c->cmsg_len >= CMSG_LEN(sizeof(struct timespec))) {
        struct timespec ts;
        memcpy(&ts, CMSG_DATA(c), sizeof ts);
        at = (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
      } else if (c->cmsg_type == SO_RXQ_OVFL && c->cmsg_len >= CMSG_LEN(sizeof(uint32_t))) {
        uint32_t d;
        memcpy(&d, CMSG_DATA(c), sizeof d);
        r->dropped = d;
      }
    }
    if (r->arrivals) r->arrivals[i] = at;
  }
  return n;
}

static void receiver_readable(uv_poll_t *h, int status, int events) {
  receiver *r = (receiver *)h->data;
  if (r->closing || !r->polling) return;
  if (status < 0) {
    // POLLERR: libuv has stopped the handle. Clear the socket's pending error and poll again (an unconnected UDP
    // socket without IP_RECVERR does not get here; anything else would stop reading for good).
    int err = 0;
    socklen_t len = sizeof err;
    getsockopt(r->fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (uv_poll_start(&r->poll, UV_READABLE, receiver_readable) != 0) r->polling = false;
    return;
  }
  napi_env env = r->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  for (int round = 0; round < RECV_ROUNDS && r->polling && !r->closing; round++) {
    int n = receiver_read(r);
    if (n == 0) break;
    napi_value cb, recv, argv[1], result;
    if (napi_get_reference_value(env, r->cb, &cb) != napi_ok || cb == NULL) break;
    napi_get_global(env, &recv);  // MakeCallback wants an object as `this`
    napi_create_uint32(env, (uint32_t)n, &argv[0]);
    napi_status st = napi_make_callback(env, r->actx, recv, cb, 1, argv, &result);
    if (st != napi_ok) {
      bool pending = false;
      napi_is_exception_pending(env, &pending);
      if (pending) {
        napi_value err;
        napi_get_and_clear_last_exception(env, &err);
        napi_fatal_exception(env, err);  // as a throw in any other I/O callback: 'uncaughtException'
      }
      break;
    }
    if ((uint32_t)n < r->max) break;
  }
  napi_close_handle_scope(env, scope);
}

static receiver *get_receiver(napi_env env, napi_value v);

// The receiver that is a call's only argument, or NULL with a TypeError thrown (`usage`).
static receiver *receiver_only_arg(napi_env env, napi_callback_info info, const char *usage) {
  size_t argc = 1;
  napi_value argv[1];
  receiver *r = NULL;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) == napi_ok && argc >= 1) r = get_receiver(env, argv[0]);
  if (!r) throw_type(env, usage);
  return r;
}

static receiver *get_receiver(napi_env env, napi_value v) {
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_external) return NULL;
  bool ok = false;
  if (napi_check_object_type_tag(env, v, &kRecvTag, &ok) != napi_ok || !ok) return NULL;
  void *p = NULL;
  if (napi_get_value_external(env, v, &p) != napi_ok) return NULL;
  return (receiver *)p;
}
#endif

static napi_value RecvOpen(napi_env env, napi_callback_info info) {
#ifdef __linux__
  size_t argc = 7;
  napi_value argv[7];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 6) return throw_type(env, "recvOpen(fd, buf, slot, meta, max, onBatch[, arrivals])");
  int32_t fd;
  uint32_t slot, max;
  uint8_t *buf;
  size_t cap, mlen;
  uint32_t *meta;
  napi_valuetype t;
  if (napi_get_value_int32(env, argv[0], &fd) != napi_ok || fd < 0) return throw_type(env, "fd must be a non-negative int (a bound dgram socket's)");
  if (!get_buffer(env, argv[1], &buf, &cap)) return throw_type(env, "buf must be a Buffer");
  if (napi_get_value_uint32(env, argv[2], &slot) != napi_ok || napi_get_value_uint32(env, argv[4], &max) != napi_ok)
    return throw_type(env, "slot and max must be uint32");
  if (!get_u32_array(env, argv[3], &meta, &mlen)) return throw_type(env, "meta must be a Uint32Array");
  CHECK(env, napi_typeof(env, argv[5], &t));
  if (t != napi_function) return throw_type(env, "onBatch must be a function");
  if (slot < 1 || max < 1 || max > 1024) return throw_range(env, "slot ≥ 1 and 1 ≤ max ≤ 1024");
  if ((size_t)slot * max > cap || (size_t)max * RECV_META > mlen) return throw_range(env, "buf or meta is smaller than max datagrams");
  double *arrivals = NULL;
  napi_valuetype at_type = napi_undefined;
  if (argc >= 7) CHECK(env, napi_typeof(env, argv[6], &at_type));
  if (at_type != napi_undefined) {
    size_t alen = 0;
    if (!get_typed_array(env, argv[6], napi_float64_array, (void **)&arrivals, &alen)) return throw_type(env, "arrivals must be a Float64Array");
    if (alen < max) return throw_range(env, "arrivals is shorter than max");
  }
  int type = 0;
  socklen_t tl = sizeof type;
  if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) != 0 || type != SOCK_DGRAM) return throw_type(env, "fd is not a datagram socket");
  int one = 1;
  if (arrivals && setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof one) != 0) return throw_range(env, "recvOpen: SO_TIMESTAMPNS refused");
  if (setsockopt(fd, SOL_SOCKET, SO_RXQ_OVFL, &one, sizeof one) != 0) return throw_range(env, "recvOpen: SO_RXQ_OVFL refused");

  receiver *r = (receiver *)calloc(1, sizeof *r);
  if (!r) return throw_range(env, "out of memory");
  r->msgs = (struct mmsghdr *)calloc(max, sizeof *r->msgs);
  r->iov = (struct iovec *)calloc(max, sizeof *r->iov);
  r->from = (struct sockaddr_in6 *)calloc(max, sizeof *r->from);
  r->ctl = (uint8_t *)calloc(max, RECV_CTL);
  r->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (!r->msgs || !r->iov || !r->from || !r->ctl || r->fd < 0) {
    if (r->fd >= 0) close(r->fd);
    receiver_free(r);
    return throw_range(env, "recvOpen: out of memory or file descriptors");
  }
  r->env = env;
  r->buf = buf;
  r->slot = slot;
  r->meta = meta;
  r->arrivals = arrivals;
  r->max = max;
  for (uint32_t i = 0; i < max; i++) {
    r->iov[i].iov_base = buf + (size_t)i * slot;
    r->iov[i].iov_len = slot;
    r->msgs[i].msg_hdr.msg_iov = &r->iov[i];
    r->msgs[i].msg_hdr.msg_iovlen = 1;
    r->msgs[i].msg_hdr.msg_name = &r->from[i];
  }
  uv_loop_t *loop = NULL;
  napi_value keep, name, resource, ext = NULL;
  bool ok = napi_get_uv_event_loop(env, &loop) == napi_ok && loop && uv_poll_init(loop, &r->poll, r->fd) == 0;
  if (!ok) {
    close(r->fd);
    receiver_free(r);
    return throw_range(env, "recvOpen: cannot poll the socket");
  }
  r->poll.data = r;
  r->owners = 2;
  // From here on the handle exists: failures go through receiver_close.
  if (napi_create_array_with_length(env, 3, &keep) != napi_ok || napi_set_element(env, keep, 0, argv[1]) != napi_ok ||
      napi_set_element(env, keep, 1, argv[3]) != napi_ok || (arrivals && napi_set_element(env, keep, 2, argv[6]) != napi_ok) ||
      napi_create_reference(env, keep, 1, &r->keep) != napi_ok ||
      napi_create_reference(env, argv[5], 1, &r->cb) != napi_ok ||
      napi_create_string_utf8(env, "drake:udp-recv", NAPI_AUTO_LENGTH, &name) != napi_ok ||
      napi_create_object(env, &resource) != napi_ok || napi_async_init(env, resource, name, &r->actx) != napi_ok ||
      napi_add_async_cleanup_hook(env, receiver_teardown, r, &r->cleanup) != napi_ok ||
      napi_create_external(env, r, receiver_finalize, NULL, &ext) != napi_ok || napi_type_tag_object(env, ext, &kRecvTag) != napi_ok) {
    // The failed call's message, before receiver_close's own calls replace it.
    const napi_extended_error_info *einfo = NULL;
    char why[160];
    napi_get_last_error_info(env, &einfo);
    snprintf(why, sizeof why, "recvOpen: %s", einfo && einfo->error_message ? einfo->error_message : "napi call failed");
    receiver_close(r);
    if (!ext) r->owners--;  // no external will finalize it
    bool pending = false;
    napi_is_exception_pending(env, &pending);
    if (!pending) napi_throw_error(env, NULL, why);
    return NULL;
  }
  if (uv_poll_start(&r->poll, UV_READABLE, receiver_readable) != 0) {
    receiver_close(r);
    return throw_range(env, "recvOpen: uv_poll_start failed");
  }
  r->polling = true;
  return ext;
#else
  return throw_type(env, "recvOpen: recvmmsg path is Linux-only");
#endif
}

// recvSet(receiver, on: boolean) → undefined: pauses (datagrams wait in the socket buffer) or resumes polling.
static napi_value RecvSet(napi_env env, napi_callback_info info) {
#ifdef __linux__
  size_t argc = 2;
  napi_value argv[2];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  receiver *r = argc >= 1 ? get_receiver(env, argv[0]) : NULL;
  bool on = false;
  if (!r || argc < 2 || napi_get_value_bool(env, argv[1], &on) != napi_ok) return throw_type(env, "recvSet(receiver, on)");
  if (r->closing || r->polling == on) return NULL;
  if (on ? uv_poll_start(&r->poll, UV_READABLE, receiver_readable) != 0 : uv_poll_stop(&r->poll) != 0)
    return throw_range(env, "recvSet: uv_poll failed");
  r->polling = on;
  return NULL;
#else
  return throw_type(env, "recvSet: Linux-only");
#endif
}

static napi_value RecvDropped(napi_env env, napi_callback_info info) {
#ifdef __linux__
  receiver *r = receiver_only_arg(env, info, "recvDropped(receiver)");
  return r ? make_u32(env, r->dropped) : NULL;
#else
  return throw_type(env, "recvDropped: Linux-only");
#endif
}

static napi_value RecvDrain(napi_env env, napi_callback_info info) {
#ifdef __linux__
  receiver *r = receiver_only_arg(env, info, "recvDrain(receiver)");
  if (!r) return NULL;
  return make_u32(env, r->closing ? 0 : (uint32_t)receiver_read(r));
#else
  return throw_type(env, "recvDrain: Linux-only");
#endif
}

// recvClose(receiver) → undefined: for good (idempotent). The socket's port is free once its own fd closes too.
static napi_value RecvClose(napi_env env, napi_callback_info info) {
#ifdef __linux__
  receiver *r = receiver_only_arg(env, info, "recvClose(receiver)");
  if (!r) return NULL;
  receiver_close(r);
  return NULL;
#else
  return throw_type(env, "recvClose: Linux-only");
#endif
}

// ---------------------------------------------------------------------------------------------- module

NAPI_MODULE_INIT() {
  napi_property_descriptor props[] = {
      {"createContext", NULL, CreateContext, NULL, NULL, NULL, napi_enumerable, NULL},
      {"protect", NULL, Protect, NULL, NULL, NULL, napi_enumerable, NULL},
      {"protectBatch", NULL, ProtectBatch, NULL, NULL, NULL, napi_enumerable, NULL},
      {"protectInto", NULL, ProtectInto, NULL, NULL, NULL, napi_enumerable, NULL},
      {"protectRun", NULL, ProtectRun, NULL, NULL, NULL, napi_enumerable, NULL},
      {"protectRtcp", NULL, ProtectRtcp, NULL, NULL, NULL, napi_enumerable, NULL},
      {"unprotectRtcp", NULL, UnprotectRtcp, NULL, NULL, NULL, napi_enumerable, NULL},
      {"setRtcpIndex", NULL, SetRtcpIndex, NULL, NULL, NULL, napi_enumerable, NULL},
      {"setAddress", NULL, SetAddress, NULL, NULL, NULL, napi_enumerable, NULL},
      {"sendBatch", NULL, SendBatch, NULL, NULL, NULL, napi_enumerable, NULL},
      {"lastSendError", NULL, LastSendError, NULL, NULL, NULL, napi_enumerable, NULL},
      {"setNoChecksum", NULL, SetNoChecksum, NULL, NULL, NULL, napi_enumerable, NULL},
      {"recvOpen", NULL, RecvOpen, NULL, NULL, NULL, napi_enumerable, NULL},
      {"recvSet", NULL, RecvSet, NULL, NULL, NULL, napi_enumerable, NULL},
      {"recvClose", NULL, RecvClose, NULL, NULL, NULL, napi_enumerable, NULL},
      {"recvDrain", NULL, RecvDrain, NULL, NULL, NULL, napi_enumerable, NULL},
      {"recvDropped", NULL, RecvDropped, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  if (napi_define_properties(env, exports, sizeof props / sizeof props[0], props) != napi_ok) return NULL;
  napi_value v;
  napi_create_string_utf8(env, OpenSSL_version(OPENSSL_VERSION), NAPI_AUTO_LENGTH, &v);
  napi_set_named_property(env, exports, "openssl", v);
  return exports;
}
