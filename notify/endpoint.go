package notify

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// defaultTimeout bounds one delivery when the notifier sets no Timeout.
const defaultTimeout = 10 * time.Second

// endpoint is a target's URL with the one part of it that may be shown.
type endpoint struct {
	url *url.URL
	// origin is scheme://host[:port], lower case and without a default
	// port: what errors name, and the audience of a VAPID token.
	origin string
}

// parseEndpoint accepts https URLs, and http ones to a loopback host or when
// allowHTTP is set. Its errors never quote raw, which may hold a secret.
func parseEndpoint(raw string, allowHTTP bool) (endpoint, error) {
	u, err := url.Parse(raw)
	if err != nil {
		// url.Error quotes the whole URL; its inner error may quote part.
		return endpoint{}, errors.New("endpoint is not a valid URL")
	}
	scheme := strings.ToLower(u.Scheme)
	if (scheme != "https" && scheme != "http") || u.Hostname() == "" {
		return endpoint{}, errors.New("endpoint is not an http or https URL")
	}
	host := strings.ToLower(u.Hostname())
	port := u.Port()
	if (scheme == "https" && port == "443") || (scheme == "http" && port == "80") {
		port = ""
	}
	hostport := host
	if strings.Contains(host, ":") {
		hostport = "[" + host + "]"
	}
	if port != "" {
		hostport = net.JoinHostPort(host, port)
	}
	e := endpoint{url: u, origin: scheme + "://" + hostport}
	if scheme == "http" && !allowHTTP && !isLoopback(host) {
		return endpoint{}, errors.New(e.origin + ": plain http to a host that is not loopback (set AllowHTTP to permit it)")
	}
	return e, nil
}

// isLoopback reports whether host is localhost or a loopback address: the
// only hosts that plain http may reach by default, as no one else can read
// what travels there.
func isLoopback(host string) bool {
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// post sends body to e and returns the response's status code. Redirects are
// not followed: a 3xx is returned like any other status. The error names
// nothing of e, and wraps the context's error when that ended the request.
func post(ctx context.Context, c *http.Client, timeout time.Duration, e endpoint, h http.Header, body []byte) (int, error) {
	if timeout <= 0 {
		timeout = defaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.url.String(), bytes.NewReader(body))
	if err != nil {
		return 0, errors.New("cannot build the request")
	}
	for k, v := range h {
		req.Header[k] = v
	}
	resp, err := noRedirect(c).Do(req)
	if err != nil {
		return 0, withoutURL(err)
	}
	defer resp.Body.Close()
	// Drain a little so that the connection can be reused.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	return resp.StatusCode, nil
}

// noRedirect returns a copy of c (or of a default client) that returns a
// redirect response instead of following it: a redirect would carry the
// message, and the signature over it, to a URL nobody configured.
func noRedirect(c *http.Client) *http.Client {
	var n http.Client
	if c != nil {
		n = *c
	}
	n.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &n
}

// withoutURL strips the *url.Error that http.Client wraps around every
// error, as it quotes the whole request URL.
func withoutURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
