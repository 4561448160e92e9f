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
	"errors"
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

	fd               int   // for sync_file_range
	written, started int64 // bytes written by Write; bytes whose writeback was started
}

// writebackChunk is how many bytes Write lets pile up before it asks the
// kernel to start writing them to disk.
var writebackChunk int64 = 8 << 20

// Write writes p at the end of what was written. Every writebackChunk
// bytes it asks the kernel to start writing the bytes so far to disk
// (sync_file_range with SYNC_FILE_RANGE_WRITE, which does not wait for
// them), so that the disk works while the job runs and Commit's fsync is
// left with the last few megabytes instead of the whole file. Durability
// does not change: Commit still syncs everything before the file appears.
func (f *File) Write(p []byte) (int, error) {
	n, err := f.File.Write(p)
	f.written += int64(n)
	if f.written-f.started >= writebackChunk {
		// A hint: an error here (a file system without it) changes nothing,
		// Commit's fsync reports real write errors.
		_ = unix.SyncFileRange(f.fd, f.started, f.written-f.started, unix.SYNC_FILE_RANGE_WRITE)
		f.started = f.written
	}
	return n, err
}

// WriteString is Write for a string.
func (f *File) WriteString(s string) (int, error) { return f.Write([]byte(s)) }

// Create starts writing the file that will become target.
func Create(target string, perm os.FileMode) (*File, error) {
	dir := filepath.Dir(target)
	fd, err := unix.Open(dir, unix.O_TMPFILE|unix.O_WRONLY|unix.O_CLOEXEC, uint32(perm))
	if err == nil {
		return &File{File: os.NewFile(uintptr(fd), target), target: target, fd: fd}, nil
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(target)+".openstage-tmp-*")
	if err != nil {
		return nil, err
	}
	return &File{File: f, target: target, tmpName: f.Name(), fd: int(f.Fd())}, nil
}

// ErrExists is returned by CommitNew when the target exists.
var ErrExists = errors.New("the file already exists")

// CommitNew is Commit for a target that must not exist: it fails with
// ErrExists, atomically, if something appeared under the target's name
// meanwhile, and then discards the file.
func (f *File) CommitNew() error {
	if done, err := f.finish(); done || err != nil {
		return err
	}
	var err error
	if f.tmpName == "" {
		// linkat does not replace an existing name.
		err = f.link(f.target)
	} else {
		err = os.Link(f.tmpName, f.target)
	}
	if errors.Is(err, unix.EEXIST) || errors.Is(err, os.ErrExist) {
		f.abort()
		return ErrExists
	}
	if err != nil {
		f.abort()
		return err
	}
	return f.abort() // the data now lives under the target's name
}

// finish starts a commit: done when f was already committed or aborted;
// else f is marked done and flushed to disk, and discarded if that fails.
func (f *File) finish() (done bool, err error) {
	if f.done {
		return true, nil
	}
	f.done = true
	if err := f.Sync(); err != nil {
		f.abort()
		return false, err
	}
	return false, nil
}

// link gives the unnamed (O_TMPFILE) file the name name; it does not
// replace a file of that name.
func (f *File) link(name string) error {
	return unix.Linkat(unix.AT_FDCWD, "/proc/self/fd/"+strconv.Itoa(int(f.Fd())), unix.AT_FDCWD, name, unix.AT_SYMLINK_FOLLOW)
}

// Commit flushes the file to disk and puts it in place of the target.
func (f *File) Commit() error {
	if done, err := f.finish(); done || err != nil {
		return err
	}
	name := f.tmpName
	if name == "" {
		// Give the unnamed file a name beside the target, then rename it.
		name = filepath.Join(filepath.Dir(f.target), "."+filepath.Base(f.target)+".openstage-tmp-"+strconv.FormatInt(time.Now().UnixNano(), 36))
		if err := f.link(name); err != nil {
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

// Publish is what a destination's Commit does: nothing when f is nil (the
// destination never started writing), CommitNew when the target must not be
// replaced (if_exists: fail), else Commit.
func (f *File) Publish(noReplace bool) error {
	if f == nil {
		return nil
	}
	if !noReplace {
		return f.Commit()
	}
	err := f.CommitNew()
	if errors.Is(err, ErrExists) {
		return fmt.Errorf("'%s' appeared while the job ran and if_exists is fail; nothing was written", f.target)
	}
	return err
}

// Abort discards everything written. It is safe after Commit and on a nil
// File (it does nothing).
func (f *File) Abort() error {
	if f == nil || f.done {
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

// Dir returns the absolute folder of path (for messages).
func Dir(path string) string {
	dir := filepath.Dir(path)
	if abs, err := filepath.Abs(dir); err == nil {
		return abs
	}
	return dir
}

// CheckTarget checks, before a job runs, that a file can be written at path:
// its folder exists and path is not a folder. It reports whether a file is
// already there.
func CheckTarget(path string) (exists bool, err error) {
	dir := Dir(path)
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return false, fmt.Errorf("output folder '%s' does not exist; create it (mkdir -p %s) or change 'path'", dir, dir)
	}
	st, err := os.Stat(path)
	if err != nil {
		return false, nil
	}
	if st.IsDir() {
		return true, fmt.Errorf("'%s' is a folder; 'path' must name a file", path)
	}
	return true, nil
}

// PlanTarget is CheckTarget for a destination with an if_exists parameter:
// with ifExists "fail", a file already at path is an error, whose advice
// names others, the if_exists values that would write anyway ("replace",
// "replace or append"). It reports whether a file is there.
func PlanTarget(path, ifExists, others string) (exists bool, err error) {
	exists, err = CheckTarget(path)
	if err == nil && exists && ifExists == "fail" {
		err = fmt.Errorf("'%s' already exists and if_exists is fail; remove it or use if_exists: %s", path, others)
	}
	return exists, err
}
