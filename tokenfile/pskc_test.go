package tokenfile

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// Pre-shared keys of the encrypted test files (testdata/README).
var (
	keyFigure6 = mustHexKey("12345678901234567890123456789012")
	keyAES128  = mustHexKey("0f1e2d3c4b5a69788796a5b4c3d2e1f0")
	keyAES256  = mustHexKey("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f")
)

func mustHexKey(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

func TestReadPSKCRFC6030(t *testing.T) {
	rfcHOTP := func(serial string, digits, line int) Token {
		return Token{Serial: serial, Type: HOTP, Secret: testSecrets[0], Algorithm: SHA1, Digits: digits, Line: line}
	}
	tok3 := rfcHOTP("987654321", 8, 15)
	tok3.Manufacturer, tok3.Issuer = "Manufacturer", "Issuer"
	tok6 := rfcHOTP("987654321", 8, 31)
	tok6.Manufacturer, tok6.Issuer = "Manufacturer", "Issuer"

	tests := []struct {
		figure string
		key    []byte
		want   []Token
		bad    []wantProblem
	}{
		// The smallest document; its 4-byte secret is too short for OATH.
		{"2", nil, nil, []wantProblem{{11, "KeyPackage/Key/Data/Secret", "secret is 4 bytes; RFC 4226 requires at least 16", nil}}},
		// Supplementary data: UserIds are ignored, tokens import unassigned.
		{"3", nil, []Token{tok3}, nil},
		// The key is to be derived from a master key the file names.
		{"4", nil, nil, []wantProblem{
			{20, "KeyPackage/Key/KeyProfileId", "by reference", errors.ErrUnsupported},
			{21, "KeyPackage/Key/KeyReference", "by reference", errors.ErrUnsupported},
		}},
		// A PIN the token checks is fine, but the PIN's own key package
		// is no OTP token.
		{"5", nil, nil, []wantProblem{{45, "KeyPackage/Key", `key algorithm "urn:ietf:params:xml:ns:keyprov:pskc:pin" is not supported`, errors.ErrUnsupported}}},
		// AES-128-CBC under a pre-shared key, with an encrypted MAC key.
		{"6", keyFigure6, []Token{tok6}, nil},
		{"6", nil, nil, []wantProblem{{9, "EncryptionKey", `encrypted with the pre-shared key named "Pre-shared-key": give that key (twostepctl: --psk-file)`, ErrKeyNeeded}}},
		// PBKDF2 from a passphrase.
		{"7", nil, nil, []wantProblem{{10, "EncryptionKey/DerivedKey", "PBKDF2", errors.ErrUnsupported}}},
		{"7", keyFigure6, nil, []wantProblem{{10, "EncryptionKey/DerivedKey", "PBKDF2", errors.ErrUnsupported}}},
		// RSA key transport.
		{"8", nil, nil, []wantProblem{{11, "EncryptionKey/X509Data", "asymmetric key transport", errors.ErrUnsupported}}},
		// A signature that cannot be checked.
		{"9", nil, nil, []wantProblem{{31, "Signature", "signature cannot be checked", errors.ErrUnsupported}}},
		// Two keys of one device, one a month: one serial twice.
		{"10", nil, nil, []wantProblem{{91, "KeyPackage/Key", "serial appears again; first on line 64", nil}}},
	}
	for _, tt := range tests {
		name := "figure" + tt.figure
		if tt.key == nil {
			name += " without key"
		}
		t.Run(name, func(t *testing.T) {
			got, err := ReadPSKC(bytes.NewReader(readFile(t, "rfc6030-figure"+tt.figure+".xml")), tt.key)
			if tt.bad != nil {
				checkProblems(t, got, err, tt.bad)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			compareTokens(t, got, tt.want)
		})
	}
}

func TestReadPSKCPythonFiles(t *testing.T) {
	want := []Token{
		{Serial: "PYHOTP-0001", Type: HOTP, Secret: testSecrets[0], Algorithm: SHA1, Digits: 6, Counter: 5,
			Manufacturer: "Example Tokens", Model: "H-100", Issuer: "twostep-test"},
		{Serial: "PYTOTP-0002", Type: TOTP, Secret: testSecrets[1], Algorithm: SHA1, Digits: 8, Period: 30 * time.Second,
			Manufacturer: "Example Tokens", Model: "T-200"},
		{Serial: "PYTOTP-0003", Type: TOTP, Secret: testSecrets[2], Algorithm: SHA256, Digits: 6, Period: 60 * time.Second,
			Manufacturer: "Example Tokens"},
	}
	for _, tt := range []struct {
		file string
		key  []byte
	}{
		{"python-pskc-plain.xml", nil},
		{"python-pskc-plain.xml", keyAES128}, // a key a plain file does not need is not used
		{"python-pskc-aes128.xml", keyAES128},
		{"python-pskc-aes256.xml", keyAES256},
	} {
		t.Run(tt.file, func(t *testing.T) {
			got, err := Read(tt.file, bytes.NewReader(readFile(t, tt.file)), tt.key)
			if err != nil {
				t.Fatal(err)
			}
			for i := range got {
				got[i].Line = 0 // python-pskc's layout is its own
			}
			compareTokens(t, got, want)
		})
	}
}

func TestReadPSKCKeyProblems(t *testing.T) {
	aes128 := string(readFile(t, "python-pskc-aes128.xml"))
	figure6 := string(readFile(t, "rfc6030-figure6.xml"))
	wrong16 := mustHexKey("00000000000000000000000000000000")
	tests := []struct {
		name string
		doc  string
		key  []byte
		want []wantProblem
	}{
		{"no key", aes128, nil, []wantProblem{{3, "EncryptionKey", `the pre-shared key named "Pre-shared-key"`, ErrKeyNeeded}}},
		{"no key no name", strings.Replace(aes128, "<ds:KeyName>Pre-shared-key</ds:KeyName>", "", 1), nil,
			[]wantProblem{{3, "EncryptionKey", "the file is encrypted: give its pre-shared key", ErrKeyNeeded}}},
		{"wrong key", aes128, wrong16, []wantProblem{{3, "EncryptionKey", "the pre-shared key does not match the file: MAC check failed", ErrWrongKey}}},
		{"wrong key figure 6", figure6, keyAES128, []wantProblem{{9, "EncryptionKey", "MAC check failed", ErrWrongKey}}},
		{"another file's key", aes128, keyFigure6, []wantProblem{{3, "EncryptionKey", "MAC check failed", ErrWrongKey}}},
		{"key too long", aes128, keyAES256, []wantProblem{{3, "EncryptionKey", "aes128-cbc needs a 16-byte pre-shared key; the key given is 32 bytes", nil}}},
		// The first value's MAC fails: the key is taken to be wrong.
		{"first MAC changed", replaceNth(figure6, "Su+NvtQ", "Su+NvtR", 1), keyFigure6,
			[]wantProblem{{9, "EncryptionKey", "MAC check failed", ErrWrongKey}}},
		// A later value's MAC fails after others matched: the value was damaged.
		{"later MAC changed", replaceNth(aes128, "<pskc:ValueMAC>", "<pskc:ValueMAC>AAAA", 3), keyAES128,
			[]wantProblem{{nthLine(aes128, "<pskc:ValueMAC>", 3), "KeyPackage/Key/Data/Secret/ValueMAC", "changed or damaged", nil}}},
		{"ciphertext changed", replaceNth(figure6, "AAECAwQFBgcICQoLDA0OD+cI", "AAECAwQFBgcICQoLDA0OD+cJ", 1), keyFigure6,
			[]wantProblem{{9, "EncryptionKey", "MAC check failed", ErrWrongKey}}},
		{"no ValueMAC", cutBetween(figure6, "<ValueMAC>", "</ValueMAC>"), keyFigure6,
			[]wantProblem{{39, "KeyPackage/Key/Data/Secret/EncryptedValue", "no ValueMAC", nil}}},
		{"no MACMethod", cutBetween(figure6, "<MACMethod", "</MACMethod>"), keyFigure6,
			[]wantProblem{{39, "KeyPackage/Key/Data/Secret/EncryptedValue", "the file has no MACMethod", nil}}},
		{"MAC algorithm", strings.Replace(figure6, "xmldsig#hmac-sha1", "xmldsig#hmac-md5", 1), keyFigure6,
			[]wantProblem{{12, "MACMethod", `MAC algorithm "http://www.w3.org/2000/09/xmldsig#hmac-md5" is not supported`, errors.ErrUnsupported}}},
		{"key wrap", strings.ReplaceAll(aes128, "xmlenc#aes128-cbc", "xmlenc#kw-aes128"), keyAES128,
			[]wantProblem{{28, "KeyPackage/Key/Data/Secret/EncryptedValue/EncryptionMethod", "kw-aes128", errors.ErrUnsupported}}},
		{"MAC key reference", strings.Replace(figure6, "<MACKey>", "<MACKeyReference>x</MACKeyReference><MACKey>", 1), keyFigure6,
			[]wantProblem{{13, "MACMethod/MACKeyReference", "outside the file", errors.ErrUnsupported}}},
		{"short CipherValue", strings.Replace(figure6, "AAECAwQFBgcICQoLDA0OD+cIHItlB3Wra1DUpxVvOx2lef1VmNPCMl8jwZqIUqGv", "AAECAwQFBgcICQoLDA0ODw==", 1), keyFigure6,
			[]wantProblem{{43, "KeyPackage/Key/Data/Secret/EncryptedValue/CipherData/CipherValue", "CipherValue is 16 bytes", nil}}},
		{"both values", strings.Replace(figure6, "<ValueMAC>", "<PlainValue>MTIzNDU2Nzg5MDEyMzQ1Njc4OTA=</PlainValue><ValueMAC>", 1), keyFigure6,
			[]wantProblem{{38, "KeyPackage/Key/Data/Secret", "both a PlainValue and an EncryptedValue", nil}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ReadPSKC(strings.NewReader(tt.doc), tt.key)
			checkProblems(t, got, err, tt.want)
			assertNoSecret(t, err.Error(), tt.key)
		})
	}
}

// replaceNth replaces the nth (from 1) occurrence of old in s.
func replaceNth(s, old, new string, n int) string {
	i := -1
	for range n {
		j := strings.Index(s[i+1:], old)
		if j < 0 {
			panic("replaceNth: " + old + " not found")
		}
		i += 1 + j
	}
	return s[:i] + new + s[i+len(old):]
}

// nthLine is the line of the nth occurrence of sub in s.
func nthLine(s, sub string, n int) int {
	marked := replaceNth(s, sub, "\x00", n)
	return strings.Count(marked[:strings.IndexByte(marked, 0)], "\n") + 1
}

// cutBetween blanks from start to the end of end, keeping the lines.
func cutBetween(s, start, end string) string {
	i, j := strings.Index(s, start), strings.Index(s, end)+len(end)
	return s[:i] + strings.Repeat("\n", strings.Count(s[i:j], "\n")) + s[j:]
}

// basePSKC is a valid document each problem case changes a little; its
// line numbers are the ones the cases expect.
const basePSKC = `<?xml version="1.0" encoding="UTF-8"?>
<KeyContainer Version="1.0" xmlns="urn:ietf:params:xml:ns:keyprov:pskc">
  <KeyPackage>
    <DeviceInfo><Manufacturer>Acme</Manufacturer><SerialNo>TOK-1</SerialNo><Model>M1</Model></DeviceInfo>
    <Key Id="k1" Algorithm="urn:ietf:params:xml:ns:keyprov:pskc:hotp">
      <Issuer>Example</Issuer>
      <AlgorithmParameters><ResponseFormat Length="6" Encoding="DECIMAL"/></AlgorithmParameters>
      <Data>
        <Secret><PlainValue>MTIzNDU2Nzg5MDEyMzQ1Njc4OTA=</PlainValue></Secret>
        <Counter><PlainValue>7</PlainValue></Counter>
      </Data>
      <Policy><KeyUsage>OTP</KeyUsage><StartDate>2026-01-01T00:00:00Z</StartDate><ExpiryDate>2031-01-01T00:00:00</ExpiryDate></Policy>
    </Key>
  </KeyPackage>
</KeyContainer>
`

func TestReadPSKCBase(t *testing.T) {
	got, err := ReadPSKC(strings.NewReader(basePSKC), nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []Token{{
		Serial: "TOK-1", Type: HOTP, Secret: testSecrets[0], Algorithm: SHA1, Digits: 6, Counter: 7,
		Manufacturer: "Acme", Model: "M1", Issuer: "Example", Line: 5,
		NotBefore: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		NotAfter:  time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC),
	}}
	compareTokens(t, got, want)
}

func TestReadPSKCVariants(t *testing.T) {
	totp := strings.NewReplacer(
		"pskc:hotp", "pskc#totp",
		`<Counter><PlainValue>7</PlainValue></Counter>`, `<Time><PlainValue>0</PlainValue></Time><TimeInterval><PlainValue>60</PlainValue></TimeInterval><TimeDrift><PlainValue>0</PlainValue></TimeDrift>`,
		`<AlgorithmParameters>`, `<AlgorithmParameters><Suite>HMAC-SHA512</Suite>`,
		`Length="6"`, `Length="8"`,
	).Replace(basePSKC)
	got, err := ReadPSKC(strings.NewReader(totp), nil)
	if err != nil {
		t.Fatal(err)
	}
	if g := got[0]; g.Type != TOTP || g.Period != time.Minute || g.Algorithm != SHA512 || g.Digits != 8 || g.Counter != 0 {
		t.Errorf("got %v, want totp, 60s, SHA512, 8 digits", g)
	}

	// No DeviceInfo: the serial is the Key's Id; no dates; defaults.
	bare := strings.NewReplacer(
		`<DeviceInfo><Manufacturer>Acme</Manufacturer><SerialNo>TOK-1</SerialNo><Model>M1</Model></DeviceInfo>`, "",
		`<AlgorithmParameters><ResponseFormat Length="6" Encoding="DECIMAL"/></AlgorithmParameters>`, "",
		`<Policy><KeyUsage>OTP</KeyUsage><StartDate>2026-01-01T00:00:00Z</StartDate><ExpiryDate>2031-01-01T00:00:00</ExpiryDate></Policy>`,
		`<Policy><PINPolicy PINUsageMode="Local" MinLength="4"/><KeyUsage>CR</KeyUsage><KeyUsage>OTP</KeyUsage></Policy><FriendlyName>f</FriendlyName><UserId>u</UserId><Extensions><x/></Extensions>`,
	).Replace(basePSKC)
	got, err = ReadPSKC(strings.NewReader(bare), nil)
	if err != nil {
		t.Fatal(err)
	}
	if g := got[0]; g.Serial != "k1" || g.Digits != 6 || !g.NotBefore.IsZero() || !g.NotAfter.IsZero() {
		t.Errorf("got %v, want serial k1, 6 digits, no dates", g)
	}

	// Another prefix for the PSKC namespace, and unpadded base64.
	prefixed := strings.NewReplacer(
		"<?", "<?", "</", "</p:", "<", "<p:",
		`xmlns="urn`, `xmlns:p="urn`,
		"MTIzNDU2Nzg5MDEyMzQ1Njc4OTA=", "MTIz NDU2 Nzg5 MDEy MzQ1 Njc4 OTA",
	).Replace(basePSKC)
	got, err = ReadPSKC(strings.NewReader(prefixed), nil)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got[0].Secret, testSecrets[0]) {
		t.Error("prefixed document: the secret differs from the one written")
	}
}

func TestReadPSKCProblems(t *testing.T) {
	change := func(pairs ...string) string { return strings.NewReplacer(pairs...).Replace(basePSKC) }
	const (
		keyPath    = "KeyPackage/Key"
		formatPath = "KeyPackage/Key/AlgorithmParameters/ResponseFormat"
		dataPath   = "KeyPackage/Key/Data"
		policyPath = "KeyPackage/Key/Policy"
		secretLine = 9
	)
	unsupported := errors.ErrUnsupported
	tests := []struct {
		name string
		doc  string
		want []wantProblem
	}{
		{"empty", "", []wantProblem{{1, "", "the file holds no XML element", nil}}},
		{"garbage", "serial,secret\nA,3132\n", []wantProblem{{1, "", "the file is not XML", nil}}},
		{"binary", "\x00\x01\x02<", []wantProblem{{1, "", "XML: illegal character code U+0000", nil}}},
		{"truncated", basePSKC[:strings.Index(basePSKC, "<Counter>")], []wantProblem{{10, "", "XML: unexpected EOF", nil}}},
		{"truncated in a tag", basePSKC[:strings.Index(basePSKC, "<Counter>")+4], []wantProblem{{10, "", "XML: unexpected EOF", nil}}},
		{"mismatched tags", change("</Secret>", "</Secrets>"), []wantProblem{{secretLine, "", "XML: an element is closed by the end tag of another", nil}}},
		// A stray < in a seed must not bring the rest of the seed into the message.
		{"stray < in secret", change("MTIzNDU2Nzg5MDEy", "MTIz<NDU2Nzg5MDEy"), []wantProblem{{secretLine, "", "XML: expected attribute name in element", nil}}},
		{"stray </ in secret", change("MTIzNDU2Nzg5MDEy", "MTIz</NDU2Nzg5MDEy"), []wantProblem{{secretLine, "", "XML: invalid characters in an end tag", nil}}},
		{"stray <x> in secret", change("MTIzNDU2Nzg5MDEy", "MTIz<NDU2Nzg5MDEyMzQ1Njc4OTA>"), []wantProblem{{secretLine, "", "XML: an element is closed by the end tag of another", nil}}},
		{"entity in secret", change("MTIzNDU2Nzg5MDEy", "MTIz&NDU2Nzg5MDEy;"), []wantProblem{{secretLine, "", "invalid character entity", nil}}},
		{"doctype", change(`<KeyContainer`, "<!DOCTYPE x [<!ENTITY e \"x\">]>\n<KeyContainer"), []wantProblem{{2, "", "<!DOCTYPE>", nil}}},
		{"latin1", change(`encoding="UTF-8"`, `encoding="ISO-8859-1"`), []wantProblem{{1, "", "only UTF-8", nil}}},
		{"second root", basePSKC + "<KeyContainer/>\n", []wantProblem{{16, "", "element KeyContainer after the end of KeyContainer", nil}}},
		{"text after root", basePSKC + "x\n", []wantProblem{{16, "", "text after the end", nil}}},
		{"other root", `<KeyContainer Version="1.0"/>`, []wantProblem{{1, "", `not a PSKC file: the root element is "KeyContainer" in namespace (none)`, nil}}},
		{"version", change(`Version="1.0"`, `Version="2.0"`), []wantProblem{{2, "KeyContainer", `Version "2.0": only PSKC 1.0`, nil}}},
		{"no packages", change("<KeyPackage>", "<!--", "</KeyPackage>", "-->"), []wantProblem{{0, "", "the file holds no tokens", nil}}},
		{"unknown in container", change("<KeyPackage>", "<Foo/><KeyPackage>"), []wantProblem{{3, "Foo", `element "Foo" is not supported here`, unsupported}}},
		{"package without key", change(`<Key Id`, `<!--Key Id`, `</Key>`, `</Key-->`), []wantProblem{{3, "KeyPackage", "KeyPackage has no Key", nil}}},
		{"no serial", change(`<SerialNo>TOK-1</SerialNo>`, "", `Id="k1" `, ""), []wantProblem{{5, keyPath, "no serial", nil}}},
		{"no algorithm", change(`Algorithm="urn:ietf:params:xml:ns:keyprov:pskc:hotp"`, ""), []wantProblem{{5, keyPath, "Key has no Algorithm", nil}}},
		{"ocra", change("pskc:hotp", "pskc:ocra"), []wantProblem{{5, keyPath, `key algorithm "urn:ietf:params:xml:ns:keyprov:pskc:ocra" is not supported`, unsupported}}},
		{"hex codes", change(`Encoding="DECIMAL"`, `Encoding="HEXADECIMAL"`), []wantProblem{{7, formatPath, `Encoding "HEXADECIMAL"`, unsupported}}},
		{"check digit", change(`Encoding="DECIMAL"`, `Encoding="DECIMAL" CheckDigits="true"`), []wantProblem{{7, formatPath, "check digit", unsupported}}},
		{"7 digits", change(`Length="6"`, `Length="7"`), []wantProblem{{7, formatPath, "7 digits: want 6 or 8", nil}}},
		{"no length", change(`Length="6"`, ""), []wantProblem{{7, formatPath, "no Length", nil}}},
		{"challenge", change(`<ResponseFormat`, `<ChallengeFormat Encoding="DECIMAL" Min="8" Max="8"/><ResponseFormat`), []wantProblem{{7, "KeyPackage/Key/AlgorithmParameters/ChallengeFormat", "challenge-response", unsupported}}},
		{"suite", change(`<ResponseFormat`, `<Suite>HMAC-MD5</Suite><ResponseFormat`), []wantProblem{{7, "KeyPackage/Key/AlgorithmParameters/Suite", `algorithm "HMAC-MD5" is not SHA1`, nil}}},
		{"no secret", change(`<Secret><PlainValue>MTIzNDU2Nzg5MDEyMzQ1Njc4OTA=</PlainValue></Secret>`, ""), []wantProblem{{5, keyPath, "Key has no Data/Secret", nil}}},
		{"empty secret", change(`MTIzNDU2Nzg5MDEyMzQ1Njc4OTA=`, ""), []wantProblem{{secretLine, dataPath + "/Secret", "Secret/PlainValue is empty", nil}}},
		{"secret not base64", change(`MTIzNDU2Nzg5MDEyMzQ1Njc4OTA=`, "MTIzNDU2Nzg5MDEyMzQ1Njc4OTA=!"), []wantProblem{{secretLine, dataPath + "/Secret", "not base64", nil}}},
		{"short secret", change(`MTIzNDU2Nzg5MDEyMzQ1Njc4OTA=`, "MTIzNDU2Nzg="), []wantProblem{{secretLine, dataPath + "/Secret", "secret is 8 bytes", nil}}},
		{"secret without value", change(`<PlainValue>MTIzNDU2Nzg5MDEyMzQ1Njc4OTA=</PlainValue>`, ""), []wantProblem{{secretLine, dataPath + "/Secret", "Secret has no PlainValue or EncryptedValue", nil}}},
		{"unknown in value", change(`<Secret>`, `<Secret><Foo/>`), []wantProblem{{secretLine, dataPath + "/Secret/Foo", "not supported here", unsupported}}},
		{"counter word", change(`<PlainValue>7<`, `<PlainValue>seven<`), []wantProblem{{10, dataPath + "/Counter", `Counter "seven" is not a number`, nil}}},
		{"negative counter", change(`<PlainValue>7<`, `<PlainValue>-7<`), []wantProblem{{10, dataPath + "/Counter", `Counter "-7" is not a number`, nil}}},
		{"hotp period", change(`<Counter>`, `<TimeInterval><PlainValue>30</PlainValue></TimeInterval><Counter>`), []wantProblem{{10, dataPath + "/TimeInterval", "a period is for totp", nil}}},
		{"totp counter", change("pskc:hotp", "pskc:totp"), []wantProblem{{10, dataPath + "/Counter", "a counter is for hotp", nil}}},
		{"totp period 0", change("pskc:hotp", "pskc:totp", `<Counter><PlainValue>7</PlainValue></Counter>`, `<TimeInterval><PlainValue>0</PlainValue></TimeInterval>`),
			[]wantProblem{{10, dataPath + "/TimeInterval", "TimeInterval 0", nil}}},
		{"totp period long", change("pskc:hotp", "pskc:totp", `<Counter><PlainValue>7</PlainValue></Counter>`, `<TimeInterval><PlainValue>3600</PlainValue></TimeInterval>`),
			[]wantProblem{{10, dataPath + "/TimeInterval", "period 1h0m0s", nil}}},
		{"start time", change(`<Counter>`, `<Time><PlainValue>100</PlainValue></Time><Counter>`), []wantProblem{{10, dataPath + "/Time", "start time", unsupported}}},
		{"drift", change(`<Counter>`, `<TimeDrift><PlainValue>2</PlainValue></TimeDrift><Counter>`), []wantProblem{{10, dataPath + "/TimeDrift", "TimeDrift", unsupported}}},
		{"unknown in data", change(`<Counter>`, `<Foo/><Counter>`), []wantProblem{{10, dataPath + "/Foo", "not supported here", unsupported}}},
		{"two secrets", change(`<Counter>`, `<Secret><PlainValue>MTIzNDU2Nzg5MDEyMzQ1Njc4OTA=</PlainValue></Secret><Counter>`), []wantProblem{{10, dataPath + "/Secret", "Secret appears twice", nil}}},
		{"two issuers", change(`<Issuer>Example</Issuer>`, `<Issuer>Example</Issuer><Issuer>Other</Issuer>`), []wantProblem{{6, keyPath + "/Issuer", "Issuer appears twice", nil}}},
		{"unknown in key", change(`<Issuer>`, `<Foo/><Issuer>`), []wantProblem{{6, keyPath + "/Foo", "not supported here", unsupported}}},
		{"key usage", change(`<KeyUsage>OTP</KeyUsage>`, `<KeyUsage>Encrypt</KeyUsage>`), []wantProblem{{12, policyPath, `key usage "Encrypt"`, unsupported}}},
		{"server PIN", change(`<KeyUsage>`, `<PINPolicy PINUsageMode="Prepend"/><KeyUsage>`), []wantProblem{{12, policyPath + "/PINPolicy", `PIN usage mode "Prepend"`, unsupported}}},
		{"transactions", change(`<KeyUsage>`, `<NumberOfTransactions>10</NumberOfTransactions><KeyUsage>`), []wantProblem{{12, policyPath + "/NumberOfTransactions", "NumberOfTransactions", unsupported}}},
		{"unknown policy", change(`<KeyUsage>`, `<Foo/><KeyUsage>`), []wantProblem{{12, policyPath + "/Foo", "not supported here", unsupported}}},
		{"bad date", change(`2026-01-01T00:00:00Z`, `1 Jan 2026`), []wantProblem{{12, policyPath + "/StartDate", `StartDate "1 Jan 2026" is not a date`, nil}}},
		{"expiry before start", change(`2031-01-01T00:00:00`, `2025-01-01T00:00:00`), []wantProblem{{12, policyPath + "/ExpiryDate", "expires (2025-01-01T00:00:00Z) before it starts", nil}}},
		{"device expires first", change(`<Model>M1</Model>`, `<Model>M1</Model><ExpiryDate>2027-01-01T00:00:00Z</ExpiryDate><StartDate>2028-01-01T00:00:00Z</StartDate>`),
			[]wantProblem{{4, "KeyPackage/DeviceInfo/StartDate", "expires (2027-01-01T00:00:00Z) before it starts (2028-01-01T00:00:00Z)", nil}}},
		{"long serial", change(`TOK-1`, strings.Repeat("T", 65)), []wantProblem{{4, "KeyPackage/DeviceInfo/SerialNo", "serial is 65 bytes", nil}}},
		{"model control", change(`<Model>M1</Model>`, `<Model>M&#9;1</Model>`), []wantProblem{{4, "KeyPackage/DeviceInfo/Model", "model holds a control character", nil}}},
		{"signature", change(`</KeyContainer>`, `<Signature/></KeyContainer>`), []wantProblem{{15, "Signature", "signature cannot be checked", unsupported}}},
		{"mac method late", change(`</KeyContainer>`, `<MACMethod Algorithm="http://www.w3.org/2000/09/xmldsig#hmac-sha1"><MACKey/></MACMethod></KeyContainer>`),
			[]wantProblem{{15, "MACMethod", "must come before the KeyPackages", nil}}},
		{"several", change(
			`Length="6"`, `Length="9"`,
			`MTIzNDU2Nzg5MDEyMzQ1Njc4OTA=`, "MTIzNDU2Nzg=",
			`<PlainValue>7<`, `<PlainValue>x<`,
			`<KeyUsage>OTP</KeyUsage>`, `<KeyUsage>OTP</KeyUsage><NumberOfTransactions>1</NumberOfTransactions>`,
			`</KeyContainer>`, `<Signature/></KeyContainer>`),
			[]wantProblem{
				{7, formatPath, "9 digits", nil},
				{secretLine, dataPath + "/Secret", "secret is 8 bytes", nil},
				{10, dataPath + "/Counter", `Counter "x"`, nil},
				{12, policyPath + "/NumberOfTransactions", "NumberOfTransactions", unsupported},
				{15, "Signature", "signature", unsupported},
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ReadPSKC(strings.NewReader(tt.doc), nil)
			checkProblems(t, got, err, tt.want)
		})
	}
}

func TestReadPSKCDuplicateAcrossPackages(t *testing.T) {
	pkg := basePSKC[strings.Index(basePSKC, "  <KeyPackage>"):strings.Index(basePSKC, "</KeyContainer>")]
	doc := strings.Replace(basePSKC, "</KeyContainer>", pkg+"</KeyContainer>", 1)
	got, err := ReadPSKC(strings.NewReader(doc), nil)
	checkProblems(t, got, err, []wantProblem{{17, "KeyPackage/Key", `serial appears again; first on line 5`, nil}})
	if e, _ := errors.AsType[*Error](err); e.Problems[0].Serial != "TOK-1" {
		t.Errorf("Serial = %q, want TOK-1", e.Problems[0].Serial)
	}
}

// FuzzReadPSKC reads documents written short: the fuzzer minimizes each
// input that finds new code, in time that grows with the square of its
// size, so the seeds are small documents without comments or indentation,
// the namespace URIs written $P, $E and $D, and longer inputs are skipped
// (minimizing one would take the whole run).
func FuzzReadPSKC(f *testing.F) {
	files, err := filepath.Glob("testdata/*.xml")
	if err != nil {
		f.Fatal(err)
	}
	seeds := [][]byte{[]byte(fuzzEncryptedSeed), shortenPSKC([]byte(basePSKC))}
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		if short := shortenPSKC(data); len(short) <= maxFuzzPSKC {
			seeds = append(seeds, short)
		}
	}
	for _, seed := range seeds {
		for k := range fuzzKeys {
			f.Add(seed, uint8(k))
		}
	}
	f.Fuzz(func(t *testing.T, short []byte, k uint8) {
		if len(short) > maxFuzzPSKC {
			return
		}
		tokens, err := ReadPSKC(strings.NewReader(longhandPSKC(short)), fuzzKeys[int(k)%len(fuzzKeys)])
		checkFuzzResult(t, tokens, err)
	})
}

// maxFuzzPSKC bounds FuzzReadPSKC's inputs.
const maxFuzzPSKC = 1024

// fuzzEncryptedSeed is figure 6 cut to what its encryption needs.
const fuzzEncryptedSeed = `<KeyContainer Version="1.0" xmlns="$P"><EncryptionKey/>` +
	`<MACMethod Algorithm="$Dhmac-sha1"><MACKey><EncryptionMethod Algorithm="$Eaes128-cbc"/>` +
	`<CipherData><CipherValue>ESIzRFVmd4iZABEiM0RVZgKn6WjLaTC1sbeBMSvIhRejN9vJa2BOlSaMrR7I5wSX</CipherValue></CipherData>` +
	`</MACKey></MACMethod><KeyPackage><Key Id="1" Algorithm="$P:hotp"><Data><Secret><EncryptedValue>` +
	`<EncryptionMethod Algorithm="$Eaes128-cbc"/><CipherData><CipherValue>AAECAwQFBgcICQoLDA0OD+cIHItlB3Wra1DUpxVvOx2lef1VmNPCMl8jwZqIUqGv</CipherValue></CipherData>` +
	`</EncryptedValue><ValueMAC>Su+NvtQfmvfJzF6bmQiJqoLRExc=</ValueMAC></Secret></Data></Key></KeyPackage></KeyContainer>`

var (
	fuzzKeys    = [][]byte{nil, keyFigure6, keyAES128, keyAES256}
	fuzzURIs    = []string{"$P", nsPSKC, "$E", "http://www.w3.org/2001/04/xmlenc#", "$D", "http://www.w3.org/2000/09/xmldsig#"}
	fuzzComment = regexp.MustCompile(`(?s)<!--.*?-->`)
	fuzzIndent  = regexp.MustCompile(`>\s+<`)
)

// shortenPSKC writes a test document the short way FuzzReadPSKC reads.
func shortenPSKC(data []byte) []byte {
	s := fuzzComment.ReplaceAllString(string(data), "")
	s = fuzzIndent.ReplaceAllString(s, "><")
	for i := 0; i < len(fuzzURIs); i += 2 {
		s = strings.ReplaceAll(s, fuzzURIs[i+1], fuzzURIs[i])
	}
	return []byte(s)
}

// longhandPSKC writes the URIs of a short document out.
func longhandPSKC(short []byte) string {
	return strings.NewReplacer(fuzzURIs...).Replace(string(short))
}

func TestFuzzSeedsRead(t *testing.T) {
	got, err := ReadPSKC(strings.NewReader(longhandPSKC([]byte(fuzzEncryptedSeed))), keyFigure6)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got[0].Secret, testSecrets[0]) {
		t.Error("the secret differs from figure 6's")
	}
	for _, name := range []string{"rfc6030-figure3.xml", "python-pskc-aes256.xml"} {
		if _, err := ReadPSKC(strings.NewReader(longhandPSKC(shortenPSKC(readFile(t, name)))), keyAES256); err != nil {
			t.Errorf("%s shortened: %v", name, err)
		}
	}
}

// sealFigure6 encrypts plain as figure 6's values are: AES-128-CBC under
// its pre-shared key with XML Encryption padding (none when pad is false,
// plain being whole blocks then), and HMAC-SHA1 under its MAC key.
func sealFigure6(t *testing.T, plain []byte, pad bool) (cipherValue, valueMAC string) {
	t.Helper()
	if pad {
		n := aes.BlockSize - len(plain)%aes.BlockSize
		plain = append(append([]byte(nil), plain...), bytes.Repeat([]byte{byte(n)}, n)...)
	}
	block, err := aes.NewCipher(keyFigure6)
	if err != nil {
		t.Fatal(err)
	}
	data := make([]byte, aes.BlockSize+len(plain))
	copy(data, "0123456789abcdef") // the IV
	cipher.NewCBCEncrypter(block, data[:aes.BlockSize]).CryptBlocks(data[aes.BlockSize:], plain)
	m := hmac.New(sha1.New, mustHexKey("1122334455667788990011223344556677889900"))
	m.Write(data)
	return base64.StdEncoding.EncodeToString(data), base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// encryptedFigure6 is figure 6 with its Secret's values replaced, and
// its Counter encrypted when counter is not nil.
func encryptedFigure6(t *testing.T, cipherValue, valueMAC string, counter []byte) string {
	doc := strings.NewReplacer(
		"AAECAwQFBgcICQoLDA0OD+cIHItlB3Wra1DUpxVvOx2lef1VmNPCMl8jwZqIUqGv", cipherValue,
		"Su+NvtQfmvfJzF6bmQiJqoLRExc=", valueMAC,
	).Replace(string(readFile(t, "rfc6030-figure6.xml")))
	if counter != nil {
		cv, mac := sealFigure6(t, counter, true)
		doc = strings.Replace(doc, "<PlainValue>0</PlainValue>",
			`<EncryptedValue><xenc:EncryptionMethod Algorithm="http://www.w3.org/2001/04/xmlenc#aes128-cbc"/>`+
				`<xenc:CipherData><xenc:CipherValue>`+cv+`</xenc:CipherValue></xenc:CipherData></EncryptedValue>`+
				`<ValueMAC>`+mac+`</ValueMAC>`, 1)
	}
	return doc
}

// noCipherData renames the Secret's CipherData element (the second in the
// file, after the MACKey's).
func noCipherData(doc string) string {
	doc = replaceNth(doc, "xenc:CipherData", "xenc:CipherDatum", 3)  // <xenc:CipherData>
	return replaceNth(doc, "xenc:CipherData", "xenc:CipherDatum", 3) // </xenc:CipherData>
}

func TestReadPSKCEncryptedValues(t *testing.T) {
	secret := testSecrets[2]
	cv, mac := sealFigure6(t, secret, true)

	got, err := ReadPSKC(strings.NewReader(encryptedFigure6(t, cv, mac, []byte{1, 0})), keyFigure6)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got[0].Secret, secret) || got[0].Counter != 256 {
		t.Errorf("got %v, want the secret written and counter 256", got[0])
	}

	badPad, badPadMAC := sealFigure6(t, bytes.Repeat([]byte{0}, 32), false)
	tests := []struct {
		name string
		doc  string
		want []wantProblem
	}{
		// The MAC is right, so the value is decrypted, and its padding is
		// wrong: the writer's mistake, not the key's.
		{"bad padding", encryptedFigure6(t, badPad, badPadMAC, nil),
			[]wantProblem{{39, "KeyPackage/Key/Data/Secret/EncryptedValue", "MAC matches but it does not decrypt", nil}}},
		{"counter too long", encryptedFigure6(t, cv, mac, make([]byte, 9)),
			[]wantProblem{{51, "KeyPackage/Key/Data/Counter", "Counter decrypts to 9 bytes", nil}}},
		{"ValueMAC not base64", encryptedFigure6(t, cv, "Su+Nvt!", nil),
			[]wantProblem{{48, "KeyPackage/Key/Data/Secret/ValueMAC", "ValueMAC is not base64", nil}}},
		{"CipherValue not base64", encryptedFigure6(t, "AAEC!", mac, nil),
			[]wantProblem{{43, "KeyPackage/Key/Data/Secret/EncryptedValue/CipherData/CipherValue", "CipherValue is not base64", nil}}},
		{"no EncryptionMethod", strings.Replace(encryptedFigure6(t, cv, mac, nil), "<xenc:EncryptionMethod\n                        Algorithm=\"http://www.w3.org/2001/04/xmlenc#aes128-cbc\"/>", "\n", 1),
			[]wantProblem{{39, "KeyPackage/Key/Data/Secret/EncryptedValue", "EncryptedValue has no EncryptionMethod", nil}}},
		{"no CipherData", noCipherData(encryptedFigure6(t, cv, mac, nil)),
			[]wantProblem{{39, "KeyPackage/Key/Data/Secret/EncryptedValue", "EncryptedValue has no CipherData", nil}}},
		{"cipher reference", strings.Replace(encryptedFigure6(t, cv, mac, nil), "<xenc:CipherData>\n                            <xenc:CipherValue>", "<xenc:CipherData><xenc:CipherReference URI=\"x\"/>\n                            <xenc:CipherValue>", 1),
			[]wantProblem{{42, "KeyPackage/Key/Data/Secret/EncryptedValue/CipherData/CipherReference", "outside the file", errors.ErrUnsupported}}},
		{"no MACKey", cutBetween(encryptedFigure6(t, cv, mac, nil), "<MACKey>", "</MACKey>"),
			[]wantProblem{{12, "MACMethod", "MACMethod has no MACKey", nil}}},
		{"unknown key info", strings.Replace(encryptedFigure6(t, cv, mac, nil), "<ds:KeyName>", "<ds:MgmtData>x</ds:MgmtData><ds:KeyName>", 1),
			[]wantProblem{{10, "EncryptionKey/MgmtData", "not supported here", errors.ErrUnsupported}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ReadPSKC(strings.NewReader(tt.doc), keyFigure6)
			checkProblems(t, got, err, tt.want)
		})
	}
}

func TestReadPSKCLimits(t *testing.T) {
	deep := strings.Replace(basePSKC, "<Issuer>Example</Issuer>",
		strings.Repeat("<Extensions>", maxDepth)+strings.Repeat("</Extensions>", maxDepth), 1)
	_, err := ReadPSKC(strings.NewReader(deep), nil)
	checkProblems(t, nil, err, []wantProblem{{6, "", "nested more than 32 deep", nil}})

	wide := strings.Replace(basePSKC, "<Issuer>Example</Issuer>", "<Extensions>"+strings.Repeat("<x/>", maxElements)+"</Extensions>", 1)
	_, err = ReadPSKC(strings.NewReader(wide), nil)
	checkProblems(t, nil, err, []wantProblem{{3, "", "KeyPackage holds more than 10000 elements", nil}})
}
