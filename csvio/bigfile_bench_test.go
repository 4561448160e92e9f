package csvio

import (
	"bufio"
	"errors"
	"io"
	"os"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// BenchmarkBigFile times reading (and writing back) a large orders file. It runs
// only when CSVIO_BIGFILE names the file; the file is generated (5M rows,
// ~285 MB) when missing. Example:
//
//	CSVIO_BIGFILE=/tmp/orders.csv go test ./csvio -run ^$ -bench BigFile -benchtime 1x
func BenchmarkBigFile(t *testing.B) {
	path := os.Getenv("CSVIO_BIGFILE")
	if path == "" {
		t.Skip("set CSVIO_BIGFILE")
	}
	if _, err := os.Stat(path); err != nil {
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 50; i++ {
			genOrdersTo(f, i*100000, 100000, int64(i), i == 0)
		}
		f.Close()
		t.Skip("generated; run again (to measure without the generator's memory)")
	}
	st, _ := os.Stat(path)
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	start, cpu0 := time.Now(), cpuTime()
	r := NewReader(f, ordersSchema, ReadOptions{Header: true, Path: path})
	var rows int64
	for {
		rec, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		rows += rec.NumRows()
		rec.Release()
	}
	r.Close()
	el, cpu := time.Since(start), cpuTime()-cpu0
	t.Logf("read %d rows, %d MB in %v: %.0f MB/s (GOMAXPROCS=%d); CPU %v (%.0f MB per CPU-second); peak RSS %s", rows, st.Size()>>20, el,
		float64(st.Size())/1e6/el.Seconds(), runtime.GOMAXPROCS(0), cpu, float64(st.Size())/1e6/cpu.Seconds(), peakRSS())

	// Write back (to a discarding writer) from a second read.
	f.Seek(0, 0)
	r = NewReader(f, ordersSchema, ReadOptions{Header: true, Path: path})
	w := NewWriter(bufio.NewWriterSize(io.Discard, 1<<20), ordersSchema, WriteOptions{Header: true})
	var wtime time.Duration
	for {
		rec, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		s := time.Now()
		w.Write(rec)
		wtime += time.Since(s)
		rec.Release()
	}
	s := time.Now()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	wtime += time.Since(s)
	r.Close()
	t.Logf("read+write back: wrote %d rows; time blocked in Write/Close %v", w.Rows(), wtime)
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func peakRSS() string {
	b, _ := os.ReadFile("/proc/self/status")
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmHWM:") {
			return strings.TrimSpace(strings.TrimPrefix(l, "VmHWM:"))
		}
	}
	return "?"
}
