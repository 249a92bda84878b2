package qemu

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"
)

// QMP is a minimal client for the QEMU Machine Protocol: it executes
// commands and collects asynchronous events.
type QMP struct {
	conn net.Conn

	writeMu sync.Mutex
	enc     *json.Encoder

	mu      sync.Mutex
	nextID  uint64
	pending map[uint64]chan qmpMessage
	events  []Event
	changed chan struct{} // closed and replaced when events arrive or the connection ends
	readErr error         // set when the reader stops
}

// Event is an asynchronous QMP event such as DUMP_COMPLETED or SHUTDOWN.
type Event struct {
	Name      string          `json:"event"`
	Data      json.RawMessage `json:"data"`
	Timestamp struct {
		Seconds      int64 `json:"seconds"`
		Microseconds int64 `json:"microseconds"`
	} `json:"timestamp"`
}

// Error is an error reply to a QMP command.
type Error struct {
	Command string
	Class   string `json:"class"`
	Desc    string `json:"desc"`
}

func (e *Error) Error() string {
	return fmt.Sprintf("qmp %s: %s: %s", e.Command, e.Class, e.Desc)
}

// qmpMessage is any message from the server.
type qmpMessage struct {
	Greeting json.RawMessage `json:"QMP"`
	Return   json.RawMessage `json:"return"`
	Error    *Error          `json:"error"`
	Event    string          `json:"event"`
	ID       *uint64         `json:"id"`
	raw      []byte
}

// DialQMP connects to the QMP unix socket at path, retrying until the
// socket accepts or ctx ends, and does the capabilities handshake.
func DialQMP(ctx context.Context, path string) (*QMP, error) {
	var d net.Dialer
	for {
		conn, err := d.DialContext(ctx, "unix", path)
		if err == nil {
			return NewQMP(ctx, conn)
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("qmp: connect %s: %w (last error: %v)", path, ctx.Err(), err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// NewQMP runs the QMP handshake on conn: it reads the greeting and enters
// command mode with qmp_capabilities. The client owns conn from then on.
func NewQMP(ctx context.Context, conn net.Conn) (*QMP, error) {
	q := &QMP{
		conn:    conn,
		enc:     json.NewEncoder(conn),
		pending: map[uint64]chan qmpMessage{},
		changed: make(chan struct{}),
	}
	greeting := make(chan error, 1)
	go q.read(greeting)
	select {
	case err := <-greeting:
		if err != nil {
			conn.Close()
			return nil, err
		}
	case <-ctx.Done():
		conn.Close()
		return nil, fmt.Errorf("qmp: waiting for greeting: %w", ctx.Err())
	}
	if err := q.Execute(ctx, "qmp_capabilities", nil, nil); err != nil {
		conn.Close()
		return nil, err
	}
	return q, nil
}

// read decodes messages until the connection ends, routing replies to
// their commands and queueing events.
func (q *QMP) read(greeting chan<- error) {
	dec := json.NewDecoder(q.conn)
	first := true
	var err error
	for {
		var raw json.RawMessage
		if err = dec.Decode(&raw); err != nil {
			err = fmt.Errorf("qmp: read: %w", err)
			break
		}
		var m qmpMessage
		if err = json.Unmarshal(raw, &m); err != nil {
			err = fmt.Errorf("qmp: decode %q: %w", raw, err)
			break
		}
		m.raw = raw
		if first {
			if m.Greeting == nil {
				err = fmt.Errorf("qmp: expected greeting, got %s", raw)
				break
			}
			first = false
			greeting <- nil
			continue
		}
		q.mu.Lock()
		switch {
		case m.Event != "":
			var ev Event
			if json.Unmarshal(raw, &ev) == nil {
				q.events = append(q.events, ev)
				close(q.changed)
				q.changed = make(chan struct{})
			}
		case m.ID != nil:
			if ch, ok := q.pending[*m.ID]; ok {
				delete(q.pending, *m.ID)
				ch <- m
			}
		}
		q.mu.Unlock()
	}
	if first {
		greeting <- err
	}
	q.mu.Lock()
	q.readErr = err
	for id, ch := range q.pending {
		delete(q.pending, id)
		close(ch)
	}
	close(q.changed)
	q.changed = make(chan struct{})
	q.mu.Unlock()
}

// Execute runs command with arguments (any JSON-encodable value, or nil)
// and waits for its reply. If result is not nil the "return" value is
// decoded into it. A QMP error reply is returned as *Error.
func (q *QMP) Execute(ctx context.Context, command string, arguments, result any) error {
	q.mu.Lock()
	if q.readErr != nil {
		err := q.readErr
		q.mu.Unlock()
		return fmt.Errorf("qmp %s: connection closed: %w", command, err)
	}
	q.nextID++
	id := q.nextID
	ch := make(chan qmpMessage, 1)
	q.pending[id] = ch
	q.mu.Unlock()

	req := struct {
		Execute   string `json:"execute"`
		Arguments any    `json:"arguments,omitempty"`
		ID        uint64 `json:"id"`
	}{command, arguments, id}
	q.writeMu.Lock()
	if dl, ok := ctx.Deadline(); ok {
		q.conn.SetWriteDeadline(dl)
	}
	err := q.enc.Encode(req)
	q.conn.SetWriteDeadline(time.Time{})
	q.writeMu.Unlock()
	if err != nil {
		q.forget(id)
		return fmt.Errorf("qmp %s: write: %w", command, err)
	}

	select {
	case m, ok := <-ch:
		if !ok {
			q.mu.Lock()
			err := q.readErr
			q.mu.Unlock()
			// "quit" ends the connection, sometimes before the reply.
			if command == "quit" {
				return nil
			}
			return fmt.Errorf("qmp %s: connection closed: %w", command, err)
		}
		if m.Error != nil {
			e := *m.Error
			e.Command = command
			return &e
		}
		if result != nil && m.Return != nil {
			if err := json.Unmarshal(m.Return, result); err != nil {
				return fmt.Errorf("qmp %s: decode return %s: %w", command, m.Return, err)
			}
		}
		return nil
	case <-ctx.Done():
		q.forget(id)
		return fmt.Errorf("qmp %s: %w", command, ctx.Err())
	}
}

func (q *QMP) forget(id uint64) {
	q.mu.Lock()
	delete(q.pending, id)
	q.mu.Unlock()
}

// WaitEvent returns the oldest received event called name that no earlier
// WaitEvent returned, waiting for it if needed.
func (q *QMP) WaitEvent(ctx context.Context, name string) (Event, error) {
	for {
		q.mu.Lock()
		for i, ev := range q.events {
			if ev.Name == name {
				q.events = append(q.events[:i:i], q.events[i+1:]...)
				q.mu.Unlock()
				return ev, nil
			}
		}
		readErr, changed := q.readErr, q.changed
		q.mu.Unlock()
		if readErr != nil {
			return Event{}, fmt.Errorf("qmp: waiting for event %s: connection closed: %w", name, readErr)
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return Event{}, fmt.Errorf("qmp: waiting for event %s: %w", name, ctx.Err())
		}
	}
}

// Close closes the connection.
func (q *QMP) Close() error {
	err := q.conn.Close()
	if err != nil && !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("qmp: close: %w", err)
	}
	return nil
}

// DumpGuestMemory runs dump-guest-memory synchronously (paging off) to
// path. format is a QMP DumpGuestMemoryFormat: "elf", "kdump-zlib",
// "kdump-lzo", "kdump-snappy" (and "win-dmp" on Windows guests).
func (q *QMP) DumpGuestMemory(ctx context.Context, path, format string) error {
	args := map[string]any{
		"paging":   false,
		"protocol": "file:" + path,
		"format":   format,
	}
	return q.Execute(ctx, "dump-guest-memory", args, nil)
}

// DumpFormats returns the formats dump-guest-memory supports in this QEMU
// build (query-dump-guest-memory-capability).
func (q *QMP) DumpFormats(ctx context.Context) ([]string, error) {
	var r struct {
		Formats []string `json:"formats"`
	}
	if err := q.Execute(ctx, "query-dump-guest-memory-capability", nil, &r); err != nil {
		return nil, err
	}
	return r.Formats, nil
}
