package etcdstore

import (
	"context"
	"fmt"

	clientv3 "go.etcd.io/etcd/client/v3"

	"twostep/cluster"
)

// The Store reads one key of a large prefix in one request, for the
// History's listing of each user's newest record (cluster.KeyRanger).
var _ cluster.KeyRanger = (*Store)(nil)

// NextKey returns the least key under prefix that is not less than from,
// without its value, in one linearizable read; or ErrNotFound. etcd
// stops at the first key, so the read costs one key whatever the prefix
// holds.
func (e *Store) NextKey(ctx context.Context, prefix, from string) (string, error) {
	if from < prefix {
		from = prefix
	}
	if from == "" {
		from = "\x00" // etcd takes no empty key; no key of ours is empty
	}
	ctx, cancel := e.requestContext(ctx)
	defer cancel()
	resp, err := e.kv.Get(ctx, from, clientv3.WithRange(clientv3.GetPrefixRangeEnd(prefix)), clientv3.WithLimit(1), clientv3.WithKeysOnly())
	if err != nil {
		return "", e.wrap(fmt.Sprintf("next key under %q", prefix), err)
	}
	if len(resp.Kvs) == 0 {
		return "", cluster.ErrNotFound
	}
	return string(resp.Kvs[0].Key), nil
}

// Last returns the entry with the greatest key under prefix, and below
// before when it is not empty, in one linearizable read; or ErrNotFound.
// etcd sorts a descending range after reading all of it, so the read
// costs the server the keys of the range, and the network one entry.
func (e *Store) Last(ctx context.Context, prefix, before string) (cluster.Entry, error) {
	end := clientv3.GetPrefixRangeEnd(prefix)
	// "\x00" is etcd's end for every key from the start (prefix "").
	if before != "" && (end == "\x00" || before < end) {
		end = before
	}
	start := prefix
	if start == "" {
		start = "\x00" // etcd takes no empty key; no key of ours is empty
	}
	ctx, cancel := e.requestContext(ctx)
	defer cancel()
	resp, err := e.kv.Get(ctx, start, clientv3.WithRange(end), clientv3.WithSort(clientv3.SortByKey, clientv3.SortDescend), clientv3.WithLimit(1))
	if err != nil {
		return cluster.Entry{}, e.wrap(fmt.Sprintf("last key under %q", prefix), err)
	}
	if len(resp.Kvs) == 0 {
		return cluster.Entry{}, cluster.ErrNotFound
	}
	kv := resp.Kvs[0]
	return cluster.Entry{Key: string(kv.Key), Value: kv.Value, ModRevision: kv.ModRevision}, nil
}
