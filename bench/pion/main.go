// A minimal WHEP server on Pion WebRTC v3 with Pion's stock fan-out, for drake's benchmarks: FFmpeg
// sends H264 and Opus RTP to two UDP ports, every packet is written once to a shared
// TrackLocalStaticRTP per medium (Pion rewrites SSRC/PT and encrypts per viewer), viewers join with a
// WHEP POST. Pion's default interceptors are on (NACK responder, RTCP reports, TWCC), as in Pion's
// own examples. Built offline by the bench from Debian's golang-github-pion-webrtc.v3-dev.
//
//	pion-whep -http 127.0.0.1:PORT -video 127.0.0.1:VPORT -audio 127.0.0.1:APORT
//
// POST /whep/bench (application/sdp) → 201 + answer + Location; DELETE /whep/bench/<id>;
// GET /stats → {"viewers":n,"packets":n,"bytes":n,"ingest":{"video":n,"audio":n}}.
package main

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"flag"
	"io"
	"log"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/pion/interceptor"
	"github.com/pion/webrtc/v3"
)

type server struct {
	api     *webrtc.API
	video   *webrtc.TrackLocalStaticRTP
	audio   *webrtc.TrackLocalStaticRTP
	mu      sync.Mutex
	peers   map[string]*webrtc.PeerConnection
	packets atomic.Int64
	bytes   atomic.Int64
	inVideo atomic.Int64
	inAudio atomic.Int64
}

func newAPI() *webrtc.API {
	m := &webrtc.MediaEngine{}
	if err := m.RegisterDefaultCodecs(); err != nil {
		log.Fatal(err)
	}
	ir := &interceptor.Registry{}
	if err := webrtc.RegisterDefaultInterceptors(m, ir); err != nil {
		log.Fatal(err)
	}
	s := webrtc.SettingEngine{}
	s.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	s.SetIncludeLoopbackCandidate(true)
	s.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(s))
}

func (s *server) ingest(addr string, track *webrtc.TrackLocalStaticRTP, counter *atomic.Int64) {
	ua, err := net.ResolveUDPAddr("udp4", addr)
	if err != nil {
		log.Fatal(err)
	}
	conn, err := net.ListenUDP("udp4", ua)
	if err != nil {
		log.Fatal(err)
	}
	_ = conn.SetReadBuffer(4 << 20)
	buf := make([]byte, 1600)
	for {
		n, _, err := conn.ReadFrom(buf)
		if err != nil {
			log.Fatal(err)
		}
		// RTCP from FFmpeg's rtp muxer (PT 200-204 → second byte 72-76 with the marker bit) is skipped.
		if n < 12 || (buf[1]&0x7f >= 72 && buf[1]&0x7f <= 76) {
			continue
		}
		counter.Add(1)
		if _, err := track.Write(buf[:n]); err != nil && err != io.ErrClosedPipe {
			continue
		}
		s.mu.Lock()
		viewers := int64(len(s.peers))
		s.mu.Unlock()
		s.packets.Add(viewers)
		s.bytes.Add(viewers * int64(n))
	}
}

func newID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func (s *server) post(w http.ResponseWriter, r *http.Request) {
	offer, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	pc, err := s.api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	for _, t := range []*webrtc.TrackLocalStaticRTP{s.video, s.audio} {
		sender, err := pc.AddTrack(t)
		if err != nil {
			_ = pc.Close()
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		// Interceptors (NACK responder, reports) see RTCP only when someone reads it.
		go func() {
			buf := make([]byte, 1500)
			for {
				if _, _, err := sender.Read(buf); err != nil {
					return
				}
			}
		}()
	}
	id := newID()
	pc.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
		if st == webrtc.PeerConnectionStateFailed || st == webrtc.PeerConnectionStateClosed {
			s.remove(id)
		}
	})
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: string(offer)}); err != nil {
		_ = pc.Close()
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	answer, err := pc.CreateAnswer(nil)
	if err != nil {
		_ = pc.Close()
		http.Error(w, err.Error(), http.StatusNotAcceptable)
		return
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(answer); err != nil {
		_ = pc.Close()
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	<-gathered
	s.mu.Lock()
	s.peers[id] = pc
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/sdp")
	w.Header().Set("Location", "/whep/bench/"+id)
	w.WriteHeader(http.StatusCreated)
	_, _ = io.WriteString(w, pc.LocalDescription().SDP)
}

func (s *server) remove(id string) bool {
	s.mu.Lock()
	pc, ok := s.peers[id]
	delete(s.peers, id)
	s.mu.Unlock()
	if ok {
		go func() { _ = pc.Close() }()
	}
	return ok
}

func main() {
	httpAddr := flag.String("http", "127.0.0.1:0", "HTTP listen address")
	videoAddr := flag.String("video", "", "UDP address for H264 RTP")
	audioAddr := flag.String("audio", "", "UDP address for Opus RTP")
	flag.Parse()
	video, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000, SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"}, "video", "pion")
	if err != nil {
		log.Fatal(err)
	}
	audio, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, "audio", "pion")
	if err != nil {
		log.Fatal(err)
	}
	s := &server{api: newAPI(), video: video, audio: audio, peers: map[string]*webrtc.PeerConnection{}}
	go s.ingest(*videoAddr, video, &s.inVideo)
	go s.ingest(*audioAddr, audio, &s.inAudio)
	ln, err := net.Listen("tcp", *httpAddr)
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/whep/bench", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.WriteHeader(http.StatusMethodNotAllowed)
			return
		}
		s.post(w, r)
	})
	mux.HandleFunc("/whep/bench/", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodDelete {
			w.WriteHeader(http.StatusMethodNotAllowed)
			return
		}
		if s.remove(strings.TrimPrefix(r.URL.Path, "/whep/bench/")) {
			w.WriteHeader(http.StatusOK)
		} else {
			w.WriteHeader(http.StatusNoContent)
		}
	})
	mux.HandleFunc("/stats", func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		n := len(s.peers)
		s.mu.Unlock()
		_ = json.NewEncoder(w).Encode(map[string]any{"viewers": n, "packets": s.packets.Load(), "bytes": s.bytes.Load(), "ingest": map[string]int64{"video": s.inVideo.Load(), "audio": s.inAudio.Load()}})
	})
	// The port on stdout: the bench reads it.
	log.SetFlags(0)
	log.Printf("listening on http://%s", ln.Addr())
	log.Fatal(http.Serve(ln, mux))
}
