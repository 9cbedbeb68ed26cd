package peer

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
)

// CheckRadclient asks the RADIUS server at addr, with FreeRADIUS's
// radclient (not the generator under test), to accept user's password
// in a signed request and to drop an unsigned one: both servers must
// require Message-Authenticator, or they would not be compared alike.
func CheckRadclient(ctx context.Context, addr, secret, user, password string) error {
	bin, err := Find("radclient")
	if err != nil {
		return err
	}
	attrs := fmt.Sprintf("User-Name = %q\nUser-Password = %q\n", user, password)
	signed := exec.CommandContext(ctx, bin, "-q", "-r", "2", "-t", "3", addr, "auth", secret)
	signed.Stdin = strings.NewReader(attrs + "Message-Authenticator = 0x00\n")
	if out, err := signed.CombinedOutput(); err != nil {
		return fmt.Errorf("radclient got no Access-Accept for %s: %v\n%s", user, err, out)
	}
	unsigned := exec.CommandContext(ctx, bin, "-q", "-r", "1", "-t", "1", addr, "auth", secret)
	unsigned.Stdin = strings.NewReader(attrs)
	if unsigned.Run() == nil {
		return fmt.Errorf("%s answered a request without Message-Authenticator", addr)
	}
	return ctx.Err()
}
