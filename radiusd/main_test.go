package radiusd

import (
	"testing"

	"go.uber.org/goleak"
)

// Every goroutine the server starts must be gone when the tests end.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
