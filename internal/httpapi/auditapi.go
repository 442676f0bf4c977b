package httpapi

import (
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/cofferkms/coffer/internal/audit"
	"github.com/cofferkms/coffer/internal/hsm"
)

// The audit read API is a Coffer extension (Managed HSM ships its logs to
// the customer's storage instead). Reading needs audit/read/action;
// nothing can change the log through it.
//
//	GET /audit/events?api-version=…&from=&to=&principal=&operation=&result=&key=&ip=&after=&maxresults=
//	GET /audit/checkpoint?api-version=…

// auditEventsPage is the body of GET /audit/events.
type auditEventsPage struct {
	Value    []audit.Event `json:"value"`
	NextLink *string       `json:"nextLink"`
}

func (s *Server) listAuditEvents(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	var f audit.Filter
	var err error
	for _, t := range []struct {
		name string
		dst  *time.Time
	}{{"from", &f.From}, {"to", &f.To}} {
		if v := q.Get(t.name); v != "" {
			if *t.dst, err = time.Parse(time.RFC3339Nano, v); err != nil {
				return badRequest("%s must be an RFC 3339 time, like 2026-01-02T15:04:05Z.", t.name)
			}
		}
	}
	f.Principal, f.Operation, f.Result, f.Key, f.IP = q.Get("principal"), q.Get("operation"), q.Get("result"), q.Get("key"), q.Get("ip")
	var after uint64
	if v := q.Get("after"); v != "" {
		if after, err = strconv.ParseUint(v, 10, 64); err != nil {
			return badRequest("after must be an event sequence number.")
		}
	}
	limit := 100
	if v := q.Get("maxresults"); v != "" {
		if limit, err = strconv.Atoi(v); err != nil || limit < 1 || limit > hsm.MaxAuditEvents {
			return badRequest("maxresults must be an integer from 1 to %d.", hsm.MaxAuditEvents)
		}
	}
	evs, more, err := poolFrom(r.Context()).ReadAuditEvents(r.Context(), callerFrom(r.Context()), f, after, limit)
	if err != nil {
		return err
	}
	out := auditEventsPage{Value: evs}
	if out.Value == nil {
		out.Value = []audit.Event{}
	}
	if more && len(evs) > 0 {
		nq := url.Values{}
		for k, v := range q {
			nq[k] = v
		}
		nq.Set("after", strconv.FormatUint(evs[len(evs)-1].Seq, 10))
		link := baseURL(r) + r.URL.EscapedPath() + "?" + nq.Encode()
		out.NextLink = &link
	}
	return writeJSON(w, http.StatusOK, out)
}

// auditCheckpoint is the body of GET /audit/checkpoint: the signed text
// (as the log files hold it) and the key that verifies it.
type auditCheckpoint struct {
	Log       string `json:"log"`
	Seq       uint64 `json:"seq"`
	Head      string `json:"head"`
	First     uint64 `json:"first"`
	Time      string `json:"time"`
	Text      string `json:"text"`
	Signature string `json:"signature"` // base64url, Ed25519 over text
	PublicKey string `json:"publicKey"` // base64url, Ed25519
}

func (s *Server) getAuditCheckpoint(w http.ResponseWriter, r *http.Request) error {
	cp, pub, err := poolFrom(r.Context()).AuditCheckpoint(r.Context(), callerFrom(r.Context()))
	if err != nil {
		return err
	}
	b64 := base64.RawURLEncoding.EncodeToString
	return writeJSON(w, http.StatusOK, auditCheckpoint{
		Log: cp.Log, Seq: cp.Seq, Head: hex.EncodeToString(cp.Head[:]), First: cp.First, Time: cp.Time.UTC().Format(time.RFC3339Nano),
		Text: string(cp.Text()), Signature: b64(cp.Signature), PublicKey: b64(pub),
	})
}
