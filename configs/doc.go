// Package configs is twostep's configuration file: the loader that reads
// a whole file at once and reports every problem at its line, and
// (beside the code) the demo and example files that a test parses.
//
// configs owns no setting but the daemon's own log and metrics
// listener. Every other section belongs to the package that uses it, as
// a struct with yaml tags and a Validate that reports problems under the
// file's keys (confcheck.Problems): radiusd.Config and
// radiusd.ClientConfig, directory.Config, the help desk's
// cluster.BypassConfig and RecoveryConfig, challenge.Policy and
// PasscodesConfig, portal.Config, history.Config. Two sections span owners and are
// assembled here from their parts: cluster (Cluster: etcdstore.Config,
// embedded.Config, the seed key file) and push (portal.APIConfig,
// challenge.PushConfig and notify.Config). configs
// decodes each section over its owner's defaults, key by key (decode.go),
// makes the settings tagged config:"path" absolute, resolves those
// tagged config:"secret" from the file, a file of their own or the
// environment (secrets.go), puts each problem at its line (errors.go),
// and checks what no one owner can: reply attributes against the radius
// section's dictionaries, a password that could not be read. It copies
// no field and rewrites no message.
//
// Each daemon package gets only its own section from the Config.
package configs
