package jsontext

import (
	"encoding/json"
	"testing"
)

func TestAppendString(t *testing.T) {
	got := string(AppendString(nil, "a\"b\\c\n\t\x01é\xff日\u2028"))
	want := `"a\"b\\c\n\t\u0001é\ufffd日\u2028"`
	if got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
}

// FuzzAppendString checks the text against encoding/json: it is valid JSON
// and decodes to the string encoding/json encodes (invalid UTF-8 replaced
// byte by byte in both).
func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "plain", "<&>", "\x00\x1f\x7f", "\u2028\u2029", "\xc3", "é\xff\xfe日", "\b\f\r\n\t\"\\"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ours := AppendString([]byte("x"), s)[1:]
		if !json.Valid(ours) {
			t.Fatalf("%q: %s is not JSON", s, ours)
		}
		theirs, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		var a, b string
		if err := json.Unmarshal(ours, &a); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(theirs, &b); err != nil {
			t.Fatal(err)
		}
		if a != b {
			t.Fatalf("%q: ours %s decodes to %q, encoding/json's %s to %q", s, ours, a, theirs, b)
		}
	})
}
