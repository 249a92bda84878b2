package targets

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"time"
)

// ONC RPC (RFC 5531) constants for the one call we make: NFS procedure 0
// (NULL), which every NFS server answers and which tells whether it
// speaks a version at all.
const (
	rpcCall         = 0
	rpcReply        = 1
	rpcVersion      = 2
	nfsProgram      = 100003
	rpcMsgAccepted  = 0
	rpcSuccess      = 0
	rpcProgMismatch = 2
	rpcLastFragment = 0x80000000
	rpcMaxReply     = 400 // a NULL reply is 24-28 bytes, plus a verifier of at most 400
)

// errNFSVersion: the server does not speak the NFS version asked for.
var errNFSVersion = errors.New("nfs version not offered by the server")

// nfsNull sends an NFS NULL call for version vers on conn and reads the
// answer. For a version the server lacks the error wraps errNFSVersion
// and names the versions it has.
func nfsNull(conn net.Conn, vers uint32, xid uint32) error {
	call := make([]byte, 4+40)
	binary.BigEndian.PutUint32(call[0:], rpcLastFragment|40)
	for i, v := range []uint32{xid, rpcCall, rpcVersion, nfsProgram, vers, 0, 0, 0, 0, 0} {
		// cred and verf are AUTH_NONE: flavor 0, length 0.
		binary.BigEndian.PutUint32(call[4+4*i:], v)
	}
	if _, err := conn.Write(call); err != nil {
		return fmt.Errorf("nfs NULL call: %w", err)
	}
	var mark [4]byte
	if _, err := io.ReadFull(conn, mark[:]); err != nil {
		return fmt.Errorf("nfs NULL reply: %w", err)
	}
	n := binary.BigEndian.Uint32(mark[:]) &^ rpcLastFragment
	if n > rpcMaxReply+28 {
		return fmt.Errorf("nfs NULL reply: record of %d bytes, want at most %d", n, rpcMaxReply+28)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(conn, body); err != nil {
		return fmt.Errorf("nfs NULL reply: %w", err)
	}
	return parseNullReply(body, xid, vers)
}

// parseNullReply checks an RPC reply to our NULL call (RFC 5531 §9:
// xid, REPLY, MSG_ACCEPTED, verifier, accept_stat[, mismatch_info]).
func parseNullReply(b []byte, xid, vers uint32) error {
	word := func(off int) (uint32, error) {
		if off+4 > len(b) {
			return 0, fmt.Errorf("nfs NULL reply: %d bytes, cut off at offset %d", len(b), off)
		}
		return binary.BigEndian.Uint32(b[off:]), nil
	}
	var hdr [3]uint32
	for i := range hdr {
		v, err := word(4 * i)
		if err != nil {
			return err
		}
		hdr[i] = v
	}
	switch {
	case hdr[0] != xid:
		return fmt.Errorf("nfs NULL reply: xid %#x, want %#x", hdr[0], xid)
	case hdr[1] != rpcReply:
		return fmt.Errorf("nfs NULL reply: message type %d, want %d (reply)", hdr[1], rpcReply)
	case hdr[2] != rpcMsgAccepted:
		return fmt.Errorf("nfs NULL reply: call denied (reply_stat %d)", hdr[2])
	}
	verfLen, err := word(16)
	if err != nil {
		return err
	}
	if verfLen > rpcMaxReply {
		return fmt.Errorf("nfs NULL reply at offset 16: verifier of %d bytes", verfLen)
	}
	off := 20 + int((verfLen+3)&^3)
	stat, err := word(off)
	if err != nil {
		return err
	}
	switch stat {
	case rpcSuccess:
		return nil
	case rpcProgMismatch:
		low, err := word(off + 4)
		if err != nil {
			return err
		}
		high, err := word(off + 8)
		if err != nil {
			return err
		}
		return fmt.Errorf("%w: asked for %d, the server has %d to %d", errNFSVersion, vers, low, high)
	}
	return fmt.Errorf("nfs NULL reply at offset %d: accept_stat %d", off, stat)
}

// pingNFS dials addr and makes a NULL call for vers, within ctx.
func pingNFS(ctx context.Context, addr string, vers uint32) error {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	dl, ok := ctx.Deadline()
	if !ok || time.Until(dl) > 10*time.Second {
		dl = time.Now().Add(10 * time.Second)
	}
	conn.SetDeadline(dl)
	return nfsNull(conn, vers, uint32(time.Now().UnixNano()))
}
