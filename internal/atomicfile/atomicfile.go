// Package atomicfile writes a file that appears under its final name, whole,
// only when committed.
//
// On Linux the data goes to an unnamed file (O_TMPFILE) in the target's
// folder: if the process is killed, even with SIGKILL, nothing is left
// behind. Commit gives it a temporary name and renames that over the target,
// which is atomic within one file system. Elsewhere, or on file systems
// without O_TMPFILE, a hidden temporary file is used and removed by Abort.
package atomicfile

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// File is a file being written.
type File struct {
	*os.File
	target  string
	tmpName string // "" when the file is unnamed (O_TMPFILE)
	done    bool
}

// Create starts writing the file that will become target.
func Create(target string, perm os.FileMode) (*File, error) {
	dir := filepath.Dir(target)
	fd, err := unix.Open(dir, unix.O_TMPFILE|unix.O_WRONLY|unix.O_CLOEXEC, uint32(perm))
	if err == nil {
		return &File{File: os.NewFile(uintptr(fd), target), target: target}, nil
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(target)+".openstage-tmp-*")
	if err != nil {
		return nil, err
	}
	return &File{File: f, target: target, tmpName: f.Name()}, nil
}

// Commit flushes the file to disk and puts it in place of the target.
func (f *File) Commit() error {
	if f.done {
		return nil
	}
	f.done = true
	if err := f.Sync(); err != nil {
		f.abort()
		return err
	}
	name := f.tmpName
	if name == "" {
		// Give the unnamed file a name beside the target, then rename it.
		name = filepath.Join(filepath.Dir(f.target), "."+filepath.Base(f.target)+".openstage-tmp-"+strconv.FormatInt(time.Now().UnixNano(), 36))
		if err := unix.Linkat(unix.AT_FDCWD, "/proc/self/fd/"+strconv.Itoa(int(f.Fd())), unix.AT_FDCWD, name, unix.AT_SYMLINK_FOLLOW); err != nil {
			f.File.Close()
			return fmt.Errorf("cannot name the output file: %w", err)
		}
	}
	if err := f.File.Close(); err != nil {
		os.Remove(name)
		return err
	}
	if err := os.Rename(name, f.target); err != nil {
		os.Remove(name)
		return err
	}
	return nil
}

// Abort discards everything written. It is safe after Commit (it does nothing).
func (f *File) Abort() error {
	if f.done {
		return nil
	}
	f.done = true
	return f.abort()
}

func (f *File) abort() error {
	err := f.File.Close()
	if f.tmpName != "" {
		if rerr := os.Remove(f.tmpName); rerr != nil && !os.IsNotExist(rerr) {
			return rerr
		}
	}
	return err
}
