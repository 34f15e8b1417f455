// Package dynamic is a client for Dynamic's (dynamic.xyz) bulk user API,
// POST /environments/{environmentId}/users/bulk?upsert=true, and the rules
// a row must meet to become a Dynamic user.
package dynamic

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/mail"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"importer/activities/vendorapi"
)

// User is one user as the bulk API takes it. Empty fields are left out of
// the request, so an upsert does not blank what the row does not give;
// booleans are pointers so that false is sent.
type User struct {
	ID                           string         `json:"id,omitempty"`
	Alias                        string         `json:"alias,omitempty"`
	FirstName                    string         `json:"firstName,omitempty"`
	LastName                     string         `json:"lastName,omitempty"`
	JobTitle                     string         `json:"jobTitle,omitempty"`
	PhoneNumber                  string         `json:"phoneNumber,omitempty"`
	Metadata                     map[string]any `json:"metadata,omitempty"`
	MFABackupCodeAcknowledgement string         `json:"mfaBackupCodeAcknowledgement,omitempty"`
	TShirtSize                   string         `json:"tShirtSize,omitempty"`
	Team                         string         `json:"team,omitempty"`
	PoliciesConsent              *bool          `json:"policiesConsent,omitempty"`
	Country                      string         `json:"country,omitempty"`
	Username                     string         `json:"username,omitempty"`
	BtcWallet                    string         `json:"btcWallet,omitempty"`
	KdaWallet                    string         `json:"kdaWallet,omitempty"`
	LtcWallet                    string         `json:"ltcWallet,omitempty"`
	CkbWallet                    string         `json:"ckbWallet,omitempty"`
	KasWallet                    string         `json:"kasWallet,omitempty"`
	DogeWallet                   string         `json:"dogeWallet,omitempty"`
	EmailNotification            *bool          `json:"emailNotification,omitempty"`
	DiscordNotification          *bool          `json:"discordNotification,omitempty"`
	NewsletterNotification       *bool          `json:"newsletterNotification,omitempty"`
	EmailVerifiedAt              string         `json:"emailVerifiedAt,omitempty"`
	Email                        string         `json:"email,omitempty"`
	Wallets                      []Wallet       `json:"wallets,omitempty"`
	OAuthAccounts                []OAuthAccount `json:"oauthAccounts,omitempty"`
}

// Wallet is a wallet to link to the user.
type Wallet struct {
	PublicWalletAddress       string              `json:"publicWalletAddress"`
	Chain                     string              `json:"chain"`
	WalletName                string              `json:"walletName,omitempty"`
	WalletProvider            string              `json:"walletProvider,omitempty"`
	AdditionalWalletAddresses []AdditionalAddress `json:"additionalWalletAddresses,omitempty"`
}

// AdditionalAddress is a further address of a wallet (a Bitcoin wallet's
// ordinals and payment addresses, for one).
type AdditionalAddress struct {
	Address   string `json:"address"`
	Type      string `json:"type"`
	PublicKey string `json:"publicKey,omitempty"`
}

// OAuthAccount is a social account to link to the user.
type OAuthAccount struct {
	Provider    string         `json:"provider"`
	AccountID   string         `json:"accountId"`
	Emails      []string       `json:"emails,omitempty"`
	DisplayName string         `json:"displayName,omitempty"`
	Username    string         `json:"username,omitempty"`
	Photos      []string       `json:"photos,omitempty"`
	Profile     map[string]any `json:"profile,omitempty"`
}

// Field names, as the API and the source columns spell them.
const (
	FieldID                           = "id"
	FieldEmail                        = "email"
	FieldAlias                        = "alias"
	FieldFirstName                    = "firstName"
	FieldLastName                     = "lastName"
	FieldJobTitle                     = "jobTitle"
	FieldPhoneNumber                  = "phoneNumber"
	FieldTShirtSize                   = "tShirtSize"
	FieldTeam                         = "team"
	FieldUsername                     = "username"
	FieldCountry                      = "country"
	FieldMetadata                     = "metadata"
	FieldMFABackupCodeAcknowledgement = "mfaBackupCodeAcknowledgement"
	FieldPoliciesConsent              = "policiesConsent"
	FieldEmailNotification            = "emailNotification"
	FieldDiscordNotification          = "discordNotification"
	FieldNewsletterNotification       = "newsletterNotification"
	FieldEmailVerifiedAt              = "emailVerifiedAt"
	FieldBtcWallet                    = "btcWallet"
	FieldKdaWallet                    = "kdaWallet"
	FieldLtcWallet                    = "ltcWallet"
	FieldCkbWallet                    = "ckbWallet"
	FieldKasWallet                    = "kasWallet"
	FieldDogeWallet                   = "dogeWallet"
	FieldWallets                      = "wallets"
	FieldOAuthAccounts                = "oauthAccounts"
	// MetadataPrefix starts a metadata column: "metadata.plan" fills the
	// metadata key "plan", "metadata.prefs.theme" the nested key "theme".
	MetadataPrefix = FieldMetadata + "."
)

// Limits Dynamic documents.
const (
	// IDLength is the exact length of a user id (a UUID).
	IDLength = 36
	// MaxText is the longest value a string field takes.
	MaxText = 255
)

// MFA acknowledgement states Dynamic accepts.
const (
	MFAPending  = "pending"
	MFAComplete = "complete"
)

// Key is what names the user in rejects and deduplication: the id, else
// the e-mail address lower-cased (Dynamic matches e-mails without case).
func (u User) Key() string {
	if u.ID != "" {
		return u.ID
	}
	return strings.ToLower(u.Email)
}

// plainText are the free-text fields, each at most MaxText long.
var plainText = []struct {
	name string
	ptr  func(*User) *string
}{
	{FieldAlias, func(u *User) *string { return &u.Alias }},
	{FieldFirstName, func(u *User) *string { return &u.FirstName }},
	{FieldLastName, func(u *User) *string { return &u.LastName }},
	{FieldJobTitle, func(u *User) *string { return &u.JobTitle }},
	{FieldPhoneNumber, func(u *User) *string { return &u.PhoneNumber }},
	{FieldTShirtSize, func(u *User) *string { return &u.TShirtSize }},
	{FieldTeam, func(u *User) *string { return &u.Team }},
	{FieldBtcWallet, func(u *User) *string { return &u.BtcWallet }},
	{FieldKdaWallet, func(u *User) *string { return &u.KdaWallet }},
	{FieldLtcWallet, func(u *User) *string { return &u.LtcWallet }},
	{FieldCkbWallet, func(u *User) *string { return &u.CkbWallet }},
	{FieldKasWallet, func(u *User) *string { return &u.KasWallet }},
	{FieldDogeWallet, func(u *User) *string { return &u.DogeWallet }},
}

// flags are the boolean fields.
var flags = []struct {
	name string
	ptr  func(*User) **bool
}{
	{FieldPoliciesConsent, func(u *User) **bool { return &u.PoliciesConsent }},
	{FieldEmailNotification, func(u *User) **bool { return &u.EmailNotification }},
	{FieldDiscordNotification, func(u *User) **bool { return &u.DiscordNotification }},
	{FieldNewsletterNotification, func(u *User) **bool { return &u.NewsletterNotification }},
}

// FromFields builds a user from a mapped row: a CSV row (every value a
// string) or an NDJSON object (strings, json.Number, bool, lists, and
// nested objects flattened to "metadata.plan" and the like). It takes every
// field the bulk API documents and ignores the others. Empty values are
// left out.
//
//   - id or email is required, so that a re-run updates the user instead
//     of creating it again; id is exactly 36 characters.
//   - Every string field is at most 255 characters; country is an assigned
//     ISO 3166-1 alpha-2 code (any case, sent upper case); username holds
//     only letters, digits, dashes and underscores; email is a bare address;
//     mfaBackupCodeAcknowledgement is pending or complete.
//   - policiesConsent and the three notification flags take a JSON boolean
//     or true/false, yes/no, 1/0 in any case.
//   - emailVerifiedAt takes an RFC 3339 date-time (sent in UTC) or a date
//     YYYY-MM-DD (sent as midnight UTC).
//   - metadata comes from metadata.<key> fields (a dot in the key nests
//     it), or from a metadata field holding a JSON object; NDJSON values
//     keep their type, CSV cells stay strings.
//   - wallets and oauthAccounts take a list, or a JSON array in a CSV cell,
//     of objects with the documented sub-fields only.
//
// Errors name the field, never its value. The returned user carries ID and
// Email even when the row is invalid, so a reject can name the user.
func FromFields(fields map[string]any) (User, error) {
	var u User
	var err error
	if u.ID, err = text(fields, FieldID); err != nil {
		return u, err
	}
	if u.Email, err = text(fields, FieldEmail); err != nil {
		return u, err
	}
	if u.ID == "" && u.Email == "" {
		return u, errors.New("the user has neither id nor email; Dynamic needs one of them to find the user again on a re-run")
	}
	if n := length(u.ID); u.ID != "" && n != IDLength {
		return u, fmt.Errorf("id is %d characters long; Dynamic user ids are exactly %d (a UUID)", n, IDLength)
	}
	if u.Email != "" && !bareAddress(u.Email) {
		return u, errors.New("email does not look like an e-mail address (want name@example.com, without a display name)")
	}
	for _, f := range plainText {
		if *f.ptr(&u), err = text(fields, f.name); err != nil {
			return u, err
		}
	}

	country, err := text(fields, FieldCountry)
	if err != nil {
		return u, err
	}
	if country != "" {
		u.Country = upperASCII(country)
		if !isCountry(u.Country) {
			return u, errors.New("country is not an assigned ISO 3166-1 alpha-2 country code (such as US or DE)")
		}
	}

	if u.Username, err = text(fields, FieldUsername); err != nil {
		return u, err
	}
	if !slug(u.Username) {
		return u, errors.New("username may hold only letters, digits, dashes and underscores")
	}

	mfa, err := text(fields, FieldMFABackupCodeAcknowledgement)
	if err != nil {
		return u, err
	}
	switch mfa = strings.ToLower(mfa); mfa {
	case "", MFAPending, MFAComplete:
		u.MFABackupCodeAcknowledgement = mfa
	default:
		return u, fmt.Errorf("%s must be %s or %s", FieldMFABackupCodeAcknowledgement, MFAPending, MFAComplete)
	}

	for _, f := range flags {
		if *f.ptr(&u), err = flag(fields, f.name); err != nil {
			return u, err
		}
	}

	if u.EmailVerifiedAt, err = dateTime(fields, FieldEmailVerifiedAt); err != nil {
		return u, err
	}
	if u.Metadata, err = metadata(fields); err != nil {
		return u, err
	}
	if u.Wallets, err = wallets(fields); err != nil {
		return u, err
	}
	if u.OAuthAccounts, err = oauthAccounts(fields); err != nil {
		return u, err
	}
	return u, nil
}

// text reads a scalar field as trimmed text of at most MaxText characters.
func text(fields map[string]any, name string) (string, error) {
	return textValue(name, fields[name])
}

func textValue(name string, v any) (string, error) {
	s, err := vendorapi.Text(v)
	if err != nil {
		return "", fmt.Errorf("%s %w", name, err)
	}
	s = strings.TrimSpace(s)
	if n := length(s); n > MaxText {
		return "", fmt.Errorf("%s is %d characters long; Dynamic takes at most %d", name, n, MaxText)
	}
	return s, nil
}

// length counts characters as Dynamic's JavaScript back end does, in
// UTF-16 code units: an emoji outside the Basic Multilingual Plane counts
// twice. This errs on the safe side if the vendor counts code points.
func length(s string) int {
	n := 0
	for _, r := range s {
		if r >= 0x10000 {
			n += 2
		} else {
			n++
		}
	}
	return n
}

// bareAddress says whether s is an e-mail address on its own: no display
// name, angle brackets, comments or quoted local part (which the parser
// gives back unquoted, and which servers' e-mail checks commonly refuse).
func bareAddress(s string) bool {
	a, err := mail.ParseAddress(s)
	return err == nil && a.Name == "" && a.Address == s
}

// slug says whether s holds only ASCII letters, digits, '-' and '_'.
func slug(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// flag reads a boolean field; nil when empty.
func flag(fields map[string]any, name string) (*bool, error) {
	v := fields[name]
	if b, ok := v.(bool); ok {
		return &b, nil
	}
	s, err := vendorapi.Text(v)
	if err != nil {
		return nil, fmt.Errorf("%s %w", name, err)
	}
	var b bool
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "":
		return nil, nil
	case "true", "yes", "1":
		b = true
	case "false", "no", "0":
		b = false
	default:
		return nil, fmt.Errorf("%s is not a boolean (want true/false, yes/no or 1/0)", name)
	}
	return &b, nil
}

// dateTime reads an RFC 3339 date-time or a plain date and renders it as
// RFC 3339 in UTC.
func dateTime(fields map[string]any, name string) (string, error) {
	s, err := text(fields, name)
	if err != nil || s == "" {
		return "", err
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC().Format(time.RFC3339Nano), nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t.Format(time.RFC3339), nil
	}
	return "", fmt.Errorf("%s is not a date-time (want RFC 3339 such as 2023-11-07T05:31:56Z, or a date YYYY-MM-DD)", name)
}

// metadata gathers the metadata object from a metadata field holding an
// object (or its JSON text) and from metadata.<key> fields.
func metadata(fields map[string]any) (map[string]any, error) {
	var out map[string]any
	switch v := fields[FieldMetadata].(type) {
	case nil:
	case map[string]any:
		m, err := jsonValue(FieldMetadata, v)
		if err != nil {
			return nil, err
		}
		out = m.(map[string]any)
	case string:
		if strings.TrimSpace(v) == "" {
			break
		}
		parsed, err := decodeJSON(v)
		m, isObject := parsed.(map[string]any)
		if err != nil || !isObject {
			return nil, fmt.Errorf("%s is not a JSON object", FieldMetadata)
		}
		if _, err := jsonValue(FieldMetadata, m); err != nil {
			return nil, err
		}
		out = m
	default:
		return nil, fmt.Errorf("%s is %s; want an object", FieldMetadata, vendorapi.Kind(v))
	}

	// Sorted so that a clash is reported the same way every time.
	var keys []string
	for k := range fields {
		if strings.HasPrefix(k, MetadataPrefix) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := fields[k]
		if v == nil || v == "" {
			continue // an empty cell is no property, not an empty one
		}
		path := strings.Split(strings.TrimPrefix(k, MetadataPrefix), ".")
		for _, p := range path {
			if strings.TrimSpace(p) == "" {
				return nil, fmt.Errorf("metadata field %q has an empty key", clip(k))
			}
		}
		val, err := jsonValue(clip(k), v)
		if err != nil {
			return nil, err
		}
		if out == nil {
			out = map[string]any{}
		}
		if err := setPath(out, path, val); err != nil {
			return nil, fmt.Errorf("metadata field %q %w", clip(k), err)
		}
	}
	return out, nil
}

// setPath stores v at the nested key path, creating objects on the way.
func setPath(m map[string]any, path []string, v any) error {
	for _, p := range path[:len(path)-1] {
		switch next := m[p].(type) {
		case nil:
			child := map[string]any{}
			m[p] = child
			m = child
		case map[string]any:
			m = next
		default:
			return fmt.Errorf("nests under %q, which already holds %s", clip(p), vendorapi.Kind(next))
		}
	}
	last := path[len(path)-1]
	if _, taken := m[last]; taken {
		return errors.New("is given twice (also by another metadata field)")
	}
	m[last] = v
	return nil
}

// jsonValue checks that v encodes as JSON and returns a copy in which every
// number is a json.Number; the error names where under name a value fails.
func jsonValue(name string, v any) (any, error) {
	switch x := v.(type) {
	case nil, string, bool:
		return x, nil
	case json.Number:
		if !json.Valid([]byte(x)) || x == "" || (x[0] != '-' && (x[0] < '0' || x[0] > '9')) {
			return nil, fmt.Errorf("%s is not a valid number", name)
		}
		return x, nil
	case float64:
		if math.IsInf(x, 0) || math.IsNaN(x) {
			return nil, fmt.Errorf("%s is not a finite number", name)
		}
		return json.Number(strconv.FormatFloat(x, 'f', -1, 64)), nil
	case int:
		return json.Number(strconv.Itoa(x)), nil
	case int64:
		return json.Number(strconv.FormatInt(x, 10)), nil
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			c, err := jsonValue(fmt.Sprintf("%s[%d]", name, i), e)
			if err != nil {
				return nil, err
			}
			out[i] = c
		}
		return out, nil
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			c, err := jsonValue(name+"."+clip(k), e)
			if err != nil {
				return nil, err
			}
			out[k] = c
		}
		return out, nil
	}
	return nil, fmt.Errorf("%s is %s, which JSON cannot carry", name, vendorapi.Kind(v))
}

func decodeJSON(s string) (any, error) {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, errors.New("more than one JSON value")
	}
	return v, nil
}

// list reads a field that holds a list of objects: a list, or the text of a
// JSON array (a CSV cell). Empty gives nil.
func list(fields map[string]any, name, what string) ([]map[string]any, error) {
	// The row mapping flattens an object into "name.key" fields; a single
	// object where a list belongs would otherwise vanish without a word.
	for k := range fields {
		if strings.HasPrefix(k, name+".") {
			return nil, fmt.Errorf("%s is an object; want a list of %s objects", name, what)
		}
	}
	v := fields[name]
	if s, isText := v.(string); isText {
		if strings.TrimSpace(s) == "" {
			return nil, nil
		}
		parsed, err := decodeJSON(s)
		items, isList := parsed.([]any)
		if err != nil || !isList {
			return nil, fmt.Errorf("%s is not a JSON array of %s objects", name, what)
		}
		v = items
	}
	return objects(name, v, what)
}

// objects reads a list of objects; nil gives nil.
func objects(where string, v any, what string) ([]map[string]any, error) {
	var items []any
	switch x := v.(type) {
	case nil:
		return nil, nil
	case []any:
		items = x
	default:
		return nil, fmt.Errorf("%s is %s; want a list of %s objects", where, vendorapi.Kind(v), what)
	}
	out := make([]map[string]any, 0, len(items))
	for i, e := range items {
		m, ok := e.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%s[%d] is %s; want a %s object", where, i, vendorapi.Kind(e), what)
		}
		out = append(out, m)
	}
	return out, nil
}

// onlyKnown refuses sub-fields Dynamic does not document, so that a typo
// ("walletAddress") is not dropped on the way.
func onlyKnown(where string, m map[string]any, known ...string) error {
	var unknown []string
	for k := range m {
		found := false
		for _, kn := range known {
			if k == kn {
				found = true
				break
			}
		}
		if !found {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) == 0 {
		return nil
	}
	sort.Strings(unknown)
	return fmt.Errorf("%s has an unknown sub-field %q; Dynamic takes %s", where, clip(unknown[0]), strings.Join(known, ", "))
}

// required reads a text sub-field that must not be empty.
func required(where string, m map[string]any, key string) (string, error) {
	s, err := textValue(where+"."+key, m[key])
	if err == nil && s == "" {
		err = fmt.Errorf("%s.%s is required", where, key)
	}
	return s, err
}

// stringList reads a sub-field holding a list of strings.
func stringList(where string, v any) ([]string, error) {
	if v == nil {
		return nil, nil
	}
	items, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("%s is %s; want a list of strings", where, vendorapi.Kind(v))
	}
	var out []string
	for i, e := range items {
		if _, isText := e.(string); !isText {
			return nil, fmt.Errorf("%s[%d] is %s; want a string", where, i, vendorapi.Kind(e))
		}
		s, err := textValue(fmt.Sprintf("%s[%d]", where, i), e)
		if err != nil {
			return nil, err
		}
		if s != "" {
			out = append(out, s)
		}
	}
	return out, nil
}

func wallets(fields map[string]any) ([]Wallet, error) {
	items, err := list(fields, FieldWallets, "wallet")
	if err != nil || len(items) == 0 {
		return nil, err
	}
	out := make([]Wallet, 0, len(items))
	for i, m := range items {
		where := fmt.Sprintf("%s[%d]", FieldWallets, i)
		if err := onlyKnown(where, m, "publicWalletAddress", "chain", "walletName", "walletProvider", "additionalWalletAddresses"); err != nil {
			return nil, err
		}
		var w Wallet
		if w.PublicWalletAddress, err = required(where, m, "publicWalletAddress"); err != nil {
			return nil, err
		}
		if w.Chain, err = required(where, m, "chain"); err != nil {
			return nil, err
		}
		if w.WalletName, err = textValue(where+".walletName", m["walletName"]); err != nil {
			return nil, err
		}
		if w.WalletProvider, err = textValue(where+".walletProvider", m["walletProvider"]); err != nil {
			return nil, err
		}
		extra, err := objects(where+".additionalWalletAddresses", m["additionalWalletAddresses"], "address")
		if err != nil {
			return nil, err
		}
		for j, a := range extra {
			at := fmt.Sprintf("%s.additionalWalletAddresses[%d]", where, j)
			if err := onlyKnown(at, a, "address", "type", "publicKey"); err != nil {
				return nil, err
			}
			var addr AdditionalAddress
			if addr.Address, err = required(at, a, "address"); err != nil {
				return nil, err
			}
			if addr.Type, err = required(at, a, "type"); err != nil {
				return nil, err
			}
			if addr.PublicKey, err = textValue(at+".publicKey", a["publicKey"]); err != nil {
				return nil, err
			}
			w.AdditionalWalletAddresses = append(w.AdditionalWalletAddresses, addr)
		}
		out = append(out, w)
	}
	return out, nil
}

func oauthAccounts(fields map[string]any) ([]OAuthAccount, error) {
	items, err := list(fields, FieldOAuthAccounts, "OAuth account")
	if err != nil || len(items) == 0 {
		return nil, err
	}
	out := make([]OAuthAccount, 0, len(items))
	for i, m := range items {
		where := fmt.Sprintf("%s[%d]", FieldOAuthAccounts, i)
		if err := onlyKnown(where, m, "provider", "accountId", "emails", "displayName", "username", "photos", "profile"); err != nil {
			return nil, err
		}
		var a OAuthAccount
		if a.Provider, err = required(where, m, "provider"); err != nil {
			return nil, err
		}
		if a.AccountID, err = required(where, m, "accountId"); err != nil {
			return nil, err
		}
		if a.Emails, err = stringList(where+".emails", m["emails"]); err != nil {
			return nil, err
		}
		if a.DisplayName, err = textValue(where+".displayName", m["displayName"]); err != nil {
			return nil, err
		}
		if a.Username, err = textValue(where+".username", m["username"]); err != nil {
			return nil, err
		}
		if a.Photos, err = stringList(where+".photos", m["photos"]); err != nil {
			return nil, err
		}
		switch p := m["profile"].(type) {
		case nil:
		case map[string]any:
			v, err := jsonValue(where+".profile", p)
			if err != nil {
				return nil, err
			}
			if len(p) > 0 {
				a.Profile = v.(map[string]any)
			}
		default:
			return nil, fmt.Errorf("%s.profile is %s; want an object", where, vendorapi.Kind(p))
		}
		out = append(out, a)
	}
	return out, nil
}

// clip keeps a field name in an error message short.
func clip(s string) string {
	if utf8.RuneCountInString(s) > 40 {
		return string([]rune(s)[:40]) + "…"
	}
	return s
}
