package beam

import (
	"context"
	"flag"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	beamsdk "github.com/apache/beam/sdks/v2/go/pkg/beam"

	"github.com/open-stage/openstage"
	"github.com/open-stage/openstage/internal/cli"
	"github.com/open-stage/openstage/jobfile"
)

func TestMain(m *testing.M) {
	flag.Parse()
	beamsdk.Init()
	os.Exit(m.Run())
}

// writeJob writes a job file (and returns its path) in dir.
func writeJob(t *testing.T, dir, text string) string {
	t.Helper()
	path := filepath.Join(dir, "job.yaml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func load(t *testing.T, path string, params map[string]string) *jobfile.File {
	t.Helper()
	f, err := jobfile.Load(path, jobfile.Options{Params: params})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// runLocal runs the job on the local engine with out_dir=out.
func runLocal(t *testing.T, path, out string, params map[string]string) *openstage.Summary {
	t.Helper()
	os.MkdirAll(out, 0o755)
	p := map[string]string{"out_dir": out}
	for k, v := range params {
		p[k] = v
	}
	f := load(t, path, p)
	if err := f.Job.Run(context.Background()); err != nil {
		t.Fatalf("local run: %v", err)
	}
	return f.Job.Summary()
}

// runPrism runs the job on Prism with out_dir=out, the CSV origins cut
// into parts of split bytes.
func runPrism(ctx context.Context, t *testing.T, path, out string, params map[string]string, split int) (*openstage.Summary, error) {
	t.Helper()
	os.MkdirAll(out, 0o755)
	p := map[string]string{"out_dir": out}
	for k, v := range params {
		p[k] = v
	}
	f := load(t, path, p)
	opts := cli.RunnerOptions{Runner: "prism", Params: p, BeamOptions: map[string]string{SplitBytesOption: fmt.Sprint(split)}, TempDir: t.TempDir(), Log: os.Stderr}
	return Runner{}.Run(ctx, f, opts)
}

// sameFiles compares every file of the local output folder with the one
// of the same name in the Beam output folder: byte for byte, or as sorted
// lines under the header where order does not count.
func sameFiles(t *testing.T, local, beamOut string, unordered ...string) {
	t.Helper()
	entries, err := os.ReadDir(local)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) == 0 {
		t.Fatalf("no output in %s", local)
	}
	for _, e := range entries {
		want, err := os.ReadFile(filepath.Join(local, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join(beamOut, e.Name()))
		if err != nil {
			t.Fatalf("Beam run did not write %s: %v", e.Name(), err)
		}
		if contains(unordered, e.Name()) {
			want, got = sortedLines(want), sortedLines(got)
		}
		if string(want) != string(got) {
			t.Errorf("%s differs between the local engine and Prism:\nlocal (%d bytes):\n%s\nprism (%d bytes):\n%s", e.Name(), len(want), head(want), len(got), head(got))
		}
	}
	if t.Failed() {
		return
	}
	bent, _ := os.ReadDir(beamOut)
	if len(bent) != len(entries) {
		t.Errorf("Prism wrote %d files, the local engine %d", len(bent), len(entries))
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func sortedLines(b []byte) []byte {
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	if len(lines) > 1 {
		sort.Strings(lines[1:])
	}
	return []byte(strings.Join(lines, "\n"))
}

func head(b []byte) string {
	lines := strings.SplitN(string(b), "\n", 8)
	if len(lines) > 7 {
		lines = lines[:7]
	}
	return strings.Join(lines, "\n")
}

// genOrders writes n orders rows (some notes quoted with commas and
// newlines) to path.
func genOrders(t *testing.T, path string, n int, seed int64) {
	t.Helper()
	rng := rand.New(rand.NewSource(seed))
	countries := []string{"US", "DE", "FR", "GB", "JP", "BR", "ES"}
	var b strings.Builder
	b.WriteString("order_id,user_id,country,age,amount,status,note\n")
	for i := 1; i <= n; i++ {
		note := ""
		switch rng.Intn(6) {
		case 0:
			note = `"gift, wrapped"`
		case 1:
			note = "\"two\nlines\""
		case 2:
			note = "ok"
		}
		amount := fmt.Sprintf("%d.%02d", rng.Intn(2000), rng.Intn(100))
		if rng.Intn(50) == 0 {
			amount = ""
		}
		user := fmt.Sprint(rng.Intn(n/10 + 1))
		if rng.Intn(40) == 0 {
			user = ""
		}
		fmt.Fprintf(&b, "%d,%s,%s,%d,%s,%s,%s\n", i, user, countries[rng.Intn(len(countries))], 16+rng.Intn(60), amount, []string{"shipped", "pending", "cancelled"}[rng.Intn(3)], note)
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

// genUsers writes users 0..n-1 with a segment, every seventh missing and
// one null id.
func genUsers(t *testing.T, path string, n int) {
	t.Helper()
	var b strings.Builder
	b.WriteString("user_id,name,segment\n")
	for i := 0; i < n; i++ {
		if i%7 == 3 {
			continue
		}
		fmt.Fprintf(&b, "%d,user %d,%s\n", i, i, []string{"gold", "silver", "bronze"}[i%3])
	}
	b.WriteString(",nobody,none\n")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}
