package etcdtest

import (
	"context"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// RootPassword is the password of the root user EnableAuth creates.
const RootPassword = "root-pw"

// EnableAuth turns etcd's authentication on at endpoints, as
// docs/operations.md tells admins to: a root user (RootPassword), a role
// "twostep" that may read and write the keys under prefix and nothing
// else, and user with password holding that role. It fails the test when
// etcd refuses a step.
func EnableAuth(t testing.TB, endpoints []string, prefix, user, password string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	admin, err := clientv3.New(clientv3.Config{Endpoints: endpoints, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatalf("etcdtest: %v", err)
	}
	defer admin.Close()
	steps := []struct {
		what string
		do   func() error
	}{
		{"add root", func() error { _, err := admin.UserAdd(ctx, "root", RootPassword); return err }},
		{"grant root", func() error { _, err := admin.UserGrantRole(ctx, "root", "root"); return err }},
		{"add role twostep", func() error { _, err := admin.RoleAdd(ctx, "twostep"); return err }},
		{"grant the prefix", func() error {
			_, err := admin.RoleGrantPermission(ctx, "twostep", prefix, clientv3.GetPrefixRangeEnd(prefix), clientv3.PermissionType(clientv3.PermReadWrite))
			return err
		}},
		{"add " + user, func() error { _, err := admin.UserAdd(ctx, user, password); return err }},
		{"grant " + user, func() error { _, err := admin.UserGrantRole(ctx, user, "twostep"); return err }},
		{"enable authentication", func() error { _, err := admin.AuthEnable(ctx); return err }},
	}
	for _, s := range steps {
		if err := s.do(); err != nil {
			t.Fatalf("etcdtest: enable authentication: %s: %v", s.what, err)
		}
	}
}
