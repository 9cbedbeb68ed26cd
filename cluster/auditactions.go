package cluster

// The actions of the audit trail. Each names what changed, noun.verb; the
// actor is who changed it (AdminActor, PortalActor, NodeActor) and the
// detail says what exactly, never with a code, seed or password.
// docs/operations.md lists them for operators.
const (
	// ActionDeviceEnroll: a device added (twostepctl enroll, device
	// simulate enroll; a user in the portal). Detail: the type, name and
	// id.
	ActionDeviceEnroll = "device.enroll"
	// ActionDeviceRename: a device renamed. Detail: id, old and new name.
	ActionDeviceRename = "device.rename"
	// ActionDeviceRemove: a device removed. Detail: type, name and id,
	// and a hardware token marked lost with it.
	ActionDeviceRemove = "device.remove"
	// ActionDeviceDefault: the device automatic pushes go to chosen in
	// the portal. Detail: its name and id.
	ActionDeviceDefault = "device.default"

	// ActionUserLock: logins locked. Detail: the cause (admin, fraud,
	// failures) and until when. An admin's lock and a user's "This
	// wasn't me" are the actor's; a lock after too many wrong second
	// factors is the node's that counted the last one.
	ActionUserLock = "user.lock"
	// ActionUserUnlock: twostepctl unlock. Detail: the lock and the
	// failures it cleared, or that there was none.
	ActionUserUnlock = "user.unlock"
	// ActionUserAdd … ActionUserDelete: twostepctl user add, passwd,
	// disable, enable, groups, delete: edits of the users file, recorded
	// after the file is written. Detail: the file, and the scheme or
	// groups; never the password or its hash.
	ActionUserAdd     = "user.add"
	ActionUserPasswd  = "user.passwd"
	ActionUserDisable = "user.disable"
	ActionUserEnable  = "user.enable"
	ActionUserGroups  = "user.groups"
	ActionUserDelete  = "user.delete"

	// ActionBypassIssue, ActionBypassRevoke: the help desk's bypass
	// codes; ActionBypassUse: a login with one (the node's). Detail: the
	// code's id, profile, uses and expiry.
	ActionBypassIssue  = "bypass.issue"
	ActionBypassUse    = "bypass.use"
	ActionBypassRevoke = "bypass.revoke"
	// ActionRecoveryIssue, ActionRecoveryUse: recovery passcodes, spent
	// by twostepctl enroll -recovery or a portal sign-in. Detail: the
	// passcode's id, expiry or issuer.
	ActionRecoveryIssue = "recovery.issue"
	ActionRecoveryUse   = "recovery.use"

	// ActionTokenImport … ActionTokenResync: the hardware token
	// inventory. Detail: the serial (for an import: the count and the
	// file), the device it became or left.
	ActionTokenImport   = "token.import"
	ActionTokenAssign   = "token.assign"
	ActionTokenUnassign = "token.unassign"
	ActionTokenLost     = "token.lost"
	ActionTokenResync   = "token.resync"

	// ActionKeysRekey: twostepctl rekey. Detail: how many seeds, and the
	// key.
	ActionKeysRekey = "keys.rekey"

	// ActionPushDeny, ActionPushNumberMismatch, ActionPushFraud: what a
	// device answered to a push (the node's that recorded it). Detail:
	// the push, device, client and where the login came from.
	ActionPushDeny           = "push.deny"
	ActionPushNumberMismatch = "push.number_mismatch"
	ActionPushFraud          = "push.fraud"
)
