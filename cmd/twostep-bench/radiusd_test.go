package main

import (
	"bytes"
	"testing"

	"layeh.com/radius"

	"twostep/radiusd"
)

// The generator keeps its own allocation-free packet code for the hot path;
// these tests hold it to the client side that twostepd's radiusd package
// documents, so that the two cannot drift apart.

func TestRequestsVerifiedLikeRadiusdSigns(t *testing.T) {
	secret := []byte(testSecret)
	p, err := radiusd.NewAccessRequest(secret, "alice", "secret")
	if err != nil {
		t.Fatal(err)
	}
	req, err := radiusd.SignRequest(p)
	if err != nil {
		t.Fatal(err)
	}
	// The responder checks the request's Message-Authenticator with the
	// generator's code: a radiusd-signed request must pass.
	s := newSigner(secret)
	resp := s.accept(make([]byte, headerLen+maLen), req, true)
	if resp == nil {
		t.Fatal("the bench responder dropped a request signed by radiusd.SignRequest")
	}
	if err := radiusd.VerifyResponse(resp, req, secret); err != nil {
		t.Errorf("radiusd.VerifyResponse of the bench responder's answer: %v", err)
	}
}

func TestBuiltRequestMatchesRadiusdSigning(t *testing.T) {
	secret := []byte(testSecret)
	tpl, err := newTemplate(user{"alice", "secret"}, true)
	if err != nil {
		t.Fatal(err)
	}
	s := newSigner(secret)
	auth := [16]byte{7, 7, 7}
	ours := s.build(make([]byte, maxPacket), tpl, 9, &auth)

	// Re-sign the same packet (same attributes, identifier, authenticator)
	// with radiusd: the Message-Authenticator must come out identical.
	p, err := radiusd.NewAccessRequest(secret, "x", "y")
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := radius.Parse(ours, secret)
	if err != nil {
		t.Fatal(err)
	}
	p.Identifier, p.Authenticator, p.Attributes = parsed.Identifier, parsed.Authenticator, parsed.Attributes
	theirs, err := radiusd.SignRequest(p)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(ours, theirs) {
		t.Errorf("bench request\n%x\nradiusd.SignRequest\n%x", ours, theirs)
	}
}
