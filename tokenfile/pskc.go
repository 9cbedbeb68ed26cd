package tokenfile

import (
	"errors"
	"fmt"
	"hash"
	"io"
	"strconv"
	"strings"
	"time"
)

// nsPSKC is the namespace of RFC 6030 documents.
const nsPSKC = "urn:ietf:params:xml:ns:keyprov:pskc"

// keyTypes maps PSKC Key Algorithm URIs to token types. RFC 6030 names
// HOTP only; the TOTP URIs are the algorithm profile draft's
// (draft-hoyer-keyprov-pskc-algorithm-profiles), both spellings in use.
var keyTypes = map[string]string{
	nsPSKC + ":hotp": HOTP,
	nsPSKC + "#hotp": HOTP,
	nsPSKC + ":totp": TOTP,
	nsPSKC + "#totp": TOTP,
}

// ReadPSKC reads tokens from a PSKC file (RFC 6030, KeyContainer Version
// 1.0). key is the pre-shared key of an encrypted file: 16, 24 or 32 bytes
// for aes128-cbc, aes192-cbc or aes256-cbc; nil for a plain file. An
// encrypted file without a key is refused with ErrKeyNeeded, and with the
// wrong key with ErrWrongKey: each value's MAC is checked, in constant
// time, before the value is decrypted.
//
// Read: DeviceInfo (SerialNo, Manufacturer, Model, StartDate, ExpiryDate),
// Key (Id, Algorithm hotp or totp, Issuer), AlgorithmParameters (Suite for
// the hash, ResponseFormat with DECIMAL Encoding and Length),
// Data (Secret, Counter, TimeInterval, and Time and TimeDrift when 0),
// Policy (StartDate, ExpiryDate, KeyUsage OTP, a PINPolicy the token
// checks itself), PlainValue and EncryptedValue with ValueMAC.
// CryptoModuleInfo, FriendlyName, UserId, IssueNo, DeviceBinding and
// Extensions are ignored. Anything else is refused as
// errors.ErrUnsupported, naming the element: key derivation (PBKDF2) and
// asymmetric key transport, signatures, other algorithms, keys by
// reference, PINs the server would check, transaction limits.
//
// The serial is DeviceInfo/SerialNo, or the Key's Id when there is none.
func ReadPSKC(r io.Reader, key []byte) ([]Token, error) {
	data, err := readAll(r)
	if _, ok := errors.AsType[*Error](err); ok {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("tokenfile: %w", err)
	}
	return readPSKC(data, key)
}

// pskcReader holds what one file says beside its KeyPackages, and what
// was found wrong with it.
type pskcReader struct {
	problems
	key    []byte
	said   map[string]bool // problems told once a file
	tokens []Token
	first  map[string]int // serial -> line

	encryptionKey  *node
	keyNames       []string
	keyUnsupported bool // EncryptionKey is one this package cannot use
	macMethod      *node
	macNew         func() hash.Hash // nil when the MACMethod is not supported
	macKeyDone     bool
	macKeyBytes    []byte
	macPassed      bool // some value's MAC matched: the key is right
	packages       int
}

func readPSKC(data, key []byte) ([]Token, error) {
	p := &pskcReader{key: key, said: map[string]bool{}, first: map[string]int{}}
	defer func() { clear(p.macKeyBytes) }()
	if err := p.read(newXMLReader(data)); err != nil {
		xe, ok := errors.AsType[*errXML](err)
		if !ok {
			return nil, err
		}
		p.problems.addf(xe.line, "", "", "%s", xe.msg)
	}
	if len(p.tokens) == 0 && len(p.list) == 0 {
		p.problems.addf(0, "", "", "the file holds no tokens")
	}
	if err := p.err(); err != nil {
		refuse(p.tokens)
		return nil, err
	}
	return p.tokens, nil
}

// read walks the document: the root, then each of its children in turn.
func (p *pskcReader) read(x *xmlReader) error {
	root, err := x.readRoot()
	if err != nil {
		return err
	}
	if root.name.Local != "KeyContainer" || root.name.Space != nsPSKC {
		p.problems.addf(root.line, "", "", "not a PSKC file: the root element is %s in namespace %s; want KeyContainer in %s",
			quoteName(root.name.Local), quoteURI(root.name.Space), nsPSKC)
		return nil
	}
	if v, _ := root.attr("Version"); v != "1.0" {
		p.problems.addf(root.line, "", "KeyContainer", "Version %s: only PSKC 1.0 (RFC 6030) is read", quoteName(v))
		return nil
	}
	for {
		n, err := x.nextChild()
		if err != nil {
			return err
		}
		if n == nil {
			return x.readEnd()
		}
		switch n.name.Local {
		case "EncryptionKey":
			p.readEncryptionKey(n)
		case "MACMethod":
			p.readMACMethod(n)
		case "KeyPackage":
			p.packages++
			p.readKeyPackage(n)
		case "Signature":
			p.unsupported(n, "", "the file is signed, and XML signatures are not supported, so the signature cannot be checked")
		case "Extensions":
		default:
			p.unknown(n, "")
		}
	}
}

// readEncryptionKey reads how values are encrypted: a pre-shared key
// names itself with ds:KeyName (or not at all); the other ways are refused.
func (p *pskcReader) readEncryptionKey(n *node) {
	if p.packages > 0 {
		p.addf(n, "", "EncryptionKey must come before the KeyPackages")
	}
	p.encryptionKey = n
	for _, k := range n.kids {
		switch k.name.Local {
		case "KeyName":
			p.keyNames = append(p.keyNames, k.value())
		case "DerivedKey":
			p.keyUnsupported = true
			p.unsupported(k, "", "keys derived from a password (PBKDF2) are not supported: ask the vendor for the file encrypted with a pre-shared AES key")
		case "X509Data", "KeyValue", "RetrievalMethod", "PGPData", "SPKIData", "EncryptedKey", "AgreementMethod":
			p.keyUnsupported = true
			p.unsupported(k, "", "asymmetric key transport (%s) is not supported: ask the vendor for the file encrypted with a pre-shared AES key", k.name.Local)
		default:
			p.keyUnsupported = true
			p.unknown(k, "")
		}
	}
}

// readMACMethod reads the MAC algorithm; the MAC key is decrypted when the
// first encrypted value needs it.
func (p *pskcReader) readMACMethod(n *node) {
	if p.packages > 0 {
		p.addf(n, "", "MACMethod must come before the KeyPackages")
	}
	p.macMethod = n
	alg, _ := n.attr("Algorithm")
	if p.macNew = macHashes[alg]; p.macNew == nil {
		p.unsupported(n, "", "MAC algorithm %s is not supported: only HMAC with SHA-1 or SHA-2", quoteURI(alg))
	}
	hasKey := false
	for _, k := range n.kids {
		switch k.name.Local {
		case "MACKey":
			hasKey = true
		case "MACKeyReference":
			p.unsupported(k, "", "a MAC key kept outside the file is not supported")
			hasKey = true
		default:
			p.unknown(k, "")
		}
	}
	if !hasKey {
		p.addf(n, "", "MACMethod has no MACKey")
	}
}

// device is what a KeyPackage's DeviceInfo says.
type device struct {
	serial, manufacturer, model string
	start, expiry               time.Time
	nodes                       map[string]*node // by token field
}

// readKeyPackage reads a KeyPackage and its Key, whose token it adds.
func (p *pskcReader) readKeyPackage(n *node) {
	dev := device{nodes: map[string]*node{}}
	var keys []*node
	for _, k := range n.kids {
		switch k.name.Local {
		case "DeviceInfo":
			p.readDeviceInfo(k, &dev)
		case "Key":
			keys = append(keys, k)
		case "CryptoModuleInfo", "Extensions":
		default:
			p.unknown(k, "")
		}
	}
	if len(keys) == 0 {
		p.addf(n, dev.serial, "KeyPackage has no Key")
	}
	for _, k := range keys {
		p.readKey(k, dev)
	}
}

func (p *pskcReader) readDeviceInfo(n *node, dev *device) {
	for _, k := range n.kids {
		switch k.name.Local {
		case "SerialNo":
			dev.serial = k.value()
			dev.nodes[fieldSerial] = k
		case "Manufacturer":
			dev.manufacturer = k.value()
			dev.nodes[fieldManufacturer] = k
		case "Model":
			dev.model = k.value()
			dev.nodes[fieldModel] = k
		case "StartDate":
			dev.start, _ = p.readDate(k, dev.serial)
			dev.nodes[fieldDates] = k
		case "ExpiryDate":
			dev.expiry, _ = p.readDate(k, dev.serial)
			dev.nodes[fieldDates] = k
		default:
			// IssueNo, DeviceBinding, UserId, Extensions: they describe
			// the device, and the server has no use for them.
		}
	}
}

// keyReader reads one Key into a token.
type keyReader struct {
	*pskcReader
	t      Token
	serial string           // for messages: empty until known to be valid
	nodes  map[string]*node // the element of each token field, for messages
	n      int              // problems before this key
}

func (p *pskcReader) readKey(n *node, dev device) {
	k := &keyReader{pskcReader: p, nodes: map[string]*node{fieldType: n}, n: len(p.list)}
	for f, e := range dev.nodes {
		k.nodes[f] = e
	}
	k.t = Token{
		Line:         n.line,
		Serial:       dev.serial,
		Manufacturer: dev.manufacturer,
		Model:        dev.model,
		NotBefore:    dev.start,
		NotAfter:     dev.expiry,
	}
	if k.t.Serial == "" {
		k.t.Serial, _ = n.attr("Id")
		if k.t.Serial == "" {
			p.addf(n, "", "no serial: the KeyPackage has no DeviceInfo/SerialNo and the Key no Id")
		} else {
			k.nodes[fieldSerial] = n
		}
	}
	if checkSerial(k.t.Serial) == "" {
		k.serial = k.t.Serial
	}

	alg, ok := n.attr("Algorithm")
	switch typ := keyTypes[strings.ToLower(strings.TrimSpace(alg))]; {
	case !ok || alg == "":
		p.addf(n, k.serial, "Key has no Algorithm: want %s:hotp or %s:totp", nsPSKC, nsPSKC)
	case typ == "":
		p.unsupported(n, k.serial, "key algorithm %s is not supported: only HOTP and TOTP tokens", quoteURI(alg))
	default:
		k.t.Type = typ
	}

	var data *node
	reference := false
	seen := map[string]bool{}
	for _, c := range n.kids {
		if p.twice(seen, c, k.serial) {
			continue
		}
		switch c.name.Local {
		case "Issuer":
			k.t.Issuer = c.value()
			k.nodes[fieldIssuer] = c
		case "AlgorithmParameters":
			k.readParameters(c)
		case "Data":
			data = c
		case "Policy":
			k.readPolicy(c)
		case "KeyProfileId", "KeyReference":
			reference = true
			p.unsupported(c, k.serial, "a key given by reference to data outside the file (%s) is not supported", c.name.Local)
		case "FriendlyName", "UserId", "Extensions":
		default:
			p.unknown(c, k.serial)
		}
	}
	if data != nil {
		k.readData(data)
	}
	if k.t.Secret == nil && (data == nil || data.child("Secret") == nil) && !reference {
		p.addf(n, k.serial, "Key has no Data/Secret")
	}
	k.finish()
}

// finish checks the token read and adds it, or drops it when anything
// about it was wrong. A missing type or secret was reported already.
func (k *keyReader) finish() {
	t := &k.t
	if t.Type == "" { // not a token this package reads: nothing more to say
		clear(t.Secret)
		return
	}
	t.setDefaults()
	for _, fp := range t.check() {
		if fp.field == fieldSecret && t.Secret == nil || fp.field == fieldSerial && t.Serial == "" {
			continue
		}
		at := k.nodes[fp.field]
		if at == nil {
			at = k.nodes[fieldType] // the Key
		}
		k.addf(at, k.serial, "%s", fp.msg)
	}
	if len(k.list) > k.n || t.Secret == nil {
		clear(t.Secret)
		return
	}
	if l, dup := k.first[t.Serial]; dup {
		k.addf(k.nodes[fieldType], k.serial, "serial appears again; first on line %d", l)
		clear(t.Secret)
		return
	}
	k.first[t.Serial] = t.Line
	k.tokens = append(k.tokens, *t)
}

func (k *keyReader) readParameters(n *node) {
	for _, c := range n.kids {
		switch c.name.Local {
		case "Suite":
			k.t.Algorithm = normalizeAlgorithm(c.value())
			k.nodes[fieldAlgorithm] = c
		case "ResponseFormat":
			k.nodes[fieldDigits] = c
			if enc, _ := c.attr("Encoding"); enc != "" && enc != "DECIMAL" {
				k.unsupported(c, k.serial, "codes of Encoding %s are not supported: only DECIMAL", quoteName(enc))
			}
			if cd, _ := c.attr("CheckDigits"); cd == "true" || cd == "1" {
				k.unsupported(c, k.serial, "codes with a check digit are not supported")
			}
			l, ok := c.attr("Length")
			if !ok {
				k.addf(c, k.serial, "ResponseFormat has no Length")
				continue
			}
			d, err := strconv.Atoi(strings.TrimSpace(l))
			if err != nil {
				k.addf(c, k.serial, "Length %s is not a number", quoteShort(l))
				continue
			}
			if d == 0 { // not the default
				k.addf(c, k.serial, "0 digits: want 6 or 8")
			}
			k.t.Digits = d
		case "ChallengeFormat":
			k.unsupported(c, k.serial, "challenge-response keys are not supported")
		case "Extensions":
		default:
			k.unknown(c, k.serial)
		}
	}
}

func (k *keyReader) readData(n *node) {
	seen := map[string]bool{}
	for _, c := range n.kids {
		if k.twice(seen, c, k.serial) {
			continue
		}
		switch c.name.Local {
		case "Secret":
			k.nodes[fieldSecret] = c
			plain, encrypted, ok := k.readValue(c)
			if !ok {
				continue
			}
			if encrypted {
				k.t.Secret = plain
				continue
			}
			if len(plain) == 0 {
				k.addf(c, k.serial, "Secret/PlainValue is empty")
				continue
			}
			secret, err := decodeBase64(string(plain))
			if err != nil {
				k.addf(c, k.serial, "Secret/PlainValue is not base64")
				continue
			}
			k.t.Secret = secret
		case "Counter":
			k.nodes[fieldCounter] = c
			k.t.Counter, _ = k.readInt(c)
		case "TimeInterval":
			k.nodes[fieldPeriod] = c
			if v, ok := k.readInt(c); ok {
				if v == 0 { // not the default
					k.addf(c, k.serial, "TimeInterval 0: want 1 to %d seconds", int(maxPeriod/time.Second))
				}
				k.t.Period = time.Duration(min(v, 1<<32)) * time.Second
			}
		case "Time":
			if v, ok := k.readInt(c); ok && v != 0 {
				k.unsupported(c, k.serial, "a TOTP start time (Time) other than 0 is not supported")
			}
		case "TimeDrift":
			if v, ok := k.readInt(c); ok && v != 0 {
				k.unsupported(c, k.serial, "a TimeDrift other than 0 is not supported")
			}
		default:
			k.unknown(c, k.serial)
		}
	}
}

// readValue returns the value of a Data child: its PlainValue as written,
// or its EncryptedValue decrypted (encrypted true).
func (k *keyReader) readValue(n *node) (value []byte, encrypted, ok bool) {
	var plain, enc, vmac *node
	for _, c := range n.kids {
		switch c.name.Local {
		case "PlainValue":
			plain = c
		case "EncryptedValue":
			enc = c
		case "ValueMAC":
			vmac = c
		default:
			k.unknown(c, k.serial)
			return nil, false, false
		}
	}
	switch {
	case plain != nil && enc != nil:
		k.addf(n, k.serial, "%s has both a PlainValue and an EncryptedValue", n.name.Local)
	case plain != nil:
		return []byte(plain.value()), false, true
	case enc != nil:
		v, ok := k.decrypt(enc, vmac, k.serial)
		return v, true, ok
	default:
		k.addf(n, k.serial, "%s has no PlainValue or EncryptedValue", n.name.Local)
	}
	return nil, false, false
}

// readInt reads an integer Data child: decimal in a PlainValue, big-endian
// bytes in an EncryptedValue (as python-pskc writes them).
func (k *keyReader) readInt(n *node) (uint64, bool) {
	v, encrypted, ok := k.readValue(n)
	if !ok {
		return 0, false
	}
	if encrypted {
		if len(v) == 0 || len(v) > 8 {
			k.addf(n, k.serial, "%s decrypts to %d bytes: want a big-endian integer of 1 to 8", n.name.Local, len(v))
			return 0, false
		}
		var u uint64
		for _, b := range v {
			u = u<<8 | uint64(b)
		}
		return u, true
	}
	u, err := strconv.ParseUint(string(v), 10, 64)
	if err != nil {
		k.addf(n, k.serial, "%s %s is not a number from 0 to 2^64-1", n.name.Local, quoteShort(string(v)))
		return 0, false
	}
	return u, true
}

// readPolicy reads what a Key's Policy allows. RFC 6030 section 5: a
// policy the recipient does not understand must not be ignored.
func (k *keyReader) readPolicy(n *node) {
	otp, usages := false, []string(nil)
	for _, c := range n.kids {
		switch c.name.Local {
		case "StartDate":
			if d, ok := k.readDate(c, k.serial); ok && d.After(k.t.NotBefore) {
				k.t.NotBefore = d
				k.nodes[fieldDates] = c
			}
		case "ExpiryDate":
			if d, ok := k.readDate(c, k.serial); ok && (k.t.NotAfter.IsZero() || d.Before(k.t.NotAfter)) {
				k.t.NotAfter = d
				k.nodes[fieldDates] = c
			}
		case "KeyUsage":
			u := c.value()
			usages = append(usages, u)
			otp = otp || u == "OTP"
		case "PINPolicy":
			if mode, _ := c.attr("PINUsageMode"); mode != "Local" {
				k.unsupported(c, k.serial, "PIN usage mode %s is not supported: only Local, a PIN the token checks itself", quoteName(mode))
			}
		case "NumberOfTransactions":
			k.unsupported(c, k.serial, "a limit on the number of codes (NumberOfTransactions) is not supported")
		default:
			k.unknown(c, k.serial)
		}
	}
	if len(usages) > 0 && !otp {
		k.unsupported(n, k.serial, "key usage %s is not supported: only OTP", quoteName(strings.Join(usages, ", ")))
	}
}

// readDate reads an xs:dateTime; one without a zone is taken as UTC.
func (p *pskcReader) readDate(n *node, serial string) (time.Time, bool) {
	v := n.value()
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999"} {
		if t, err := time.Parse(layout, v); err == nil {
			return t.UTC(), true
		}
	}
	p.addf(n, serial, "%s %s is not a date and time such as 2026-01-31T00:00:00Z", n.name.Local, quoteName(v))
	return time.Time{}, false
}

// addf reports a problem at an element.
func (p *pskcReader) addf(n *node, serial, format string, args ...any) {
	p.add(Problem{Line: n.line, Serial: serial, Field: n.path(), Message: fmt.Sprintf(format, args...)})
}

// unsupported reports a feature the package does not implement.
func (p *pskcReader) unsupported(n *node, serial, format string, args ...any) {
	p.add(Problem{Line: n.line, Serial: serial, Field: n.path(), Message: fmt.Sprintf(format, args...), Err: errors.ErrUnsupported})
}

// unknown reports an element that has no place where it is, or that
// PSKC allows there without saying what it means.
func (p *pskcReader) unknown(n *node, serial string) {
	p.unsupported(n, serial, "element %s is not supported here", quoteName(n.name.Local))
}

// twice reports an element that appears a second time where PSKC allows
// one, which would leave the reader to choose between them.
func (p *pskcReader) twice(seen map[string]bool, n *node, serial string) bool {
	switch n.name.Local {
	case "KeyUsage", "Extensions":
		return false // as many as the writer likes
	}
	if seen[n.name.Local] {
		p.addf(n, serial, "%s appears twice", n.name.Local)
		return true
	}
	seen[n.name.Local] = true
	return false
}

// once runs report the first time it is called with key in a file.
func (p *pskcReader) once(key string, report func()) {
	if !p.said[key] {
		p.said[key] = true
		report()
	}
}

// quoteName quotes a name or value from the file for a message, cut
// short: none of them is secret, but any may be long.
func quoteName(s string) string {
	const max = 64
	if len(s) > max {
		s = s[:max] + "..."
	}
	return strconv.Quote(s)
}

// quoteURI quotes an algorithm or namespace URI.
func quoteURI(s string) string {
	if s == "" {
		return "(none)"
	}
	return quoteName(s)
}

// shortURI names an algorithm by its fragment: aes128-cbc.
func shortURI(s string) string {
	if i := strings.LastIndexByte(s, '#'); i >= 0 {
		return s[i+1:]
	}
	return s
}
