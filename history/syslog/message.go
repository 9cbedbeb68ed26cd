package syslog

import (
	"strconv"
	"time"
)

// Each record is one RFC 5424 message:
//
//	<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID - MSG
//
// PRI is the facility × 8 + the severity (notice for a Reject and for
// audit events, informational for the rest); TIMESTAMP is when the
// answer left or the change was made, in UTC with microseconds; PROCID
// is twostepd's process id; MSGID is login or audit; there is no
// structured data ("-", everything is in MSG); MSG is the record's JSON,
// without the BOM RFC 5424 puts before UTF-8 text: rsyslog and
// syslog-ng keep the BOM in the message, and JSON parsers then refuse
// it (JSON is UTF-8 by its own definition, RFC 8259). Over TCP and TLS
// each message is framed by octet counting (RFC 6587 §3.4.1: its length
// in decimal, a space, the message), so a message may hold anything;
// over UDP it is one datagram (RFC 5426).

// MSGIDs of the messages.
const (
	MsgIDLogin = "login"
	MsgIDAudit = "audit"
)

// Severities used (RFC 5424 §6.2.1).
const (
	severityNotice = 5
	severityInfo   = 6
)

// maxUDPMessage bounds a message sent over UDP: rsyslog's default
// maxMessageSize (8 KiB). A longer one is not sent (counted as
// too_large); a login record is a few hundred bytes.
const maxUDPMessage = 8192

// nilValue is RFC 5424's NILVALUE, for an empty header field.
const nilValue = "-"

// timeLayout is RFC 5424's TIMESTAMP in UTC with microseconds (at most 6
// digits of fraction, §6.2.3).
const timeLayout = "2006-01-02T15:04:05.000000Z07:00"

// header is what every message of an exporter shares, each field made to
// fit RFC 5424 (headerValue).
type header struct {
	facility int
	hostname string
	appName  string
	procID   string
}

// newHeader returns the header of facility (a name Validate accepts),
// hostname, appName and procID.
func newHeader(facility, hostname, appName string, procID int) header {
	return header{
		facility: facilities[facility],
		hostname: headerValue(hostname, maxHostname),
		appName:  headerValue(appName, maxAppName),
		procID:   headerValue(strconv.Itoa(procID), 128),
	}
}

// appendMessage appends to b the message of msg with severity, time t
// (NILVALUE when zero) and msgID.
func (h header) appendMessage(b []byte, severity int, t time.Time, msgID string, msg []byte) []byte {
	b = append(b, '<')
	b = strconv.AppendInt(b, int64(h.facility*8+severity), 10)
	b = append(b, ">1 "...)
	if t.IsZero() {
		b = append(b, nilValue...)
	} else {
		b = t.UTC().AppendFormat(b, timeLayout)
	}
	for _, f := range []string{h.hostname, h.appName, h.procID, msgID, nilValue} {
		b = append(b, ' ')
		b = append(b, f...)
	}
	b = append(b, ' ')
	return append(b, msg...)
}

// appendFrame appends msg to b framed by octet counting (RFC 6587
// §3.4.1).
func appendFrame(b, msg []byte) []byte {
	b = strconv.AppendInt(b, int64(len(msg)), 10)
	b = append(b, ' ')
	return append(b, msg...)
}

// headerValue is s as a header field of at most max characters:
// characters outside PRINTUSASCII (a space, a non-ASCII letter of a node
// name) become '_', and NILVALUE stands for nothing.
func headerValue(s string, max int) string {
	b := make([]byte, 0, len(s))
	for _, r := range s {
		if len(b) == max {
			break
		}
		if r < 33 || r > 126 {
			r = '_' // one for each character, however many bytes it takes
		}
		b = append(b, byte(r))
	}
	if len(b) == 0 {
		return nilValue
	}
	return string(b)
}
