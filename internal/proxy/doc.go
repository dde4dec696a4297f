// Package proxy is serin's L7 data plane: an HTTP reverse proxy that splits
// each route's requests between backends by weight and records golden
// metrics for every backend in a telemetry.Store.
//
// A Proxy serves a Config of Routes. Each route listens on an address and
// forwards every request to one backend, chosen in this order:
//
//  1. the backend of the first Match rule the request meets (A/B testing on
//     header and cookie values: exact, prefix or regex);
//  2. with Sticky set, the backend named by the request's sticky cookie, as
//     long as its weight is not 0; a request without one gets the cookie of
//     the backend it lands on;
//  3. otherwise a weighted random choice per request, Linkerd's semantics.
//
// A Mirror sends a copy of a share of the requests to another backend from
// a bounded queue: the copy is dropped rather than delaying the request,
// and its response is discarded (its metrics are recorded).
//
// Within a backend, requests go to the less busy of two random endpoints
// (or round robin); an endpoint that refuses a connection is skipped for a
// while, doubling with each refusal, and the request moves to another
// endpoint of the same backend.
//
// On Linux HTTP/1.1 is served by the proxy's event loops (eventLoop,
// GOMAXPROCS of them by default, shared by all listeners): each one
// goroutine with non-blocking sockets, edge-triggered epoll and its own
// pools of keep-alive connections to the endpoints. Each registration
// tags its events with a generation, so that an event of a batch for a
// socket closed earlier in the batch never reaches a new socket that got
// its descriptor; a connection attempt counts as connected once it has a
// peer, not on any EPOLLOUT. Each listener's socket
// is watched by one loop, which deals its connections out to all loops in
// turn.
// Bytes pass from one socket's buffer to the other with only the head
// rewritten (h1.go parses and rewrites heads without allocating), bodies
// of any framing stream with back-pressure, and deadlines are checked a
// few times a second rather than kept as timers. What the loop does not
// serve itself it hands over, with the bytes read so far: protocol
// upgrades, mirrored requests whose body comes after the head and routes
// that name endpoints by host name go to a fasthttp server (elsewhere
// than Linux, or with Options.DisableEventLoop, that server takes every
// HTTP/1.x connection),
// and connections opening with the HTTP/2 preface (h2c, prior knowledge;
// gRPC) to net/http. Protocol upgrades (WebSocket) are piped through on a
// connection of their own. X-Forwarded-For and X-Forwarded-Proto are set
// and hop-by-hop headers removed. Transport errors answer 502 and
// timeouts 504, and count as failures in the metrics, as in Linkerd.
//
// A client must send a request head within the route's HeaderTimeout of
// its first byte, on both engines, and an upgraded connection quiet both
// ways for its TunnelIdleTimeout is closed; half-closes pass through a
// tunnel both ways. At the descriptor limit the proxy pauses accepting,
// for longer each time up to a second, and logs so once a second.
//
// AdminHandler serves the admin API of the standalone proxy; every write
// needs its bearer token. ParseFile reads the file `serin proxy --config`
// and PUT /routes take, with every problem's field path.
//
// Apply swaps the configuration atomically: a request reads its route once,
// so it finishes on the backend it chose while later requests see the new
// weights; listeners start and stop as routes come and go, and an invalid
// configuration is rejected whole with every problem listed. Shutdown
// drains. Randomness is injected through Options, so tests are
// deterministic.
package proxy
