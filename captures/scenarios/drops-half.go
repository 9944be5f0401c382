// drops-half: a reused keep-alive run recorded in full, from which the recipe keeps only
// every other packet (as if tcpdump had dropped half of them). One shared http.Client
// makes 20 GETs 50 ms apart, reading each ~20 KB body to EOF and closing it, so one TCP
// connection carries all 20. The server writes each body in 2000-byte pieces, flushing
// after each, so every response spans several TCP segments (on loopback a single 20 KB
// write would travel as one segment).
//
//	go run drops-half.go server 127.0.0.1:18210
//	go run drops-half.go client 127.0.0.1:18210
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
		log.Fatal("usage: drops-half server|client ADDR")
	}
	mode, addr := os.Args[1], os.Args[2]
	switch mode {
	case "server":
		body := bytes.Repeat([]byte("keepalive-analyzer drops-half body.\n"), 556)[:20000]
		http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
			log.Printf("%s %s from %s", r.Method, r.URL.Path, r.RemoteAddr)
			w.Header().Set("Content-Type", "text/plain")
			w.Header().Set("Content-Length", strconv.Itoa(len(body)))
			for off := 0; off < len(body); off += 2000 {
				w.Write(body[off : off+2000])
				w.(http.Flusher).Flush()
			}
		})
		log.Fatal(http.ListenAndServe(addr, nil))
	case "client":
		client := &http.Client{}
		for i := 1; i <= 20; i++ {
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
