// go-idle-timeout: a normal keep-alive Go net/http server (IdleTimeout 60 s) and a Go
// client whose http.Transport has IdleConnTimeout = 1 s. The client reads every body to
// EOF and closes it (the connection goes back to the pool), then pauses 2 s: the pool
// closes the idle connection after ~1 s (client FIN), so every GET needs a new connection.
// The client also waits 2 s after the last GET, so the last connection is closed by the
// idle timeout too.
//
//	go run go-idle-timeout.go server 127.0.0.1:18124
//	go run go-idle-timeout.go client 127.0.0.1:18124
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
		log.Fatal("usage: go-idle-timeout server|client ADDR")
	}
	mode, addr := os.Args[1], os.Args[2]
	switch mode {
	case "server":
		body := bytes.Repeat([]byte("keepalive-analyzer go-idle-timeout body\n"), 10) // 400 B
		mux := http.NewServeMux()
		mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
			log.Printf("%s %s from %s", r.Method, r.URL.Path, r.RemoteAddr)
			w.Header().Set("Content-Type", "text/plain")
			w.Header().Set("Content-Length", strconv.Itoa(len(body)))
			w.Write(body)
		})
		srv := &http.Server{Addr: addr, Handler: mux, IdleTimeout: 60 * time.Second}
		log.Fatal(srv.ListenAndServe())
	case "client":
		tr := &http.Transport{IdleConnTimeout: 1 * time.Second}
		client := &http.Client{Transport: tr}
		for i := 1; i <= 4; i++ {
			resp, err := client.Get(fmt.Sprintf("http://%s/item/%d", addr, i))
			if err != nil {
				log.Fatal(err)
			}
			n, _ := io.Copy(io.Discard, resp.Body) // read to EOF ...
			resp.Body.Close()                      // ... and close: back to the idle pool
			log.Printf("GET /item/%d -> %s, %d bytes", i, resp.Status, n)
			time.Sleep(2 * time.Second) // longer than IdleConnTimeout
		}
		client.CloseIdleConnections()
	default:
		log.Fatal("mode must be server or client")
	}
}
