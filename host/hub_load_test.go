//go:build !js

package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"math"
	"net"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/edgenn/edgenn/engine/peer"
)

// TestHubLoad is issue 7's load figure, for `make hub-bench` (not `make
// test`): a real `edgenn serve --hub-room` process (EDGENN_BIN) on
// loopback holds EDGENN_HUB_PEERS connected peers (default 1000), half of
// them holding a model; requesters ask the hub for a peer at a fixed total
// rate (EDGENN_HUB_RATES, requests per second, default "500,1000") and send
// it a 16 KiB sealed-size frame, which the peer answers with a 4 KiB one.
// It reports, for each rate, the requests answered, lost, the round trip's
// p50/p95/p99 (request sent to answer received) and the hub's CPU and
// memory, and fails if any request is lost at the first rate.
func TestHubLoad(t *testing.T) {
	bin := os.Getenv("EDGENN_BIN")
	if os.Getenv("EDGENN_HUB_LOAD") != "1" || bin == "" {
		t.Skip("set EDGENN_HUB_LOAD=1 and EDGENN_BIN=build/edgenn (make hub-bench)")
	}
	peers := loadEnvInt(t, "EDGENN_HUB_PEERS", 1000)
	dur := time.Duration(loadEnvInt(t, "EDGENN_HUB_SECONDS", 10)) * time.Second
	var rates []int
	for _, s := range strings.Split(loadEnv("EDGENN_HUB_RATES", "500,1000"), ",") {
		r, err := strconv.Atoi(s)
		if err != nil || r <= 0 {
			t.Fatalf("EDGENN_HUB_RATES: %q is not a rate", s)
		}
		rates = append(rates, r)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.Command(bin, "serve", "--addr", addr, "--hub-room", testRoom+"="+testToken)
	cmd.Dir = ".." // the repository, whose www/ and build/ it serves
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	go func() { // the hub logs a line per join: keep the pipe drained
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
		}
	}()
	url := "ws://" + addr + "/hub"
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the host did not listen within 20s")
		}
		time.Sleep(50 * time.Millisecond)
	}

	model := peer.Digest(sha256.Sum256([]byte("hub load")))
	requesters := max(1, peers/20)
	cs := make([]*loadClient, peers)
	joinStart := time.Now()
	for i := range cs {
		c, err := dialLoad(url)
		if err != nil {
			t.Fatalf("peer %d: %v", i, err)
		}
		cs[i] = c
		defer c.conn.CloseNow()
		holds := i >= requesters && i%2 == 0
		if err := c.joinAndServe(holds, model); err != nil {
			t.Fatalf("peer %d: %v", i, err)
		}
	}
	for i, c := range cs {
		select {
		case <-c.welcomed:
		case <-time.After(30 * time.Second):
			t.Fatalf("peer %d: no welcome within 30s", i)
		}
	}
	t.Logf("%d peers joined in %v; %d requesters, %d holders", peers, time.Since(joinStart).Round(time.Millisecond), requesters, (peers-requesters+1)/2)
	time.Sleep(2 * time.Second) // the announces and peer-joined storm settle

	for ri, rate := range rates {
		cpu0 := loadProcCPU(t, cmd.Process.Pid)
		sent, answered, lost, rtt := loadRun(t, cs[:requesters], model, rate, dur)
		cpu := loadProcCPU(t, cmd.Process.Pid) - cpu0
		slices.Sort(rtt)
		q := func(p float64) time.Duration {
			if len(rtt) == 0 {
				return 0
			}
			return rtt[min(len(rtt)-1, int(math.Ceil(p*float64(len(rtt))))-1)]
		}
		t.Logf("rate %d/s for %v: sent %d, answered %d (%.0f/s), lost %d; round trip p50 %v p95 %v p99 %v; hub CPU %.0f%% of one core, RSS %d MiB",
			rate, dur, sent, answered, float64(answered)/dur.Seconds(), lost, q(0.5).Round(10*time.Microsecond),
			q(0.95).Round(10*time.Microsecond), q(0.99).Round(10*time.Microsecond), 100*cpu.Seconds()/dur.Seconds(), loadProcRSS(t, cmd.Process.Pid)>>20)
		if ri == 0 && lost != 0 {
			t.Errorf("%d of %d requests lost at %d/s", lost, sent, rate)
		}
	}
	for i, c := range cs {
		if err := c.err(); err != nil {
			t.Errorf("peer %d: %v", i, err)
			break
		}
	}
}

// loadRun has the requesters send rate requests a second between them for
// dur, each to the peer the hub matches, and waits up to 5s for the last
// answers.
func loadRun(t *testing.T, reqs []*loadClient, model peer.Digest, rate int, dur time.Duration) (sent, answered, lost int, rtt []time.Duration) {
	var (
		mu      sync.Mutex
		pending = map[uint64]time.Time{}
		nextID  atomic.Uint64
		done    atomic.Int64
	)
	for _, c := range reqs {
		c.onAnswer = func(id uint64) {
			mu.Lock()
			if at, ok := pending[id]; ok {
				delete(pending, id)
				rtt = append(rtt, time.Since(at))
				done.Add(1)
			}
			mu.Unlock()
		}
	}
	per := time.Duration(float64(time.Second) * float64(len(reqs)) / float64(rate))
	stop := time.Now().Add(dur)
	var wg sync.WaitGroup
	var nsent atomic.Int64
	for k, c := range reqs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Spread the requesters' ticks over the period.
			next := time.Now().Add(per * time.Duration(k) / time.Duration(len(reqs)))
			for next.Before(stop) {
				time.Sleep(time.Until(next))
				next = next.Add(per)
				id := nextID.Add(1)
				mu.Lock()
				pending[id] = time.Now()
				mu.Unlock()
				nsent.Add(1)
				if err := c.request(model, id); err != nil {
					t.Errorf("request %d: %v", id, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	wait := time.Now().Add(5 * time.Second)
	for done.Load() < nsent.Load() && time.Now().Before(wait) {
		time.Sleep(10 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	return int(nsent.Load()), int(done.Load()), len(pending), slices.Clone(rtt)
}

// loadClient is one peer of the load test: it answers pings, and as a
// holder answers every frame with a 4 KiB frame carrying the same id; as a
// requester it matches each offer request's answer to its frame.
type loadClient struct {
	conn     *websocket.Conn
	mu       sync.Mutex
	seq      uint64
	id       string
	welcomed chan struct{}
	matches  chan string
	onAnswer func(id uint64)
	failed   atomic.Value // error
	reqMu    sync.Mutex   // one offer request and its match at a time
}

func dialLoad(url string) (*loadClient, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		return nil, err
	}
	conn.SetReadLimit(peer.MaxMessageBytes)
	return &loadClient{conn: conn, welcomed: make(chan struct{}), matches: make(chan string, 16)}, nil
}

func (c *loadClient) err() error {
	if e, ok := c.failed.Load().(error); ok {
		return e
	}
	return nil
}

func (c *loadClient) send(m *peer.Message) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seq++
	m.Seq = c.seq
	b, err := peer.Encode(m)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return c.conn.Write(ctx, websocket.MessageBinary, b)
}

func (c *loadClient) joinAndServe(holds bool, model peer.Digest) error {
	if err := c.send(&peer.Message{Type: peer.Join, Room: testRoom, Token: testToken}); err != nil {
		return err
	}
	answer := make([]byte, 4<<10)
	go func() {
		for {
			_, b, err := c.conn.Read(context.Background())
			if err != nil {
				if c.err() == nil && websocket.CloseStatus(err) == -1 && !strings.Contains(err.Error(), "closed") {
					c.failed.Store(err)
				}
				return
			}
			m, err := peer.Decode(b)
			if err != nil {
				c.failed.Store(err)
				return
			}
			switch m.Type {
			case peer.Welcome:
				c.id = m.ID
				if holds {
					if err := c.send(&peer.Message{Type: peer.Announce, Models: []peer.ModelCost{{Model: model, Cuts: []float32{1, 5}}}}); err != nil {
						c.failed.Store(err)
					}
				}
				close(c.welcomed)
			case peer.Ping:
				c.send(&peer.Message{Type: peer.Pong, Re: m.Seq})
			case peer.Match:
				c.matches <- m.ID
			case peer.Frame:
				if len(m.Data) < 8 {
					c.failed.Store(errorString("a frame of " + strconv.Itoa(len(m.Data)) + " bytes"))
					return
				}
				if holds {
					copy(answer, m.Data[:8])
					if err := c.send(&peer.Message{Type: peer.Frame, To: m.From, Data: answer}); err != nil {
						c.failed.Store(err)
					}
				} else if c.onAnswer != nil {
					c.onAnswer(binary.BigEndian.Uint64(m.Data))
				}
			case peer.Error:
				c.failed.Store(errorString("hub error " + m.Code + ": " + m.Text))
			}
		}
	}()
	return nil
}

// request asks the hub for a peer holding model and sends it a 16 KiB frame
// whose first 8 bytes are id.
func (c *loadClient) request(model peer.Digest, id uint64) error {
	c.reqMu.Lock()
	defer c.reqMu.Unlock()
	if err := c.send(&peer.Message{Type: peer.OfferRequest, Model: model}); err != nil {
		return err
	}
	var to string
	select {
	case to = <-c.matches:
	case <-time.After(5 * time.Second):
		return errorString("no match within 5s")
	}
	data := make([]byte, 16<<10)
	binary.BigEndian.PutUint64(data, id)
	return c.send(&peer.Message{Type: peer.Frame, To: to, Data: data})
}

type errorString string

func (e errorString) Error() string { return string(e) }

func loadEnv(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func loadEnvInt(t *testing.T, k string, def int) int {
	n, err := strconv.Atoi(loadEnv(k, strconv.Itoa(def)))
	if err != nil || n <= 0 {
		t.Fatalf("%s: want a positive integer", k)
	}
	return n
}

// loadProcCPU returns the user+system CPU time of process pid so far.
func loadProcCPU(t *testing.T, pid int) time.Duration {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	ut, _ := strconv.Atoi(f[11])
	st, _ := strconv.Atoi(f[12])
	return time.Duration(ut+st) * 10 * time.Millisecond // USER_HZ 100
}

// loadProcRSS returns the resident bytes of process pid.
func loadProcRSS(t *testing.T, pid int) int {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmRSS:") {
			kb, _ := strconv.Atoi(strings.Fields(l)[1])
			return kb << 10
		}
	}
	return 0
}
