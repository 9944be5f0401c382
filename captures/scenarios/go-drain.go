// go-drain: Go net/http client and server on loopback; the client reads every
// response body to EOF and closes it, so the Transport reuses one connection.
//
//	go run go-drain.go server 127.0.0.1:18101
//	go run go-drain.go client 127.0.0.1:18101
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
		log.Fatal("usage: go-drain server|client ADDR")
	}
	mode, addr := os.Args[1], os.Args[2]
	switch mode {
	case "server":
		body := bytes.Repeat([]byte("keepalive-analyzer go-drain body.\n"), 16) // 544 B
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
			n, _ := io.Copy(io.Discard, resp.Body) // read to EOF ...
			resp.Body.Close()                      // ... and close: the connection goes back to the pool
			log.Printf("GET /item/%d -> %s, %d bytes", i, resp.Status, n)
			time.Sleep(50 * time.Millisecond)
		}
		client.CloseIdleConnections()
	default:
		log.Fatal("mode must be server or client")
	}
}
