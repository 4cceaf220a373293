// drake SRT server: one libsrt listening socket, many connections told apart by their stream id, and a
// relay from each publisher to the players of its name, all on one native thread (srt_epoll). JS starts
// and stops it, reads the connections with their libsrt statistics, and gets events (publish, play,
// refusals, ends) through a thread-safe function; no JS runs per packet. Plain N-API C, as native/srtp.
//
// Admission happens in libsrt's listen callback (its receiver thread, during the handshake): the stream
// id is parsed (Core's `name,mode:publish,token:T` or the access-control `#!::r=name,m=publish,token=T`),
// the token checked, and the name looked up, so a refused caller learns why from the SRT reject reason
// (1400 bad request, 1401 token, 1404 not published, 1405 mode, 1409 already published, 1402 full). Two
// publishers of one name racing through the callback are settled again at accept: the later one is closed.
//
// Locking: the relay thread is the only writer of the connection table, so it reads the table without a
// lock; it takes `mu` only to change a slot. The listen callback and the JS calls read under `mu`. No libsrt
// function is ever called with `mu` held: the listen callback runs inside libsrt with its own locks taken,
// and srt_close/srt_sendmsg2/srt_bstats take libsrt's global lock, so holding `mu` across either could
// deadlock. Socket ids are plain integers in libsrt: a stale one makes srt_bstats/srt_close fail cleanly.
#define NAPI_VERSION 8
#include <node_api.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <syslog.h>
#include <time.h>

#include <srt/srt.h>
#include <srt/access_control.h>

#define NAME_MAX_LEN 128
#define TOKEN_MAX_LEN 256
#define PEER_LEN 64
#define REASON_LEN 160
/** Live-mode SRT carries at most 1456 bytes per message; bigger would not be SRT live. */
#define MAX_PAYLOAD 1456
/** A player that could not take this many messages in a row is too slow and is dropped. */
#define PLAYER_MAX_BACKLOG_DROPS 2000
/** Events waiting for the JS thread; beyond this they are dropped (napi_tsfn_nonblocking). */
#define EVENT_QUEUE_MAX 4096

enum { MODE_PUBLISH = 1, MODE_REQUEST = 2 };
enum { EV_PUBLISH = 1, EV_UNPUBLISH, EV_PLAY, EV_PLAY_END, EV_REFUSED };

typedef struct {
  SRTSOCKET sock;  // SRT_INVALID_SOCK: free slot
  int mode;
  char name[NAME_MAX_LEN + 1];
  char peer[PEER_LEN];
  int64_t since_ms;
  uint64_t relay_drops;  // messages this player could not take (send buffer full)
  uint32_t drops_in_row;
} Conn;

typedef struct {
  int type;
  int32_t id;
  int code;
  char name[NAME_MAX_LEN + 1];
  char peer[PEER_LEN];
  char reason[REASON_LEN];
} Event;

typedef struct {
  int mode;
  char resource[NAME_MAX_LEN + 2];  // one more than allowed: a too long name is seen as such
  char token[TOKEN_MAX_LEN + 2];
  int ok;
  int code;
  const char* why;
} StreamId;

typedef struct {
  SRTSOCKET listener;  // the JS thread's view: SRT_INVALID_SOCK once stopped
  SRTSOCKET relay_listener;  // the relay thread's copy, set before the thread starts and never changed
  int eid;
  pthread_t thread;
  int thread_started;
  int running;  // atomic: the JS thread clears it at stop
  pthread_mutex_t mu;
  Conn* conns;
  int max_conns;
  char token[TOKEN_MAX_LEN + 1];
  pthread_mutex_t ev_mu;  // guards tsfn: the listen callback runs on libsrt's thread, also around stop
  napi_threadsafe_function tsfn;
  char buf[MAX_PAYLOAD + 64];
  uint64_t relayed;  // messages received from publishers
  uint64_t refused;
  int srt_started;  // this server holds one srt_startup() count
} Server;

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void peer_string(const struct sockaddr* sa, char* out) {
  char ip[INET6_ADDRSTRLEN] = "?";
  int port = 0;
  if (sa && sa->sa_family == AF_INET) {
    const struct sockaddr_in* a = (const struct sockaddr_in*)sa;
    inet_ntop(AF_INET, &a->sin_addr, ip, sizeof ip);
    port = ntohs(a->sin_port);
    snprintf(out, PEER_LEN, "%s:%d", ip, port);
  } else if (sa && sa->sa_family == AF_INET6) {
    const struct sockaddr_in6* a = (const struct sockaddr_in6*)sa;
    inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof ip);
    port = ntohs(a->sin6_port);
    snprintf(out, PEER_LEN, "[%s]:%d", ip, port);
  } else {
    snprintf(out, PEER_LEN, "?");
  }
}

// ---------------------------------------------------------------------------------------------------
// Stream ids

static int name_ok(const char* s) {
  size_t n = strlen(s);
  if (n < 1 || n > NAME_MAX_LEN || s[0] == '/' || s[n - 1] == '/') return 0;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    int ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '~' || c == '-' ||
             (c == '/' && s[i + 1] != '/');
    if (!ok) return 0;
  }
  return 1;
}

static void copy_bounded(char* dst, size_t cap, const char* src, size_t len) {
  if (len >= cap) len = cap - 1;
  memcpy(dst, src, len);
  dst[len] = 0;
}

static void set_mode(StreamId* id, const char* v, size_t len) {
  if (len == 7 && memcmp(v, "publish", 7) == 0) id->mode = MODE_PUBLISH;
  else if (len == 7 && memcmp(v, "request", 7) == 0) id->mode = MODE_REQUEST;
  else id->mode = -1;
}

/** The access-control syntax: `#!::k=v,k=v` (also `#!:k=v`, as Core writes it); keys r, m, token. */
static void parse_keyed(const char* s, StreamId* id) {
  const char* p = s + 3;
  if (*p == ':') p++;
  while (*p) {
    const char* end = strchr(p, ',');
    size_t len = end ? (size_t)(end - p) : strlen(p);
    const char* eq = memchr(p, '=', len);
    if (eq) {
      size_t klen = (size_t)(eq - p), vlen = len - klen - 1;
      const char* v = eq + 1;
      if (klen == 1 && p[0] == 'r') copy_bounded(id->resource, sizeof id->resource, v, vlen);
      else if (klen == 1 && p[0] == 'm') set_mode(id, v, vlen);
      else if (klen == 5 && memcmp(p, "token", 5) == 0) copy_bounded(id->token, sizeof id->token, v, vlen);
    }
    if (!end) break;
    p = end + 1;
  }
}

/** Core's own syntax: `name[,mode:publish|request][,token:T]`; a value runs to the next `,mode:`/`,token:`. */
static void parse_core(const char* s, StreamId* id) {
  const char* first = NULL;
  for (const char* p = s; *p; p++) {
    if (*p != ',') continue;
    if (strncmp(p, ",mode:", 6) == 0 || strncmp(p, ",token:", 7) == 0) {
      first = p;
      break;
    }
  }
  copy_bounded(id->resource, sizeof id->resource, s, first ? (size_t)(first - s) : strlen(s));
  const char* p = first;
  while (p) {
    int is_mode = strncmp(p, ",mode:", 6) == 0;
    const char* v = p + (is_mode ? 6 : 7);
    const char* next = NULL;
    for (const char* q = v; *q; q++) {
      if (*q == ',' && (strncmp(q, ",mode:", 6) == 0 || strncmp(q, ",token:", 7) == 0)) {
        next = q;
        break;
      }
    }
    size_t vlen = next ? (size_t)(next - v) : strlen(v);
    if (is_mode) set_mode(id, v, vlen);
    else copy_bounded(id->token, sizeof id->token, v, vlen);
    p = next;
  }
}

static int same_token(const char* a, const char* b) {
  size_t la = strlen(a), lb = strlen(b);
  unsigned char diff = (unsigned char)(la != lb);
  size_t n = la < lb ? la : lb;
  for (size_t i = 0; i < n; i++) diff |= (unsigned char)(a[i] ^ b[i]);
  return diff == 0;
}

static void parse_stream_id(const char* s, const char* want_token, StreamId* id) {
  memset(id, 0, sizeof *id);
  id->mode = MODE_REQUEST;
  id->ok = 0;
  id->code = SRT_REJX_BAD_REQUEST;
  if (!s || !*s) {
    id->why = "no stream id";
    return;
  }
  if (strncmp(s, "#!:", 3) == 0) parse_keyed(s, id);
  else parse_core(s, id);
  if (id->mode < 0) {
    id->code = SRT_REJX_BAD_MODE;
    id->why = "the mode must be publish or request";
    return;
  }
  if (!name_ok(id->resource)) {
    id->why = "invalid stream name (use 1-128 of A-Z a-z 0-9 _ . ~ - and / between path elements)";
    return;
  }
  if (want_token && *want_token && !same_token(id->token, want_token)) {
    id->code = SRT_REJX_UNAUTHORIZED;
    id->why = id->token[0] ? "invalid token" : "a token is required";
    return;
  }
  id->ok = 1;
  id->code = 0;
  id->why = NULL;
}

// ---------------------------------------------------------------------------------------------------
// Events to JS

/**
 * A refused caller's name is whatever it sent (any bytes): drake logs it, so control characters (a newline
 * would forge log lines, ESC would drive terminals) and non-ASCII bytes (possibly invalid UTF-8) become '?'.
 */
static void copy_printable(char* dst, size_t cap, const char* src) {
  size_t i = 0;
  for (; src[i] && i + 1 < cap; i++) {
    unsigned char c = (unsigned char)src[i];
    dst[i] = c >= 0x20 && c < 0x7f ? (char)c : '?';
  }
  dst[i] = 0;
}

static void emit(Server* s, int type, SRTSOCKET sock, int code, const char* name, const char* peer, const char* reason) {
  Event* e = calloc(1, sizeof *e);
  if (!e) return;
  e->type = type;
  e->id = (int32_t)sock;
  e->code = code;
  if (name) copy_printable(e->name, sizeof e->name, name);
  if (peer) copy_bounded(e->peer, sizeof e->peer, peer, strlen(peer));
  if (reason) copy_bounded(e->reason, sizeof e->reason, reason, strlen(reason));
  pthread_mutex_lock(&s->ev_mu);
  if (!s->tsfn || napi_call_threadsafe_function(s->tsfn, e, napi_tsfn_nonblocking) != napi_ok) free(e);
  pthread_mutex_unlock(&s->ev_mu);
}

static void set_str(napi_env env, napi_value obj, const char* key, const char* v) {
  napi_value x;
  napi_create_string_utf8(env, v, NAPI_AUTO_LENGTH, &x);
  napi_set_named_property(env, obj, key, x);
}

static void set_num(napi_env env, napi_value obj, const char* key, double v) {
  napi_value x;
  napi_create_double(env, v, &x);
  napi_set_named_property(env, obj, key, x);
}

static void call_js(napi_env env, napi_value cb, void* context, void* data) {
  Event* e = data;
  if (env && cb) {
    static const char* names[] = {"", "publish", "unpublish", "play", "play-end", "refused"};
    napi_value obj, undef;
    napi_create_object(env, &obj);
    set_str(env, obj, "type", names[e->type]);
    set_num(env, obj, "id", e->id);
    set_num(env, obj, "code", e->code);
    set_str(env, obj, "name", e->name);
    set_str(env, obj, "peer", e->peer);
    set_str(env, obj, "reason", e->reason);
    napi_get_undefined(env, &undef);
    napi_call_function(env, undef, cb, 1, &obj, NULL);
  }
  free(e);
}

// ---------------------------------------------------------------------------------------------------
// Connection table: the relay thread reads it freely (it alone writes); other threads hold mu

static Conn* find_conn(Server* s, SRTSOCKET sock) {
  for (int i = 0; i < s->max_conns; i++)
    if (s->conns[i].sock == sock) return &s->conns[i];
  return NULL;
}

static Conn* find_publisher(Server* s, const char* name) {
  for (int i = 0; i < s->max_conns; i++)
    if (s->conns[i].sock != SRT_INVALID_SOCK && s->conns[i].mode == MODE_PUBLISH && strcmp(s->conns[i].name, name) == 0) return &s->conns[i];
  return NULL;
}

static int count_conns(Server* s) {
  int n = 0;
  for (int i = 0; i < s->max_conns; i++)
    if (s->conns[i].sock != SRT_INVALID_SOCK) n++;
  return n;
}

/** Closes one connection (relay thread); a publisher's players go with it (their readers see the end and reconnect). */
static void drop_conn(Server* s, Conn* c, const char* reason) {
  SRTSOCKET sock = c->sock;
  int mode = c->mode;
  char name[NAME_MAX_LEN + 1], peer[PEER_LEN];
  memcpy(name, c->name, sizeof name);
  memcpy(peer, c->peer, sizeof peer);
  pthread_mutex_lock(&s->mu);
  c->sock = SRT_INVALID_SOCK;
  pthread_mutex_unlock(&s->mu);
  srt_epoll_remove_usock(s->eid, sock);
  srt_close(sock);
  emit(s, mode == MODE_PUBLISH ? EV_UNPUBLISH : EV_PLAY_END, sock, 0, name, peer, reason);
  if (mode != MODE_PUBLISH) return;
  for (int i = 0; i < s->max_conns; i++) {
    Conn* p = &s->conns[i];
    if (p->sock != SRT_INVALID_SOCK && p->mode == MODE_REQUEST && strcmp(p->name, name) == 0) drop_conn(s, p, "the publisher is gone");
  }
}

// ---------------------------------------------------------------------------------------------------
// libsrt's listen callback: admission during the handshake

static int on_listen(void* opaque, SRTSOCKET ns, int hsversion, const struct sockaddr* peeraddr, const char* streamid) {
  Server* s = opaque;
  char peer[PEER_LEN];
  peer_string(peeraddr, peer);
  StreamId id;
  parse_stream_id(streamid, s->token, &id);
  const char* why = id.why;
  int code = id.code;
  if (id.ok) {
    pthread_mutex_lock(&s->mu);
    if (hsversion < 5) {
      code = SRT_REJX_VERSION;
      why = "SRT handshake v5 (a stream id) is required";
    } else if (count_conns(s) >= s->max_conns) {
      code = SRT_REJX_OVERLOAD;
      why = "too many connections";
    } else if (id.mode == MODE_PUBLISH && find_publisher(s, id.resource)) {
      code = SRT_REJX_CONFLICT;
      why = "already being published";
    } else if (id.mode == MODE_REQUEST && !find_publisher(s, id.resource)) {
      code = SRT_REJX_NOTFOUND;
      why = "not being published";
    }
    pthread_mutex_unlock(&s->mu);
  }
  if (!why) return 0;
  srt_setrejectreason(ns, code);
  __atomic_add_fetch(&s->refused, 1, __ATOMIC_RELAXED);
  emit(s, EV_REFUSED, ns, code, id.resource, peer, why);
  return -1;
}

// ---------------------------------------------------------------------------------------------------
// The relay thread

static void accept_all(Server* s) {
  for (;;) {
    struct sockaddr_storage sa;
    int salen = sizeof sa;
    SRTSOCKET ns = srt_accept(s->relay_listener, (struct sockaddr*)&sa, &salen);
    if (ns == SRT_INVALID_SOCK) return;  // SRT_EASYNCACCEPT: nothing more waiting
    char sid[600] = "";
    int sidlen = sizeof sid - 1;
    srt_getsockflag(ns, SRTO_STREAMID, sid, &sidlen);
    if (sidlen >= 0 && sidlen < (int)sizeof sid) sid[sidlen] = 0;
    char peer[PEER_LEN];
    peer_string((struct sockaddr*)&sa, peer);
    StreamId id;
    parse_stream_id(sid, s->token, &id);
    int no = 0;
    srt_setsockflag(ns, SRTO_SNDSYN, &no, sizeof no);
    srt_setsockflag(ns, SRTO_RCVSYN, &no, sizeof no);
    // Settled again here: two publishers of one name may both have passed the callback.
    const char* why = !id.ok ? id.why
                      : id.mode == MODE_PUBLISH && find_publisher(s, id.resource) ? "already being published"
                      : id.mode == MODE_REQUEST && !find_publisher(s, id.resource) ? "not being published"
                      : NULL;
    Conn* slot = why ? NULL : find_conn(s, SRT_INVALID_SOCK);
    if (!why && !slot) why = "too many connections";
    if (why) {
      srt_close(ns);
      __atomic_add_fetch(&s->refused, 1, __ATOMIC_RELAXED);  // counted as the callback's refusals are
      emit(s, EV_REFUSED, ns, 0, id.resource, peer, why);
      continue;
    }
    int events = SRT_EPOLL_IN | SRT_EPOLL_ERR;
    srt_epoll_add_usock(s->eid, ns, &events);
    pthread_mutex_lock(&s->mu);
    slot->mode = id.mode;
    memcpy(slot->name, id.resource, sizeof slot->name);
    slot->name[NAME_MAX_LEN] = 0;
    memcpy(slot->peer, peer, sizeof slot->peer);
    slot->since_ms = now_ms();
    slot->relay_drops = 0;
    slot->drops_in_row = 0;
    slot->sock = ns;  // last: a reader that sees the socket sees a filled slot
    pthread_mutex_unlock(&s->mu);
    emit(s, id.mode == MODE_PUBLISH ? EV_PUBLISH : EV_PLAY, ns, 0, id.resource, peer, NULL);
  }
}

/** Reads what one connection has (relay thread); a publisher's messages go to every player of its name. */
static void serve(Server* s, SRTSOCKET sock, int events) {
  Conn* c = find_conn(s, sock);
  if (!c) {
    srt_epoll_remove_usock(s->eid, sock);
    return;
  }
  const char* end = NULL;
  for (int n = 0; n < 256; n++) {
    int len = srt_recvmsg2(sock, s->buf, sizeof s->buf, NULL);
    if (len < 0) {
      int err = srt_getlasterror(NULL);
      if (err != SRT_EASYNCRCV) end = err == SRT_ELARGEMSG ? "a message over the payload limit" : "closed";
      break;
    }
    if (len == 0 || c->mode != MODE_PUBLISH) continue;  // players have nothing to say; what they send is discarded
    __atomic_add_fetch(&s->relayed, 1, __ATOMIC_RELAXED);
    for (int i = 0; i < s->max_conns; i++) {
      Conn* p = &s->conns[i];
      if (p->sock == SRT_INVALID_SOCK || p->mode != MODE_REQUEST || strcmp(p->name, c->name) != 0) continue;
      if (srt_sendmsg2(p->sock, s->buf, len, NULL) < 0) {
        __atomic_add_fetch(&p->relay_drops, 1, __ATOMIC_RELAXED);
        if (++p->drops_in_row > PLAYER_MAX_BACKLOG_DROPS || srt_getlasterror(NULL) != SRT_EASYNCSND) drop_conn(s, p, "too slow or gone");
      } else {
        p->drops_in_row = 0;
      }
    }
  }
  if (!end && (events & SRT_EPOLL_ERR)) end = "closed";
  if (!end && srt_getsockstate(sock) > SRTS_CONNECTED) end = "closed";
  if (end) drop_conn(s, c, end);
}

static void* run(void* arg) {
  Server* s = arg;
  SRT_EPOLL_EVENT ready[64];
  while (__atomic_load_n(&s->running, __ATOMIC_ACQUIRE)) {
    int n = srt_epoll_uwait(s->eid, ready, 64, 200);
    if (n < 0) {
      // Not a timeout (that is 0): the listener went away (stop closes it first) or libsrt is failing.
      // Waiting a little keeps this from spinning a core until stop or recovery.
      struct timespec pause = {0, 20 * 1000000};
      nanosleep(&pause, NULL);
      continue;
    }
    for (int i = 0; i < n && __atomic_load_n(&s->running, __ATOMIC_ACQUIRE); i++) {
      if (ready[i].fd == s->relay_listener) accept_all(s);
      else serve(s, ready[i].fd, ready[i].events);
    }
  }
  for (int i = 0; i < s->max_conns; i++) {
    SRTSOCKET sock = s->conns[i].sock;
    if (sock == SRT_INVALID_SOCK) continue;
    pthread_mutex_lock(&s->mu);
    s->conns[i].sock = SRT_INVALID_SOCK;
    pthread_mutex_unlock(&s->mu);
    srt_close(sock);
  }
  return NULL;
}

// ---------------------------------------------------------------------------------------------------
// N-API

static napi_value throw_error(napi_env env, const char* code, const char* msg) {
  napi_throw_error(env, code, msg);
  return NULL;
}

static int get_string_prop(napi_env env, napi_value obj, const char* key, char* out, size_t cap) {
  napi_value v;
  napi_valuetype t;
  out[0] = 0;
  if (napi_get_named_property(env, obj, key, &v) != napi_ok || napi_typeof(env, v, &t) != napi_ok || t != napi_string) return 0;
  size_t len = 0;
  napi_get_value_string_utf8(env, v, NULL, 0, &len);
  if (len >= cap) return -1;
  napi_get_value_string_utf8(env, v, out, cap, &len);
  return 1;
}

static int get_int_prop(napi_env env, napi_value obj, const char* key, int def) {
  napi_value v;
  napi_valuetype t;
  int32_t x = def;
  if (napi_get_named_property(env, obj, key, &v) != napi_ok || napi_typeof(env, v, &t) != napi_ok || t != napi_number) return def;
  napi_get_value_int32(env, v, &x);
  return x;
}

static void server_free(Server* s) {
  if (s->eid >= 0) srt_epoll_release(s->eid);
  if (s->listener != SRT_INVALID_SOCK) srt_close(s->listener);
  if (s->srt_started) srt_cleanup();
  pthread_mutex_destroy(&s->mu);
  pthread_mutex_destroy(&s->ev_mu);
  free(s->conns);
  free(s);
}

static void stop_server(Server* s) {
  if (!s->thread_started) return;
  // The listener first: no new handshakes (and listen callbacks) from here on.
  srt_close(s->listener);
  s->listener = SRT_INVALID_SOCK;
  __atomic_store_n(&s->running, 0, __ATOMIC_RELEASE);
  pthread_join(s->thread, NULL);
  s->thread_started = 0;
  // libsrt frees a closed socket's UDP port only in its garbage-collector thread, a while later; drake's
  // ports are free once it stopped. srt_cleanup() is counted (one per srt_startup): the last one tears
  // libsrt down now, others leave the other servers of this process alone.
  if (s->eid >= 0) srt_epoll_release(s->eid);
  s->eid = -1;
  srt_cleanup();
  s->srt_started = 0;
  pthread_mutex_lock(&s->ev_mu);
  if (s->tsfn) napi_release_threadsafe_function(s->tsfn, napi_tsfn_release);
  s->tsfn = NULL;
  pthread_mutex_unlock(&s->ev_mu);
}

static void finalize_server(napi_env env, void* data, void* hint) {
  Server* s = data;
  stop_server(s);
  server_free(s);
}

/** start({host, port, passphrase, token, maxConnections, latencyMs}, onEvent) → handle. */
static napi_value Start(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  napi_valuetype t0 = napi_undefined, t1 = napi_undefined;
  if (argc >= 1) napi_typeof(env, argv[0], &t0);
  if (argc >= 2) napi_typeof(env, argv[1], &t1);
  if (t0 != napi_object || t1 != napi_function) return throw_error(env, "ERR_INVALID_ARG_TYPE", "start(options, onEvent)");

  char host[INET6_ADDRSTRLEN + 1], passphrase[80];
  Server* s = calloc(1, sizeof *s);
  if (!s) return throw_error(env, "ENOMEM", "out of memory");
  s->listener = SRT_INVALID_SOCK;
  s->eid = -1;
  pthread_mutex_init(&s->mu, NULL);
  pthread_mutex_init(&s->ev_mu, NULL);
  if (get_string_prop(env, argv[0], "host", host, sizeof host) != 1 || get_string_prop(env, argv[0], "token", s->token, sizeof s->token) < 0 ||
      get_string_prop(env, argv[0], "passphrase", passphrase, sizeof passphrase) < 0) {
    server_free(s);
    return throw_error(env, "ERR_INVALID_ARG_VALUE", "host, token or passphrase missing or too long");
  }
  int port = get_int_prop(env, argv[0], "port", -1);
  int latency = get_int_prop(env, argv[0], "latencyMs", 120);
  s->max_conns = get_int_prop(env, argv[0], "maxConnections", 256);
  size_t plen = strlen(passphrase);
  if (port < 0 || port > 65535 || s->max_conns < 1 || s->max_conns > 65536 || (plen > 0 && (plen < 10 || plen > 79))) {
    server_free(s);
    return throw_error(env, "ERR_INVALID_ARG_VALUE", "port 0-65535, maxConnections 1-65536, passphrase empty or 10-79 characters");
  }
  s->conns = calloc((size_t)s->max_conns, sizeof(Conn));
  if (!s->conns) {
    server_free(s);
    return throw_error(env, "ENOMEM", "out of memory");
  }
  for (int i = 0; i < s->max_conns; i++) s->conns[i].sock = SRT_INVALID_SOCK;

  struct sockaddr_storage sa;
  memset(&sa, 0, sizeof sa);
  int salen;
  if (inet_pton(AF_INET, host, &((struct sockaddr_in*)&sa)->sin_addr) == 1) {
    ((struct sockaddr_in*)&sa)->sin_family = AF_INET;
    ((struct sockaddr_in*)&sa)->sin_port = htons((uint16_t)port);
    salen = sizeof(struct sockaddr_in);
  } else if (inet_pton(AF_INET6, host, &((struct sockaddr_in6*)&sa)->sin6_addr) == 1) {
    ((struct sockaddr_in6*)&sa)->sin6_family = AF_INET6;
    ((struct sockaddr_in6*)&sa)->sin6_port = htons((uint16_t)port);
    salen = sizeof(struct sockaddr_in6);
  } else {
    server_free(s);
    return throw_error(env, "ERR_INVALID_ARG_VALUE", "host must be an IPv4 or IPv6 address");
  }

  srt_startup();
  s->srt_started = 1;
  s->listener = srt_create_socket();
  int no = 0, yes = 1, payload = MAX_PAYLOAD;
  int backlog = s->max_conns < 128 ? s->max_conns : 128;
  SRT_TRANSTYPE live = SRTT_LIVE;
  // SRTO_REUSEADDR off: the UDP port is ours alone (a second drake, or anything else on it, fails to bind).
  int ok = s->listener != SRT_INVALID_SOCK && srt_setsockflag(s->listener, SRTO_TRANSTYPE, &live, sizeof live) == 0 &&
           srt_setsockflag(s->listener, SRTO_REUSEADDR, &no, sizeof no) == 0 && srt_setsockflag(s->listener, SRTO_RCVSYN, &no, sizeof no) == 0 &&
           srt_setsockflag(s->listener, SRTO_SNDSYN, &no, sizeof no) == 0 && srt_setsockflag(s->listener, SRTO_PAYLOADSIZE, &payload, sizeof payload) == 0 &&
           srt_setsockflag(s->listener, SRTO_LATENCY, &latency, sizeof latency) == 0 && srt_setsockflag(s->listener, SRTO_TSBPDMODE, &yes, sizeof yes) == 0 &&
           (plen == 0 || srt_setsockflag(s->listener, SRTO_PASSPHRASE, passphrase, (int)plen) == 0);
  // libsrt refuses to bind the IPv6 wildcard until told whether it also takes IPv4: here it does.
  if (ok && sa.ss_family == AF_INET6 && IN6_IS_ADDR_UNSPECIFIED(&((struct sockaddr_in6*)&sa)->sin6_addr))
    ok = srt_setsockflag(s->listener, SRTO_IPV6ONLY, &no, sizeof no) == 0;
  if (!ok) {
    char msg[200];
    snprintf(msg, sizeof msg, "cannot set up the SRT socket: %s", srt_getlasterror_str());
    server_free(s);
    return throw_error(env, "ERR_SRT_SETUP", msg);
  }
  if (srt_bind(s->listener, (struct sockaddr*)&sa, salen) != 0) {
    char msg[240];
    int sys = 0;
    srt_getlasterror(&sys);
    snprintf(msg, sizeof msg, "%s (%s)", srt_getlasterror_str(), sys ? strerror(sys) : "in use");
    server_free(s);
    return throw_error(env, "ERR_SRT_BIND", msg);
  }
  if (srt_listen_callback(s->listener, on_listen, s) != 0 || srt_listen(s->listener, backlog) != 0) {
    char msg[200];
    snprintf(msg, sizeof msg, "cannot listen: %s", srt_getlasterror_str());
    server_free(s);
    return throw_error(env, "ERR_SRT_LISTEN", msg);
  }
  s->eid = srt_epoll_create();
  int lev = SRT_EPOLL_IN | SRT_EPOLL_ERR;
  if (s->eid < 0 || srt_epoll_add_usock(s->eid, s->listener, &lev) != 0) {
    char msg[200];
    snprintf(msg, sizeof msg, "cannot poll the SRT socket: %s", srt_getlasterror_str());
    server_free(s);
    return throw_error(env, "ERR_SRT_SETUP", msg);
  }
  s->relay_listener = s->listener;

  napi_value name;
  napi_create_string_utf8(env, "drake-srt-events", NAPI_AUTO_LENGTH, &name);
  // Bounded: a flood of refused handshakes while the JS thread is busy drops events (they only feed the
  // log) instead of queueing without limit.
  if (napi_create_threadsafe_function(env, argv[1], NULL, name, EVENT_QUEUE_MAX, 1, NULL, NULL, NULL, call_js, &s->tsfn) != napi_ok) {
    server_free(s);
    return throw_error(env, "ERR_SRT_SETUP", "cannot create the event function");
  }
  // Events must not keep the process alive: drake stops the server itself.
  napi_unref_threadsafe_function(env, s->tsfn);
  s->running = 1;
  if (pthread_create(&s->thread, NULL, run, s) != 0) {
    napi_release_threadsafe_function(s->tsfn, napi_tsfn_release);
    server_free(s);
    return throw_error(env, "ERR_SRT_SETUP", "cannot start the SRT thread");
  }
  s->thread_started = 1;

  napi_value handle;
  napi_create_external(env, s, finalize_server, NULL, &handle);
  return handle;
}

static Server* get_server(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  void* data = NULL;
  napi_valuetype t = napi_undefined;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc >= 1) napi_typeof(env, argv[0], &t);
  if (t != napi_external || napi_get_value_external(env, argv[0], &data) != napi_ok) {
    napi_throw_type_error(env, NULL, "expected a server handle");
    return NULL;
  }
  return data;
}

static napi_value Stop(napi_env env, napi_callback_info info) {
  Server* s = get_server(env, info);
  if (s) stop_server(s);
  return NULL;
}

/** The bound port (the one asked for, or the kernel's choice for 0). */
static napi_value Port(napi_env env, napi_callback_info info) {
  Server* s = get_server(env, info);
  if (!s) return NULL;
  struct sockaddr_storage sa;
  int len = sizeof sa;
  int port = 0;
  if (s->listener != SRT_INVALID_SOCK && srt_getsockname(s->listener, (struct sockaddr*)&sa, &len) == 0)
    port = ntohs(sa.ss_family == AF_INET6 ? ((struct sockaddr_in6*)&sa)->sin6_port : ((struct sockaddr_in*)&sa)->sin_port);
  napi_value v;
  napi_create_int32(env, port, &v);
  return v;
}

typedef struct {
  SRTSOCKET sock;
  int mode;
  char name[NAME_MAX_LEN + 1];
  char peer[PEER_LEN];
  int64_t since_ms;
  uint64_t relay_drops;
} Snapshot;

/** [{id, mode, name, peer, since, relayDrops, stats{…srt_bstats totals and instant values}}] */
static napi_value Connections(napi_env env, napi_callback_info info) {
  Server* s = get_server(env, info);
  if (!s) return NULL;
  Snapshot* snap = calloc((size_t)s->max_conns, sizeof *snap);
  if (!snap) return throw_error(env, "ENOMEM", "out of memory");
  int n = 0;
  pthread_mutex_lock(&s->mu);
  for (int i = 0; i < s->max_conns; i++) {
    Conn* c = &s->conns[i];
    if (c->sock == SRT_INVALID_SOCK) continue;
    snap[n].sock = c->sock;
    snap[n].mode = c->mode;
    memcpy(snap[n].name, c->name, sizeof c->name);
    memcpy(snap[n].peer, c->peer, sizeof c->peer);
    snap[n].since_ms = c->since_ms;
    snap[n].relay_drops = __atomic_load_n(&c->relay_drops, __ATOMIC_RELAXED);
    n++;
  }
  pthread_mutex_unlock(&s->mu);
  napi_value arr;
  napi_create_array_with_length(env, (size_t)n, &arr);
  int out = 0;
  for (int i = 0; i < n; i++) {
    SRT_TRACEBSTATS st;
    if (srt_bstats(snap[i].sock, &st, 0) != 0) continue;  // closed meanwhile
    napi_value o, stats;
    napi_create_object(env, &o);
    set_num(env, o, "id", snap[i].sock);
    set_str(env, o, "mode", snap[i].mode == MODE_PUBLISH ? "publish" : "request");
    set_str(env, o, "name", snap[i].name);
    set_str(env, o, "peer", snap[i].peer);
    set_num(env, o, "since", (double)snap[i].since_ms);
    set_num(env, o, "relayDrops", (double)snap[i].relay_drops);
    napi_create_object(env, &stats);
#define S(key, v) set_num(env, stats, key, (double)(v))
    S("timestamp_ms", st.msTimeStamp);
    S("sent_pkt", st.pktSentTotal);
    S("recv_pkt", st.pktRecvTotal);
    S("sent_unique_pkt", st.pktSentUniqueTotal);
    S("recv_unique_pkt", st.pktRecvUniqueTotal);
    S("send_loss_pkt", st.pktSndLossTotal);
    S("recv_loss_pkt", st.pktRcvLossTotal);
    S("sent_retrans_pkt", st.pktRetransTotal);
    S("recv_retran_pkts", st.pktRcvRetrans);  // libsrt keeps this one per interval only: with clear=0 it is the total
    S("sent_ack_pkt", st.pktSentACKTotal);
    S("recv_ack_pkt", st.pktRecvACKTotal);
    S("sent_nak_pkt", st.pktSentNAKTotal);
    S("recv_nak_pkt", st.pktRecvNAKTotal);
    S("send_duration_us", st.usSndDurationTotal);
    S("send_drop_pkt", st.pktSndDropTotal);
    S("recv_drop_pkt", st.pktRcvDropTotal);
    S("recv_undecrypt_pkt", st.pktRcvUndecryptTotal);
    S("sent_bytes", st.byteSentTotal);
    S("recv_bytes", st.byteRecvTotal);
    S("sent_unique_bytes", st.byteSentUniqueTotal);
    S("recv_unique_bytes", st.byteRecvUniqueTotal);
    S("recv_loss_bytes", st.byteRcvLossTotal);
    S("sent_retrans_bytes", st.byteRetransTotal);
    S("send_drop_bytes", st.byteSndDropTotal);
    S("recv_drop_bytes", st.byteRcvDropTotal);
    S("recv_undecrypt_bytes", st.byteRcvUndecryptTotal);
    S("pkt_send_period_us", st.usPktSndPeriod);
    S("flow_window_pkt", st.pktFlowWindow);
    S("flight_size_pkt", st.pktFlightSize);
    S("rtt_ms", st.msRTT);
    S("bandwidth_mbit", st.mbpsBandwidth);
    S("avail_send_buf_bytes", st.byteAvailSndBuf);
    S("avail_recv_buf_bytes", st.byteAvailRcvBuf);
    S("max_bandwidth_mbit", st.mbpsMaxBW);
    S("mss_bytes", st.byteMSS);
    S("send_buf_pkt", st.pktSndBuf);
    S("send_buf_bytes", st.byteSndBuf);
    S("send_buf_ms", st.msSndBuf);
    S("send_tsbpd_delay_ms", st.msSndTsbPdDelay);
    S("recv_buf_pkt", st.pktRcvBuf);
    S("recv_buf_bytes", st.byteRcvBuf);
    S("recv_buf_ms", st.msRcvBuf);
    S("recv_tsbpd_delay_ms", st.msRcvTsbPdDelay);
    S("reorder_tolerance_pkt", st.pktReorderTolerance);
    S("pkt_recv_avg_belated_time_ms", st.pktRcvAvgBelatedTime);
#undef S
    napi_set_named_property(env, o, "stats", stats);
    napi_set_element(env, arr, (uint32_t)out++, o);
  }
  free(snap);
  return arr;
}

/** {relayed, refused}: counters of the whole server. */
static napi_value Counters(napi_env env, napi_callback_info info) {
  Server* s = get_server(env, info);
  if (!s) return NULL;
  napi_value o;
  napi_create_object(env, &o);
  set_num(env, o, "relayed", (double)__atomic_load_n(&s->relayed, __ATOMIC_RELAXED));
  set_num(env, o, "refused", (double)__atomic_load_n(&s->refused, __ATOMIC_RELAXED));
  return o;
}

/** parseStreamId(id, token) → {ok, mode, name, token, code, reason}: the admission rule, for tests. */
static napi_value ParseStreamId(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  char sid[600], token[TOKEN_MAX_LEN + 1];
  size_t len = 0;
  if (argc < 2 || napi_get_value_string_utf8(env, argv[0], sid, sizeof sid, &len) != napi_ok ||
      napi_get_value_string_utf8(env, argv[1], token, sizeof token, &len) != napi_ok)
    return throw_error(env, "ERR_INVALID_ARG_TYPE", "parseStreamId(id: string, token: string)");
  StreamId id;
  parse_stream_id(sid, token, &id);
  napi_value o, b;
  napi_create_object(env, &o);
  napi_get_boolean(env, id.ok, &b);
  napi_set_named_property(env, o, "ok", b);
  set_str(env, o, "mode", id.mode == MODE_PUBLISH ? "publish" : id.mode == MODE_REQUEST ? "request" : "");
  set_str(env, o, "name", id.resource);
  set_str(env, o, "token", id.token);
  set_num(env, o, "code", id.code);
  set_str(env, o, "reason", id.why ? id.why : "");
  return o;
}

static napi_value Init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"start", NULL, Start, NULL, NULL, NULL, napi_default, NULL},
      {"stop", NULL, Stop, NULL, NULL, NULL, napi_default, NULL},
      {"port", NULL, Port, NULL, NULL, NULL, napi_default, NULL},
      {"connections", NULL, Connections, NULL, NULL, NULL, napi_default, NULL},
      {"counters", NULL, Counters, NULL, NULL, NULL, napi_default, NULL},
      {"parseStreamId", NULL, ParseStreamId, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  // libsrt logs to stderr, even routine things ("no pending connection" on a non-blocking accept) at error
  // level; drake reports what matters through its events and its own log.
  srt_setloglevel(LOG_CRIT);
  char v[32];
  uint32_t ver = (uint32_t)srt_getversion();
  snprintf(v, sizeof v, "%u.%u.%u", (ver >> 16) & 0xff, (ver >> 8) & 0xff, ver & 0xff);
  set_str(env, exports, "libsrt", v);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
