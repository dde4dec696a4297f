package svcnames

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// EnvVar names, in a local process's environment, the file holding the
// runtime's Table.
const EnvVar = "SERIN_SERVICE_NAMES"

// NoServiceError says that a local name has no Service, or no such port,
// behind it.
type NoServiceError struct {
	Name Name
	Port int32
	// Ports are the ports of the Service when it exists; nil when it does
	// not.
	Ports []int32
}

func (e *NoServiceError) Error() string {
	if e.Ports == nil {
		return fmt.Sprintf("no service %s in namespace %s runs locally", e.Name.Service, e.Name.Namespace)
	}
	return fmt.Sprintf("service %s has no port %d (ports: %s)", e.Name, e.Port, joinPorts(e.Ports))
}

// Name is a Service named by a host.
type Name struct {
	Service, Namespace string
}

func (n Name) String() string { return n.Namespace + "/" + n.Service }

// key is how a Table holds a Service.
func (n Name) key() string { return n.Service + "." + n.Namespace }

// Parse reads host (without a port) as a Kubernetes Service name:
// name.namespace, name.namespace.svc or name.namespace.svc.cluster.local,
// each label a DNS label. qualified is true for the forms ending in .svc,
// which can only mean a Service.
func Parse(host string) (n Name, qualified, ok bool) {
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	labels := strings.Split(host, ".")
	switch {
	case len(labels) == 2:
	case len(labels) == 3 && labels[2] == "svc",
		len(labels) == 5 && labels[2] == "svc" && labels[3] == "cluster" && labels[4] == "local":
		qualified = true
	default:
		return Name{}, false, false
	}
	for _, l := range labels[:2] {
		if !isLabel(l) {
			return Name{}, false, false
		}
	}
	return Name{Service: labels[0], Namespace: labels[1]}, qualified, true
}

// isLabel reports whether s is a DNS-1123 label: lower-case letters,
// digits and '-', starting and ending with a letter or digit.
func isLabel(s string) bool {
	if s == "" || len(s) > 63 || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for _, c := range []byte(s) {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// Table maps local Services to the addresses serin's proxy listens on for
// their ports.
type Table struct {
	// Services maps "name.namespace" to its ports' addresses, by port.
	Services map[string]map[int32]string `json:"services"`
}

// Add records that port of Service n is served at addr.
func (t *Table) Add(n Name, port int32, addr string) {
	if t.Services == nil {
		t.Services = map[string]map[int32]string{}
	}
	k := n.key()
	if t.Services[k] == nil {
		t.Services[k] = map[int32]string{}
	}
	t.Services[k][port] = addr
}

// hasNamespace reports whether a Service of the table is in ns.
func (t *Table) hasNamespace(ns string) bool {
	for k := range t.Services {
		if strings.HasSuffix(k, "."+ns) {
			return true
		}
	}
	return false
}

// Resolve returns the local address of host:port. local is false when
// host is not a local name (see the package doc); when it is, err says
// why there is no address.
func (t *Table) Resolve(host string, port int32) (addr string, local bool, err error) {
	n, qualified, ok := Parse(host)
	if !ok || t == nil {
		return "", false, nil
	}
	ports, found := t.Services[n.key()]
	if !found {
		if !qualified && !t.hasNamespace(n.Namespace) {
			return "", false, nil
		}
		return "", true, &NoServiceError{Name: n, Port: port}
	}
	if a, ok := ports[port]; ok {
		return a, true, nil
	}
	return "", true, &NoServiceError{Name: n, Port: port, Ports: slices.Sorted(maps.Keys(ports))}
}

func joinPorts(ps []int32) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = strconv.Itoa(int(p))
	}
	return strings.Join(s, ", ")
}

// ResolveURL resolves the host of an http or https URL as Resolve does,
// with the scheme's port when the URL names none. It says nothing (local
// false) about what is not such a URL.
func (t *Table) ResolveURL(raw string) (addr string, local bool, err error) {
	u, perr := url.Parse(raw)
	if perr != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", false, nil
	}
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	p, perr := strconv.ParseUint(port, 10, 16)
	if perr != nil {
		return "", false, nil
	}
	return t.Resolve(u.Hostname(), int32(p))
}

// Dialer dials through a Table: a local name goes to its Service's
// address, anything else as Next dials it.
type Dialer struct {
	// Table returns the table in effect; nil (or a nil table) resolves
	// nothing.
	Table func() *Table
	// Next dials the resolved address; nil means a net.Dialer.
	Next func(ctx context.Context, network, addr string) (net.Conn, error)
}

// table is the table in effect, or nil.
func (d *Dialer) table() *Table {
	if d == nil || d.Table == nil {
		return nil
	}
	return d.Table()
}

// DialContext resolves addr (host:port) and dials it.
func (d *Dialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	if local, ok, err := d.resolve(addr); err != nil {
		return nil, fmt.Errorf("dial %s: %w", addr, err)
	} else if ok {
		addr = local
	}
	if d != nil && d.Next != nil {
		return d.Next(ctx, network, addr)
	}
	var nd net.Dialer
	return nd.DialContext(ctx, network, addr)
}

func (d *Dialer) resolve(addr string) (string, bool, error) {
	t := d.table()
	if t == nil {
		return "", false, nil
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", false, nil
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return "", false, nil
	}
	return t.Resolve(host, int32(p))
}

// Proxy wraps an http.Transport's Proxy so that a request for a local
// name is never sent to a proxy, which could not resolve it.
func (d *Dialer) Proxy(next func(*http.Request) (*url.URL, error)) func(*http.Request) (*url.URL, error) {
	return func(r *http.Request) (*url.URL, error) {
		if t := d.table(); t != nil {
			if _, local, _ := t.Resolve(r.URL.Hostname(), 0); local {
				return nil, nil
			}
		}
		if next == nil {
			return nil, nil
		}
		return next(r)
	}
}

// Transport returns a clone of http.DefaultTransport that dials through d
// and sends no request for a local name to a proxy.
func (d *Dialer) Transport() *http.Transport {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = d.DialContext
	tr.Proxy = d.Proxy(tr.Proxy)
	return tr
}

// WriteFile writes t to path atomically (a temporary file, then a
// rename), readable by its user alone.
func WriteFile(path string, t *Table) error {
	b, err := json.Marshal(t)
	if err != nil {
		return fmt.Errorf("encode service names: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".names-*")
	if err != nil {
		return fmt.Errorf("write service names: %w", err)
	}
	_, werr := tmp.Write(b)
	cerr := tmp.Close()
	if err := errors.Join(werr, cerr); err != nil {
		_ = os.Remove(tmp.Name())
		return fmt.Errorf("write service names %s: %w", tmp.Name(), err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		_ = os.Remove(tmp.Name())
		return fmt.Errorf("write service names %s: %w", path, err)
	}
	return nil
}

// FileTable returns a Table func for a Dialer that reads path, again
// whenever the file changed. A file that cannot be read is no table.
func FileTable(path string) func() *Table {
	var (
		mu   sync.Mutex
		seen os.FileInfo
		cur  *Table
	)
	return func() *Table {
		mu.Lock()
		defer mu.Unlock()
		st, err := os.Stat(path)
		if err != nil {
			return nil
		}
		// Each write renames a new file into place, so a file that is the
		// same one, unchanged, holds the same table.
		if cur != nil && os.SameFile(st, seen) && st.ModTime().Equal(seen.ModTime()) && st.Size() == seen.Size() {
			return cur
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return nil
		}
		t := &Table{}
		if err := json.Unmarshal(b, t); err != nil {
			return nil
		}
		cur, seen = t, st
		return cur
	}
}
