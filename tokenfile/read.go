package tokenfile

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
)

// maxFileSize bounds a token file: 64 MiB holds some hundred thousand
// tokens in PSKC, more than one shipment.
const maxFileSize = 64 << 20

// Read reads a token file of at most 64 MiB, PSKC or CSV: PSKC when its
// content starts with "<" (<?xml or <KeyContainer, after a byte-order mark
// and spaces) or its name ends in .xml, .pskc or .pskcxml; CSV otherwise.
// name is used for the choice and in messages only. key is the pre-shared
// key of an encrypted PSKC file, nil for others (and ignored by them).
//
// A file refused is an *Error with File set to name; an I/O error is
// returned wrapped.
func Read(name string, r io.Reader, key []byte) ([]Token, error) {
	data, err := readAll(r)
	var tokens []Token
	switch {
	case err != nil:
	case isPSKC(name, data):
		tokens, err = readPSKC(data, key)
	default:
		tokens, err = readCSV(data)
	}
	if e, ok := errors.AsType[*Error](err); ok {
		e.File = name
	} else if err != nil {
		err = fmt.Errorf("tokenfile: read %s: %w", name, err)
	}
	return tokens, err
}

// isPSKC tells XML from CSV: a CSV file cannot start with "<" and hold a
// header line, and vendors name PSKC files .xml or .pskcxml.
func isPSKC(name string, data []byte) bool {
	if t := bytes.TrimLeft(data, " \t\r\n"); len(t) > 0 && t[0] == '<' {
		return true
	}
	switch strings.ToLower(filepath.Ext(name)) {
	case ".xml", ".pskc", ".pskcxml":
		return true
	}
	return false
}

// readAll reads a whole file of at most maxFileSize bytes.
func readAll(r io.Reader) ([]byte, error) { return readLimited(r, maxFileSize) }

// readLimited reads all of r: an I/O error is returned as it is, more
// than limit bytes as an *Error. A UTF-8 byte-order mark, which
// spreadsheets write at the start of CSV files and some tools at the
// start of XML, is dropped.
func readLimited(r io.Reader, limit int64) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		size := fmt.Sprintf("%d bytes", limit)
		if limit%(1<<20) == 0 {
			size = fmt.Sprintf("%d MiB", limit>>20)
		}
		return nil, &Error{Problems: []Problem{{Message: "the file is larger than " + size}}}
	}
	return bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")), nil
}
