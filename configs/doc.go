// Package configs is twostep's configuration file: its schema, the loader
// that validates a whole file at once and reports every problem with its
// line, and (beside the code) the demo and example files that a test parses.
//
// Each daemon package gets only its own section: radiusd.Client values with
// their secrets resolved, the directory backend's path, and so on.
package configs
