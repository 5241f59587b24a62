//go:build !js

package main

// TestCFWorkerHubD1Fault: the HTTP hub in workerd when its local D1 really
// fails under it, faults made from outside as an operator's mistake or
// another process would make them.

import (
	"encoding/json"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/edgenn/edgenn/engine/peer"
)

// cfD1Query runs SQL on the Worker's local D1 (wrangler d1 execute, beside
// the running Worker) and returns each statement's rows.
func cfD1Query(t *testing.T, state, sql string) [][]map[string]any {
	t.Helper()
	out := cfD1Exec(t, state, "execute", cfHubDBBindingName, "--json", "--command", sql)
	var res []struct {
		Results []map[string]any
		Success bool
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("wrangler d1 execute %q: %v\n%s", sql, err, out)
	}
	rows := make([][]map[string]any, len(res))
	for i, r := range res {
		if !r.Success {
			t.Fatalf("wrangler d1 execute %q: statement %d failed\n%s", sql, i, out)
		}
		rows[i] = r.Results
	}
	return rows
}

// cfPeerRows reads every peer's row of the hub's state, all but its secret.
const cfPeerRows = "SELECT id, room, in_seq, op, out_seq, hex(announce) AS announce, announced, expires, load, dropped FROM hub_peers ORDER BY id"

// cfHubState reads the hub's state: the peers' rows, the models announced
// and the messages queued, in the table queue.
func cfHubState(queue string) string {
	return cfPeerRows + ";\nSELECT peer, hex(model) AS model, hex(cuts) AS cuts FROM hub_models ORDER BY peer, model" +
		";\nSELECT peer, seq, hex(body) AS body, expires FROM " + queue + " ORDER BY peer, seq"
}

// cfRow returns the row of peer id, failing the test when there is none.
func cfRow(t *testing.T, rows []map[string]any, id string) map[string]any {
	t.Helper()
	for _, r := range rows {
		if r["id"] == id {
			return r
		}
	}
	t.Fatalf("no row of peer %s in %v", id, rows)
	return nil
}

// cfWithout returns a copy of row with the columns given nil.
func cfWithout(row map[string]any, cols ...string) map[string]any {
	out := maps.Clone(row)
	for _, c := range cols {
		out[c] = nil
	}
	return out
}

// cfStorageRefused checks that a is the hub's refusal for its storage: a
// 503 with no protocol code, Retry-After, and a body that names the
// storage and D1's own error (want), answered within took.
func cfStorageRefused(t *testing.T, what string, a cfHubAnswer, took time.Duration, want string) {
	t.Helper()
	body := string(a.body)
	if a.status != 503 || a.code != "" || a.header.Get("Retry-After") == "" ||
		!strings.HasPrefix(body, "hub storage unavailable, nothing was changed: d1: ") || !strings.Contains(body, want) {
		t.Errorf("%s while D1 fails: %s, want 503 naming the hub's storage and %q", what, a, want)
	}
	if took > 10*time.Second {
		t.Errorf("%s while D1 fails took %v to answer", what, took)
	}
}

// timed runs f and returns how long it took.
func timed[T any](f func() T) (T, time.Duration) {
	t0 := time.Now()
	v := f()
	return v, time.Since(t0)
}

// TestCFWorkerHubD1Fault runs the Worker over local D1 and breaks D1 under
// it three ways, each then repaired:
//
//   - hub_queue renamed away (wrangler d1 execute): every join, send and
//     poll is a 503 naming the storage and D1's error; the peers' rows,
//     models and queue are as the fault found them (no request half
//     applied); once it is back, the refused send goes again with the same
//     seq and is taken (so it was not applied before), and the frame taken
//     before the fault and the one after reach the peer in order, once;
//   - hub_models dropped: announces, offers and leaving are refused the
//     same way while frames still pass; recreated from the migration (its
//     rows are lost: nothing can keep them), an announce and an offer work;
//   - the database locked by another process (sqlite3 holding a write
//     transaction, SQLITE_BUSY): a 503 naming the storage, and the same
//     seq taken once the lock goes, delivered once.
//
// A D1 timeout cannot be provoked in local workerd: D1 runs there as a
// Durable Object in the Worker's own process and thread, and a slow query
// (a sweep deleting 8 million rows took 15.8 s) holds up the Worker's clock
// with it, so its DBTimeout never fires first; a request that touched no D1
// waited 12.9 s behind it. TestCFWorkerHubStore covers the timeout natively.
func TestCFWorkerHubD1Fault(t *testing.T) {
	cfNeedWorker(t)
	state := t.TempDir()
	w := cfHubWorkerAt(t, state, "60s", "3s", "alpha="+cfHubAlphaToken)
	url := w.url
	a := cfJoin(t, url, "alpha", cfHubAlphaToken, "a")
	b := cfJoin(t, url, "alpha", cfHubAlphaToken, "b")
	b.pollWait = "1"
	a.await("peer-joined b", func(m *peer.Message) bool { return m.Type == peer.PeerJoined && m.Peer.ID == b.id })
	model := peer.Digest{7}
	// frames polls p until n more frames have come, and returns their data.
	frames := func(p *cfHubPeer, n int) []string {
		p.t.Helper()
		from := len(p.got)
		deadline := time.Now().Add(20 * time.Second)
		for time.Now().Before(deadline) {
			if _, r := p.poll(); r.status != 200 {
				p.t.Fatalf("%s polls: %s", p.name, r)
			}
			var got []string
			for _, m := range p.got[from:] {
				if m.Type == peer.Frame {
					got = append(got, string(m.Data))
				}
			}
			if len(got) >= n {
				return got
			}
		}
		p.t.Fatalf("%s: not %d frames within 20 s", p.name, n)
		return nil
	}

	t.Run("table renamed", func(t *testing.T) {
		a.t, b.t = t, t
		if r := a.send(&peer.Message{Type: peer.Frame, To: b.id, Data: []byte("before")}); r.status != 204 {
			t.Fatalf("a sends b a frame: %s", r)
		}
		before := cfD1Query(t, state, cfHubState("hub_queue")+";\nALTER TABLE hub_queue RENAME TO hub_queue_moved")
		const why = "no such table: hub_queue"
		r, took := timed(func() cfHubAnswer { return a.send(&peer.Message{Type: peer.Frame, To: b.id, Data: []byte("during")}) })
		cfStorageRefused(t, "a frame", r, took, why)
		seq := a.seq
		for _, c := range []struct {
			what string
			m    *peer.Message
		}{
			{"an announce", &peer.Message{Type: peer.Announce, Models: []peer.ModelCost{{Model: model, Cuts: []float32{1, 2}}}}},
			{"a ping", &peer.Message{Type: peer.Ping}},
			{"a leave", &peer.Message{Type: peer.Leave}},
		} {
			r, took := timed(func() cfHubAnswer { return a.send(c.m) })
			cfStorageRefused(t, c.what, r, took, why)
		}
		poll, took := timed(func() cfHubAnswer { _, r := b.poll(); return r })
		cfStorageRefused(t, "a poll", poll, took, why)
		join, took := timed(func() cfHubAnswer {
			return cfHubDo(t, b.client, "POST", url+"/hub/join", cfEncode(t, &peer.Message{Type: peer.Join, Seq: 1, Room: "alpha", Token: cfHubAlphaToken, Name: "c"}))
		})
		cfStorageRefused(t, "a join", join, took, why)

		after := cfD1Query(t, state, cfHubState("hub_queue_moved")+";\nALTER TABLE hub_queue_moved RENAME TO hub_queue")
		if !reflect.DeepEqual(before[:3], after[:3]) {
			t.Errorf("the refused requests changed the hub's state:\nbefore %v\nafter  %v", before[:3], after[:3])
		}
		// Repaired: the frame refused goes again with its seq, and is taken.
		a.seq = seq - 1
		if r := a.send(&peer.Message{Type: peer.Frame, To: b.id, Data: []byte("during")}); r.status != 204 {
			t.Fatalf("a sends the refused frame again with seq %d: %s, want 204 (it was not applied)", seq, r)
		}
		if got := frames(b, 2); got[0] != "before" || got[1] != "during" {
			t.Errorf("b got %q, want the frame taken before the fault and the one after, in order", got)
		}
		c := cfJoin(t, url, "alpha", cfHubAlphaToken, "c")
		if r := c.send(&peer.Message{Type: peer.Leave}); r.status != 204 {
			t.Errorf("c leaves: %s", r)
		}
	})

	t.Run("table dropped", func(t *testing.T) {
		a.t, b.t = t, t
		if r := a.send(&peer.Message{Type: peer.Frame, To: b.id, Data: []byte("queued")}); r.status != 204 {
			t.Fatalf("a sends b a frame: %s", r)
		}
		before := cfD1Query(t, state, cfHubState("hub_queue")+";\nDROP TABLE hub_models")
		const why = "no such table: hub_models"
		for _, c := range []struct {
			what string
			p    *cfHubPeer
			m    *peer.Message
		}{
			{"an announce", a, &peer.Message{Type: peer.Announce, Models: []peer.ModelCost{{Model: model, Cuts: []float32{1, 2}}}}},
			{"an offer request", b, &peer.Message{Type: peer.OfferRequest, Model: model}},
			{"a leave", a, &peer.Message{Type: peer.Leave}},
		} {
			r, took := timed(func() cfHubAnswer { return c.p.send(c.m) })
			cfStorageRefused(t, c.what, r, took, why)
			c.p.seq-- // not applied: the seq is free
		}
		if r := a.send(&peer.Message{Type: peer.Frame, To: b.id, Data: []byte("meanwhile")}); r.status != 204 {
			t.Errorf("a sends b a frame, which needs no hub_models: %s", r)
		}
		// Of the four sends since, only the frame took: a's seq, b's queue.
		after := cfD1Query(t, state, cfPeerRows)
		ra, rb := cfRow(t, before[0], a.id), cfRow(t, before[0], b.id)
		ra["in_seq"], ra["op"], ra["expires"] = ra["in_seq"].(float64)+1, nil, nil
		rb["out_seq"] = rb["out_seq"].(float64) + 1
		if got := cfRow(t, after[0], a.id); got["op"] == "" || !reflect.DeepEqual(ra, cfWithout(got, "op", "expires")) {
			t.Errorf("a's row after a refused announce and leave and a frame:\n%v, want\n%v", got, ra)
		}
		if got := cfRow(t, after[0], b.id); !reflect.DeepEqual(rb, got) {
			t.Errorf("b's row after a refused offer request and a frame to it:\n%v, want\n%v", got, rb)
		}
		// Repaired from the migration; what the table held is gone.
		sql, err := os.ReadFile(filepath.Join(cfProjDir, "migrations", "0001_hub.sql"))
		if err != nil {
			t.Fatal(err)
		}
		var create []string
		for _, s := range strings.Split(string(sql), ";") {
			if strings.Contains(s, "TABLE hub_models") || strings.Contains(s, "ON hub_models") {
				create = append(create, s)
			}
		}
		file := filepath.Join(t.TempDir(), "hub_models.sql")
		if err := os.WriteFile(file, []byte(strings.Join(create, ";")+";"), 0o644); err != nil {
			t.Fatal(err)
		}
		abs, _ := filepath.Abs(file)
		cfD1Exec(t, state, "execute", cfHubDBBindingName, "--file", abs)
		if got := frames(b, 2); got[0] != "queued" || got[1] != "meanwhile" {
			t.Errorf("b got %q, want the frames queued before and during the fault", got)
		}
		if r := a.send(&peer.Message{Type: peer.Announce, Models: []peer.ModelCost{{Model: model, Cuts: []float32{1, 2}}}}); r.status != 204 {
			t.Fatalf("a announces after the repair: %s", r)
		}
		b.await("a's announce", func(m *peer.Message) bool { return m.Type == peer.Announce && m.From == a.id })
		if r := b.send(&peer.Message{Type: peer.OfferRequest, Model: model}); r.status != 204 {
			t.Fatalf("b asks for an offer after the repair: %s", r)
		}
		if m := b.await("a match", func(m *peer.Message) bool { return m.Type == peer.Match }); m.ID != a.id {
			t.Errorf("b's match names %s, want a (%s)", m.ID, a.id)
		}
	})

	t.Run("database locked", func(t *testing.T) {
		a.t, b.t = t, t
		sqlite, err := exec.LookPath("sqlite3")
		if err != nil {
			t.Skip("no sqlite3 to lock the database with")
		}
		// The database miniflare keeps for the binding (not its metadata).
		files, _ := filepath.Glob(filepath.Join(state, "v3", "d1", "*", "*.sqlite"))
		var db string
		for _, f := range files {
			if filepath.Base(f) != "metadata.sqlite" {
				db = f
			}
		}
		if db == "" {
			t.Fatalf("no D1 database under %s: %v", state, files)
		}
		cmd := exec.Command(sqlite, db)
		in, _ := cmd.StdinPipe()
		out, _ := cmd.StdoutPipe()
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer cmd.Wait()
		defer in.Close()
		io.WriteString(in, "BEGIN EXCLUSIVE;\nSELECT 'locked';\n")
		buf := make([]byte, 64)
		if n, err := out.Read(buf); err != nil || !strings.Contains(string(buf[:n]), "locked") {
			t.Fatalf("sqlite3 did not take the lock: %q %v", buf[:n], err)
		}
		r, took := timed(func() cfHubAnswer {
			return a.send(&peer.Message{Type: peer.Frame, To: b.id, Data: []byte("locked out")})
		})
		// D1 says so (SQLITE_BUSY) the first time; miniflare's D1 object
		// then answers "internal error" until the lock goes.
		cfStorageRefused(t, "a frame", r, took, "D1_ERROR: ")
		poll, took := timed(func() cfHubAnswer { _, r := b.poll(); return r })
		cfStorageRefused(t, "a poll", poll, took, "D1_ERROR: ")
		io.WriteString(in, "COMMIT;\n")
		in.Close()
		if err := cmd.Wait(); err != nil {
			t.Fatalf("sqlite3: %v", err)
		}
		a.seq--
		if r := a.send(&peer.Message{Type: peer.Frame, To: b.id, Data: []byte("locked out")}); r.status != 204 {
			t.Fatalf("a sends the refused frame again: %s, want 204", r)
		}
		if got := frames(b, 1); got[0] != "locked out" {
			t.Errorf("b got %q, want the frame refused while the database was locked", got)
		}
		if r := a.send(&peer.Message{Type: peer.Frame, To: b.id, Data: []byte("last")}); r.status != 204 {
			t.Fatalf("a sends b a frame: %s", r)
		}
		if got := frames(b, 1); got[0] != "last" {
			t.Errorf("b got %q, want the last frame, the one before once", got)
		}
	})

	if logs := w.logs(); strings.Contains(logs, "panic") || strings.Contains(logs, "Uncaught") {
		t.Errorf("the Worker's log shows a panic or an uncaught error:\n%s", logs)
	}
}
