package engine_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/edgenn/edgenn/engine"
	"github.com/edgenn/edgenn/model"
)

// BenchmarkSessionRunImported times Session.Run on the imported models
// make run-models writes (build/run-models: the @vladmandic/human emotion
// and BlazeFace graph models after edgenn convert), with allocs/op, which
// must be 0: a Run that allocated would, in wasm, bring Go's collector into
// the timed runs every few hundred of them. It skips the models that are
// not there.
func BenchmarkSessionRunImported(b *testing.B) {
	for _, name := range []string{"emotion", "blazeface"} {
		b.Run(name, func(b *testing.B) {
			data, err := os.ReadFile(filepath.Join("..", "build", "run-models", name+".enn"))
			if err != nil {
				b.Skip(err)
			}
			g, err := model.Decode(data)
			if err != nil {
				b.Fatal(err)
			}
			s, err := engine.NewSession(g)
			if err != nil {
				b.Fatal(err)
			}
			per := 1
			for _, d := range s.Inputs()[0].Shape[1:] {
				per *= d
			}
			x := make([]float32, per)
			for i := range x {
				x[i] = float32(i%255)/127.5 - 1
			}
			if _, err := s.Run(x); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				s.Run(x)
			}
		})
	}
}
