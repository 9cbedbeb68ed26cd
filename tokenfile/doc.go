// Package tokenfile reads the seed files that hardware OATH token vendors
// ship: CSV (ReadCSV) and PSKC, RFC 6030 (ReadPSKC), in plain text or
// encrypted with a pre-shared AES key. Read chooses between them.
//
// A file is read whole or refused whole: the tokens come back only when
// every line or element is right, and otherwise an *Error lists every
// problem with its line, so nothing is half imported. A feature the package
// does not implement (key derivation from a password, asymmetric key
// transport, XML signatures, PIN or transaction policies) is refused as
// errors.ErrUnsupported rather than skipped, because skipping it would
// import a token that behaves otherwise than its file says.
//
// Seeds are secrets: no error message quotes one, and Token formats
// without its Secret.
package tokenfile
