package qemu

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"testing"
)

// fakeServer speaks the server side of QMP on conn. For each command it
// calls reply, which returns the messages to send back (events, replies).
func fakeServer(t *testing.T, conn net.Conn, reply func(cmd string, args json.RawMessage, id json.RawMessage) []string) {
	t.Helper()
	go func() {
		defer conn.Close()
		if _, err := conn.Write([]byte(`{"QMP": {"version": {"qemu": {"micro": 0, "minor": 2, "major": 7}}, "capabilities": []}}` + "\r\n")); err != nil {
			return
		}
		dec := json.NewDecoder(conn)
		for {
			var req struct {
				Execute   string          `json:"execute"`
				Arguments json.RawMessage `json:"arguments"`
				ID        json.RawMessage `json:"id"`
			}
			if err := dec.Decode(&req); err != nil {
				return
			}
			for _, m := range reply(req.Execute, req.Arguments, req.ID) {
				if _, err := conn.Write([]byte(m + "\r\n")); err != nil {
					return
				}
			}
		}
	}()
}

func TestQMPExecute(t *testing.T) {
	client, server := net.Pipe()
	var gotArgs string
	fakeServer(t, server, func(cmd string, args, id json.RawMessage) []string {
		switch cmd {
		case "qmp_capabilities":
			return []string{`{"return": {}, "id": ` + string(id) + `}`}
		case "query-status":
			// An event arrives before the reply; it must be queued.
			return []string{
				`{"timestamp": {"seconds": 1, "microseconds": 2}, "event": "STOP"}`,
				`{"return": {"status": "paused", "running": false}, "id": ` + string(id) + `}`,
			}
		case "dump-guest-memory":
			gotArgs = string(args)
			return []string{
				`{"return": {}, "id": ` + string(id) + `}`,
				`{"timestamp": {"seconds": 3, "microseconds": 4}, "event": "DUMP_COMPLETED", "data": {"result": {"total": 10, "status": "completed", "completed": 10}}}`,
			}
		default:
			return []string{`{"error": {"class": "CommandNotFound", "desc": "The command ` + cmd + ` has not been found"}, "id": ` + string(id) + `}`}
		}
	})
	ctx := context.Background()
	q, err := NewQMP(ctx, client)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()

	var status struct {
		Status  string `json:"status"`
		Running bool   `json:"running"`
	}
	if err := q.Execute(ctx, "query-status", nil, &status); err != nil {
		t.Fatal(err)
	}
	if status.Status != "paused" || status.Running {
		t.Errorf("status = %+v", status)
	}
	ev, err := q.WaitEvent(ctx, "STOP")
	if err != nil {
		t.Fatal(err)
	}
	if ev.Timestamp.Seconds != 1 || ev.Timestamp.Microseconds != 2 {
		t.Errorf("STOP timestamp = %+v", ev.Timestamp)
	}

	if err := q.DumpGuestMemory(ctx, "/tmp/x.elf", "elf"); err != nil {
		t.Fatal(err)
	}
	var args map[string]any
	if err := json.Unmarshal([]byte(gotArgs), &args); err != nil {
		t.Fatal(err)
	}
	if args["paging"] != false || args["protocol"] != "file:/tmp/x.elf" || args["format"] != "elf" {
		t.Errorf("dump-guest-memory arguments = %s", gotArgs)
	}
	ev, err = q.WaitEvent(ctx, "DUMP_COMPLETED")
	if err != nil {
		t.Fatal(err)
	}
	var data struct {
		Result struct {
			Status string `json:"status"`
		} `json:"result"`
	}
	if err := json.Unmarshal(ev.Data, &data); err != nil || data.Result.Status != "completed" {
		t.Errorf("DUMP_COMPLETED data %s: %v", ev.Data, err)
	}

	err = q.Execute(ctx, "no-such-command", nil, nil)
	var qerr *Error
	if !errors.As(err, &qerr) || qerr.Class != "CommandNotFound" || qerr.Command != "no-such-command" {
		t.Errorf("error = %v, want *Error CommandNotFound", err)
	}
}

func TestQMPConnectionClosed(t *testing.T) {
	client, server := net.Pipe()
	fakeServer(t, server, func(cmd string, args, id json.RawMessage) []string {
		if cmd == "qmp_capabilities" {
			return []string{`{"return": {}, "id": ` + string(id) + `}`}
		}
		server.Close() // hang up instead of replying
		return nil
	})
	ctx := context.Background()
	q, err := NewQMP(ctx, client)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	if err := q.Execute(ctx, "query-status", nil, nil); err == nil {
		t.Fatal("no error after the server hung up")
	}
	if _, err := q.WaitEvent(ctx, "SHUTDOWN"); err == nil {
		t.Fatal("WaitEvent: no error after the server hung up")
	}
}

func TestQMPBadGreeting(t *testing.T) {
	client, server := net.Pipe()
	go func() {
		server.Write([]byte(`{"return": {}}` + "\n"))
		server.Close()
	}()
	if _, err := NewQMP(context.Background(), client); err == nil {
		t.Fatal("no error for a missing greeting")
	}
}

func TestQMPContextCanceled(t *testing.T) {
	client, server := net.Pipe()
	fakeServer(t, server, func(cmd string, args, id json.RawMessage) []string {
		if cmd == "qmp_capabilities" {
			return []string{`{"return": {}, "id": ` + string(id) + `}`}
		}
		return nil // never reply
	})
	q, err := NewQMP(context.Background(), client)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := q.Execute(ctx, "query-status", nil, nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}
