package audience

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"go.temporal.io/sdk/temporal"

	"importer/activities/failure"
	"importer/activities/fynd"
	"importer/activities/rejects"
	"importer/activities/vendorapi"
	"importer/internal/metrics"
	"importer/internal/vendorcall"
)

// VerifyGroupName is what VerifyGroup is registered as and workflows call.
const VerifyGroupName = "VerifyGroup"

// VerifyGroup lists the group's members and compares them with the list.
// Members of the list that are not in the group are rejects, with Fynd's
// reason when its error file gives one: this is where users Fynd does not
// know end up.
func (a *Activities) VerifyGroup(ctx context.Context, in VerifyInput) (Verification, error) {
	store, err := a.artifacts()
	if err != nil {
		return Verification{}, err
	}
	conn, c, err := a.fyndConn(in.Spec.Connection)
	if err != nil {
		return Verification{}, err
	}
	desired, err := readMembers(ctx, store, in.MembersFile, false)
	if err != nil {
		return Verification{}, err
	}
	current, err := a.listMembers(ctx, c, conn, in.GroupID, store, artifactKey(in.Spec, "listing-verify"))
	if err != nil {
		return Verification{}, err
	}
	missing, unexpected := diffMembers(desired, current)
	v := Verification{Expected: len(desired), Present: len(desired) - len(missing), Missing: len(missing), Unexpected: len(unexpected)}
	var rs []rejects.Reject
	if len(missing) > 0 {
		var ef errorFile
		if g, err := c.GetGroup(ctx, in.GroupID); err == nil {
			ef = a.readErrorFile(ctx, g.Error.FileURL)
		}
		// Error rows number the rows of the file the group last processed.
		var processed [][3]string
		if in.GroupFile != "" && len(ef.byRow) > 0 {
			if processed, err = readMembers(ctx, store, in.GroupFile, in.GroupFile != in.MembersFile); err != nil {
				return Verification{}, err
			}
		}
		rowOf := map[[3]string]int{}
		for i, p := range processed {
			rowOf[p] = i + 1
		}
		idx, err := a.loadLines(ctx, in.LinesFile)
		if err != nil {
			return Verification{}, err
		}
		for _, m := range missing {
			key, line := idx.find(m[0], m[1], m[2])
			reason := fmt.Sprintf("not in group %q after the sync", in.Spec.Group)
			why := ""
			for _, id := range m {
				if r := ef.byID[strings.ToLower(id)]; id != "" && r != "" {
					why = r
					break
				}
			}
			if why == "" {
				why = ef.byRow[rowOf[m]]
			}
			if why != "" {
				reason += ": " + why
			}
			rs = append(rs, rejects.Reject{Line: line, UserID: key, Vendor: AudienceVendor, Reason: reason})
		}
	}
	if err := a.Store.PutRejects(ctx, in.Spec.SyncKey, vendorRejectPrefix+"group", rejects.Stored(rs)); err != nil {
		return Verification{}, err
	}
	return v, nil
}

// errorFile is what a group's error file says. Its format is not
// documented, so it is read leniently as CSV: a reason column (reason,
// error or message), and an identifier column (user_id, email,
// phone_number, identifier) and/or a row column (row, the data row of the
// file the group processed, from 1). A row that names neither is about the
// file as a whole.
type errorFile struct {
	whole []string
	byRow map[int]string
	byID  map[string]string
}

// first lists up to n distinct reasons, whole-file ones first.
func (e errorFile) first(n int) []string {
	seen := map[string]bool{}
	var out []string
	add := func(r string) {
		if r != "" && !seen[r] && len(out) < n {
			seen[r] = true
			out = append(out, r)
		}
	}
	for _, r := range e.whole {
		add(r)
	}
	rows := make([]int, 0, len(e.byRow))
	for r := range e.byRow {
		rows = append(rows, r)
	}
	sort.Ints(rows)
	for _, r := range rows {
		add(e.byRow[r])
	}
	for _, r := range e.byID {
		add(r)
	}
	return out
}

// errorFileClient fetches Fynd's error files. Their URL comes in Fynd's
// answer, which the worker does not trust to say where it connects: the
// file is dialled under the worker's source policy, as an http(s) source
// is (no private address unless the operator lists its host), and counted
// as a request to Fynd.
func (a *Activities) errorFileClient() *http.Client {
	if a.Opener == nil || a.Opener.Policy == nil {
		if a.HTTP == nil {
			return http.DefaultClient
		}
		return a.HTTP
	}
	g := a.Opener.Client()
	c := &http.Client{Transport: metrics.VendorTransport(g.Transport), CheckRedirect: g.CheckRedirect}
	if a.HTTP != nil {
		c.Timeout = a.HTTP.Timeout
	}
	return c
}

// readErrorFile fetches and reads an error file. One that cannot be
// fetched, or whose header cannot be read, says nothing, and the caller
// reports what it knows without it; the rows read before a malformed one
// are kept.
func (a *Activities) readErrorFile(ctx context.Context, url string) errorFile {
	out := errorFile{byRow: map[int]string{}, byID: map[string]string{}}
	if url == "" {
		return out
	}
	// The file is Fynd's: its request counts as one to the vendor.
	req, err := http.NewRequestWithContext(vendorcall.WithVendor(ctx, AudienceVendor), http.MethodGet, url, nil)
	if err != nil {
		return out
	}
	resp, err := a.errorFileClient().Do(req)
	if err != nil {
		return out
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return out
	}
	r := csv.NewReader(io.LimitReader(resp.Body, 64<<20))
	r.FieldsPerRecord = -1
	head, err := r.Read()
	if err != nil {
		return out
	}
	idCols, rowCol, reasonCol := []int{}, -1, -1
	for i, h := range head {
		switch strings.ToLower(strings.TrimSpace(h)) {
		case "user_id", "email", "phone_number", "identifier", "user":
			idCols = append(idCols, i)
		case "row", "row_number", "line":
			rowCol = i
		case "reason", "error", "message":
			reasonCol = i
		}
	}
	if reasonCol < 0 {
		return out
	}
	for {
		rec, err := r.Read()
		if err != nil {
			return out
		}
		if reasonCol >= len(rec) {
			continue
		}
		reason := vendorapi.Trim(rec[reasonCol])
		named := false
		for _, i := range idCols {
			if i < len(rec) && rec[i] != "" {
				out.byID[strings.ToLower(rec[i])] = reason
				named = true
			}
		}
		if rowCol >= 0 && rowCol < len(rec) {
			if n, err := strconv.Atoi(strings.TrimSpace(rec[rowCol])); err == nil && n > 0 {
				out.byRow[n] = reason
				named = true
			}
		}
		if !named {
			out.whole = append(out.whole, reason)
		}
	}
}

// lineIndex maps any identifier of a member to its key and source line.
type lineIndex struct {
	byIdent map[string]int
	keys    []string
	lines   []int64
}

func (x *lineIndex) find(idents ...string) (string, int64) {
	for _, id := range idents {
		if id == "" {
			continue
		}
		if i, ok := x.byIdent[strings.ToLower(id)]; ok {
			return x.keys[i], x.lines[i]
		}
	}
	for _, id := range idents {
		if id != "" {
			return id, 0
		}
	}
	return "", 0
}

func (a *Activities) loadLines(ctx context.Context, key string) (*lineIndex, error) {
	store, err := a.artifacts()
	if err != nil {
		return nil, err
	}
	rc, err := store.Open(ctx, key)
	if err != nil {
		return nil, failure.Classify(fmt.Errorf("read the lines file: %w", err), "")
	}
	defer rc.Close()
	r := csv.NewReader(rc)
	r.FieldsPerRecord = 2 + len(fynd.IdentifierFields)
	if _, err := r.Read(); err != nil {
		return nil, temporal.NewNonRetryableApplicationError("the lines file has no header: "+err.Error(), failure.BadArtifact, nil)
	}
	x := &lineIndex{byIdent: map[string]int{}}
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			return x, nil
		}
		if err != nil {
			return nil, temporal.NewNonRetryableApplicationError("the lines file is unreadable: "+err.Error(), failure.BadArtifact, nil)
		}
		line, _ := strconv.ParseInt(rec[1], 10, 64)
		i := len(x.keys)
		x.keys, x.lines = append(x.keys, rec[0]), append(x.lines, line)
		for _, id := range rec[2:] {
			if id != "" {
				x.byIdent[strings.ToLower(id)] = i
			}
		}
	}
}
