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

	"twostep/directory"
)

// maxPassword is the longest password a NAS can send: RADIUS carries
// User-Password in at most 128 bytes (RFC 2865 section 5.2).
const maxPassword = 128

// newPasswordHash reads a new password for user and hashes it with scheme.
func (c *cli) newPasswordHash(ctx context.Context, scheme directory.Scheme, user string) (string, error) {
	pw, err := c.readNewPassword(ctx, user)
	if err != nil {
		return "", err
	}
	switch {
	case pw == "":
		return "", errors.New("empty password refused; nothing changed")
	case len(pw) > maxPassword:
		return "", fmt.Errorf("password of %d bytes refused: RADIUS carries at most %d; nothing changed", len(pw), maxPassword)
	}
	return directory.HashPassword(scheme, pw)
}

// readNewPassword reads the password twice without echo from a terminal,
// or the first line of stdin when it is not a terminal (for scripts).
func (c *cli) readNewPassword(ctx context.Context, user string) (string, error) {
	if f, ok := c.stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		return c.promptTwice(ctx, int(f.Fd()), user)
	}
	return readCtx(ctx, func() (string, error) { return firstLine(c.stdin) })
}

// firstLine reads one line, without its line ending. The password is taken
// as it is: spaces are kept.
func firstLine(r io.Reader) (string, error) {
	br := bufio.NewReader(io.LimitReader(r, 4*maxPassword))
	line, err := br.ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read the password from stdin: %w", err)
	}
	if !strings.HasSuffix(line, "\n") && len(line) == 4*maxPassword {
		return "", fmt.Errorf("password longer than %d bytes refused; nothing changed", maxPassword)
	}
	line = strings.TrimSuffix(line, "\n")
	return strings.TrimSuffix(line, "\r"), nil
}

func (c *cli) promptTwice(ctx context.Context, fd int, user string) (string, error) {
	state, err := term.GetState(fd)
	if err != nil {
		return "", fmt.Errorf("terminal: %w", err)
	}
	read := func(prompt string) (string, error) {
		fmt.Fprint(c.stderr, prompt)
		pw, err := readCtx(ctx, func() (string, error) {
			b, err := term.ReadPassword(fd)
			return string(b), err
		})
		fmt.Fprintln(c.stderr)
		if err != nil {
			// Interrupted while echo was off: turn it back on.
			term.Restore(fd, state)
			return "", fmt.Errorf("read the password: %w", err)
		}
		return pw, nil
	}
	pw, err := read(fmt.Sprintf("New password for %s: ", user))
	if err != nil {
		return "", err
	}
	again, err := read("Type it again: ")
	if err != nil {
		return "", err
	}
	if pw != again {
		return "", errors.New("the passwords do not match; nothing changed")
	}
	return pw, nil
}

// readCtx runs a blocking read and gives up when ctx ends (Ctrl-C). The
// abandoned read's goroutine ends with the process, which is exiting.
func readCtx(ctx context.Context, read func() (string, error)) (string, error) {
	type result struct {
		s   string
		err error
	}
	done := make(chan result, 1)
	go func() {
		s, err := read()
		done <- result{s, err}
	}()
	select {
	case r := <-done:
		return r.s, r.err
	case <-ctx.Done():
		return "", context.Cause(ctx)
	}
}
