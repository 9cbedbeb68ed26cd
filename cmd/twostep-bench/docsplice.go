package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
)

// spliceSection puts text between the lines <!-- bench:NAME:begin -->
// and <!-- bench:NAME:end --> of the Markdown file at path, in place of
// what was there. A file without the markers gets them and the text at
// its end; a missing file is created.
func spliceSection(path, name, text string) error {
	begin, end := "<!-- bench:"+name+":begin -->", "<!-- bench:"+name+":end -->"
	section := begin + "\n" + text + "\n" + end + "\n"
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return os.WriteFile(path, []byte("# Benchmarks\n\nWritten by `make bench` (twostep-bench run).\n\n"+section), 0o644)
	}
	if err != nil {
		return err
	}
	doc, err := splice(string(b), begin, end, text)
	if errors.Is(err, errNoMarkers) {
		doc = string(b) + "\n" + section
	} else if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return os.WriteFile(path, []byte(doc), 0o644)
}

var errNoMarkers = errors.New("no markers")

// splice replaces the lines between the line begin and the next line end
// of doc with text.
func splice(doc, begin, end, text string) (string, error) {
	lines := strings.SplitAfter(doc, "\n")
	from, to := -1, -1
	for i, l := range lines {
		switch strings.TrimSuffix(l, "\n") {
		case begin:
			if from < 0 {
				from = i
			}
		case end:
			if from >= 0 && to < 0 {
				to = i
			}
		}
	}
	switch {
	case from < 0:
		return "", errNoMarkers
	case to < 0:
		return "", fmt.Errorf("%s without %s after it", begin, end)
	}
	return strings.Join(lines[:from+1], "") + text + "\n" + strings.Join(lines[to:], ""), nil
}
