package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSplice(t *testing.T) {
	const begin, end = "<!-- bench:x:begin -->", "<!-- bench:x:end -->"
	tests := []struct {
		name, doc, want, wantErr string
	}{
		{"replaced", "# T\n\n" + begin + "\nold\nlines\n" + end + "\ntail\n", "# T\n\n" + begin + "\nnew\n" + end + "\ntail\n", ""},
		{"empty section", begin + "\n" + end + "\n", begin + "\nnew\n" + end + "\n", ""},
		{"end without newline", begin + "\nold\n" + end, begin + "\nnew\n" + end, ""},
		{"marker inside a line is not one", "see " + begin + "\n" + begin + "\nold\n" + end + "\n", "see " + begin + "\n" + begin + "\nnew\n" + end + "\n", ""},
		{"no markers", "# T\n", "", "no markers"},
		{"begin without end", begin + "\nold\n", "", "without"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := splice(tt.doc, begin, end, "new")
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got %q, %v; want an error with %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestSpliceSection(t *testing.T) {
	dir := t.TempDir()
	t.Run("a new file", func(t *testing.T) {
		p := filepath.Join(dir, "new.md")
		if err := spliceSection(p, "push", "table"); err != nil {
			t.Fatal(err)
		}
		b, _ := os.ReadFile(p)
		if want := "<!-- bench:push:begin -->\ntable\n<!-- bench:push:end -->\n"; !strings.HasPrefix(string(b), "# Benchmarks\n") || !strings.HasSuffix(string(b), want) {
			t.Errorf("got %q, want a title and %q", b, want)
		}
	})
	t.Run("appended when the markers are missing", func(t *testing.T) {
		p := filepath.Join(dir, "old.md")
		os.WriteFile(p, []byte("# Old\n"), 0o644)
		if err := spliceSection(p, "push", "table"); err != nil {
			t.Fatal(err)
		}
		b, _ := os.ReadFile(p)
		if want := "# Old\n\n<!-- bench:push:begin -->\ntable\n<!-- bench:push:end -->\n"; string(b) != want {
			t.Errorf("got %q, want %q", b, want)
		}
	})
	// Every section of the real document survives being written back
	// with what it holds: the splice changes nothing else.
	t.Run("docs/BENCHMARKS.md", func(t *testing.T) {
		orig, err := os.ReadFile(filepath.Join("..", "..", "docs", "BENCHMARKS.md"))
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"results", "ldap", "2fa", "push", "portal"} {
			begin, end := "<!-- bench:"+name+":begin -->", "<!-- bench:"+name+":end -->"
			doc := string(orig)
			i, j := strings.Index(doc, begin+"\n"), strings.Index(doc, end)
			if i < 0 || j < 0 {
				t.Fatalf("section %s missing", name)
			}
			inside := strings.TrimSuffix(doc[i+len(begin)+1:j], "\n")
			got, err := splice(doc, begin, end, inside)
			if err != nil || got != doc {
				t.Errorf("section %s: written back, the document changed (%v)", name, err)
			}
		}
	})
}
