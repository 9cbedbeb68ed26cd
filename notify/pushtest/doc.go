// Package pushtest runs, on loopback, the servers that package notify
// delivers to, for tests: a Web Push push service (NewService) that checks
// the VAPID token and decrypts each message as a browser would, and a
// webhook receiver (NewWebhook) that checks the signature. Both hand the
// Messages they accept to the test on a channel, and can be told to fail.
//
// They are written from the RFCs, not from notify's encoder, so that a test
// that passes through them is a cross-check of notify and not a mirror.
package pushtest
