// go-tls-h2: Go net/http client and server over TLS with HTTP/2 negotiated by ALPN. The
// server is ListenAndServeTLS (offers h2, http/1.1); the client's Transport has a custom
// TLSClientConfig (for the key log and the self-signed cert), so ForceAttemptHTTP2 is set
// to keep HTTP/2 on. 5 GETs 50 ms apart, bodies drained and closed: one connection, 5
// streams (1, 3, 5, 7, 9). The client exits 0.5 s after the last response.
//
//	go run go-tls-h2.go server 127.0.0.1:18248 cert.pem key.pem
//	go run go-tls-h2.go client 127.0.0.1:18248 KEYLOG
package main

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"strconv"
	"time"
)

func serve(addr, cert, key string) {
	body := bytes.Repeat([]byte("keepalive-analyzer go-tls body.\n"), 19)[:600]
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		log.Printf("%s %s %s from %s", r.Proto, r.Method, r.URL.Path, r.RemoteAddr)
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.Write(body)
	})
	log.Fatal(http.ListenAndServeTLS(addr, cert, key, nil))
}

func main() {
	if len(os.Args) < 4 {
		log.Fatal("usage: go-tls-h2 server ADDR CERT KEY | client ADDR KEYLOG")
	}
	mode, addr := os.Args[1], os.Args[2]
	switch mode {
	case "server":
		serve(addr, os.Args[3], os.Args[4])
	case "client":
		kl, err := os.OpenFile(os.Args[3], os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
		if err != nil {
			log.Fatal(err)
		}
		tr := &http.Transport{
			TLSClientConfig: &tls.Config{InsecureSkipVerify: true, ServerName: "localhost",
				KeyLogWriter: kl},
			ForceAttemptHTTP2: true, // custom TLSClientConfig would otherwise disable h2
		}
		client := &http.Client{Transport: tr}
		for i := 1; i <= 5; i++ {
			resp, err := client.Get(fmt.Sprintf("https://%s/item/%d", addr, i))
			if err != nil {
				log.Fatal(err)
			}
			n, _ := io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			log.Printf("GET /item/%d -> %s %s, %d bytes", i, resp.Proto, resp.Status, n)
			time.Sleep(50 * time.Millisecond)
		}
		time.Sleep(500 * time.Millisecond)
		// exit: the kernel closes the idle socket (no GOAWAY, no close_notify)
	default:
		log.Fatal("mode must be server or client")
	}
}
