// memberlist-ref runs one hashicorp/memberlist member with DefaultLANConfig on loopback, so the membership
// benchmark can measure the reference implementation beside BlobCache on the same machine in the same run.
//
// It prints JSON lines on stdout: one per membership event, and a stats line every second with the member
// count and the bytes the member sent and received by packet (UDP) and by stream (TCP). It exits on SIGTERM
// or SIGINT after leaving the cluster.
package main

import (
	"encoding/json"
	"flag"
	"io"
	"log"
	"net"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hashicorp/memberlist"
)

var started = time.Now()

type counters struct{ udpOut, udpIn, tcpOut, tcpIn, packetsOut, packetsIn int64 }

var count counters

// countingTransport is memberlist's own NetTransport with every byte counted. It implements the node-aware
// interface too, so memberlist cannot route around the counting.
type countingTransport struct {
	*memberlist.NetTransport
	packets chan *memberlist.Packet
	streams chan net.Conn
}

func newCountingTransport(inner *memberlist.NetTransport) *countingTransport {
	t := &countingTransport{NetTransport: inner, packets: make(chan *memberlist.Packet), streams: make(chan net.Conn)}
	go func() {
		for p := range inner.PacketCh() {
			atomic.AddInt64(&count.udpIn, int64(len(p.Buf)))
			atomic.AddInt64(&count.packetsIn, 1)
			t.packets <- p
		}
	}()
	go func() {
		for c := range inner.StreamCh() {
			t.streams <- &countingConn{Conn: c}
		}
	}()
	return t
}

func (t *countingTransport) WriteTo(b []byte, addr string) (time.Time, error) {
	atomic.AddInt64(&count.udpOut, int64(len(b)))
	atomic.AddInt64(&count.packetsOut, 1)
	return t.NetTransport.WriteTo(b, addr)
}

func (t *countingTransport) WriteToAddress(b []byte, a memberlist.Address) (time.Time, error) {
	return t.WriteTo(b, a.Addr)
}

func (t *countingTransport) PacketCh() <-chan *memberlist.Packet { return t.packets }
func (t *countingTransport) StreamCh() <-chan net.Conn          { return t.streams }

func (t *countingTransport) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	c, err := t.NetTransport.DialTimeout(addr, timeout)
	if err != nil {
		return nil, err
	}
	return &countingConn{Conn: c}, nil
}

func (t *countingTransport) DialAddressTimeout(a memberlist.Address, timeout time.Duration) (net.Conn, error) {
	return t.DialTimeout(a.Addr, timeout)
}

type countingConn struct{ net.Conn }

func (c *countingConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	atomic.AddInt64(&count.tcpIn, int64(n))
	return n, err
}

func (c *countingConn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	atomic.AddInt64(&count.tcpOut, int64(n))
	return n, err
}

type events struct{ out *json.Encoder }

func (e *events) emit(kind string, n *memberlist.Node) {
	e.out.Encode(map[string]interface{}{"t_ms": time.Since(started).Milliseconds(), "event": kind, "node": n.Name})
}
func (e *events) NotifyJoin(n *memberlist.Node)   { e.emit("join", n) }
func (e *events) NotifyLeave(n *memberlist.Node)  { e.emit("leave", n) }
func (e *events) NotifyUpdate(n *memberlist.Node) { e.emit("update", n) }

func main() {
	name := flag.String("name", "", "member name (required)")
	port := flag.Int("port", 0, "UDP and TCP port on 127.0.0.1 (required)")
	join := flag.String("join", "", "comma-separated host:port of members to join through")
	flag.Parse()
	if *name == "" || *port <= 0 || *port > 65535 {
		flag.Usage()
		os.Exit(2)
	}
	out := json.NewEncoder(os.Stdout)
	cfg := memberlist.DefaultLANConfig()
	cfg.Name = *name
	cfg.BindAddr = "127.0.0.1"
	cfg.BindPort = *port
	cfg.AdvertiseAddr = "127.0.0.1"
	cfg.AdvertisePort = *port
	cfg.LogOutput = io.Discard
	cfg.Events = &events{out: out}
	inner, err := memberlist.NewNetTransport(&memberlist.NetTransportConfig{BindAddrs: []string{"127.0.0.1"}, BindPort: *port, Logger: log.New(io.Discard, "", 0)})
	if err != nil {
		log.Fatalf("transport: %v", err)
	}
	cfg.Transport = newCountingTransport(inner)
	list, err := memberlist.Create(cfg)
	if err != nil {
		log.Fatalf("create: %v", err)
	}
	if *join != "" {
		// Seeds may still be starting: retry for a bounded time, as a pod joining through a Service would.
		deadline := time.Now().Add(30 * time.Second)
		for {
			if _, err := list.Join(strings.Split(*join, ",")); err == nil || time.Now().After(deadline) {
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			list.Leave(time.Second)
			list.Shutdown()
			return
		case <-tick.C:
			out.Encode(map[string]interface{}{
				"t_ms": time.Since(started).Milliseconds(), "members": list.NumMembers(),
				"udp_out": atomic.LoadInt64(&count.udpOut), "udp_in": atomic.LoadInt64(&count.udpIn),
				"tcp_out": atomic.LoadInt64(&count.tcpOut), "tcp_in": atomic.LoadInt64(&count.tcpIn),
				"packets_out": atomic.LoadInt64(&count.packetsOut), "packets_in": atomic.LoadInt64(&count.packetsIn),
			})
		}
	}
}
