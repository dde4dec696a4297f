//go:build linux

package proxy

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

const (
	// clientBuffer is the read buffer of a client connection and so the
	// largest request head (431 beyond it).
	clientBuffer = 8 << 10
	// upstreamBuffer is the read buffer of an upstream connection and so
	// the largest response head (502 beyond it).
	upstreamBuffer = 16 << 10
	// loopTick is how often a busy loop checks deadlines: timeouts fire
	// up to this late.
	loopTick = 50 * time.Millisecond
	// maxIdleUpstreams caps the idle connections a loop keeps per endpoint.
	maxIdleUpstreams = 1024
)

// eventLoop serves the HTTP/1.1 connections of one listener on one
// goroutine: non-blocking sockets, edge-triggered epoll, no goroutine per
// connection and no timer per request. A request's bytes go from the
// client's buffer to the upstream socket with only the head rewritten, and
// the response's bytes back the same way, so a small exchange costs two
// reads and two writes. What the loop does not serve itself it hands over
// to the fasthttp and net/http servers of the listener, with the bytes
// read so far: connections opening with the HTTP/2 preface, protocol
// upgrades, HTTP/1.0 clients, mirrored requests whose body is not all
// there with the head (the copy needs the whole request), and routes with
// endpoints named by a host name (resolving would block the loop).
type eventLoop struct {
	l      *listener
	p      *Proxy
	epfd   int
	lfd    int // a duplicate of the listener's socket; -1 once closed
	wakefd int // an eventfd that wakes the loop to stop

	socks   []pollable // by file descriptor
	clients []*loopClient
	ups     []*loopUpstream
	idle    map[*endpoint][]*loopUpstream

	now      int64 // unix nanoseconds, read once per wake-up
	nextScan int64
	events   []unix.EpollEvent
	wbuf     []byte // assembles what one write sends
	cookie   []byte // scratch for a sticky cookie

	stopping  atomic.Bool
	killing   atomic.Bool
	acceptOff bool // accepting paused after running out of descriptors
	done      chan struct{}

	// The loop that accepts (the first of a listener's) deals the
	// connections out to peers in turn, itself among them; the others
	// find theirs in inbox.
	peers   []*eventLoop
	next    int
	inboxMu sync.Mutex
	inbox   []handed
	exited  bool // set under inboxMu once the loop takes no more
	adopted atomic.Int64
}

// handed is an accepted connection on its way to another loop.
type handed struct {
	fd int
	ip []byte
}

// pollable is a socket registered with the loop's epoll.
type pollable interface{ event(ev uint32) }

// startLoops serves the listener with Options.EventLoops event loops;
// false when it cannot (the listener is not a TCP socket, or the system
// refused a resource), and the caller falls back to accepting with
// goroutines.
func (l *listener) startLoops() bool {
	tl, ok := l.ln.(*net.TCPListener)
	if !ok || l.p.eventLoops == 0 {
		return false
	}
	rc, err := tl.SyscallConn()
	if err != nil {
		return false
	}
	lfd := -1
	var derr error
	if err := rc.Control(func(fd uintptr) { lfd, derr = unix.FcntlInt(fd, unix.F_DUPFD_CLOEXEC, 0) }); err != nil || derr != nil {
		return false
	}
	loops := make([]*eventLoop, l.p.eventLoops)
	for i := range loops {
		lp := &eventLoop{l: l, p: l.p, lfd: -1, epfd: -1, wakefd: -1,
			idle:   map[*endpoint][]*loopUpstream{},
			events: make([]unix.EpollEvent, 256),
			done:   make(chan struct{}),
		}
		if i == 0 {
			lp.lfd, lp.peers = lfd, loops
		}
		loops[i] = lp
		if err := lp.open(); err != nil {
			l.p.log.Warn("event loop unavailable, serving with goroutines", "listen", l.ln.Addr().String(), "err", err)
			for _, lp := range loops[:i+1] {
				lp.closeFDs()
				if lp.wakefd >= 0 {
					_ = unix.Close(lp.wakefd)
				}
			}
			return false
		}
	}
	l.loops = loops
	for _, lp := range loops {
		l.served.Add(1)
		go func() {
			defer l.served.Done()
			lp.run()
		}()
	}
	return true
}

func (lp *eventLoop) open() error {
	var err error
	if lp.epfd, err = unix.EpollCreate1(unix.EPOLL_CLOEXEC); err != nil {
		return err
	}
	if lp.wakefd, err = unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC); err != nil {
		return err
	}
	if err := unix.EpollCtl(lp.epfd, unix.EPOLL_CTL_ADD, lp.wakefd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(lp.wakefd)}); err != nil {
		return err
	}
	if lp.lfd < 0 {
		return nil
	}
	return unix.EpollCtl(lp.epfd, unix.EPOLL_CTL_ADD, lp.lfd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(lp.lfd)})
}

// give hands an accepted connection to the loop; false once the loop has
// exited (the caller closes it).
func (lp *eventLoop) give(h handed) bool {
	lp.inboxMu.Lock()
	defer lp.inboxMu.Unlock()
	if lp.exited {
		return false
	}
	lp.inbox = append(lp.inbox, h)
	lp.wake()
	return true
}

// takeInbox adopts the connections other loops handed over.
func (lp *eventLoop) takeInbox() {
	lp.inboxMu.Lock()
	in := lp.inbox
	lp.inbox = nil
	lp.inboxMu.Unlock()
	for _, h := range in {
		lp.adopt(h.fd, h.ip)
	}
}

// closeFDs closes the loop's own descriptors but the eventfd, which stop
// may still write to; stop closes it once the loop is done.
func (lp *eventLoop) closeFDs() {
	for _, fd := range []*int{&lp.lfd, &lp.epfd} {
		if *fd >= 0 {
			_ = unix.Close(*fd)
			*fd = -1
		}
	}
}

// stop makes the loop stop accepting, close idle connections and close
// the others once their exchange is done; it returns when every client
// connection is gone or, once ctx ends, after closing them.
func (lp *eventLoop) stop(ctx context.Context) error {
	defer unix.Close(lp.wakefd)
	lp.stopping.Store(true)
	lp.wake()
	select {
	case <-lp.done:
		return nil
	case <-ctx.Done():
		lp.killing.Store(true)
		lp.wake()
		<-lp.done
		return ctx.Err()
	}
}

func (lp *eventLoop) wake() {
	var one = [8]byte{1}
	_, _ = unix.Write(lp.wakefd, one[:])
}

func (lp *eventLoop) run() {
	defer close(lp.done)
	defer lp.closeAll()
	defer func() {
		lp.inboxMu.Lock()
		lp.exited = true
		for _, h := range lp.inbox {
			_ = unix.Close(h.fd)
		}
		lp.inbox = nil
		lp.inboxMu.Unlock()
	}()
	for {
		timeout := -1
		if len(lp.clients) > 0 || len(lp.ups) > 0 || lp.acceptOff {
			timeout = int(loopTick / time.Millisecond)
		}
		n, err := unix.EpollWait(lp.epfd, lp.events, timeout)
		if err != nil && !errors.Is(err, unix.EINTR) {
			lp.p.log.Error("event loop failed", "listen", lp.l.ln.Addr().String(), "err", err)
			return
		}
		lp.now = time.Now().UnixNano()
		for i := range n {
			fd := int(lp.events[i].Fd)
			switch {
			case fd == lp.lfd:
				lp.accept()
			case fd == lp.wakefd:
				var buf [8]byte
				_, _ = unix.Read(lp.wakefd, buf[:])
				lp.takeInbox()
			case fd < len(lp.socks) && lp.socks[fd] != nil:
				lp.socks[fd].event(lp.events[i].Events)
			}
		}
		if lp.killing.Load() {
			return
		}
		if lp.stopping.Load() {
			lp.drain()
			if len(lp.clients) == 0 {
				return
			}
		}
		if lp.now >= lp.nextScan {
			lp.scan()
			lp.nextScan = lp.now + int64(loopTick)
		}
	}
}

// drain stops accepting and closes the client connections that are
// between requests.
func (lp *eventLoop) drain() {
	if lp.lfd >= 0 {
		_ = unix.Close(lp.lfd)
		lp.lfd = -1
	}
	for i := len(lp.clients) - 1; i >= 0; i-- {
		if c := lp.clients[i]; c.state == clientReadHead && c.r == c.w && len(c.out) == 0 {
			c.close()
		}
	}
}

func (lp *eventLoop) closeAll() {
	for len(lp.clients) > 0 {
		lp.clients[len(lp.clients)-1].abort()
	}
	for len(lp.ups) > 0 {
		lp.ups[len(lp.ups)-1].close()
	}
	lp.closeFDs()
}

// scan enforces deadlines: idle client connections, requests without a
// response head by the route's timeout, connection attempts, idle
// upstream connections.
func (lp *eventLoop) scan() {
	if lp.acceptOff && lp.lfd >= 0 && !lp.stopping.Load() {
		if unix.EpollCtl(lp.epfd, unix.EPOLL_CTL_ADD, lp.lfd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(lp.lfd)}) == nil {
			lp.acceptOff = false
		}
	}
	for i := len(lp.clients) - 1; i >= 0; i-- {
		if i >= len(lp.clients) {
			continue // several went at once
		}
		if c := lp.clients[i]; lp.now > c.deadline {
			c.timedOut()
		}
	}
	for i := len(lp.ups) - 1; i >= 0; i-- {
		if i >= len(lp.ups) {
			continue
		}
		switch u := lp.ups[i]; {
		case u.state == upIdle && lp.now-u.since > int64(defaultIdleTimeout):
			u.close()
		case u.state == upConnecting && lp.now-u.since > int64(dialTimeout):
			u.connectFailed(unix.ETIMEDOUT)
		}
	}
}

func (lp *eventLoop) register(fd int, s pollable) error {
	if err := unix.EpollCtl(lp.epfd, unix.EPOLL_CTL_ADD, fd, &unix.EpollEvent{
		Events: unix.EPOLLIN | unix.EPOLLOUT | unix.EPOLLRDHUP | unix.EPOLLET, Fd: int32(fd),
	}); err != nil {
		return err
	}
	for fd >= len(lp.socks) {
		lp.socks = append(lp.socks, nil)
	}
	lp.socks[fd] = s
	return nil
}

func (lp *eventLoop) accept() {
	for lp.lfd >= 0 {
		fd, sa, err := unix.Accept4(lp.lfd, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
		switch {
		case err == nil:
		case errors.Is(err, unix.EAGAIN):
			return
		case errors.Is(err, unix.EINTR), errors.Is(err, unix.ECONNABORTED):
			continue
		default:
			// Out of descriptors and the like: pause accepting until
			// the next scan rather than spin.
			lp.p.log.Warn("accept failed", "listen", lp.l.ln.Addr().String(), "err", err)
			if unix.EpollCtl(lp.epfd, unix.EPOLL_CTL_DEL, lp.lfd, nil) == nil {
				lp.acceptOff = true
			}
			return
		}
		_ = unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
		ip := appendSockaddrIP(nil, sa)
		to := lp.peers[lp.next%len(lp.peers)]
		lp.next++
		if to == lp {
			lp.adopt(fd, ip)
		} else if !to.give(handed{fd: fd, ip: ip}) {
			_ = unix.Close(fd)
		}
	}
}

// adopt serves an accepted connection.
func (lp *eventLoop) adopt(fd int, ip []byte) {
	lp.adopted.Add(1)
	c := &loopClient{lp: lp, fd: fd, ip: ip, in: make([]byte, clientBuffer), first: true}
	c.deadline = lp.now + int64(lp.l.idle)
	if err := lp.register(fd, c); err != nil {
		_ = unix.Close(fd)
		return
	}
	c.idx = len(lp.clients)
	lp.clients = append(lp.clients, c)
	// Data may have arrived before the registration.
	c.process()
}

func appendSockaddrIP(b []byte, sa unix.Sockaddr) []byte {
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return netip.AddrFrom4(a.Addr).AppendTo(b)
	case *unix.SockaddrInet6:
		return netip.AddrFrom16(a.Addr).Unmap().AppendTo(b)
	}
	return b
}

// write writes b to fd and returns how much the kernel took; EAGAIN is
// not an error.
func write(fd int, b []byte) (int, error) {
	for {
		n, err := unix.Write(fd, b)
		switch {
		case err == nil:
			return n, nil
		case errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.EAGAIN):
			return 0, nil
		}
		return 0, err
	}
}

// read reads into b; n == 0 with a nil error means EAGAIN, io.EOF the
// peer's end of stream.
func read(fd int, b []byte) (int, error) {
	for {
		n, err := unix.Read(fd, b)
		switch {
		case err == nil && n == 0:
			return 0, errEOF
		case err == nil:
			return n, nil
		case errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.EAGAIN):
			return 0, nil
		}
		return 0, err
	}
}

var errEOF = errors.New("connection closed by peer")
