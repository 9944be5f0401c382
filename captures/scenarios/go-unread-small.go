// go-unread-small: the seed bug as usually written. One shared http.Client; each GET is
// made by a helper that does `defer resp.Body.Close()` and never reads the body. Closing
// an unread body tells the Transport the connection cannot be reused, so it closes it
// right after each response. The 300-byte body already sits in the Transport's 4 KiB
// read buffer, so nothing is left unread in the socket and the close is a plain FIN.
//
//	go run go-unread-small.go server 127.0.0.1:18201
//	go run go-unread-small.go client 127.0.0.1:18201
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

func get(client *http.Client, url string) {
	resp, err := client.Get(url)
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close() // BUG (on purpose): closed, but the body is never read
	log.Printf("GET %s -> %s", url, resp.Status)
}

func main() {
	if len(os.Args) != 3 {
		log.Fatal("usage: go-unread-small server|client ADDR")
	}
	mode, addr := os.Args[1], os.Args[2]
	switch mode {
	case "server":
		body := bytes.Repeat([]byte("keepalive-analyzer go-unread-small body.\n"), 8)[:300]
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
			get(client, fmt.Sprintf("http://%s/item/%d", addr, i))
			time.Sleep(50 * time.Millisecond)
		}
		time.Sleep(500 * time.Millisecond)
	default:
		log.Fatal("mode must be server or client")
	}
}
