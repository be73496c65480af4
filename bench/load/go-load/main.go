// go-load: the Go client of the load bench (bench/load/bench.ts, loads gor5k and gosmall): an
// HTTPS client on Go's crypto/tls through net/http, so that the bench measures what tlsotel's
// Go probes (uprobes on crypto/tls.(*Conn).Write/Read entries and every RET) cost a Go program.
// It plays wrk's part: keep-alive HTTP/1.1 connections, a fixed request rate or saturation, and
// one line at the end in wrk.lua's format:
//
//	BENCH_JSON {"requests":N,"duration_us":N,"errors":{...},"lat_p50_us":N,"lat_p99_us":N}
//
// usage: go-load [-c CONNS] [-rate R] [-d SECONDS] URL
//
//	-rate R: R requests per second in total, each request claiming the next slot of a fixed
//	         schedule (start + k/R) as wrk.lua does; 0: as fast as the connections allow.
//	Latency is measured from each request's send, not from its slot (as wrk.lua does).
//
// Standard library only: builds with any Go ≥ 1.19 and needs no module download.
package main

import (
	"crypto/tls"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

type result struct {
	Requests   int            `json:"requests"`
	DurationUs int64          `json:"duration_us"`
	Errors     map[string]int `json:"errors"`
	P50Us      int64          `json:"lat_p50_us"`
	P99Us      int64          `json:"lat_p99_us"`
}

func main() {
	conns := flag.Int("c", 8, "connections (one goroutine each)")
	rate := flag.Float64("rate", 0, "requests per second in total; 0: as fast as it goes")
	seconds := flag.Float64("d", 1, "seconds of load")
	flag.Parse()
	if flag.NArg() != 1 || *conns < 1 || *rate < 0 || *seconds <= 0 {
		fmt.Fprintln(os.Stderr, "usage: go-load [-c CONNS] [-rate R] [-d SECONDS] URL")
		os.Exit(2)
	}
	url := flag.Arg(0)
	client := &http.Client{Transport: &http.Transport{
		TLSClientConfig:     &tls.Config{InsecureSkipVerify: true},
		TLSNextProto:        map[string]func(string, *tls.Conn) http.RoundTripper{}, // HTTP/1.1, as wrk
		MaxConnsPerHost:     *conns,
		MaxIdleConnsPerHost: *conns,
		DisableCompression:  true,
	}}

	start := time.Now()
	deadline := start.Add(time.Duration(*seconds * float64(time.Second)))
	var slot atomic.Int64
	var mu sync.Mutex
	lat := make([]int64, 0, 1<<16)
	errs := map[string]int{}
	var wg sync.WaitGroup
	for w := 0; w < *conns; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			mine := make([]int64, 0, 1<<12)
			myErrs := map[string]int{}
			for {
				if *rate > 0 {
					at := start.Add(time.Duration(float64(slot.Add(1)-1) / *rate * float64(time.Second)))
					if !at.Before(deadline) {
						break
					}
					time.Sleep(time.Until(at))
				} else if !time.Now().Before(deadline) {
					break
				}
				t0 := time.Now()
				resp, err := client.Get(url)
				if err != nil {
					myErrs["request"]++
					continue
				}
				_, err = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				switch {
				case err != nil:
					myErrs["read"]++
				case resp.StatusCode != http.StatusOK:
					myErrs["status"]++
				default:
					mine = append(mine, time.Since(t0).Microseconds())
				}
			}
			mu.Lock()
			lat = append(lat, mine...)
			for k, v := range myErrs {
				errs[k] += v
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	pct := func(q float64) int64 {
		if len(lat) == 0 {
			return -1
		}
		i := int(q * float64(len(lat)))
		if i >= len(lat) {
			i = len(lat) - 1
		}
		return lat[i]
	}
	failed := 0
	for _, v := range errs {
		failed += v
	}
	out, _ := json.Marshal(result{Requests: len(lat) + failed, DurationUs: elapsed.Microseconds(), Errors: errs, P50Us: pct(0.5), P99Us: pct(0.99)})
	fmt.Printf("BENCH_JSON %s\n", out)
}
