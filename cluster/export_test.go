package cluster

// What the package's tests (package cluster_test) need beyond its API:
// the key layout, to read and tamper with records as somebody with etcd
// access would, and the keyring an Accounts seals with, to build the
// other records on the same key file.
var (
	BypassKey    = bypassKey
	ChallengeKey = challengeKey
	DeviceKey    = deviceKey
	LockoutKey   = lockoutKey
	PushKey      = pushKey
	RecoveryKey  = recoveryKey
	SessionKey   = sessionKey
	TokenKey     = tokenKey
)

// Keyring returns the key file a seals and signs with.
func (a *Accounts) Keyring() *Keyring { return a.keys }
