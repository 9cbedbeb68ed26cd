package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/term"
)

// maxAnswer bounds a line read from stdin: answers are a code or "yes".
const maxAnswer = 256

// lines reads answers from stdin one line at a time. One is made per
// command, so that a script may pipe several answers at once.
type lines struct {
	br *bufio.Reader
}

func (c *cli) lines() *lines {
	return &lines{br: bufio.NewReaderSize(c.stdin, maxAnswer)}
}

// next reads one line without its line ending and surrounding spaces. At
// the end of input with nothing read it returns io.EOF.
func (l *lines) next(ctx context.Context) (string, error) {
	return readCtx(ctx, func() (string, error) {
		line, err := l.br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			// Not an answer: drop the rest of the line.
			for errors.Is(err, bufio.ErrBufferFull) {
				_, err = l.br.ReadSlice('\n')
			}
			if err != nil && !errors.Is(err, io.EOF) {
				return "", fmt.Errorf("read stdin: %w", err)
			}
			return "", errors.New("answer longer than 256 bytes")
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return "", fmt.Errorf("read stdin: %w", err)
		}
		if errors.Is(err, io.EOF) && len(line) == 0 {
			return "", io.EOF
		}
		return strings.TrimSpace(string(line)), nil
	})
}

// errNoAnswer is confirm's error when stdin ends before an answer: a
// script without -yes, or no terminal.
var errNoAnswer = errors.New("no answer on stdin")

// confirm asks question on stderr and reports whether the answer is yes.
// No answer at all (the end of input) is errNoAnswer.
func (c *cli) confirm(ctx context.Context, in *lines, question string) (bool, error) {
	fmt.Fprintf(c.stderr, "%s [y/N] ", question)
	a, err := in.next(ctx)
	c.endPrompt()
	if errors.Is(err, io.EOF) {
		return false, errNoAnswer
	}
	if err != nil {
		return false, err
	}
	a = strings.ToLower(a)
	return a == "y" || a == "yes", nil
}

// endPrompt ends the line of a prompt answered from a pipe; a terminal
// ended it when the admin pressed Enter.
func (c *cli) endPrompt() {
	if !isTerminal(c.stdin) {
		fmt.Fprintln(c.stderr)
	}
}

func isTerminal(r any) bool {
	f, ok := r.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
