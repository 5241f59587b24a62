package data

import (
	"slices"
	"strings"
	"testing"
)

// counting is n examples of shape [2 3 1] whose values name the example and
// position (x = 10*i + j) and whose labels are i%classes.
func counting(n, classes int) *Dataset {
	d := &Dataset{Shape: []int{2, 3, 1}, Classes: classes, X: make([]float32, n*6), Y: make([]int32, n)}
	for i := range n {
		for j := range 6 {
			d.X[i*6+j] = float32(10*i + j)
		}
		d.Y[i] = int32(i % classes)
	}
	return d
}

func TestExampleAndBatch(t *testing.T) {
	d := counting(5, 3)
	if d.Len() != 5 || d.Size() != 6 {
		t.Fatalf("Len %d Size %d", d.Len(), d.Size())
	}
	x, y := d.Example(3)
	if y != 0 || !slices.Equal(x, []float32{30, 31, 32, 33, 34, 35}) || cap(x) != 6 {
		t.Fatalf("Example(3) = %v (cap %d), %d", x, cap(x), y)
	}
	idx := []int{4, 0, 4, 2}
	bx, by := make([]float32, len(idx)*6), make([]int32, len(idx))
	d.Batch(idx, bx, by)
	for b, i := range idx {
		for j := range 6 {
			if bx[b*6+j] != float32(10*i+j) {
				t.Fatalf("batch %d: x[%d] = %v, want %v", b, j, bx[b*6+j], 10*i+j)
			}
		}
		if by[b] != int32(i%3) {
			t.Fatalf("batch %d: y = %d, want %d", b, by[b], i%3)
		}
	}
	if allocs := testing.AllocsPerRun(100, func() { d.Batch(idx, bx, by) }); allocs != 0 {
		t.Errorf("Batch allocates %v times a call", allocs)
	}
}

func TestBatchPanics(t *testing.T) {
	d := counting(5, 3)
	for _, tc := range []struct {
		name string
		idx  []int
		nx   int
		ny   int
		want string
	}{
		{"short x", []int{1, 2}, 11, 2, "2 indices of size 6 with len(x)=11 len(y)=2"},
		{"long y", []int{1, 2}, 12, 3, "2 indices of size 6 with len(x)=12 len(y)=3"},
		{"index 5", []int{1, 5}, 12, 2, "index 5 out of range [0,5)"},
		{"index -1", []int{-1}, 6, 1, "index -1 out of range [0,5)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msg := panicMessage(func() { d.Batch(tc.idx, make([]float32, tc.nx), make([]int32, tc.ny)) })
			if !strings.HasPrefix(msg, "data.Dataset.Batch: ") || !strings.Contains(msg, tc.want) {
				t.Errorf("panic %q, want it to contain %q", msg, tc.want)
			}
		})
	}
}

func panicMessage(f func()) (msg string) {
	defer func() {
		if r := recover(); r != nil {
			msg, _ = r.(string)
			if msg == "" {
				msg = "non-string panic"
			}
		}
	}()
	f()
	return ""
}

func TestSplitAndSubset(t *testing.T) {
	d := counting(5, 3)
	d.Labels = []string{"a", "b", "c"}
	head, tail := d.Split(2)
	if head.Len() != 2 || tail.Len() != 3 || head.Size() != 6 || tail.Classes != 3 || tail.Labels[2] != "c" {
		t.Fatalf("head %d tail %d", head.Len(), tail.Len())
	}
	if x, y := tail.Example(0); x[0] != 20 || y != 2 {
		t.Errorf("tail.Example(0) = %v, %d, want example 2", x, y)
	}
	// A view: writes show through, and appending to head cannot reach tail.
	tail.X[0] = -1
	if d.X[12] != -1 {
		t.Error("Split copied instead of sharing storage")
	}
	if cap(head.X) != 12 || cap(head.Y) != 2 {
		t.Errorf("head caps %d %d, want 12 2", cap(head.X), cap(head.Y))
	}
	if e, all := d.Split(0); e.Len() != 0 || all.Len() != 5 {
		t.Errorf("Split(0) = %d, %d", e.Len(), all.Len())
	}
	if msg := panicMessage(func() { d.Split(6) }); msg != "data.Dataset.Split: 6 out of range [0,5]" {
		t.Errorf("Split(6) panic %q", msg)
	}

	sub := d.Subset([]int{4, 1, 1})
	if sub.Len() != 3 || sub.X[0] != 40 || sub.X[6] != 10 || sub.Y[0] != 1 || sub.Y[2] != 1 || sub.Labels[0] != "a" {
		t.Fatalf("Subset: X %v Y %v", sub.X, sub.Y)
	}
	sub.X[0] = -2
	if d.X[24] == -2 {
		t.Error("Subset shares storage")
	}
	if msg := panicMessage(func() { d.Subset([]int{7}) }); !strings.Contains(msg, "index 7 out of range [0,5)") {
		t.Errorf("Subset([7]) panic %q", msg)
	}
}

func TestHistogram(t *testing.T) {
	d := counting(7, 3)
	if h := d.Histogram(); !slices.Equal(h, []int{3, 2, 2}) {
		t.Errorf("Histogram = %v, want [3 2 2]", h)
	}
}

// TestShuffleGolden pins the permutations, so that a change of generator or
// a platform difference (the test also runs under GOOS=js GOARCH=wasm) fails.
// The values came from an independent Python transcription of SplitMix64,
// Lemire's bounded draw and Fisher-Yates, not from this code.
func TestShuffleGolden(t *testing.T) {
	perm := make([]int, 10)
	Shuffle(42, perm)
	if want := []int{8, 3, 6, 5, 4, 0, 9, 2, 1, 7}; !slices.Equal(perm, want) {
		t.Errorf("Shuffle(42) = %v, want %v", perm, want)
	}
	big := make([]int, 60000)
	Shuffle(1<<63+12345, big)
	sum := uint64(0)
	for i, p := range big {
		sum = sum*1000003 + uint64(p) ^ uint64(i)
	}
	if want := uint64(3750212605540502226); sum != want || !slices.Equal(big[:5], []int{57714, 55269, 24610, 19043, 6400}) {
		t.Errorf("Shuffle(2^63+12345) of 60000: first %v, digest %d", big[:5], sum)
	}
}

func TestShufflePermutes(t *testing.T) {
	for _, n := range []int{0, 1, 2, 7, 1000} {
		perm := make([]int, n)
		Shuffle(uint64(n), perm)
		seen := make([]bool, n)
		for _, p := range perm {
			if p < 0 || p >= n || seen[p] {
				t.Fatalf("n=%d: %v is not a permutation", n, perm)
			}
			seen[p] = true
		}
	}
	a, b := make([]int, 100), make([]int, 100)
	Shuffle(7, a)
	Shuffle(7, b)
	if !slices.Equal(a, b) {
		t.Error("same seed, different permutations")
	}
	Shuffle(8, b)
	if slices.Equal(a, b) {
		t.Error("seeds 7 and 8 give the same permutation of 100")
	}
	if allocs := testing.AllocsPerRun(10, func() { Shuffle(9, a) }); allocs != 0 {
		t.Errorf("Shuffle allocates %v times", allocs)
	}
}

// TestShuffleUniform counts the 6 orders of 3 elements over 60,000 seeds:
// each should come up 10,000 times, give or take a few standard deviations
// (about 91).
func TestShuffleUniform(t *testing.T) {
	counts := map[[3]int]int{}
	perm := make([]int, 3)
	for seed := range uint64(60000) {
		Shuffle(seed, perm)
		counts[[3]int(perm)]++
	}
	if len(counts) != 6 {
		t.Fatalf("%d distinct orders of 3, want 6", len(counts))
	}
	for p, c := range counts {
		if c < 9500 || c > 10500 {
			t.Errorf("order %v came up %d times in 60000, want about 10000", p, c)
		}
	}
}

// TestBounded checks the rejection step on a bound where it matters: with
// n = 3<<62 a plain multiply-shift would favour some values 2:1.
func TestBounded(t *testing.T) {
	const n = 3 << 62
	var thirds [3]int
	s := uint64(1)
	for range 30000 {
		v := bounded(&s, n)
		if v >= n {
			t.Fatalf("bounded gave %d >= %d", v, uint64(n))
		}
		thirds[v/(1<<62)]++
	}
	for i, c := range thirds {
		if c < 9400 || c > 10600 {
			t.Errorf("third %d drew %d of 30000, want about 10000", i, c)
		}
	}
}
