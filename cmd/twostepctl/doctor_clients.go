package main

import (
	"context"
	"fmt"
	"unicode/utf8"

	"twostep/cluster"
	"twostep/radiusd"
)

// minSecret is the shared secret length below which the doctor warns:
// RFC 6151-era guidance asks for 16 random characters or more.
const minSecret = 16

// clients checks each RADIUS client's shared secret and
// require_message_authenticator.
func (d *doctor) clients(ctx context.Context) {
	var records *cluster.ClientRecords
	if d.store != nil {
		records = cluster.NewClientRecords(d.store, "", d.c.now)
	}
	for i, c := range d.cfg.Clients {
		key := fmt.Sprintf("clients[%d]", i)
		if !d.secretsUnread {
			check := "client.secret " + c.Name
			switch n := utf8.RuneCount(c.Secret); {
			case n == 0:
				d.fail(check, "no shared secret", key+".secret_file (or secret, secret_env): the secret the NAS has")
			case n < minSecret:
				d.warn(check, fmt.Sprintf("%d characters: a short secret can be guessed from one captured request", n),
					fmt.Sprintf("use 16 or more random characters (`openssl rand -base64 24`) in %s.secret_file and on the NAS", key))
			default:
				d.ok(check, fmt.Sprintf("%d characters", n))
			}
		}
		d.messageAuthenticator(ctx, key, c, records)
	}
}

// messageAuthenticator reports a client's require_message_authenticator,
// and for auto whether the cluster has seen the NAS send the attribute.
func (d *doctor) messageAuthenticator(ctx context.Context, key string, c radiusd.Client, records *cluster.ClientRecords) {
	check := "client.message_authenticator " + c.Name
	option := key + ".require_message_authenticator"
	const risk = "requests without Message-Authenticator can be forged (BlastRADIUS, CVE-2024-3596), and a wrong shared secret shows up as bad_password for every user instead of dropped packets"
	switch c.MessageAuthenticator {
	case radiusd.MARequired:
		d.ok(check, "true: requests without Message-Authenticator are dropped")
	case radiusd.MAOptional:
		d.warn(check, "false: "+risk, option+": auto (held to the attribute once the NAS sends it), or true when the NAS sends it")
	case radiusd.MAAuto:
		seen := "whether the NAS has sent it is unknown (etcd did not answer)"
		if records != nil {
			sctx, cancel := d.within(ctx)
			ok, err := records.SeenMessageAuthenticator(sctx, c.Name)
			cancel()
			switch {
			case err == nil && ok:
				seen = "the NAS has sent it, so every node holds it to the attribute now"
			case err == nil:
				seen = "the NAS has not sent it yet"
			}
		}
		d.warn(check, fmt.Sprintf("auto (%s): until it does, %s", seen, risk), option+": true once every NAS behind the client sends Message-Authenticator (upgrade radcli to 1.5, pam_radius_auth to 3.0)")
	}
}
