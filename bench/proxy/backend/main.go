// Command backend is the benchmark's upstream: an HTTP/1.1 server that
// answers every request with the same 300-byte JSON body, fast enough that
// the proxy in front of it is what gets measured.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"

	"github.com/valyala/fasthttp"
)

func main() {
	addr := flag.String("listen", "127.0.0.1:18081", "address to listen on")
	name := flag.String("name", "primary", "name put in the body")
	flag.Parse()
	body := fmt.Appendf(nil, `{"hostname":"podinfo-%s","version":"6.0.0","message":"greetings from podinfo","color":"#34577c"`, *name)
	// Pad to 300 bytes with a field the client ignores.
	pad := 300 - len(body) - len(`,"pad":""}`)
	body = append(body, `,"pad":"`...)
	body = append(body, bytes.Repeat([]byte("x"), max(pad, 0))...)
	body = append(body, `"}`...)
	srv := &fasthttp.Server{
		Handler: func(ctx *fasthttp.RequestCtx) {
			ctx.SetContentType("application/json")
			ctx.SetBody(body)
		},
		NoDefaultServerHeader: true,
	}
	if err := srv.ListenAndServe(*addr); err != nil {
		fmt.Fprintln(os.Stderr, "backend:", err)
		os.Exit(1)
	}
}
