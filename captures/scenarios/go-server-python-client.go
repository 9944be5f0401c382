// go-server-python-client: the server half, a Go net/http server (standard library only)
// answering every GET with a 544-byte text body and Content-Length; net/http sends no
// Server header. The client is go-server-python-client.py (python requests).
//
//	go run go-server-python-client.go 127.0.0.1:18231
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
		log.Fatal("usage: go-server-python-client ADDR")
	}
	body := bytes.Repeat([]byte("keepalive-analyzer go-server body..\n"), 16)[:544]
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		log.Printf("%s %s from %s (%s)", r.Method, r.URL.Path, r.RemoteAddr, r.UserAgent())
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.Write(body)
	})
	log.Fatal(http.ListenAndServe(os.Args[1], nil))
}
