package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// flagSet returns a FlagSet that prints nothing by itself: help goes to
// stdout (it was asked for), mistakes come back as errors.
func (c *cli) flagSet(name, usage string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usage)
		fs.PrintDefaults()
	}
	return fs
}

func (c *cli) printUsage(fs *flag.FlagSet, w io.Writer) {
	fs.SetOutput(w)
	fs.Usage()
	fs.SetOutput(io.Discard)
}

// flagError prints the help when it was asked for, and otherwise says
// where to find it.
func (c *cli) flagError(fs *flag.FlagSet, err error) error {
	if errors.Is(err, flag.ErrHelp) {
		c.printUsage(fs, c.stdout)
		return errHelp
	}
	return fmt.Errorf("%w; see `%s -h`", err, fs.Name())
}

// parseInterspersed parses flags anywhere among the arguments, so that
// `user add alice -groups x` works as well as `user add -groups x alice`.
// Everything after "--" is an argument.
func (c *cli) parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, c.flagError(fs, err)
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return positional, nil
		}
		if used := len(args) - len(rest); used > 0 && args[used-1] == "--" {
			return append(positional, rest...), nil
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
}

// splitGroups reads -groups a,b: commas separate, spaces around are
// dropped, and an empty value means no groups.
func splitGroups(s string) []string {
	var groups []string
	for g := range strings.SplitSeq(s, ",") {
		if g = strings.TrimSpace(g); g != "" {
			groups = append(groups, g)
		}
	}
	return groups
}
