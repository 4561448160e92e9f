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
