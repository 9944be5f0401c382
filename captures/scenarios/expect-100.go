// expect-100: a Go net/http server whose handler reads the whole request body. When a
// request carries "Expect: 100-continue", Go sends "HTTP/1.1 100 Continue" as soon as the
// handler starts reading the body, then the final response.
//
//	go run expect-100.go 127.0.0.1:18112
package main

import (
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
)

func main() {
	if len(os.Args) != 2 {
		log.Fatal("usage: expect-100 ADDR")
	}
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		n, err := io.Copy(io.Discard, r.Body)
		log.Printf("%s %s from %s: Expect=%q, read %d bytes, err=%v", r.Method, r.URL.Path, r.RemoteAddr, r.Header.Get("Expect"), n, err)
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprintf(w, "received %d bytes on %s\n", n, r.URL.Path)
	})
	log.Fatal(http.ListenAndServe(os.Args[1], nil))
}
