package directory

import "testing"

// FuzzParseUsers feeds users files to the parser: it must never panic, and
// a file it accepts must survive the editor's re-encoding unchanged in
// meaning (twostepctl writes what it read).
func FuzzParseUsers(f *testing.F) {
	f.Add([]byte("users: {}\n"))
	f.Add([]byte("# c\nusers:\n  alice: # c\n    password: \"{SSHA256}oBmrdHcA6OZEkkCLeXh71YAerbvhXz1qqwjrPsXmEtNzYWx0c2FsdA==\"\n    groups: [a, b]\n    disabled: true\n"))
	f.Add([]byte("users:\n  a:\n    password: &x \"$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW\"\n  b:\n    password: *x\n"))
	f.Add([]byte("users:\n  a: {password: \"$argon2id$v=19$m=64,t=2,p=1$c29tZXNhbHQ$Bo1ismRVk2qm6+YAYLCmWHDb+j3fjUH3\", groups: [], disabled: false}\n"))
	f.Add([]byte("users:\n  a:\n  a:\n---\nx: 1\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		doc, problems := parseUsers(data)
		if len(problems) > 0 {
			return
		}
		out, err := encodeUsers(doc.root)
		if err != nil {
			t.Fatalf("re-encoding an accepted file: %v", err)
		}
		again, problems := parseUsers(out)
		if len(problems) > 0 {
			t.Fatalf("an accepted file re-encoded is refused: %v\n%s", problems, out)
		}
		if len(again.list) != len(doc.list) {
			t.Fatalf("users: got %d after re-encoding, want %d", len(again.list), len(doc.list))
		}
		for i, u := range doc.list {
			v := again.list[i]
			if u.name != v.name || u.disabled != v.disabled || u.hash.cost() != v.hash.cost() || len(u.groups) != len(v.groups) {
				t.Fatalf("user %d: got %+v, want %+v", i, v, u)
			}
		}
	})
}
