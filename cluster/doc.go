// Package cluster keeps the state every twostepd of a cluster must agree on
// in etcd: devices, used passcodes, challenge states and lockout counters.
// It arrives with the second factor; this file reserves the package.
package cluster
