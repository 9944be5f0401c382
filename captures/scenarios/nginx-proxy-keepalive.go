// nginx-proxy-keepalive: the upstream behind nginx (same as nginx-proxy.go) -- a plain Go
// net/http server (default settings, keep-alive on) answering every GET with a small text
// body. Logs the protocol and the Connection header nginx sent.
//
//	go run nginx-proxy-keepalive.go 127.0.0.1:18207
package main

import (
	"bytes"
	"log"
	"net/http"
	"os"
	"strconv"
)

func main() {
	if len(os.Args) != 2 {
		log.Fatal("usage: nginx-proxy-keepalive ADDR")
	}
	body := bytes.Repeat([]byte("keepalive-analyzer nginx-proxy-keepalive upstream body.\n"), 12)[:544]
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		log.Printf("%s %s %s Connection=%q from %s", r.Method, r.URL.Path, r.Proto,
			r.Header.Get("Connection"), r.RemoteAddr)
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.Write(body)
	})
	log.Fatal(http.ListenAndServe(os.Args[1], nil))
}
