// SRT relay latency probe for bench/srtRelay.ts: a publisher and a player as libsrt callers in one process
// (one clock). Each 1316-byte message carries its CLOCK_MONOTONIC send time; the player records
// receive − send. `relay`: both call drake's SRT server (stream id bench, publish / request); `direct`:
// the publisher calls this program's own listener, the baseline of one SRT leg without drake.
// Usage: relayLatency relay|direct <port> <latency ms> <messages> <messages per second>
// Prints one JSON line: {"mode","latency_ms","messages","p50_ms","p99_ms","p999_ms","max_ms"}.
#include <arpa/inet.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <srt/srt.h>

#define MSG 1316

static int64_t now_us(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (int64_t)t.tv_sec * 1000000 + t.tv_nsec / 1000;
}

static struct sockaddr_in loopback(int port) {
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_port = htons((uint16_t)port);
  inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
  return a;
}

static SRTSOCKET dial(int port, const char* streamid, int latency) {
  SRTSOCKET s = srt_create_socket();
  srt_setsockflag(s, SRTO_LATENCY, &latency, sizeof latency);
  srt_setsockflag(s, SRTO_STREAMID, streamid, (int)strlen(streamid));
  struct sockaddr_in a = loopback(port);
  if (srt_connect(s, (struct sockaddr*)&a, sizeof a) == SRT_ERROR) {
    fprintf(stderr, "connect %s: %s\n", streamid, srt_getlasterror_str());
    exit(1);
  }
  return s;
}

typedef struct {
  SRTSOCKET sock;
  int64_t* delays;
  int want;
  volatile int got;
} Receiver;

static void* receive(void* arg) {
  Receiver* r = arg;
  char buf[1500];
  while (r->got < r->want) {
    int len = srt_recvmsg(r->sock, buf, sizeof buf);
    if (len < 8) break;
    int64_t sent;
    memcpy(&sent, buf, 8);
    r->delays[r->got] = now_us() - sent;
    r->got++;
  }
  return NULL;
}

static int cmp(const void* a, const void* b) {
  int64_t x = *(const int64_t*)a, y = *(const int64_t*)b;
  return x < y ? -1 : x > y;
}

int main(int argc, char** argv) {
  if (argc < 6) {
    fprintf(stderr, "usage: relayLatency relay|direct <port> <latency ms> <messages> <per second>\n");
    return 2;
  }
  int direct = strcmp(argv[1], "direct") == 0;
  int port = atoi(argv[2]), latency = atoi(argv[3]), want = atoi(argv[4]), rate = atoi(argv[5]);
  srt_startup();
  srt_setloglevel(2);
  SRTSOCKET pub, player;
  if (direct) {
    SRTSOCKET l = srt_create_socket();
    srt_setsockflag(l, SRTO_LATENCY, &latency, sizeof latency);
    struct sockaddr_in a = loopback(port);
    if (srt_bind(l, (struct sockaddr*)&a, sizeof a) == SRT_ERROR || srt_listen(l, 1) == SRT_ERROR) {
      fprintf(stderr, "listen: %s\n", srt_getlasterror_str());
      return 1;
    }
    pub = dial(port, "bench,mode:publish", latency);
    player = srt_accept(l, NULL, NULL);
  } else {
    pub = dial(port, "bench,mode:publish", latency);
    usleep(200000);  // the server has registered the publisher
    player = dial(port, "bench,mode:request", latency);
    usleep(200000);
  }
  Receiver r = {player, calloc((size_t)want, sizeof(int64_t)), want, 0};
  pthread_t th;
  pthread_create(&th, NULL, receive, &r);
  char buf[MSG];
  memset(buf, 0, sizeof buf);
  int64_t t0 = now_us();
  for (int i = 0; r.got < want && i < want * 2; i++) {
    int64_t wait = t0 + (int64_t)i * 1000000 / rate - now_us();
    if (wait > 0) usleep((useconds_t)wait);
    int64_t sent = now_us();
    memcpy(buf, &sent, 8);
    srt_sendmsg(pub, buf, MSG, -1, 1);
  }
  usleep(500000);
  srt_close(player);
  pthread_join(th, NULL);
  int n = r.got;
  if (n == 0) {
    fprintf(stderr, "nothing received\n");
    return 1;
  }
  qsort(r.delays, (size_t)n, sizeof(int64_t), cmp);
  printf("{\"mode\":\"%s\",\"latency_ms\":%d,\"messages\":%d,\"p50_ms\":%.2f,\"p99_ms\":%.2f,\"p999_ms\":%.2f,\"max_ms\":%.2f}\n", argv[1], latency, n,
         r.delays[n / 2] / 1000.0, r.delays[(int64_t)n * 99 / 100] / 1000.0, r.delays[(int64_t)n * 999 / 1000] / 1000.0, r.delays[n - 1] / 1000.0);
  srt_close(pub);
  srt_cleanup();
  return 0;
}
