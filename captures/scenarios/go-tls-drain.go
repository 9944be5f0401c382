// go-tls-drain: the fixed client of go-tls-leak. HTTP/1.1 over TLS (TLSNextProto = empty
// map); it reads every body to EOF and closes it, so the Transport reuses one TLS
// connection (one full handshake) for all 5 GETs; it stays idle in the pool until the
// process exits. The client writes its NSS key log to KEYLOG.
//
//	go run go-tls-drain.go server 127.0.0.1:18244 cert.pem key.pem
//	go run go-tls-drain.go client 127.0.0.1:18244 KEYLOG
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
		log.Fatal("usage: go-tls-drain server ADDR CERT KEY | client ADDR KEYLOG")
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
			TLSNextProto: map[string]func(string, *tls.Conn) http.RoundTripper{}, // HTTP/1.1 only
		}
		client := &http.Client{Transport: tr}
		for i := 1; i <= 5; i++ {
			resp, err := client.Get(fmt.Sprintf("https://%s/item/%d", addr, i))
			if err != nil {
				log.Fatal(err)
			}
			n, _ := io.Copy(io.Discard, resp.Body) // read to EOF ...
			resp.Body.Close()                      // ... and close: back to the idle pool
			log.Printf("GET /item/%d -> %s %s, %d bytes", i, resp.Proto, resp.Status, n)
			time.Sleep(50 * time.Millisecond)
		}
		time.Sleep(500 * time.Millisecond)
		// exit: the kernel closes the idle socket (no TLS close_notify)
	default:
		log.Fatal("mode must be server or client")
	}
}
