package tokenfile

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode"
)

// Limits on the XML of a PSKC file. The file is read one child of
// KeyContainer at a time (a KeyPackage, the MACMethod, ...), so memory
// follows the largest of those, which these bound.
const (
	maxDepth    = 32
	maxElements = 10000 // in one child of KeyContainer
)

// node is an XML element with its line, read into memory so that a
// KeyPackage can be checked as a whole.
type node struct {
	name   xml.Name
	attrs  []xml.Attr
	text   strings.Builder
	kids   []*node
	parent *node
	line   int
}

// attr returns the attribute named local in no namespace.
func (n *node) attr(local string) (string, bool) {
	for _, a := range n.attrs {
		if a.Name.Local == local && a.Name.Space == "" {
			return a.Value, true
		}
	}
	return "", false
}

// child returns the first child named local, in any namespace: vendors
// prefix PSKC, xmlenc and xmldsig elements every which way.
func (n *node) child(local string) *node {
	for _, k := range n.kids {
		if k.name.Local == local {
			return k
		}
	}
	return nil
}

// value is the element's text without surrounding space.
func (n *node) value() string { return strings.TrimSpace(n.text.String()) }

// path names the element for messages, from below KeyContainer.
func (n *node) path() string {
	var parts []string
	for e := n; e != nil && e.parent != nil; e = e.parent {
		parts = append(parts, e.name.Local)
	}
	if len(parts) == 0 {
		return n.name.Local
	}
	for i, j := 0, len(parts)-1; i < j; i, j = i+1, j-1 {
		parts[i], parts[j] = parts[j], parts[i]
	}
	return strings.Join(parts, "/")
}

// xmlReader reads a PSKC document: its root, then the root's children one
// by one as trees.
type xmlReader struct {
	d    *xml.Decoder
	root *node
}

// errXML is an XML problem that ends the reading, with its line.
type errXML struct {
	line int
	msg  string
}

func (e *errXML) Error() string { return e.msg }

func newXMLReader(data []byte) *xmlReader {
	d := xml.NewDecoder(bytes.NewReader(data))
	d.Strict = true
	d.CharsetReader = func(charset string, r io.Reader) (io.Reader, error) {
		switch strings.ToLower(charset) {
		case "us-ascii", "ascii":
			return r, nil // a subset of UTF-8
		}
		return nil, errors.New("only UTF-8 is supported: save the file as UTF-8")
	}
	return &xmlReader{d: d}
}

// line is where the next token starts: the decoder has consumed up to it.
func (x *xmlReader) line() int {
	l, _ := x.d.InputPos()
	return l
}

// token returns the next token, refusing DTDs, which PSKC has no use for.
func (x *xmlReader) token() (xml.Token, int, error) {
	line := x.line()
	tok, err := x.d.Token()
	if err != nil {
		if err == io.EOF {
			return nil, line, err
		}
		if se, ok := errors.AsType[*xml.SyntaxError](err); ok {
			return nil, se.Line, &errXML{se.Line, "XML: " + syntaxMessage(se.Msg)}
		}
		return nil, line, &errXML{line, "XML: " + strings.TrimPrefix(err.Error(), "xml: ")}
	}
	if _, ok := tok.(xml.Directive); ok {
		return nil, line, &errXML{line, "a <!DOCTYPE> or other directive is not allowed in a PSKC file"}
	}
	return tok, line, nil
}

// readRoot reads up to the root element's start.
func (x *xmlReader) readRoot() (*node, error) {
	for {
		tok, line, err := x.token()
		if err == io.EOF {
			return nil, &errXML{line, "the file holds no XML element"}
		}
		if err != nil {
			return nil, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			x.root = &node{name: t.Name, attrs: t.Attr, line: line}
			return x.root, nil
		case xml.CharData:
			if len(bytes.TrimSpace(t)) > 0 {
				return nil, &errXML{textLine(line, t), "the file is not XML: text before the first element"}
			}
		}
	}
}

// nextChild reads the root's next child element whole; nil at the root's
// end. Text between the children is dropped.
func (x *xmlReader) nextChild() (*node, error) {
	for {
		tok, line, err := x.token()
		if err == io.EOF {
			return nil, &errXML{line, "XML: unexpected end of file"}
		}
		if err != nil {
			return nil, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			n := &node{name: t.Name, attrs: t.Attr, line: line, parent: x.root}
			count := 1
			if err := x.readElement(n, n, 2, &count); err != nil {
				return nil, err
			}
			return n, nil
		case xml.EndElement:
			return nil, nil
		}
	}
}

// readElement reads n's content up to its end; top is the child of the
// root that n is in, whose elements count counts.
func (x *xmlReader) readElement(n, top *node, depth int, count *int) error {
	for {
		tok, line, err := x.token()
		if err == io.EOF {
			return &errXML{line, "XML: unexpected end of file"}
		}
		if err != nil {
			return err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if depth >= maxDepth {
				return &errXML{line, fmt.Sprintf("elements are nested more than %d deep", maxDepth)}
			}
			if *count++; *count > maxElements {
				return &errXML{top.line, fmt.Sprintf("%s holds more than %d elements", top.name.Local, maxElements)}
			}
			k := &node{name: t.Name, attrs: t.Attr, line: line, parent: n}
			n.kids = append(n.kids, k)
			if err := x.readElement(k, top, depth+1, count); err != nil {
				return err
			}
		case xml.CharData:
			n.text.Write(t)
		case xml.EndElement:
			return nil
		}
	}
}

// readEnd checks that nothing but comments and space follows the root.
func (x *xmlReader) readEnd() error {
	for {
		tok, line, err := x.token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			return &errXML{line, fmt.Sprintf("element %s after the end of %s", t.Name.Local, x.root.name.Local)}
		case xml.CharData:
			if len(bytes.TrimSpace(t)) > 0 {
				return &errXML{textLine(line, t), fmt.Sprintf("text after the end of %s", x.root.name.Local)}
			}
		}
	}
}

// textLine is the line of the first character of text that is not space,
// text starting on line.
func textLine(line int, text []byte) int {
	i := bytes.IndexFunc(text, func(r rune) bool { return !unicode.IsSpace(r) })
	return line + bytes.Count(text[:max(i, 0)], []byte("\n"))
}

// syntaxMessage rewrites the decoder's message without the names it
// quotes: in a damaged file a "name" can be the part of a seed after a
// stray "<".
func syntaxMessage(msg string) string {
	switch {
	case strings.Contains(msg, " closed by </"):
		return "an element is closed by the end tag of another"
	case strings.HasPrefix(msg, "unexpected end element"):
		return "an end tag without its start tag"
	case strings.HasPrefix(msg, "element <") && strings.Contains(msg, " in space "):
		return "an element is closed in another namespace than it was opened in"
	case strings.HasPrefix(msg, "invalid character entity"):
		return "invalid character entity (write & as &amp;)"
	case strings.HasPrefix(msg, "invalid XML name"):
		return "invalid XML name"
	case strings.HasPrefix(msg, "invalid characters between </"):
		return "invalid characters in an end tag"
	case strings.HasPrefix(msg, "unescaped < "), strings.HasPrefix(msg, "expected "), strings.HasPrefix(msg, "invalid sequence <!-"), msg == "invalid <![ sequence":
		return msg // fixed texts
	}
	if i := strings.IndexAny(msg, "<&"); i >= 0 {
		return strings.TrimSpace(msg[:i])
	}
	return msg
}
