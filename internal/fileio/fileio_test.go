package fileio

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

func compress(t testing.TB, comp string, data []byte) []byte {
	var b bytes.Buffer
	switch comp {
	case Gzip:
		w := gzip.NewWriter(&b)
		w.Write(data)
		w.Close()
	case Zstd:
		w, _ := zstd.NewWriter(&b)
		w.Write(data)
		w.Close()
	default:
		b.Write(data)
	}
	return b.Bytes()
}

// FuzzOpen checks the decompressing, read-ahead reader: what was
// compressed reads back whole (across read-ahead blocks), a truncated
// stream is an error, and arbitrary bytes taken as gzip or zstd are an
// error or some data, never a panic or a hang.
func FuzzOpen(f *testing.F) {
	f.Add([]byte("a,b\n1,2\n"), uint16(0), uint8(0))
	f.Add(bytes.Repeat([]byte("x,y\n"), 1<<18), uint16(7), uint8(1))
	f.Add([]byte{0x1f, 0x8b, 8, 0, 0, 0}, uint16(3), uint8(2))
	f.Add([]byte{0x28, 0xb5, 0x2f, 0xfd, 0, 0}, uint16(3), uint8(3))
	f.Fuzz(func(t *testing.T, data []byte, cut uint16, mode uint8) {
		dir := t.TempDir()
		comp := []string{Gzip, Zstd}[mode%2]
		if mode%4 >= 2 {
			// Arbitrary bytes as a compressed file.
			p := filepath.Join(dir, "raw")
			os.WriteFile(p, data, 0o644)
			if r, err := Open(p, comp); err == nil {
				io.Copy(io.Discard, r)
				r.Close()
			}
			return
		}
		z := compress(t, comp, data)
		p := filepath.Join(dir, "f")
		os.WriteFile(p, z, 0o644)
		r, err := Open(p, comp)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(r)
		r.Close()
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("%s: read back %d bytes (%v), want %d", comp, len(got), err, len(data))
		}
		if at := 1 + int(cut)%(len(z)-1); len(z) > 20 {
			// Not at 0: an empty file is an empty zstd stream.
			os.WriteFile(p, z[:at], 0o644)
			r, err := Open(p, comp)
			if err == nil {
				_, err = io.ReadAll(r)
				r.Close()
			}
			if err == nil {
				t.Fatalf("%s: a stream cut at %d of %d bytes read without error", comp, at, len(z))
			}
		}
	})
}

func TestExpandAndResolve(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"b.csv", "a.csv", "c.txt"} {
		os.WriteFile(filepath.Join(dir, n), nil, 0o644)
	}
	os.Mkdir(filepath.Join(dir, "sub.csv"), 0o755)
	got, err := Expand([]string{filepath.Join(dir, "*.csv"), filepath.Join(dir, "c.txt")})
	if err != nil || strings.Join(got, ",") != strings.Join([]string{filepath.Join(dir, "a.csv"), filepath.Join(dir, "b.csv"), filepath.Join(dir, "c.txt")}, ",") {
		t.Fatalf("%v %v", got, err)
	}
	if _, err := Expand([]string{filepath.Join(dir, "*.json")}); err == nil || !strings.Contains(err.Error(), "matches no file") {
		t.Fatal(err)
	}
	if _, err := Expand([]string{dir}); err == nil || !strings.Contains(err.Error(), "is a folder") {
		t.Fatal(err)
	}
	for path, want := range map[string]string{"a.csv.gz": Gzip, "a.CSV.GZ": Gzip, "a.zst": Zstd, "a.csv": None} {
		if got := Resolve(path, Auto); got != want {
			t.Errorf("%s: %s, want %s", path, got, want)
		}
	}
	if Resolve("a.csv.gz", None) != None {
		t.Error("an explicit setting must win")
	}
}
