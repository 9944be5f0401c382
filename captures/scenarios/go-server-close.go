// go-server-close: a Go net/http server with keep-alives disabled
// (srv.SetKeepAlivesEnabled(false)): every response carries "Connection: close" and the
// server closes the connection after it. The client is the well-behaved go-drain client.
//
//	go run go-server-close.go server 127.0.0.1:18103
//	go run go-server-close.go client 127.0.0.1:18103
package main

import (
	"bytes"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"strconv"
	"time"
)

func main() {
	if len(os.Args) != 3 {
		log.Fatal("usage: go-server-close server|client ADDR")
	}
	mode, addr := os.Args[1], os.Args[2]
	switch mode {
	case "server":
		body := bytes.Repeat([]byte("keepalive-analyzer go-server-close body\n"), 10) // 400 B
		mux := http.NewServeMux()
		mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
			log.Printf("%s %s from %s", r.Method, r.URL.Path, r.RemoteAddr)
			w.Header().Set("Content-Type", "text/plain")
			w.Header().Set("Content-Length", strconv.Itoa(len(body)))
			w.Write(body)
		})
		srv := &http.Server{Addr: addr, Handler: mux}
		srv.SetKeepAlivesEnabled(false)
		log.Fatal(srv.ListenAndServe())
	case "client":
		client := &http.Client{}
		for i := 1; i <= 5; i++ {
			resp, err := client.Get(fmt.Sprintf("http://%s/item/%d", addr, i))
			if err != nil {
				log.Fatal(err)
			}
			n, _ := io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			log.Printf("GET /item/%d -> %s, %d bytes, Connection: %q", i, resp.Status, n, resp.Header.Get("Connection"))
			time.Sleep(50 * time.Millisecond)
		}
		client.CloseIdleConnections()
	default:
		log.Fatal("mode must be server or client")
	}
}
