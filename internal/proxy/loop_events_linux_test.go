//go:build linux

package proxy

import (
	"net"
	"testing"

	"golang.org/x/sys/unix"
)

// testLoop returns an event loop that does not run: the test calls its
// methods as its goroutine would.
func testLoop(t *testing.T) *eventLoop {
	t.Helper()
	p, err := New(Options{EventLoops: 1})
	if err != nil {
		t.Fatal(err)
	}
	lp := &eventLoop{p: p, epfd: -1, wakefd: -1,
		idle:    map[*endpoint][]*loopUpstream{},
		watched: map[*listener]*loopListener{},
		events:  make([]unix.EpollEvent, 16),
		done:    make(chan struct{}),
	}
	lp.peers = []*eventLoop{lp}
	if err := lp.open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		lp.closeAll()
		_ = unix.Close(lp.wakefd)
	})
	return lp
}

// waitBatch waits for a batch of events holding one for fd and leaves it
// in lp.events, unhandled; it returns the batch's length.
func waitBatch(t *testing.T, lp *eventLoop, fd int) int {
	t.Helper()
	for range 100 {
		n, err := unix.EpollWait(lp.epfd, lp.events, 100)
		if err != nil && err != unix.EINTR {
			t.Fatal(err)
		}
		for i := range n {
			if int(lp.events[i].Fd) == fd {
				return n
			}
		}
	}
	t.Fatalf("no event for descriptor %d", fd)
	return 0
}

// eventLog is a socket that records the events it gets.
type eventLog []uint32

func (l *eventLog) event(ev uint32) { *l = append(*l, ev) }

// Within one batch of events, a handler may close a socket and open a
// new one (a dial), which gets the closed one's descriptor, the lowest
// free; an event of the same batch for the closed socket must not reach
// the new one. Here the stale event is an upstream connection's EPOLLOUT,
// which would tell a connection attempt under way that it is connected.
func TestStaleEventOfReusedDescriptorIsDropped(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	lp := testLoop(t)
	u, err := lp.dial(newEndpoint(ln.Addr().String()))
	if err != nil {
		t.Fatal(err)
	}
	n := waitBatch(t, lp, u.fd) // u is connected: EPOLLOUT
	old := u.fd
	u.close()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if fd != old {
		t.Skipf("the new socket got descriptor %d, not the closed one's %d", fd, old)
	}
	var got eventLog
	if err := lp.register(fd, &got, connEvents); err != nil {
		t.Fatal(err)
	}
	lp.dispatch(n)
	if len(got) > 0 {
		t.Errorf("a new socket got the events %#x of the socket closed before it on its descriptor", got)
	}
	lp.socks[fd] = sock{}
}

// A connection attempt is connected when the kernel says so, not
// whenever an EPOLLOUT without a socket error comes: one that is still
// under way stays so.
func TestConnectingUpstreamIgnoresSpuriousWritable(t *testing.T) {
	hole := blackhole(t)
	lp := testLoop(t)
	u, err := lp.dial(newEndpoint(hole))
	if err != nil {
		t.Fatal(err)
	}
	u.event(unix.EPOLLOUT)
	if u.state != upConnecting {
		t.Errorf("a connection attempt nobody answered is in state %d after an EPOLLOUT, want connecting", u.state)
	}
}
