package cli_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestTroubleshootingPage runs every case of docs/troubleshooting.md: each
// ```yaml block is saved as job.yaml in a fresh folder, and each ```console
// block after it is run there — its first line is the command
// ("$ [NAME=value ...] openstage ARGS"), the rest the exact output
// (stdout then stderr). HOME is /home/you and no Google credentials are
// set, as the page assumes.
func TestTroubleshootingPage(t *testing.T) {
	data, err := os.ReadFile("../../docs/troubleshooting.md")
	if err != nil {
		t.Fatal(err)
	}
	type block struct{ lang, text string }
	var blocks []block
	lines := strings.Split(string(data), "\n")
	for i := 0; i < len(lines); i++ {
		lang, ok := strings.CutPrefix(lines[i], "```")
		if !ok || lang == "" {
			continue
		}
		var body []string
		for i++; i < len(lines) && lines[i] != "```"; i++ {
			body = append(body, lines[i])
		}
		blocks = append(blocks, block{lang, strings.Join(body, "\n")})
	}
	var dir string
	cases := 0
	for _, b := range blocks {
		switch b.lang {
		case "yaml":
			dir = t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "job.yaml"), []byte(b.text+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		case "console":
			if dir == "" {
				t.Fatalf("a console block before any job:\n%s", b.text)
			}
			cases++
			cmdLine, want, _ := strings.Cut(b.text, "\n")
			words := strings.Fields(strings.TrimPrefix(cmdLine, "$ "))
			env := []string{"HOME=/home/you", "PATH=" + os.Getenv("PATH")}
			for len(words) > 0 && strings.Contains(words[0], "=") {
				env = append(env, words[0])
				words = words[1:]
			}
			if len(words) == 0 || words[0] != "openstage" {
				t.Fatalf("not an openstage command: %q", cmdLine)
			}
			cmd := exec.Command(binary, words[1:]...)
			cmd.Dir, cmd.Env = dir, env
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			cmd.Run()
			got := strings.TrimSuffix(stdout.String()+stderr.String(), "\n")
			if got != want {
				t.Errorf("%s\ngot:\n%s\nthe page says:\n%s", cmdLine, got, want)
			}
		}
	}
	if cases < 10 {
		t.Errorf("only %d cases found on the page", cases)
	}
}
