package serve_test

import (
	"bytes"
	"context"
	"fmt"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/open-stage/openstage/internal/serve"
)

// chromium returns Debian's headless browser: missing, the test fails
// under CI (.ci/run installs it) and is skipped elsewhere.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("chromium is not installed; .ci/run installs Debian's chromium package")
	}
	t.Skip("chromium is not installed (apt-get install chromium); CI runs this test")
	return ""
}

// A job for the live view: a slow origin (a test component) through a
// filter and a copy into two writers.
const liveDemoJob = `name: orders_live
description: orders arriving slowly, filtered and written twice
stages:
  - {name: orders, type: TestSlowOrigin, delay_ms: 40}
  - {name: keep_even, type: Filter, expr: "n % 2 == 0"}
  - {name: fan_out, type: Copy}
  - {name: csv_writer, type: CSVDestination, path: ../out/live.csv}
  - {name: big_only, type: Filter, field: n, condition: ">", value: 100}
  - {name: big_writer, type: CSVDestination, path: ../out/live_big.csv}
pipes:
  - {name: incoming, from: orders, to: keep_even}
  - {name: even, from: keep_even, to: fan_out}
  - {name: all_even, from: fan_out, to: csv_writer}
  - {name: copy, from: fan_out, to: big_only}
  - {name: big, from: big_only, to: big_writer}
`

// browser is a headless Chromium tab that records console errors.
type browser struct {
	t      *testing.T
	ctx    context.Context
	mu     sync.Mutex
	errors []string
	shots  []string // where screenshots were saved
}

func newBrowser(t *testing.T) *browser {
	bin := chromium(t)
	profile := filepath.Join(t.TempDir(), "profile")
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(bin),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(1280, 900),
	)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	b := &browser{t: t, ctx: ctx}
	// The first call starts the browser (no timeout on it: it would stop
	// the browser).
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	console := chromedp.Events(ctx, runtime.ConsoleAPICalled)
	exceptions := chromedp.Events(ctx, runtime.ExceptionThrown)
	entries := chromedp.Events(ctx, cdplog.EntryAdded)
	go func() {
		for ev, err := range console {
			if err != nil {
				return
			}
			if ev.Type == runtime.ConsoleAPICalledTypeError || ev.Type == runtime.ConsoleAPICalledTypeAssert {
				var args []string
				for _, a := range ev.Args {
					args = append(args, string(a.Value)+a.Description)
				}
				b.record("console." + string(ev.Type) + ": " + strings.Join(args, " "))
			}
		}
	}()
	go func() {
		for ev, err := range exceptions {
			if err != nil {
				return
			}
			d := ev.ExceptionDetails
			msg := d.Text
			if d.Exception != nil {
				msg += " " + d.Exception.Description
			}
			b.record(fmt.Sprintf("exception at %s:%d: %s", d.URL, d.LineNumber+1, msg))
		}
	}()
	go func() {
		for ev, err := range entries {
			if err != nil {
				return
			}
			if e := ev.Entry; e.Level == cdplog.EntryLevelError {
				b.record(fmt.Sprintf("log %s %s: %s", e.Source, e.URL, e.Text))
			}
		}
	}()
	if _, err := chromedp.Call(ctx, cdplog.Enable, cdp.Empty{}); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(ctx, runtime.Enable, cdp.Empty{}); err != nil {
		t.Fatal(err)
	}
	return b
}

func (b *browser) record(msg string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.errors = append(b.errors, msg)
}

func (b *browser) consoleErrors() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.errors...)
}

// do runs actions with a timeout.
func (b *browser) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.t.Fatalf("%s: %v (console: %v)", what, err, b.consoleErrors())
	}
}

func eval[T any](b *browser, what string, a chromedp.Action[T]) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		b.t.Fatalf("%s: %v (console: %v)", what, err, b.consoleErrors())
	}
	return v
}

// navigate clicks (or loads) and waits for the next page's load event.
func (b *browser) navigate(what string, trigger chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	eval(b, what, chromedp.WaitEvent(page.LoadEventFired, nil, trigger))
}

// shot saves a full-page screenshot as a test artefact (and, with
// OPENSTAGE_DIRECTOR_SCREENSHOTS set, into that folder for the docs).
func (b *browser) shot(name string) []byte {
	b.t.Helper()
	data := eval(b, "screenshot "+name, chromedp.FullScreenshot(100))
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		b.t.Fatalf("screenshot %s is not a PNG: %v", name, err)
	}
	if r := img.Bounds(); r.Dx() < 300 || r.Dy() < 300 {
		b.t.Fatalf("screenshot %s is %v", name, r)
	}
	dirs := []string{b.t.ArtifactDir()}
	if d := os.Getenv("OPENSTAGE_DIRECTOR_SCREENSHOTS"); d != "" {
		dirs = append(dirs, d)
	}
	for _, d := range dirs {
		p := filepath.Join(d, name+".png")
		if err := os.WriteFile(p, data, 0o644); err != nil {
			b.t.Fatal(err)
		}
		b.shots = append(b.shots, p)
	}
	return data
}

// The Director in a real browser: the jobs page, Example 2's page, a run
// started from the form with the keyboard, its counts on the pipes (150
// rows into the Funnel, 3 out of the Aggregator), its history entry, the
// live view of a running job and Cancel, at desktop and phone width, with
// no error in the browser's console.
func TestBrowser(t *testing.T) {
	dir := jobDir(t)
	os.MkdirAll(filepath.Join(dir, "demo"), 0o755)
	os.WriteFile(filepath.Join(dir, "demo", "orders_live.yaml"), []byte(liveDemoJob), 0o644)
	s := start(t, dir, serve.Options{Tick: 100 * time.Millisecond})
	b := newBrowser(t)
	b.do("viewport", chromedp.EmulateViewport(1280, 900))

	// The jobs page, and its filter box as you type.
	b.navigate("open the jobs page", chromedp.Navigate(s.URL+"/"))
	b.do("jobs table", chromedp.WaitVisible(chromedp.CSS(`tr[data-job="examples/02_split_merge_iris.yaml"]`)))
	visible := `[...document.querySelectorAll('#jobs tbody tr[data-search]')].filter(tr => !tr.hidden).length`
	if n := eval(b, "count rows", chromedp.Evaluate[int](visible)); n != 7 {
		t.Errorf("%d jobs shown, want 7", n)
	}
	b.do("type in the filter", chromedp.SendKeys(chromedp.ID("filter"), "split"))
	if n := eval(b, "count rows", chromedp.Evaluate[int](visible)); n != 1 {
		t.Errorf("after typing 'split', %d jobs shown, want 1", n)
	}
	if c := eval(b, "count text", chromedp.Text(chromedp.ID("filter-count"))); c != "1 shown" {
		t.Errorf("the filter's count says %q", c)
	}

	// Example 2's page: its graph and its run form.
	b.navigate("open Example 2", chromedp.Click(chromedp.CSS(`tr[data-job="examples/02_split_merge_iris.yaml"] a.job-link`)))
	b.do("run form", chromedp.WaitVisible(chromedp.ID("run-form")))
	if n := eval(b, "stages in the graph", chromedp.Evaluate[int](`document.querySelectorAll('.graph svg g.stage').length`)); n != 7 {
		t.Errorf("%d stages drawn, want 7", n)
	}
	b.shot("job-page")

	// Start the run with the keyboard: Enter in the parameter field.
	b.do("focus out_dir", chromedp.Focus(chromedp.ID("p-out_dir")))
	b.navigate("submit with Enter", chromedp.KeyEvent("\r"))
	loc := eval(b, "location", chromedp.Location())
	if !strings.HasPrefix(loc, s.URL+"/runs/") {
		t.Fatalf("after submitting, the browser is at %s", loc)
	}
	status := `document.querySelector('#run-status .status').textContent`
	eval(b, "wait for success", chromedp.Poll[chromedp.Void](status+` === 'succeeded'`, chromedp.WithPollingTimeout(20*time.Second)))
	labels := eval(b, "pipe labels", chromedp.Evaluate[map[string]string](`Object.fromEntries([...document.querySelectorAll('.graph svg g.pipe-label')].map(g => { const t = g.querySelectorAll('text'); return [g.dataset.pipe, t.length > 1 ? t[1].textContent : ''] }))`))
	var intoFunnel int
	for _, p := range []string{"p_setosa", "p_versicolor", "p_virginica"} {
		var n int
		fmt.Sscanf(labels[p], "%d rows", &n)
		intoFunnel += n
	}
	if intoFunnel != 150 {
		t.Errorf("the pipes into the Funnel show %d rows in all, want 150 (labels %v)", intoFunnel, labels)
	}
	if labels["count_pipe"] != "3 rows" {
		t.Errorf("the Aggregator's output pipe shows %q, want 3 rows", labels["count_pipe"])
	}
	table := eval(b, "stage table", chromedp.Evaluate[map[string]string](`Object.fromEntries([...document.querySelectorAll('#stage-table tr[data-stage]')].map(tr => [tr.dataset.stage, tr.querySelector('[data-f=rows_in]').textContent + '/' + tr.querySelector('[data-f=rows_out]').textContent]))`))
	if table["combiner"] != "150/150" || table["counter"] != "150/3" {
		t.Errorf("the stage table: %v", table)
	}
	if st := eval(b, "stage classes", chromedp.Evaluate[string](`document.querySelector('.graph svg g.stage[data-stage=counter]').getAttribute('class')`)); !strings.Contains(st, "state-done") {
		t.Errorf("the Aggregator's box has classes %q, want state-done", st)
	}
	b.shot("run-history-page")

	// Its history entry on the job page.
	b.navigate("back to the job", chromedp.Click(chromedp.CSS(`h1 a`)))
	entry := eval(b, "history", chromedp.Text(chromedp.CSS(`#history-h + .table-wrap tbody tr`)))
	if !strings.Contains(entry, "#1") || !strings.Contains(entry, "succeeded") || !strings.Contains(entry, "out_dir=out") {
		t.Errorf("the history entry: %q", entry)
	}

	// A running job: counts that move on the pipes, the running stage
	// marked, then Cancel.
	b.navigate("open the live demo", chromedp.Navigate(s.URL+"/jobs/demo/orders_live.yaml"))
	b.navigate("run it", chromedp.Click(chromedp.ID("run-button")))
	rowsOf := `(() => { const g = [...document.querySelectorAll('.graph svg g.pipe-label')].find(g => g.dataset.pipe === 'incoming'); return parseInt(g.querySelectorAll('text')[1].textContent.replace(/,/g, ''), 10) })()`
	first := eval(b, "first count", chromedp.Poll[int](rowsOf+` > 0 && `+rowsOf, chromedp.WithPollingTimeout(20*time.Second)))
	later := eval(b, "a later count", chromedp.Poll[int](fmt.Sprintf(`%s > %d && %s`, rowsOf, first+20, rowsOf), chromedp.WithPollingTimeout(20*time.Second)))
	if later <= first {
		t.Errorf("the count did not move: %d then %d", first, later)
	}
	if st := eval(b, "running stage", chromedp.Evaluate[string](`document.querySelector('.graph svg g.stage[data-stage=orders]').getAttribute('class')`)); !strings.Contains(st, "state-running") {
		t.Errorf("the running origin's box has classes %q", st)
	}
	if s := eval(b, "status", chromedp.Evaluate[string](status)); s != "running" {
		t.Errorf("the status shows %q while running", s)
	}
	time.Sleep(300 * time.Millisecond) // a few more updates before the picture
	b.shot("running-job")
	// Cancel with the keyboard too: the button takes the focus, Enter presses it.
	b.do("focus Cancel", chromedp.Focus(chromedp.ID("cancel-button")))
	if f := eval(b, "focused", chromedp.Evaluate[string](`document.activeElement.id`)); f != "cancel-button" {
		t.Errorf("the focus is on %q, not the Cancel button", f)
	}
	b.navigate("cancel with Enter", chromedp.KeyEvent("\r"))
	eval(b, "wait for cancelled", chromedp.Poll[chromedp.Void](status+` === 'cancelled'`, chromedp.WithPollingTimeout(20*time.Second)))
	if exists(filepath.Join(dir, "out", "live.csv")) || exists(filepath.Join(dir, "out", "live_big.csv")) {
		t.Error("the cancelled run committed output")
	}

	// The jobs page with its last runs, for the docs.
	b.navigate("jobs page", chromedp.Navigate(s.URL+"/"))
	b.shot("jobs-page")

	// Phone width: no page is wider than the screen (tables and the graph
	// scroll inside their boxes).
	b.do("phone viewport", chromedp.EmulateViewport(390, 844))
	for _, p := range []string{"/", "/jobs/examples/02_split_merge_iris.yaml", "/runs/1", "/runs"} {
		b.navigate("open "+p+" at phone width", chromedp.Navigate(s.URL+p))
		if w := eval(b, "width", chromedp.Evaluate[int](`document.documentElement.scrollWidth`)); w > 390 {
			t.Errorf("%s is %d pixels wide on a 390-pixel screen", p, w)
		}
		if p == "/" {
			b.shot("jobs-page-phone")
		}
	}

	if errs := b.consoleErrors(); len(errs) > 0 {
		t.Errorf("the browser's console has errors:\n%s", strings.Join(errs, "\n"))
	}
	t.Logf("screenshots: %s", strings.Join(b.shots, " "))
}
