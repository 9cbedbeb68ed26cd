package main

import (
	"errors"
	"fmt"
	"os"

	"twostep/notify"
)

const vapidUsage = `Usage: twostepctl vapid-key -out FILE

Creates the Web Push (VAPID, RFC 8292) key of the cluster: a P-256 private
key, base64url, written to FILE with mode 0600. Give the same file to
every node as push.webpush.vapid_key_file, with push.webpush.subject set
to a contact (mailto:helpdesk@example.edu): push services identify the
cluster by this key, and the browsers of web authenticators subscribe with
its public key, which this command prints. Changing the key later makes
every Web Push device enroll again.

Flags:
`

func (c *cli) vapidKey(args []string) error {
	fs := c.flagSet("twostepctl vapid-key", vapidUsage)
	out := fs.String("out", "", "write the private key to `file` (mode 0600; required, never overwritten)")
	pos, err := c.parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 || *out == "" {
		return fmt.Errorf("twostepctl vapid-key: give -out FILE and no arguments; see `twostepctl vapid-key -h`")
	}
	key, err := notify.GenerateVAPID()
	if err != nil {
		return err
	}
	priv, err := notify.EncodeVAPIDPrivateKey(key)
	if err != nil {
		return err
	}
	pub, err := notify.EncodeVAPIDPublicKey(&key.PublicKey)
	if err != nil {
		return err
	}
	if err := writeNew(*out, []byte(priv+"\n")); err != nil {
		if errors.Is(err, os.ErrExist) {
			return fmt.Errorf("%s exists; vapid-key never overwrites (a new key makes every Web Push device enroll again)", *out)
		}
		return err
	}
	fmt.Fprintf(c.stdout, "wrote the VAPID private key %s (mode 0600)\npublic key (applicationServerKey): %s\n", *out, pub)
	return nil
}
