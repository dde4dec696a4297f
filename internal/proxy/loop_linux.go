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

// eventLoop serves HTTP/1.1 connections on one goroutine: non-blocking
// sockets, edge-triggered epoll, no goroutine per connection and no timer
// per request. A Proxy runs Options.EventLoops of them, shared by all its
// listeners: each listener's socket is watched by one loop, which accepts
// and deals the connections out to all loops in turn, and a connection
// stays with its loop. A request's bytes go from the client's buffer to
// the upstream socket with only the head rewritten, and the response's
// bytes back the same way, so a small exchange costs two reads and two
// writes. What a loop does not serve itself it hands over to the fasthttp
// and net/http servers of the listener, with the bytes read so far:
// connections opening with the HTTP/2 preface, protocol upgrades,
// mirrored requests whose body is not all there with the head (the copy
// needs the whole request), and routes with endpoints named by a host
// name (resolving would block the loop). An HTTP/1.0 request goes
// upstream as HTTP/1.0, so that its response comes framed for an
// HTTP/1.0 client.
type eventLoop struct {
	p      *Proxy
	epfd   int
	wakefd int // an eventfd that wakes the loop for its tasks

	socks   []sock // by file descriptor
	gen     int32  // the last generation given to a registered socket
	clients []*loopClient
	ups     []*loopUpstream
	idle    map[*endpoint][]*loopUpstream
	watched map[*listener]*loopListener
	paused  []*loopListener // accepting paused after running out of descriptors
	peers   []*eventLoop    // the proxy's loops, this one among them
	next    int             // the peer the next accepted connection goes to

	now      int64 // unix nanoseconds, read once per wake-up
	nextScan int64
	events   []unix.EpollEvent
	wbuf     []byte // assembles what one write sends
	cookie   []byte // scratch for a sticky cookie

	// Other goroutines give the loop work as tasks: connections to adopt,
	// listeners to watch, drain or drop, and the order to exit.
	tasksMu sync.Mutex
	tasks   []func()
	exited  bool // set under tasksMu once the loop takes no more tasks
	exit    bool
	done    chan struct{}
	adopted atomic.Int64 // connections served, for tests
}

// pollable is a socket registered with the loop's epoll.
type pollable interface{ event(ev uint32) }

// sock is what the loop knows of a descriptor: the socket it is and the
// generation its events carry (in the epoll data beside the descriptor).
// A batch of events can hold one for a socket that an earlier event of
// the same batch closed, after which a new socket may have got its
// descriptor (the lowest free one): the generation tells the stale event
// from the new socket's and it is dropped.
type sock struct {
	p   pollable
	gen int32
}

// loopListener is a listener's socket as its accepting loop watches it.
type loopListener struct {
	lp *eventLoop
	l  *listener
	fd int // a duplicate of the listener's socket; -1 once closed

	backoff time.Duration // how long accepting pauses after a failure
	resume  int64         // when a paused listener accepts again (unix ns)
}

func (s *loopListener) event(uint32) { s.lp.accept(s) }

// startLoops has the proxy's event loops serve the listener; false when
// they cannot (the listener is not a TCP socket, or the system refused a
// resource), and the caller falls back to accepting with goroutines. The
// caller holds p.mu.
func (l *listener) startLoops() bool {
	p := l.p
	tl, ok := l.ln.(*net.TCPListener)
	if !ok || p.eventLoops == 0 {
		return false
	}
	if err := p.startEventLoops(); err != nil {
		p.log.Warn("event loops unavailable, serving with goroutines", "listen", l.ln.Addr().String(), "err", err)
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
	loops := p.loopsOf()
	lp := loops[p.nextAcceptor%len(loops)]
	p.nextAcceptor++
	l.onLoops = true
	l.drained = make(chan struct{})
	ll := &loopListener{lp: lp, l: l, fd: lfd}
	if !lp.post(func() { lp.watch(ll) }) {
		_ = unix.Close(lfd)
		return false
	}
	return true
}

// startEventLoops starts the proxy's loops unless they run. The caller
// holds p.mu.
func (p *Proxy) startEventLoops() error {
	if len(p.loopsOf()) > 0 {
		return nil
	}
	loops := make([]*eventLoop, p.eventLoops)
	for i := range loops {
		lp := &eventLoop{p: p, epfd: -1, wakefd: -1, peers: loops,
			idle:    map[*endpoint][]*loopUpstream{},
			watched: map[*listener]*loopListener{},
			events:  make([]unix.EpollEvent, 256),
			done:    make(chan struct{}),
		}
		if err := lp.open(); err != nil {
			for _, lp := range append(loops[:i], lp) {
				lp.closeFDs()
				if lp.wakefd >= 0 {
					_ = unix.Close(lp.wakefd)
				}
			}
			return err
		}
		loops[i] = lp
	}
	p.loopsMu.Lock()
	p.loops = loops
	p.loopsMu.Unlock()
	for _, lp := range loops {
		go lp.run()
	}
	return nil
}

// stopEventLoops ends the proxy's loops once no listener uses them.
func (p *Proxy) stopEventLoops() {
	p.loopsMu.Lock()
	loops := p.loops
	p.loops = nil
	p.loopsMu.Unlock()
	for _, lp := range loops {
		if lp.post(func() { lp.exit = true }) {
			<-lp.done
		}
		_ = unix.Close(lp.wakefd)
	}
}

func (lp *eventLoop) open() error {
	var err error
	if lp.epfd, err = unix.EpollCreate1(unix.EPOLL_CLOEXEC); err != nil {
		return err
	}
	if lp.wakefd, err = unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC); err != nil {
		return err
	}
	return unix.EpollCtl(lp.epfd, unix.EPOLL_CTL_ADD, lp.wakefd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(lp.wakefd)})
}

// closeFDs closes the loop's descriptors but the eventfd, which post may
// still write to; stopEventLoops closes it once the loop is done.
func (lp *eventLoop) closeFDs() {
	if lp.epfd >= 0 {
		_ = unix.Close(lp.epfd)
		lp.epfd = -1
	}
}

// post gives the loop a task; false once the loop has exited.
func (lp *eventLoop) post(task func()) bool {
	lp.tasksMu.Lock()
	defer lp.tasksMu.Unlock()
	if lp.exited {
		return false
	}
	lp.tasks = append(lp.tasks, task)
	var one = [8]byte{1}
	_, _ = unix.Write(lp.wakefd, one[:])
	return true
}

func (lp *eventLoop) runTasks() {
	var buf [8]byte
	_, _ = unix.Read(lp.wakefd, buf[:])
	lp.tasksMu.Lock()
	tasks := lp.tasks
	lp.tasks = nil
	lp.tasksMu.Unlock()
	for _, task := range tasks {
		task()
	}
}

func (lp *eventLoop) run() {
	defer close(lp.done)
	defer lp.closeAll()
	defer func() {
		lp.exit = true
		lp.tasksMu.Lock()
		lp.exited = true
		tasks := lp.tasks
		lp.tasks = nil
		lp.tasksMu.Unlock()
		for _, task := range tasks {
			task() // adoptions close their connections: the loop is exiting
		}
	}()
	for !lp.exit {
		timeout := -1
		if len(lp.clients) > 0 || len(lp.ups) > 0 || len(lp.paused) > 0 {
			timeout = int(loopTick / time.Millisecond)
		}
		n, err := unix.EpollWait(lp.epfd, lp.events, timeout)
		if err != nil && !errors.Is(err, unix.EINTR) {
			lp.p.log.Error("event loop failed", "err", err)
			return
		}
		lp.now = time.Now().UnixNano()
		lp.dispatch(n)
		if lp.now >= lp.nextScan {
			lp.scan()
			lp.nextScan = lp.now + int64(loopTick)
		}
	}
}

// dispatch hands the first n events of lp.events to their sockets.
func (lp *eventLoop) dispatch(n int) {
	for i := range n {
		fd := int(lp.events[i].Fd)
		switch {
		case fd == lp.wakefd:
			lp.runTasks()
		case fd < len(lp.socks) && lp.socks[fd].p != nil && lp.socks[fd].gen == lp.events[i].Pad:
			lp.socks[fd].p.event(lp.events[i].Events)
		}
	}
}

// watch starts accepting on a listener's socket.
func (lp *eventLoop) watch(ll *loopListener) {
	if lp.exit || ll.l.draining.Load() {
		_ = unix.Close(ll.fd)
		ll.l.acceptDone()
		return
	}
	if err := lp.register(ll.fd, ll, unix.EPOLLIN); err != nil {
		lp.p.log.Error("listener not watched", "listen", ll.l.ln.Addr().String(), "err", err)
		_ = unix.Close(ll.fd)
		ll.l.acceptDone()
		return
	}
	lp.watched[ll.l] = ll
}

// drain stops accepting for l (on its accepting loop) and closes l's
// client connections that are between requests; the others close after
// their exchange.
func (lp *eventLoop) drain(l *listener) {
	if ll := lp.watched[l]; ll != nil {
		lp.unwatch(ll)
		l.acceptDone()
	}
	lp.forClients(l, func(c *loopClient) {
		if c.state == clientReadHead && c.r == c.w && len(c.out) == 0 {
			c.close()
		}
	})
}

// kill closes l's client connections, exchanges and all.
func (lp *eventLoop) kill(l *listener) {
	lp.forClients(l, (*loopClient).abort)
}

// forClients calls f for each of l's client connections on the loop; f
// may close them.
func (lp *eventLoop) forClients(l *listener, f func(*loopClient)) {
	for i := len(lp.clients) - 1; i >= 0; i-- {
		if i >= len(lp.clients) {
			continue // f closed more than one
		}
		if c := lp.clients[i]; c.l == l {
			f(c)
		}
	}
}

func (lp *eventLoop) unwatch(ll *loopListener) {
	if ll.fd < 0 {
		return
	}
	delete(lp.watched, ll.l)
	lp.socks[ll.fd] = sock{}
	_ = unix.Close(ll.fd)
	ll.fd = -1
	for i, p := range lp.paused {
		if p == ll {
			lp.paused = append(lp.paused[:i], lp.paused[i+1:]...)
			break
		}
	}
}

// stopLoops drains the listener from the proxy's loops: it returns when
// none of them serves a connection of l any more or, once ctx ends, after
// closing those that remain.
func (l *listener) stopLoops(ctx context.Context) error {
	l.draining.Store(true)
	loops := l.p.loopsOf()
	for _, lp := range loops {
		// A loop that has exited closed its sockets and connections.
		lp.post(func() { lp.drain(l) })
	}
	l.checkDrained() // in case all was done before draining was set
	select {
	case <-l.drained:
		return nil
	case <-ctx.Done():
		for _, lp := range loops {
			lp.post(func() { lp.kill(l) })
		}
		<-l.drained
		return ctx.Err()
	}
}

// loopsOf returns the running loops.
func (p *Proxy) loopsOf() []*eventLoop {
	p.loopsMu.Lock()
	defer p.loopsMu.Unlock()
	return p.loops
}

// acceptDone records that l's socket is closed; connDone that one of its
// connections is gone. drained closes once both are so while draining.
func (l *listener) acceptDone() {
	l.acceptClosed.Store(true)
	l.checkDrained()
}

func (l *listener) connDone() {
	l.loopConns.Add(-1)
	l.checkDrained()
}

func (l *listener) checkDrained() {
	if l.draining.Load() && l.acceptClosed.Load() && l.loopConns.Load() == 0 {
		l.drainOnce.Do(func() { close(l.drained) })
	}
}

func (lp *eventLoop) closeAll() {
	for len(lp.clients) > 0 {
		lp.clients[len(lp.clients)-1].abort()
	}
	for len(lp.ups) > 0 {
		lp.ups[len(lp.ups)-1].close()
	}
	for _, ll := range lp.watched {
		lp.unwatch(ll)
		ll.l.acceptDone()
	}
	lp.closeFDs()
}

// scan enforces deadlines: idle client connections, requests without a
// response head by the route's timeout, connection attempts, idle
// upstream connections.
func (lp *eventLoop) scan() {
	for i := len(lp.paused) - 1; i >= 0; i-- {
		ll := lp.paused[i]
		if lp.now >= ll.resume && unix.EpollCtl(lp.epfd, unix.EPOLL_CTL_ADD, ll.fd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(ll.fd), Pad: lp.socks[ll.fd].gen}) == nil {
			lp.paused = append(lp.paused[:i], lp.paused[i+1:]...)
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

// register adds fd to the loop's epoll for events (edge-triggered
// reading and writing for connections), under a new generation.
func (lp *eventLoop) register(fd int, s pollable, events uint32) error {
	lp.gen++
	if err := unix.EpollCtl(lp.epfd, unix.EPOLL_CTL_ADD, fd, &unix.EpollEvent{Events: events, Fd: int32(fd), Pad: lp.gen}); err != nil {
		return err
	}
	for fd >= len(lp.socks) {
		lp.socks = append(lp.socks, sock{})
	}
	lp.socks[fd] = sock{p: s, gen: lp.gen}
	return nil
}

// connEvents are the events a connection is registered for.
const connEvents = unix.EPOLLIN | unix.EPOLLOUT | unix.EPOLLRDHUP | unix.EPOLLET

// accept accepts what waits on a listener's socket and deals the
// connections out to the proxy's loops in turn.
func (lp *eventLoop) accept(ll *loopListener) {
	loops := lp.peers
	for ll.fd >= 0 {
		fd, sa, err := unix.Accept4(ll.fd, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
		switch {
		case err == nil:
		case errors.Is(err, unix.EAGAIN):
			return
		case errors.Is(err, unix.EINTR), errors.Is(err, unix.ECONNABORTED):
			continue
		default:
			// Out of descriptors and the like: pause accepting, for
			// longer each time in a row (up to a second), rather than
			// spin; the connections there are go on being served.
			ll.l.acceptFailed(lp.now, err)
			ll.backoff = min(max(2*ll.backoff, loopTick), time.Second)
			ll.resume = lp.now + int64(ll.backoff)
			if unix.EpollCtl(lp.epfd, unix.EPOLL_CTL_DEL, ll.fd, nil) == nil {
				lp.paused = append(lp.paused, ll)
			}
			return
		}
		ll.backoff = 0
		_ = unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
		ip := appendSockaddrIP(nil, sa)
		l := ll.l
		l.loopConns.Add(1) // counted from here, so that draining waits for it
		to := loops[lp.next%len(loops)]
		lp.next++
		if to == lp {
			lp.adopt(l, fd, ip)
		} else if !to.post(func() { to.adopt(l, fd, ip) }) {
			_ = unix.Close(fd)
			l.connDone()
		}
	}
}

// adopt serves an accepted connection of l, counted in l.loopConns.
func (lp *eventLoop) adopt(l *listener, fd int, ip []byte) {
	if lp.exit || l.draining.Load() {
		_ = unix.Close(fd)
		l.connDone()
		return
	}
	lp.adopted.Add(1)
	c := &loopClient{lp: lp, l: l, fd: fd, ip: ip, in: make([]byte, clientBuffer), first: true}
	c.deadline = lp.now + int64(l.idle)
	if err := lp.register(fd, c, connEvents); err != nil {
		_ = unix.Close(fd)
		l.connDone()
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

// read reads into b; n == 0 with a nil error means EAGAIN, errEOF the
// peer's end of stream.
func read(fd int, b []byte) (int, error) {
	if len(b) == 0 {
		return 0, errNoRoom // a read of nothing would look like the end
	}
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

var (
	errEOF    = errors.New("connection closed by peer")
	errNoRoom = errors.New("read buffer full")
)
