//go:build js && wasm && cfworker

package main

// The Worker's side of the HTTP hub (cfhub.go): its D1 store, through the
// binding's own batch API (syumai/workers' database/sql driver has no
// transactions, and a D1 batch is one), and the hub made from the Worker's
// variables (cfworker.go routes /hub and /hub/* to it).

import (
	"context"
	"errors"
	"fmt"
	"log"
	"syscall/js"
	"time"

	"github.com/syumai/workers/cloudflare"
)

// The Worker's bindings and variables for the hub (cfworker/wrangler.toml,
// cfworker/README.md).
const (
	cfHubDBBinding  = "DB"
	cfHubRoomsVar   = "EDGENN_HUB_ROOMS"
	cfHubTimeoutVar = "EDGENN_HUB_TIMEOUT"   // a Go duration, default 30s
	cfHubPollVar    = "EDGENN_HUB_POLL_WAIT" // default 15s
)

// newCFHubFromEnv makes the hub from the Worker's variables, or returns nil
// if it has no rooms.
func newCFHubFromEnv(logger *log.Logger) (*cfHub, error) {
	rooms, err := parseCFHubRooms(cloudflare.Getenv(cfHubRoomsVar))
	if err != nil || len(rooms) == 0 {
		return nil, err
	}
	cfg := cfHubConfig{Rooms: rooms, Log: logger}
	for _, v := range []struct {
		name string
		d    *time.Duration
	}{{cfHubTimeoutVar, &cfg.Timeout}, {cfHubPollVar, &cfg.PollWait}} {
		if s := cloudflare.Getenv(v.name); s != "" {
			if *v.d, err = time.ParseDuration(s); err != nil || *v.d <= 0 {
				return nil, fmt.Errorf("%s=%q: want a positive duration such as 30s", v.name, s)
			}
		}
	}
	db := cloudflare.GetBinding(cfHubDBBinding)
	if db.IsUndefined() {
		return nil, fmt.Errorf("%s is set but the Worker has no D1 binding %s (cfworker/wrangler.toml)", cfHubRoomsVar, cfHubDBBinding)
	}
	return newCFHub(cfg, cfD1{db})
}

// cfD1 is a D1 database binding.
type cfD1 struct{ db js.Value }

var (
	jsArray      = js.Global().Get("Array")
	jsUint8Array = js.Global().Get("Uint8Array")
	jsObject     = js.Global().Get("Object")
)

// Batch runs D1's batch(), a transaction.
func (d cfD1) Batch(ctx context.Context, stmts ...cfSQL) (res []cfResult, err error) {
	defer func() {
		// A value of a shape this code does not expect panics in syscall/js.
		if p := recover(); p != nil {
			res, err = nil, fmt.Errorf("d1: %v", p)
		}
	}()
	list := jsArray.New()
	for _, s := range stmts {
		args := make([]any, len(s.args))
		for i, a := range s.args {
			if b, ok := a.([]byte); ok {
				u := jsUint8Array.New(len(b))
				js.CopyBytesToJS(u, b)
				a = u.Get("buffer")
			}
			args[i] = a
		}
		list.Call("push", d.db.Call("prepare", s.query).Call("bind", args...))
	}
	out, err := cfAwait(ctx, d.db.Call("batch", list))
	if err != nil {
		return nil, fmt.Errorf("d1: %w", err)
	}
	res = make([]cfResult, out.Length())
	for i := range res {
		r := out.Index(i)
		if meta := r.Get("meta"); meta.Type() == js.TypeObject {
			if c := meta.Get("changes"); c.Type() == js.TypeNumber {
				res[i].Changes = int64(c.Float())
			}
		}
		rows := r.Get("results")
		if rows.Type() != js.TypeObject {
			continue
		}
		for j := 0; j < rows.Length(); j++ {
			row := rows.Index(j)
			keys := jsObject.Call("keys", row)
			m := make(map[string]any, keys.Length())
			for k := 0; k < keys.Length(); k++ {
				key := keys.Index(k).String()
				m[key] = cfJSValue(row.Get(key))
			}
			res[i].Rows = append(res[i].Rows, m)
		}
	}
	return res, nil
}

// cfJSValue converts a D1 column: null, number, string, or a BLOB as an
// ArrayBuffer or an array of bytes.
func cfJSValue(v js.Value) any {
	switch v.Type() {
	case js.TypeNumber:
		f := v.Float()
		if f == float64(int64(f)) {
			return int64(f)
		}
		return f
	case js.TypeString:
		return v.String()
	case js.TypeObject:
		u := jsUint8Array.New(v)
		b := make([]byte, u.Length())
		js.CopyBytesToGo(b, u)
		return b
	}
	return nil
}

// cfAwait waits for a promise, or for ctx.
func cfAwait(ctx context.Context, p js.Value) (js.Value, error) {
	type outcome struct {
		v   js.Value
		err error
	}
	ch := make(chan outcome, 1)
	var then, catch js.Func
	then = js.FuncOf(func(_ js.Value, args []js.Value) any {
		ch <- outcome{v: args[0]}
		return nil
	})
	catch = js.FuncOf(func(_ js.Value, args []js.Value) any {
		msg := "rejected"
		if len(args) > 0 {
			msg = args[0].Call("toString").String()
		}
		ch <- outcome{err: errors.New(msg)}
		return nil
	})
	p.Call("then", then, catch)
	select {
	case o := <-ch:
		then.Release()
		catch.Release()
		return o.v, o.err
	case <-ctx.Done():
		// then and catch stay: the promise may settle later.
		return js.Value{}, fmt.Errorf("no answer within the deadline: %w", ctx.Err())
	}
}
