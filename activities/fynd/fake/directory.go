package fake

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// Identifier columns a CSV may carry; at least one must be there.
const (
	ColUserID = "user_id"
	ColEmail  = "email"
	ColPhone  = "phone_number"
	ColAction = "action"
)

// maxFile bounds what the fake reads of a file_url.
const maxFile = 64 << 20

// user is one user of the application and the attribute values set on it.
type user struct {
	User
	attrs map[string]any
}

// addUser puts u in the directory, generating its id when empty. s.mu is
// held (or the server is not shared yet).
func (s *Server) addUser(u User) *user {
	if u.UserID == "" {
		for {
			u.UserID = s.objectID()
			if _, dup := s.users[u.UserID]; !dup {
				break
			}
		}
	}
	nu := &user{User: u, attrs: map[string]any{}}
	s.users[u.UserID] = nu
	if e := normEmail(u.Email); e != "" {
		s.byEmail[e] = u.UserID
	}
	if p := normPhone(u.Phone); p != "" {
		s.byPhone[p] = u.UserID
	}
	return nu
}

func normEmail(e string) string { return strings.ToLower(strings.TrimSpace(e)) }

// normPhone keeps a leading + and the digits, so "+91 98765-43210" and
// "+919876543210" name the same user.
func normPhone(p string) string {
	var b strings.Builder
	for i, r := range strings.TrimSpace(p) {
		if (r >= '0' && r <= '9') || (r == '+' && i == 0) {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// findUser looks a user up by id, e-mail or phone. s.mu is held.
func (s *Server) findUser(key string) *user {
	if u, ok := s.users[key]; ok {
		return u
	}
	if id, ok := s.byEmail[normEmail(key)]; ok {
		return s.users[id]
	}
	if p := normPhone(key); p != "" {
		if id, ok := s.byPhone[p]; ok {
			return s.users[id]
		}
	}
	return nil
}

// ident is the identifiers one CSV row gives.
type ident struct{ userID, email, phone string }

func (id ident) empty() bool { return id.userID == "" && id.email == "" && id.phone == "" }

// first is the identifier a row is reported under.
func (id ident) first() string {
	for _, v := range []string{id.userID, id.email, id.phone} {
		if v != "" {
			return v
		}
	}
	return ""
}

// resolve finds the user a row names: the first of its identifiers that
// matches a user wins. With create (and AutoCreateUsers), a row none of
// whose identifiers match makes a new user. s.mu is held.
func (s *Server) resolve(id ident, create bool) (*user, string) {
	if id.empty() {
		return nil, "row has no identifier"
	}
	if id.userID != "" {
		if u := s.users[id.userID]; u != nil {
			return u, ""
		}
	}
	if id.email != "" {
		if uid, ok := s.byEmail[normEmail(id.email)]; ok {
			return s.users[uid], ""
		}
	}
	if id.phone != "" {
		if uid, ok := s.byPhone[normPhone(id.phone)]; ok {
			return s.users[uid], ""
		}
	}
	if !create || !s.opts.AutoCreateUsers {
		return nil, "user not found"
	}
	return s.addUser(User{UserID: id.userID, Email: id.email, Phone: id.phone}), ""
}

// csvRow is one data row of a fetched file.
type csvRow struct {
	n      int // data row number, from 1
	id     ident
	action string
}

// sheet is a fetched and parsed file.
type sheet struct {
	rows      []csvRow
	hasAction bool
}

// fetchSheet GETs a file_url and reads it as CSV with a header row. An
// error means the whole file is unusable; its text is the reason the job
// or group reports.
func (s *Server) fetchSheet(fileURL string) (sheet, error) {
	req, err := http.NewRequestWithContext(s.ctx, http.MethodGet, fileURL, nil)
	if err != nil {
		return sheet{}, errors.New("file_url is not a valid URL")
	}
	resp, err := s.opts.HTTP.Do(req)
	if err != nil {
		return sheet{}, errors.New("file could not be fetched: no answer from file_url")
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return sheet{}, fmt.Errorf("file could not be fetched: HTTP %d from file_url", resp.StatusCode)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxFile+1))
	if err != nil {
		return sheet{}, errors.New("file could not be fetched: transfer broke off")
	}
	if len(data) > maxFile {
		return sheet{}, fmt.Errorf("file is larger than %d bytes", maxFile)
	}
	return parseSheet(data)
}

func parseSheet(data []byte) (sheet, error) {
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	rd := csv.NewReader(bytes.NewReader(data))
	rd.FieldsPerRecord = -1
	rd.LazyQuotes = true
	header, err := rd.Read()
	if err != nil {
		return sheet{}, errors.New("file is not a CSV with a header row")
	}
	col := map[string]int{}
	for i, h := range header {
		h = strings.ToLower(strings.TrimSpace(h))
		if _, dup := col[h]; !dup {
			col[h] = i
		}
	}
	_, hasID := col[ColUserID]
	_, hasEmail := col[ColEmail]
	_, hasPhone := col[ColPhone]
	if !hasID && !hasEmail && !hasPhone {
		return sheet{}, errors.New("file has no identifier column (user_id, email or phone_number)")
	}
	_, hasAction := col[ColAction]
	cell := func(rec []string, name string) string {
		i, ok := col[name]
		if !ok || i >= len(rec) {
			return ""
		}
		return strings.TrimSpace(rec[i])
	}
	out := sheet{hasAction: hasAction}
	for n := 1; ; n++ {
		rec, err := rd.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return sheet{}, fmt.Errorf("file is not valid CSV at data row %d", n)
		}
		out.rows = append(out.rows, csvRow{
			n:      n,
			id:     ident{userID: cell(rec, ColUserID), email: cell(rec, ColEmail), phone: cell(rec, ColPhone)},
			action: strings.ToLower(cell(rec, ColAction)),
		})
	}
	return out, nil
}

// rowError is one row a job or group could not use.
type rowError struct {
	Row        int    `json:"row"`
	Identifier string `json:"identifier"`
	Error      string `json:"error"`
}

// errorFileCSV renders the error file of a group: row and reason.
func errorFileCSV(errs []rowError) []byte {
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	_ = w.Write([]string{"row", "reason"})
	for _, e := range errs {
		row := "" // the file as a whole
		if e.Row > 0 {
			row = fmt.Sprint(e.Row)
		}
		_ = w.Write([]string{row, e.Error})
	}
	w.Flush()
	return b.Bytes()
}

func (s *Server) serveErrorFile(w http.ResponseWriter, id string) {
	s.mu.Lock()
	data, ok := s.errorFiles[id]
	s.mu.Unlock()
	if !ok {
		s.fail(w, http.StatusNotFound, "NOT_FOUND", "error file not found")
		return
	}
	w.Header().Set("Content-Type", "text/csv")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(data)
}

// Attributes returns the attribute values set on a user, found by user id,
// e-mail or phone; nil when there is no such user.
func (s *Server) Attributes(userKey string) map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.findUser(userKey)
	if u == nil {
		return nil
	}
	out := make(map[string]any, len(u.attrs))
	for k, v := range u.attrs {
		out[k] = v
	}
	return out
}

// User returns a user by user id, e-mail or phone.
func (s *Server) User(key string) (User, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.findUser(key)
	if u == nil {
		return User{}, false
	}
	return u.User, true
}

// UserCount is the number of users in the application.
func (s *Server) UserCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.users)
}
