// go-transport-per-request: a Go client that builds a new http.Transport and http.Client
// for every request. It reads each body to EOF and closes it, so the connection goes back
// to the idle pool -- of a Transport that is never used again. Every GET dials a new TCP
// connection and the earlier ones stay open and idle (the pools never close them) until
// the process exits.
//
//	go run go-transport-per-request.go server 127.0.0.1:18203
//	go run go-transport-per-request.go client 127.0.0.1:18203
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
		log.Fatal("usage: go-transport-per-request server|client ADDR")
	}
	mode, addr := os.Args[1], os.Args[2]
	switch mode {
	case "server":
		body := bytes.Repeat([]byte("keepalive-analyzer go-transport-per-request body.\n"), 11)[:544]
		http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
			log.Printf("%s %s from %s", r.Method, r.URL.Path, r.RemoteAddr)
			w.Header().Set("Content-Type", "text/plain")
			w.Header().Set("Content-Length", strconv.Itoa(len(body)))
			w.Write(body)
		})
		log.Fatal(http.ListenAndServe(addr, nil))
	case "client":
		for i := 1; i <= 10; i++ {
			// BUG (on purpose): a new Transport (= a new connection pool) per request.
			tr := &http.Transport{}
			client := &http.Client{Transport: tr}
			resp, err := client.Get(fmt.Sprintf("http://%s/item/%d", addr, i))
			if err != nil {
				log.Fatal(err)
			}
			n, _ := io.Copy(io.Discard, resp.Body) // read to EOF ...
			resp.Body.Close()                      // ... and close: back to tr's idle pool
			log.Printf("GET /item/%d -> %s, %d bytes", i, resp.Status, n)
			time.Sleep(50 * time.Millisecond)
		}
		time.Sleep(500 * time.Millisecond)
		// exit: the kernel closes the idle sockets of the 10 abandoned Transports
	default:
		log.Fatal("mode must be server or client")
	}
}
