// Command profile runs an Open-Stage job file in-process under the Go profilers,
// to see where a benchmark job spends its time (the openstage CLI has no
// profiling flags).
//
//	go build -o bench/bin/profile ./bench/profile
//	bench/bin/profile -cpuprofile cpu.pprof [-memprofile mem.pprof] [-trace t.out] [-queue N] \
//	    bench/jobs/w1.yaml --param in_dir=DATA --param out_dir=OUT
//	go tool pprof -top -nodecount=30 bench/bin/profile cpu.pprof
//
// It prints the run summary table and the wall time on stderr.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"runtime/trace"
	"strings"
	"time"

	_ "github.com/open-stage/openstage/components/all" // registers every component
	"github.com/open-stage/openstage/jobfile"
)

type params map[string]string

func (p params) String() string { return "" }
func (p params) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return fmt.Errorf("want name=value, got %q", s)
	}
	p[k] = v
	return nil
}

func main() {
	ps := params{}
	flag.Var(ps, "param", "job parameter name=value (repeatable)")
	cpu := flag.String("cpuprofile", "", "write a CPU profile to this file")
	mem := flag.String("memprofile", "", "write an allocation (heap) profile to this file at the end")
	tr := flag.String("trace", "", "write an execution trace to this file")
	workers := flag.Int("workers", 0, "goroutines per parallel stage (0: one per core)")
	queue := flag.Int("queue", 0, "batches each pipe buffers (Job.QueueLen; 0: the engine's default)")
	heapAt := flag.Duration("heapat", 0, "with -heapprofile: when to take it, after the job starts")
	heap := flag.String("heapprofile", "", "write the live heap (in use after a GC) at -heapat into this file")
	// Flags may follow the job file, as with openstage run.
	var job string
	args := os.Args[1:]
	for {
		if err := flag.CommandLine.Parse(args); err != nil {
			os.Exit(2)
		}
		args = flag.Args()
		if len(args) == 0 {
			break
		}
		if job != "" {
			fmt.Fprintln(os.Stderr, "profile: give exactly one job file")
			os.Exit(2)
		}
		job, args = args[0], args[1:]
	}
	if job == "" {
		fmt.Fprintln(os.Stderr, "usage: profile [-cpuprofile F] [-memprofile F] [-trace F] JOB.yaml [--param k=v ...]")
		os.Exit(2)
	}
	if *heap != "" {
		go func() {
			time.Sleep(*heapAt)
			runtime.GC()
			if out, err := os.Create(*heap); err == nil {
				pprof.Lookup("heap").WriteTo(out, 0)
				out.Close()
			}
		}()
	}
	if err := run(job, ps, *cpu, *mem, *tr, *workers, *queue); err != nil {
		fmt.Fprintln(os.Stderr, "profile:", err)
		os.Exit(1)
	}
}

func run(job string, ps params, cpu, mem, tr string, workers, queue int) error {
	f, err := jobfile.Load(job, jobfile.Options{Params: ps})
	if err != nil {
		return err
	}
	f.Job.Workers = workers
	f.Job.QueueLen = queue
	if cpu != "" {
		out, err := os.Create(cpu)
		if err != nil {
			return err
		}
		defer out.Close()
		if err := pprof.StartCPUProfile(out); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	if tr != "" {
		out, err := os.Create(tr)
		if err != nil {
			return err
		}
		defer out.Close()
		if err := trace.Start(out); err != nil {
			return err
		}
		defer trace.Stop()
	}
	start := time.Now()
	err = f.Job.Run(context.Background())
	wall := time.Since(start)
	if s := f.Job.Summary(); s != nil {
		s.WriteTable(os.Stderr)
	}
	if err != nil {
		return err
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	fmt.Fprintf(os.Stderr, "wall %.2f s; Go heap: %d MB total allocated, %d GCs, %d MB obtained from the OS (%d MB of it for the heap)\n",
		wall.Seconds(), ms.TotalAlloc>>20, ms.NumGC, ms.Sys>>20, ms.HeapSys>>20)
	if mem != "" {
		runtime.GC() // the profile shows allocations up to the last completed GC
		out, err := os.Create(mem)
		if err != nil {
			return err
		}
		defer out.Close()
		if err := pprof.Lookup("allocs").WriteTo(out, 0); err != nil {
			return err
		}
	}
	return nil
}
