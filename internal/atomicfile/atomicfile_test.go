package atomicfile

import (
	"os"
	"path/filepath"
	"testing"
)

func list(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

func TestCommitReplacesTarget(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "out.csv")
	os.WriteFile(target, []byte("old\n"), 0o644)
	f, err := Create(target, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("new\n")
	if got, _ := os.ReadFile(target); string(got) != "old\n" {
		t.Fatalf("target changed before commit: %q", got)
	}
	if err := f.Commit(); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(target); string(got) != "new\n" {
		t.Fatalf("target = %q", got)
	}
	if names := list(t, dir); len(names) != 1 {
		t.Fatalf("folder holds %v, want only out.csv", names)
	}
}

func TestAbortLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "out.csv")
	f, err := Create(target, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("partial\n")
	if err := f.Abort(); err != nil {
		t.Fatal(err)
	}
	if names := list(t, dir); len(names) != 0 {
		t.Fatalf("folder holds %v after abort, want nothing", names)
	}
}

func TestCommitNewNeverReplaces(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "out.csv")
	f, err := Create(target, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("new\n")
	os.WriteFile(target, []byte("someone else's\n"), 0o644) // appears meanwhile
	if err := f.CommitNew(); err != ErrExists {
		t.Fatalf("CommitNew = %v, want ErrExists", err)
	}
	if got, _ := os.ReadFile(target); string(got) != "someone else's\n" {
		t.Fatalf("target replaced: %q", got)
	}
	if names := list(t, dir); len(names) != 1 {
		t.Fatalf("folder holds %v", names)
	}

	target2 := filepath.Join(dir, "fresh.csv")
	f, _ = Create(target2, 0o644)
	f.WriteString("fresh\n")
	if err := f.CommitNew(); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(target2); string(got) != "fresh\n" {
		t.Fatalf("fresh = %q", got)
	}
}

func TestCheckTarget(t *testing.T) {
	dir := t.TempDir()
	if _, err := CheckTarget(filepath.Join(dir, "missing", "x.csv")); err == nil || err.Error() != "output folder '"+filepath.Join(dir, "missing")+"' does not exist; create it (mkdir -p "+filepath.Join(dir, "missing")+") or change 'path'" {
		t.Errorf("missing folder: %v", err)
	}
	if _, err := CheckTarget(dir); err == nil || err.Error() != "'"+dir+"' is a folder; 'path' must name a file" {
		t.Errorf("folder: %v", err)
	}
	os.WriteFile(filepath.Join(dir, "x.csv"), nil, 0o644)
	if exists, err := CheckTarget(filepath.Join(dir, "x.csv")); !exists || err != nil {
		t.Errorf("existing file: %v %v", exists, err)
	}
}

// TestWritebackWhileWriting writes more than a few writeback chunks in
// uneven pieces: Write starts the writeback of every full chunk as it goes,
// and the committed file holds exactly the bytes written.
func TestWritebackWhileWriting(t *testing.T) {
	defer func(c int64) { writebackChunk = c }(writebackChunk)
	writebackChunk = 4096
	dir := t.TempDir()
	target := filepath.Join(dir, "out.csv")
	f, err := Create(target, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	var want []byte
	for i := 0; i < 300; i++ {
		p := make([]byte, 1+i*7%1000)
		for j := range p {
			p[j] = byte('a' + (i+j)%26)
		}
		if n, err := f.Write(p); err != nil || n != len(p) {
			t.Fatalf("Write = %d, %v", n, err)
		}
		want = append(want, p...)
		if f.written != int64(len(want)) || f.written-f.started >= writebackChunk {
			t.Fatalf("after %d bytes: written %d, writeback started up to %d", len(want), f.written, f.started)
		}
	}
	if f.started < int64(len(want))-writebackChunk || f.started == 0 {
		t.Fatalf("writeback started up to %d of %d bytes", f.started, len(want))
	}
	if err := f.Commit(); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(target)
	if err != nil || string(got) != string(want) {
		t.Fatalf("committed %d bytes (%v), want the %d written", len(got), err, len(want))
	}
}
