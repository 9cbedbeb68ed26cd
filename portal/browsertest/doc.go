// Package browsertest drives Debian's headless Chromium from tests, so
// that the portal's pages and the web authenticator run in a real
// browser: service worker, WebCrypto, IndexedDB and the
// Content-Security-Policy included.
//
// Start fails with the command to run when Chromium is missing (`make
// peers` installs it): a browser test that skips itself hides a broken
// page, and a test that installs packages is not a test.
//
// # Trusting a test server
//
// httptest.NewTLSServer presents its own self-signed certificate.
// TrustCertificate passes the SHA-256 of its public key to Chromium with
// --ignore-certificate-errors-spki-list, which Chromium honours only with
// an explicit --user-data-dir (Start always gives one). The self-test
// checks, against Debian's Chromium 156, that this is all the web
// authenticator needs: the page at https://127.0.0.1:port is a secure
// context, navigator.serviceWorker.register succeeds, crypto.subtle
// signs, and IndexedDB keeps a non-extractable CryptoKey that the next
// page load signs with. No CA in an NSS database (certutil) is needed.
// --ignore-certificate-errors also lets the service worker register, but
// it accepts every certificate; the SPKI list trusts the test server's
// key only, so a page that reaches anything else still fails. Without
// either, navigation fails with a certificate error (also tested).
//
// # Debugging and cleanup
//
// Every console message, uncaught exception and browser log entry (CSP
// violations, failed loads) of the tab is logged with t.Log and kept for
// Console and ConsoleErrors. A failing Run saves a screenshot (into
// $BROWSERTEST_ARTIFACTS, or t.TempDir()) and logs the URL, the page's
// visible text and Chromium's last output lines.
//
// Chromium gets a profile and a HOME of its own under t.TempDir(), so it
// writes nothing into the real home. At cleanup the browser is closed and
// every process with that directory in its arguments must be gone; one
// that is not is killed and fails the test.
//
// # The network
//
// The machines that run these tests have no internet, so Chromium starts
// with its background networking, component updates, sync and QUIC off:
// otherwise it spends the test waiting on connections that never open.
package browsertest
