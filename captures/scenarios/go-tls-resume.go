// go-tls-resume: a Go client that builds a new http.Transport per request (HTTP/1.1 over
// TLS), reads each body to EOF, closes it and then closes the Transport's idle connection
// (CloseIdleConnections), so every GET is a new TCP connection and a new TLS handshake.
// With "resume" all the Transports share one tls.ClientSessionCache
// (tls.NewLRUClientSessionCache): the first handshake is full, the next ones resume the
// session (TLS 1.3 PSK from a NewSessionTicket, or a TLS 1.2 session ticket). With
// "noresume" there is no cache: every handshake is full. "tls12" caps the client at
// TLS 1.2. Used by go-tls-resume.sh, go-tls-noresume.sh and go-tls12-resume.sh.
//
//	go run go-tls-resume.go server 127.0.0.1:18245 cert.pem key.pem
//	go run go-tls-resume.go client 127.0.0.1:18245 KEYLOG resume|noresume tls13|tls12
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
		log.Printf("%s %s %s from %s resumed=%v", r.Proto, r.Method, r.URL.Path, r.RemoteAddr,
			r.TLS != nil && r.TLS.DidResume)
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.Write(body)
	})
	log.Fatal(http.ListenAndServeTLS(addr, cert, key, nil))
}

func main() {
	if len(os.Args) < 5 {
		log.Fatal("usage: go-tls-resume server ADDR CERT KEY | client ADDR KEYLOG resume|noresume tls13|tls12")
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
		var cache tls.ClientSessionCache
		if os.Args[4] == "resume" {
			cache = tls.NewLRUClientSessionCache(16) // shared by all the Transports
		}
		maxVersion := uint16(tls.VersionTLS13)
		if len(os.Args) > 5 && os.Args[5] == "tls12" {
			maxVersion = tls.VersionTLS12
		}
		for i := 1; i <= 5; i++ {
			tr := &http.Transport{ // a new Transport (pool) per request
				TLSClientConfig: &tls.Config{InsecureSkipVerify: true, ServerName: "localhost",
					KeyLogWriter: kl, ClientSessionCache: cache, MaxVersion: maxVersion},
				TLSNextProto: map[string]func(string, *tls.Conn) http.RoundTripper{}, // HTTP/1.1
			}
			client := &http.Client{Transport: tr}
			resp, err := client.Get(fmt.Sprintf("https://%s/item/%d", addr, i))
			if err != nil {
				log.Fatal(err)
			}
			n, _ := io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			tr.CloseIdleConnections() // close_notify + FIN: nothing piles up
			log.Printf("GET /item/%d -> %s %s, %d bytes, TLS 0x%04x resumed=%v", i, resp.Proto,
				resp.Status, n, resp.TLS.Version, resp.TLS.DidResume)
			time.Sleep(50 * time.Millisecond)
		}
	default:
		log.Fatal("mode must be server or client")
	}
}
