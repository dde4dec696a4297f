package cli

import (
	"net"
	"strings"
	"testing"
)

// TestDashboardAddrInUse checks that each command that serves the
// dashboard names its flag when the address is taken, before it starts
// anything.
func TestDashboardAddrInUse(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	addr := l.Addr().String()
	for _, tc := range []struct {
		args []string
		flag string
	}{
		{[]string{"dashboard", "--listen", addr}, "--listen"},
		{[]string{"demo", "--dashboard", addr}, "--dashboard"},
		{[]string{"run", "--dashboard", addr}, "--dashboard"},
	} {
		args := append(tc.args, "--state-dir", t.TempDir())
		_, _, err := runCLI(t, "", args...)
		if err == nil {
			t.Fatalf("%v: succeeded on an address in use", tc.args)
		}
		msg := err.Error()
		if !strings.Contains(msg, "address "+addr+" is already in use") || !strings.Contains(msg, tc.flag+"=") {
			t.Errorf("%v: error %q does not name the address and %s", tc.args, msg, tc.flag)
		}
	}
}
