// go-leak: the SEED story. Same Go client as go-drain, but it never reads nor closes
// resp.Body, so the Transport can never put the connection back in its idle pool: every
// request dials a new TCP connection, and the old ones stay open (and idle) until the
// process exits.
//
//	go run go-leak.go server 127.0.0.1:18102
//	go run go-leak.go client 127.0.0.1:18102
package main

import (
	"bytes"
	"fmt"
	"log"
	"net/http"
	"os"
	"strconv"
	"time"
)

func main() {
	if len(os.Args) != 3 {
		log.Fatal("usage: go-leak server|client ADDR")
	}
	mode, addr := os.Args[1], os.Args[2]
	switch mode {
	case "server":
		// 5000 B: larger than the client's 4 KiB read buffer, so part of each body is
		// still unread in the client's socket when the process exits.
		body := bytes.Repeat([]byte("keepalive-analyzer go-leak body!\n"), 152)[:5000]
		http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
			log.Printf("%s %s from %s", r.Method, r.URL.Path, r.RemoteAddr)
			w.Header().Set("Content-Type", "text/plain")
			w.Header().Set("Content-Length", strconv.Itoa(len(body)))
			w.Write(body)
		})
		log.Fatal(http.ListenAndServe(addr, nil))
	case "client":
		client := &http.Client{}
		for i := 1; i <= 10; i++ {
			resp, err := client.Get(fmt.Sprintf("http://%s/item/%d", addr, i))
			if err != nil {
				log.Fatal(err)
			}
			// BUG (on purpose): resp.Body is never read nor closed.
			log.Printf("GET /item/%d -> %s", i, resp.Status)
			time.Sleep(50 * time.Millisecond)
		}
		time.Sleep(500 * time.Millisecond)
		// exit: the kernel closes the leaked sockets
	default:
		log.Fatal("mode must be server or client")
	}
}
