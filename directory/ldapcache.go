package directory

import (
	"sync"
	"time"
)

// userCache keeps users' DNs and groups for a short time, so that a login
// needs only the bind. It never holds a password or a password result.
type userCache struct {
	ttl  time.Duration // 0: off
	size int
	now  func() time.Time

	mu    sync.Mutex
	users map[string]cachedUser
}

type cachedUser struct {
	user    *ldapUser
	expires time.Time
}

func newUserCache(ttl time.Duration, size int, now func() time.Time) *userCache {
	return &userCache{ttl: ttl, size: size, now: now, users: map[string]cachedUser{}}
}

// get returns the user cached under name if not expired.
func (c *userCache) get(name string) (*ldapUser, bool) {
	if c.ttl <= 0 {
		return nil, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.users[name]
	if !ok {
		return nil, false
	}
	if !c.now().Before(e.expires) {
		delete(c.users, name)
		return nil, false
	}
	return e.user, true
}

// put caches u under name. When full it drops expired entries, and if
// none expired, everything: a burst of distinct names must not grow the
// cache without bound, and a refill costs only searches.
func (c *userCache) put(name string, u *ldapUser) {
	if c.ttl <= 0 {
		return
	}
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.users) >= c.size {
		for k, e := range c.users {
			if !now.Before(e.expires) {
				delete(c.users, k)
			}
		}
		if len(c.users) >= c.size {
			clear(c.users)
		}
	}
	c.users[name] = cachedUser{user: u, expires: now.Add(c.ttl)}
}

// forget drops name.
func (c *userCache) forget(name string) {
	if c.ttl <= 0 {
		return
	}
	c.mu.Lock()
	delete(c.users, name)
	c.mu.Unlock()
}
