package engine

import (
	"strings"

	"github.com/kalamdb/libkalam/kerr"
)

const (
	defaultNamespace = "default"
	systemNamespace  = "system"
	maxNameLen       = 64
)

// normalizeName lower-cases a namespace or table name and checks it against
// [a-z_][a-z0-9_]{0,63} (DESIGN §2). what is "namespace" or "table", for the
// error message.
func normalizeName(what, name string) (string, error) {
	n := strings.ToLower(name)
	if n == "" {
		return "", kerr.New(kerr.InvalidArgument, "invalid %s name %q: empty", what, name)
	}
	if len(n) > maxNameLen {
		return "", kerr.New(kerr.InvalidArgument, "invalid %s name %q: longer than %d characters", what, name, maxNameLen)
	}
	for i := 0; i < len(n); i++ {
		c := n[i]
		ok := c == '_' || (c >= 'a' && c <= 'z') || (i > 0 && c >= '0' && c <= '9')
		if !ok {
			return "", kerr.New(kerr.InvalidArgument,
				"invalid %s name %q: must match [a-z_][a-z0-9_]{0,63}", what, name)
		}
	}
	return n, nil
}

// splitTableName parses "ns.table" or "table" (namespace default).
func splitTableName(name string) (ns, table string, err error) {
	if name == "" {
		return "", "", kerr.New(kerr.InvalidArgument, "invalid table name %q: empty", name)
	}
	ns, table = defaultNamespace, name
	if i := strings.IndexByte(name, '.'); i >= 0 {
		ns, table = name[:i], name[i+1:]
	}
	if ns, err = normalizeName("namespace", ns); err != nil {
		return "", "", kerr.Wrap(kerr.InvalidArgument, err, "table %q", name)
	}
	if table, err = normalizeName("table", table); err != nil {
		return "", "", kerr.Wrap(kerr.InvalidArgument, err, "table %q", name)
	}
	return ns, table, nil
}
