package graph_test

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/open-stage/openstage"
	"github.com/open-stage/openstage/internal/graph"
	"github.com/open-stage/openstage/internal/report"
	"github.com/open-stage/openstage/jobfile"
)

// chromium returns the headless browser, failing under CI (where .ci/run
// installs Debian's chromium) and skipping elsewhere when it is missing.
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

// screenshot renders the page at path with headless Chromium.
func screenshot(t *testing.T, page string, w, h int) image.Image {
	t.Helper()
	bin := chromium(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "shot.png")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "--headless", "--no-sandbox", "--disable-gpu",
		"--disable-background-networking", "--disable-component-update", "--no-first-run",
		"--user-data-dir="+filepath.Join(dir, "profile"), "--hide-scrollbars",
		"--window-size="+strconv.Itoa(w)+","+strconv.Itoa(h), "--screenshot="+out, "file://"+page)
	var log bytes.Buffer
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium: %v\n%s", err, log.String())
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatalf("no screenshot: %v\n%s", err, log.String())
	}
	if keep := os.Getenv("OPENSTAGE_SCREENSHOT_DIR"); keep != "" {
		os.WriteFile(filepath.Join(keep, filepath.Base(page)+".png"), data, 0o644)
	}
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("the screenshot is not a PNG: %v", err)
	}
	return img
}

func hexColour(s string) color.RGBA {
	var c color.RGBA
	for i, p := range []*uint8{&c.R, &c.G, &c.B} {
		var v uint8
		for _, ch := range s[1+2*i : 3+2*i] {
			v *= 16
			switch {
			case ch >= '0' && ch <= '9':
				v += uint8(ch - '0')
			default:
				v += uint8(ch-'a') + 10
			}
		}
		*p = v
	}
	c.A = 255
	return c
}

// countNear counts the pixels within a small distance of c.
func countNear(img image.Image, c color.RGBA) int {
	n := 0
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			d := func(a uint32, b uint8) int { v := int(a>>8) - int(b); return v * v }
			if d(r, c.R)+d(g, c.G)+d(bl, c.B) < 3*12*12 {
				n++
			}
		}
	}
	return n
}

// The HTML page of Example 2 after a run, as a browser draws it: one
// self-contained file (nothing fetched), the stage boxes in their layers'
// colours, the pipes and the stage table.
func TestHTMLScreenshot(t *testing.T) {
	f, err := jobfile.Load("../../examples/02_split_merge_iris.yaml", jobfile.Options{Params: map[string]string{"out_dir": t.TempDir()}})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Job.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	run := &report.Run{Job: f.Name, Params: f.Params}
	run.FromSummary(f.Job.Summary(), report.DefaultLayers)
	g := graph.FromJob(f.Job).WithRun(run)
	g.Layout()
	var page bytes.Buffer
	if err := g.HTML(&page); err != nil {
		t.Fatal(err)
	}
	html := page.String()
	for _, external := range []string{"http://", "https://", "<script", "<link", "@import", "src="} {
		if strings.Contains(strings.ReplaceAll(html, `xmlns="http://www.w3.org/2000/svg"`, ""), external) {
			t.Errorf("the page is not self-contained: it has %q", external)
		}
	}
	for _, want := range []string{"iris_split_merge", "succeeded", "p_setosa", "50 rows", "count_writer", "<table>"} {
		if !strings.Contains(html, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	path := filepath.Join(t.TempDir(), "iris_split_merge.html")
	if err := os.WriteFile(path, page.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	img := screenshot(t, path, 1400, 700)
	if b := img.Bounds(); b.Dx() != 1400 || b.Dy() != 700 {
		t.Fatalf("screenshot is %v", b)
	}
	// Every layer of the job shows as a filled box: a box is about
	// 110x46 pixels, so each colour covers well over 2000 pixels.
	for _, layer := range []string{"extraction", "transformation", "routing", "load"} {
		c := graph.Colours[openstage.Layer(layer)]
		if n := countNear(img, hexColour(c)); n < 2000 {
			t.Errorf("the %s colour %s covers %d pixels of the screenshot; the boxes are not drawn", layer, c, n)
		}
	}
	// The page is mostly light background with dark text: not blank.
	if n := countNear(img, hexColour("#0f172a")); n < 200 {
		t.Errorf("hardly any text drawn (%d dark pixels)", n)
	}
}
